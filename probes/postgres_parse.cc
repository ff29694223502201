#include "probes/postgres_parse.h"

#include <array>
#include <charconv>
#include <cstdint>

namespace lagrouter::probes {

const char* const kPostgresSettingsQuery =
    "SELECT current_setting('server_version') AS version,"
    " (SELECT rolsuper FROM pg_roles WHERE rolname = current_user) AS superuser,"
    " current_setting('wal_block_size') AS wal_block_size,"
    " (SELECT setting FROM pg_settings WHERE name = 'wal_segment_size') AS wal_segment_size,"
    " pg_has_role('pg_read_all_stats', 'USAGE') AS reads_all_stats";

const char* const kPostgresPositionQuery =
    "SELECT pg_is_in_recovery() AS in_recovery,"
    " CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn()"
    " ELSE pg_current_wal_insert_lsn() END AS lsn";

namespace {

// pg_current_wal_insert_lsn(), not pg_current_wal_lsn(): the insert position
// is at or beyond every commit record, even with synchronous_commit = off.
// pg_stat_wal_receiver once (a join, not two subqueries). Statement 2 (with
// `senders`) is the primary's view of its replicas, for people, without
// pg_stat_replication's scan of every backend (the view joins
// pg_stat_get_activity(NULL)): the same rows at a third of the cost.
// `transactions`: Sample::transactions, as 64-bit ids (next - age).
std::string ProbeQuery(bool transactions, bool senders) {
  std::string q =
      "SELECT pg_is_in_recovery() AS in_recovery,"
      " CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_current_wal_insert_lsn() END AS write_lsn,"
      " pg_last_wal_replay_lsn() AS replay_lsn,"
      " pg_last_wal_receive_lsn() AS receive_lsn,"
      " CASE WHEN pg_is_in_recovery() THEN pg_is_wal_replay_paused() ELSE false END AS paused,"
      " r.status AS receiver_status,"
      " r.sender_host || ':' || r.sender_port AS upstream";
  if (transactions) {
    q += ", x.next AS next_xid,"
         " (SELECT x.next - max(age(a.backend_xid)) FROM pg_stat_get_activity(NULL) AS a"
         " WHERE a.backend_xid IS NOT NULL"
         " AND coalesce(a.state, '') NOT LIKE 'idle in transaction%') AS oldest_active_xid";
  }
  q += " FROM (SELECT 1) AS one LEFT JOIN pg_stat_wal_receiver AS r ON true";
  if (transactions) {
    q += " LEFT JOIN (SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint"
         " + age(pg_snapshot_xmax(pg_current_snapshot())::xid) AS next"
         " WHERE NOT pg_is_in_recovery()) AS x ON true";
  }
  if (senders) {
    q += ";SELECT a.application_name, coalesce(host(a.client_addr), '') AS client_addr, w.state,"
         " w.replay_lsn, extract(epoch FROM w.replay_lag) AS replay_lag"
         " FROM pg_stat_get_wal_senders() AS w, LATERAL pg_stat_get_activity(w.pid) AS a";
  }
  return q;
}

}  // namespace

const std::string& PostgresProbeQuery(bool with_settings, bool transactions, bool senders) {
  static const auto queries = [] {
    std::array<std::string, 8> q;
    for (int i = 0; i < 8; ++i) {
      const std::string probe = ProbeQuery((i & 2) != 0, (i & 4) != 0);
      q[i] = (i & 1) != 0 ? std::string(kPostgresSettingsQuery) + ";" + probe : probe;
    }
    return q;
  }();
  return queries[(with_settings ? 1 : 0) | (transactions ? 2 : 0) | (senders ? 4 : 0)];
}

uint64_t NormalizeInsertLsn(uint64_t lsn, uint64_t block_size, uint64_t segment_size) {
  // Sizes of XLogLongPageHeaderData (a segment's first page) and of
  // XLogPageHeaderData (every other page), MAXALIGNed, as in PostgreSQL 15.
  constexpr uint64_t kLongHeader = 40;
  constexpr uint64_t kShortHeader = 24;
  if (segment_size > 0 && lsn % segment_size == kLongHeader) return lsn - kLongHeader;
  if (block_size > 0 && lsn % block_size == kShortHeader && lsn % segment_size != kShortHeader) {
    return lsn - kShortHeader;
  }
  return lsn;
}

namespace {

Result<uint64_t> ParseCount(const std::optional<std::string>& v, const char* name) {
  uint64_t n = 0;
  if (v) {
    auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), n);
    if (ec == std::errc() && ptr == v->data() + v->size() && n > 0) return n;
  }
  return MakeError(std::string("column '") + name + "': expected a positive integer, got '" +
                   v.value_or("NULL").substr(0, 40) + "'");
}

