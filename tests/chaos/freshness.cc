#include "tests/chaos/freshness.h"

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <thread>

#include "tests/chaos/daemon_api.h"

namespace lagrouter::chaos {

void Freshness::Judge(const Read& read) {
  const int64_t class_ms = kClassMs[read.k];
  Clock::time_point returned{};
  const int64_t required = h_.log.RequiredBefore(read.sent - milliseconds(class_ms), &returned);
  h_.reads.Count(read.k, IsReplica(read.replica) ? kReplica : kPrimary);
  if (read.seen >= required) return;
  // The read lacks commit seen + 1: its data is at least as old as that
  // commit's return, which the class allows to be max_staleness old.
  const auto missed = h_.log.ReturnedAt(read.seen + 1).value_or(returned);
  Violation v;
  v.sent = read.sent;
  v.class_ms = class_ms;
  v.cls = kClasses[read.k];
  v.server = read.server + (read.port > 0 ? " (port " + std::to_string(read.port) + ")" : "");
  v.at_s = SinceStart(read.sent);
  v.required = required;
  v.seen = read.seen;
  v.bound_ms = read.bound_ms;
  v.missed_age_ms = std::chrono::duration_cast<milliseconds>(read.sent - returned).count();
  v.excess_ms =
      std::chrono::ceil<milliseconds>(read.sent - missed - milliseconds(class_ms)).count();
  // Classified at the end, once the lost commits are known.
  std::lock_guard lock(mu_);
  if (suspects_.size() < 1000000) {
    suspects_.push_back(v);
  } else {
    suspects_dropped_++;
  }
}

std::optional<std::set<int64_t>> Freshness::LostCommits() {
  std::set<int64_t> lost;
  if (!h_.o.postgres) return lost;  // MariaDB runs fail over cleanly (promote/repoint)
  const std::optional<Topology> topo = WaitForTopology(h_.o);
  if (!topo) return std::nullopt;
  const std::string sql =
      "SELECT COALESCE(string_agg(id::text, ',' ORDER BY id), '') FROM seq WHERE id > " +
      std::to_string(h_.start_id);
  // A connection of its own, not the pool's: a pooled one may predate the
  // last fault's restart of that server. Retried while it comes back up.
  std::string error, value;
  bool read = false;
  for (int attempt = 0; attempt < 20 && !read; ++attempt) {
    if (attempt > 0) std::this_thread::sleep_for(milliseconds(500));
    auto db = Connect(h_.o.postgres, h_.o.base_port + topo->primary, &error);
    read = db != nullptr && db->TryQuery(sql, &value, &error);
  }
  if (!read) {
    Log("cannot read the ids on the final primary: %s", error.c_str());
    return std::nullopt;
  }
  std::set<int64_t> present;
  for (const auto& id : SplitComma(value)) present.insert(std::strtoll(id.c_str(), nullptr, 10));
  for (int64_t id : h_.log.Ids()) {
    if (present.count(id) == 0) lost.insert(id);
  }
  return lost;
}

int64_t Freshness::FirstSurvivor(const Violation& v, const std::set<int64_t>& lost) {
  for (int64_t id = v.seen + 1; id <= v.required; ++id) {
    if (lost.count(id) == 0) return id;
  }
  return 0;
}

void Freshness::Classify(const std::set<int64_t>& lost) {
  std::lock_guard lock(mu_);
  lost_ = lost;
  violation_count_ = suspects_dropped_;
  for (auto v : suspects_) {
    const int64_t first_survivor = FirstSurvivor(v, lost);
    if (first_survivor == 0) {
      lost_write_reads_++;
      continue;
    }
    const auto missed = h_.log.ReturnedAt(first_survivor);
    if (missed) {
      v.excess_ms =
          std::chrono::ceil<milliseconds>(v.sent - *missed - milliseconds(v.class_ms)).count();
    }
    violation_count_++;
    worst_excess_ms_ = std::max(worst_excess_ms_, v.excess_ms);
    if (violations_.size() < 20) violations_.push_back(v);
  }
}

uint64_t Freshness::Checked() const {
  uint64_t checked = 0;
  for (size_t k : h_.classes) {
    checked += h_.reads.by_class[k][kReplica] + h_.reads.by_class[k][kPrimary];
  }
  return checked;
}

bool Freshness::Vacuous() const {
  bool every_class_used_replicas = true;
  for (size_t k : h_.classes) {
    if (h_.reads.by_class[k][kReplica] == 0) every_class_used_replicas = false;
  }
  const bool through_lagrouter = h_.o.path != Path::kNaive && h_.o.path != Path::kPrimary;
  return Checked() == 0 || (through_lagrouter && !every_class_used_replicas);
}

void Freshness::Print() {
  for (const auto& v : violations_) {
    std::printf(
        "VIOLATION at %.3f s: class %s on %s%s saw id %lld, but id %lld had "
        "returned %lld ms before the request: %lld ms older than the class allows\n",
        v.at_s, v.cls.c_str(), v.server.c_str(),
        v.bound_ms >= 0 ? (" (bound " + std::to_string(v.bound_ms) + " ms)").c_str() : "",
        static_cast<long long>(v.seen), static_cast<long long>(v.required),
        static_cast<long long>(v.missed_age_ms), static_cast<long long>(v.excess_ms));
  }
  uint64_t on_replicas = 0, read_errors = 0;
  for (size_t k : h_.classes) {
    on_replicas += h_.reads.by_class[k][kReplica];
    read_errors += h_.reads.by_class[k][kReadError];
  }
  const uint64_t checked = Checked();
  // One line for scripts (bench/edge_bench.sh builds its table from it).
  const double share = checked > 0 ? 100.0 * static_cast<double>(on_replicas) / checked : 0;
  std::printf(
      "SUMMARY path=%s reads=%llu violations=%llu worst_excess_ms=%lld replica_share=%.1f "
      "read_errors=%llu p50_us=%lld p99_us=%lld\n",
      PathName(h_.o.path), static_cast<unsigned long long>(checked),
      static_cast<unsigned long long>(violation_count_), static_cast<long long>(worst_excess_ms_),
      share, static_cast<unsigned long long>(read_errors),
      static_cast<long long>(Percentile(h_.reads.read_us, 50)),
      static_cast<long long>(Percentile(h_.reads.read_us, 99)));
}

}  // namespace lagrouter::chaos