Result<std::optional<std::string>> Field(const Row& row, const char* name) {
  auto it = row.find(name);
  if (it == row.end()) return MakeError(std::string("missing column '") + name + "'");
  return it->second;
}

Result<bool> ParseBool(const std::optional<std::string>& v, const char* name) {
  if (v == "t") return true;
  if (v == "f") return false;
  return MakeError(std::string("column '") + name + "': expected t or f, got '" +
                   v.value_or("NULL").substr(0, 40) + "'");
}

Result<router::Position> ParseOptionalLsn(const std::optional<std::string>& v, const char* name) {
  if (!v) return router::Position{};
  LAGROUTER_ASSIGN_OR_RETURN_CONTEXT(const router::Lsn lsn, router::ParseLsn(*v),
                                     std::string("column '") + name + "': ");
  return router::Position{lsn};
}

Result<std::optional<double>> ParseOptionalSeconds(const std::optional<std::string>& v,
                                                   const char* name) {
  if (!v || v->empty()) return std::optional<double>{};
  double d = 0;
  auto [ptr, ec] = std::from_chars(v->data(), v->data() + v->size(), d);
  if (ec != std::errc() || ptr != v->data() + v->size()) {
    return MakeError(std::string("column '") + name + "': not a number: '" + v->substr(0, 40) +
                     "'");
  }
  return std::optional<double>{d};
}

Result<router::Position> PrimaryPosition(const router::Position& write,
                                         const PostgresSettings& settings) {
  if (!router::IsKnown(write)) return MakeError("a primary reported no write position");
  return router::Position{router::Lsn{NormalizeInsertLsn(
      std::get<router::Lsn>(write).value, settings.wal_block_size, settings.wal_segment_size)}};
}

}  // namespace

Result<PostgresSettings> ParsePostgresSettings(const Row& row) {
  LAGROUTER_ASSIGN_OR_RETURN(const auto version_v, Field(row, "version"));
  LAGROUTER_ASSIGN_OR_RETURN(const auto superuser_v, Field(row, "superuser"));
  LAGROUTER_ASSIGN_OR_RETURN(const auto block_v, Field(row, "wal_block_size"));
  LAGROUTER_ASSIGN_OR_RETURN(const auto segment_v, Field(row, "wal_segment_size"));
  LAGROUTER_ASSIGN_OR_RETURN(const auto stats_v, Field(row, "reads_all_stats"));
  PostgresSettings settings;
  LAGROUTER_ASSIGN_OR_RETURN(settings.reads_all_stats, ParseBool(stats_v, "reads_all_stats"));
  settings.version = version_v.value_or("");
  settings.superuser = superuser_v == "t";
  LAGROUTER_ASSIGN_OR_RETURN(settings.wal_block_size, ParseCount(block_v, "wal_block_size"));
  LAGROUTER_ASSIGN_OR_RETURN(settings.wal_segment_size, ParseCount(segment_v, "wal_segment_size"));
  return settings;
}

Result<void> ParsePostgresStatus(const Row& status, const std::vector<Row>& senders,
                                 const PostgresSettings& settings, Sample& out) {
  LAGROUTER_ASSIGN_OR_RETURN(const auto in_recovery_v, Field(status, "in_recovery"));
  LAGROUTER_ASSIGN_OR_RETURN(const auto write_v, Field(status, "write_lsn"));
  LAGROUTER_ASSIGN_OR_RETURN(const auto replay_v, Field(status, "replay_lsn"));
  LAGROUTER_ASSIGN_OR_RETURN(const auto receive_v, Field(status, "receive_lsn"));
  LAGROUTER_ASSIGN_OR_RETURN(const auto paused_v, Field(status, "paused"));
  LAGROUTER_ASSIGN_OR_RETURN(const auto receiver_v, Field(status, "receiver_status"));
  LAGROUTER_ASSIGN_OR_RETURN(const auto upstream_v, Field(status, "upstream"));

  LAGROUTER_ASSIGN_OR_RETURN(const bool in_recovery, ParseBool(in_recovery_v, "in_recovery"));
  LAGROUTER_ASSIGN_OR_RETURN(const bool paused, ParseBool(paused_v, "paused"));
  LAGROUTER_ASSIGN_OR_RETURN(const router::Position write, ParseOptionalLsn(write_v, "write_lsn"));
  LAGROUTER_ASSIGN_OR_RETURN(router::Position replay, ParseOptionalLsn(replay_v, "replay_lsn"));
  LAGROUTER_ASSIGN_OR_RETURN(router::Position receive, ParseOptionalLsn(receive_v, "receive_lsn"));
  std::optional<uint64_t> next_xid, oldest_active_xid;
  if (auto it = status.find("next_xid"); it != status.end() && it->second) {
    LAGROUTER_ASSIGN_OR_RETURN(next_xid, ParseCount(it->second, "next_xid"));
  }
  if (auto it = status.find("oldest_active_xid"); it != status.end() && it->second) {
    LAGROUTER_ASSIGN_OR_RETURN(oldest_active_xid, ParseCount(it->second, "oldest_active_xid"));
  }

  out.flavor = "postgres";
  out.version = settings.version;
  out.superuser = settings.superuser;
  if (!in_recovery) {
    LAGROUTER_ASSIGN_OR_RETURN(out.write_position, PrimaryPosition(write, settings));
    out.role = Role::kPrimary;
    if (next_xid) out.transactions = Sample::Transactions{*next_xid, oldest_active_xid};
  } else {
    out.role = Role::kReplica;
    out.replay_position = std::move(replay);
    out.receive_position = std::move(receive);
    out.replay_paused = paused;
    out.replication_state = receiver_v.value_or("no wal receiver");
    out.replicating = receiver_v == "streaming";
    out.upstream = upstream_v.value_or("");
    if (out.replay_paused) out.replication_state += ", replay paused";
  }

  out.downstream.clear();
  for (const Row& s : senders) {
    DownstreamReplica d;
    auto app = Field(s, "application_name");
    auto addr = Field(s, "client_addr");
    auto state = Field(s, "state");
    auto replay_lsn = Field(s, "replay_lsn");
    auto lag = Field(s, "replay_lag");
    if (!app || !addr || !state || !replay_lsn || !lag) {
      return MakeError("pg_stat_replication row lacks a column");
    }
    d.application_name = app->value_or("");
    d.client_addr = addr->value_or("");
    d.state = state->value_or("");
    LAGROUTER_ASSIGN_OR_RETURN(d.replay_position,
                               ParseOptionalLsn(*replay_lsn, "pg_stat_replication.replay_lsn"));
    LAGROUTER_ASSIGN_OR_RETURN(d.replay_lag_seconds,
                               ParseOptionalSeconds(*lag, "pg_stat_replication.replay_lag"));
    out.downstream.push_back(std::move(d));
  }
  return Ok();
}

Result<void> ParsePostgresPosition(const Row& row, const PostgresSettings& settings, Sample& out) {
  LAGROUTER_ASSIGN_OR_RETURN(const auto in_recovery_v, Field(row, "in_recovery"));
  LAGROUTER_ASSIGN_OR_RETURN(const auto lsn_v, Field(row, "lsn"));
  LAGROUTER_ASSIGN_OR_RETURN(const bool in_recovery, ParseBool(in_recovery_v, "in_recovery"));
  LAGROUTER_ASSIGN_OR_RETURN(const router::Position lsn, ParseOptionalLsn(lsn_v, "lsn"));
  out.flavor = "postgres";
  out.position_only = true;
  if (!in_recovery) {
    LAGROUTER_ASSIGN_OR_RETURN(out.write_position, PrimaryPosition(lsn, settings));
    out.role = Role::kPrimary;
  } else {
    out.role = Role::kReplica;
    out.replay_position = lsn;
  }
  return Ok();
}

}  // namespace lagrouter::probes
