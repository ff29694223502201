#include "daemon/monitor/cluster_state.h"

#include <algorithm>
#include <utility>

namespace lagrouter::daemon {

using probes::Sample;
using router::Role;
using router::TimePoint;
using Kind = ClusterEvent::Kind;

namespace {

// Keep history for the loosest class plus a margin; one entry per changed
// primary sample at most.
router::Duration HistoryKept(const Config& config) {
  return config.HistoryHorizon() + 4 * config.probe_interval;
}

// Entries per cluster before older ones are thinned (PositionHistory): ~40 KB
// at most. A cap of one entry per interval over the horizon took 0.6 MB a
// cluster for a 1 h class at 250 ms, and covered only a fraction of a second
// for a 10 s class while on-demand probes sampled the primary hundreds of
// times a second (replicas further behind lost their bound).
constexpr size_t kHistoryEntries = 1024;

}  // namespace

ClusterState::ClusterState(const ClusterConfig& cluster, const Config& config)
    : cluster_(cluster),
      probe_interval_(config.probe_interval),
      probe_timeout_(config.probe_timeout),
      classes_(config.classes),
      check_gates_(std::any_of(classes_.begin(), classes_.end(),
                               [](const router::QueryClass& cls) {
                                 return cls.check_margin > router::Duration::zero();
                               })),
      servers_(cluster.servers.size()),
      history_(HistoryKept(config), kHistoryEntries) {}

std::shared_ptr<const ClusterSnapshot> ClusterState::Initial() {
  return Build(TimePoint{}, false, -1);
}

ClusterState::Update ClusterState::Apply(size_t server, Sample sample, TimePoint now,
                                         std::chrono::system_clock::time_point wall,
                                         bool on_demand) {
  Update update;
  if (on_demand) ++servers_[server].on_demand_probes;
  Observe(server, std::move(sample), wall, update.events);
  Elect(update.events);
  RecordHistory(server, update.events);
  // Until the server and the primary have both been sampled once, nothing
  // was observed: gates stay as they are, so that replicas found fresh at
  // start serve at once instead of settling first.
  update.snapshot = Build(now, !history_.empty(), static_cast<int>(server));
  return update;
}

void ClusterState::Observe(size_t index, Sample sample, std::chrono::system_clock::time_point wall,
                           std::vector<ClusterEvent>& events) {
  Server& s = servers_[index];
  if (sample.ok && sample.position_only) sample = Completed(std::move(sample), s.last_ok.get());
  if (!sample.ok && (!s.probed || s.up)) {
    events.push_back({Kind::kProbeFailed, index});
  } else if (sample.ok && s.probed && !s.up) {
    events.push_back({Kind::kProbeRecovered, index});
  }
  if (sample.ok) {
    const Sample* before = s.last_ok.get();
    if ((before ? before->role : Role::kUnknown) != sample.role) {
      events.push_back({Kind::kRoleChanged, index});
    }
    if (sample.role == Role::kReplica && before &&
        (before->replicating != sample.replicating ||
         before->replication_state != sample.replication_state)) {
      events.push_back({Kind::kReplicationChanged, index});
    }
    if (sample.superuser && (!before || !before->superuser)) {
      events.push_back({Kind::kSuperuser, index});
    }
    // Said once per primary: it cannot hold sessions moving to it from a
    // replica (PostgreSQL 13+, and a role with pg_read_all_stats).
    const auto blind = [](const Sample& x) {
      return x.role == Role::kPrimary && x.flavor == "postgres" && !x.tells_transactions;
    };
    if (blind(sample) && (!before || before->role != Role::kPrimary)) {
      events.push_back({Kind::kVisibilityUnknown, index});
    }
    if (sample.role != Role::kReplica || sample.replicating) {
      s.not_streaming_since.reset();
    } else if (!s.not_streaming_since) {
      s.not_streaming_since = sample.sent_at;
    }
    RecordVisibility(s, sample);
    s.last_ok_wall = wall;
  }
  s.up = sample.ok;
  s.last_probe_at = sample.received_at;
  s.error_kind = sample.ok ? probes::ErrorKind::kNone : sample.error_kind;
  s.error = sample.ok ? std::string() : std::move(sample.error);
  if (sample.ok) s.last_ok = std::make_shared<const Sample>(std::move(sample));
  if (!s.probed) {
    s.probed = true;
    events.push_back({Kind::kFirstProbe, index});
  }
}

Sample ClusterState::Completed(Sample sample, const Sample* before) {
  // The probe reads the position alone only on a connection whose previous
  // sample, of the same role, came here; anything else is a probe's bug.
  if (before == nullptr || before->role != sample.role) {
    Sample failed;
    failed.error_kind = probes::ErrorKind::kParse;
    failed.error = "a position-only sample without a whole one of its role before it";
    failed.sent_at = sample.sent_at;
    failed.received_at = sample.received_at;
    return failed;
  }
  Sample whole = *before;
  whole.position_only = true;
  whole.sent_at = sample.sent_at;
  whole.received_at = sample.received_at;
  // Transactions tell visibility as of their own sample only.
  whole.transactions.reset();
  if (sample.role == Role::kPrimary) {
    whole.write_position = std::move(sample.write_position);
  } else {
    whole.replay_position = std::move(sample.replay_position);
    if (router::IsKnown(whole.receive_position) &&
        !router::Covers(whole.receive_position, whole.replay_position)) {
      whole.receive_position = whole.replay_position;
    }
  }
  return whole;
}

// A commit flushed before a sample started is visible on the primary unless
// its transaction is still active then, holding an id below that sample's
// next id. So no active id below an earlier sample's next id makes every
// commit flushed before that sample visible; none active at all, every one
// flushed before this sample.
void ClusterState::RecordVisibility(Server& s, const Sample& sample) {
  // Without transactions read, it tells nothing; the chain goes on from the
  // previous whole sample.
  if (sample.position_only) return;
  if (sample.role != Role::kPrimary || !sample.transactions) {
    if (sample.role != Role::kPrimary) s.visible_as_of.reset();
    s.previous_next_xid.reset();
    return;
  }
  const auto& t = *sample.transactions;
  std::optional<router::TimePoint> visible;
  if (!t.oldest_active_xid) {
    visible = sample.sent_at;
  } else if (s.previous_next_xid && *t.oldest_active_xid >= s.previous_next_xid->second) {
    visible = s.previous_next_xid->first;
  }
  if (visible && (!s.visible_as_of || *visible > *s.visible_as_of)) s.visible_as_of = visible;
  s.previous_next_xid = std::pair{sample.sent_at, t.next_xid};
}

void ClusterState::Elect(std::vector<ClusterEvent>& events) {
  // The same election as router::ElectPrimary, over the latest samples.
  router::ClusterView roles;
  roles.servers.resize(servers_.size());
  for (size_t i = 0; i < servers_.size(); ++i) {
    // A server that is down claims no role (ElectPrimary).
    roles.servers[i].up = servers_[i].up;
    if (servers_[i].up) roles.servers[i].role = servers_[i].last_ok->role;
  }
  router::ElectPrimary(roles);
  if (roles.primary != primary_ && roles.primary >= 0) {
    events.push_back({Kind::kPrimaryElected, static_cast<size_t>(roles.primary)});
  } else if (roles.primary != primary_ && roles.primaries_claimed > 1) {
    events.push_back({Kind::kSplitBrain, 0, roles.primaries_claimed});
  }
  primary_ = roles.primary;
  claims_ = roles.primaries_claimed;
}

void ClusterState::RecordHistory(size_t index, std::vector<ClusterEvent>& events) {
  // The history belongs to one primary: a new primary restarts it.
  if (primary_ != static_cast<int>(index)) return;
  const Sample& sample = *servers_[index].last_ok;  // the primary is up
  if (history_owner_ != primary_) {
    if (history_owner_ >= 0) events.push_back({Kind::kPrimaryChanged, index});
    history_.Reset();
    history_owner_ = primary_;
  }
  if (!history_.Record(sample.sent_at, sample.write_position)) {
    events.push_back({Kind::kHistoryRestarted, index});
  }
}

std::shared_ptr<const ClusterSnapshot> ClusterState::Build(TimePoint now, bool update_gates,
                                                           int sampled) {
  auto snap = std::make_shared<ClusterSnapshot>();
  router::ClusterView& view = snap->view;
  view.name = cluster_.name;
  view.engine = cluster_.engine;
  view.probe_interval = probe_interval_;
  view.primary = primary_;
  view.primaries_claimed = claims_;
  if (!history_.empty()) {
    snap->history_latest = router::ToString(history_.latest());
    snap->history_latest_at = history_.latest_at();
    snap->history_size = history_.size();
  }
  // The primary is up: its latest sample is its latest successful one.
  const Sample* primary_sample =
      primary_ >= 0 ? servers_[static_cast<size_t>(primary_)].last_ok.get() : nullptr;
  // A bound that passed a limit is a replica's lag only when a live primary
  // was sampled all along (since the previous update and now): a primary
  // that is down, or has just come back, left every bound to grow.
  const bool lag_counts = primary_ >= 0 && primary_live_before_;
  if (update_gates) primary_live_before_ = primary_ >= 0;
  // Exactly: grown by push_back, a 5-server cluster's vectors had room for 8.
  view.servers.reserve(servers_.size());
  snap->status.reserve(servers_.size());
  for (size_t i = 0; i < servers_.size(); ++i) {
    Server& s = servers_[i];
    ServerStatus st;
    router::ServerView v = ViewOf(i, primary_sample, st);
    // Hysteresis gates see the bound just before this update (its peak) and
    // now; an unhealthy replica's bound is its floor (or zero: a server that
    // is no replica has none), as only a bound past the limit is lag.
    const bool healthy = v.up && v.role == Role::kReplica && v.replicating && v.bound_known;
    router::Duration bound = router::Duration::zero();
    if (v.role == Role::kReplica) {
      bound = router::StalenessAt(v.fresh_as_of, now).value_or(router::Duration::zero());
    }
    const router::Duration peak =
        std::max(bound, router::StalenessAt(s.fresh_as_of, now).value_or(bound));
    // The gates go on from where the last snapshot left them.
    if (built_ != nullptr) {
      v.gates = built_->view.servers[i].gates;
      v.check_gates = built_->view.servers[i].check_gates;
    } else {
      v.gates.resize(classes_.size());
      if (check_gates_) v.check_gates.resize(classes_.size());
    }
    if (update_gates && s.probed) {
      for (size_t k = 0; k < classes_.size(); ++k) {
        const auto& cls = classes_[k];
        router::UpdateRouteGate(v.gates[k], cls, healthy, peak, bound, now,
                                static_cast<int>(i) == sampled, lag_counts);
        if (cls.check_margin > router::Duration::zero()) {
          router::UpdateCheckGate(v.check_gates[k], cls, healthy, peak, bound, now);
        }
      }
    }
    s.fresh_as_of = v.bound_known ? v.fresh_as_of : std::nullopt;
    view.servers.push_back(std::move(v));
    snap->status.push_back(std::move(st));
  }
  if (claims_ > 1) {
    snap->primary_problem =
        "split brain: " + std::to_string(claims_) + " servers claim to be primary";
  } else if (claims_ == 0) {
    snap->primary_problem = "no reachable server is primary";
  }
  built_ = snap;
  return snap;
}

// The routing view and the status of one server, from its latest samples.
router::ServerView ClusterState::ViewOf(size_t index, const Sample* primary_sample,
                                        ServerStatus& st) const {
  const Server& s = servers_[index];
  const ServerConfig& config = cluster_.servers[index];
  router::ServerView v;
  v.name = config.name;
  v.host = config.host;
  v.port = config.port;
  v.weight = config.weight;
  v.probed = s.probed;
  v.up = s.probed && s.up;
  st.on_demand_probes = s.on_demand_probes;
  st.last_error_kind = s.error_kind;
  st.last_error = s.error;
  st.last_probe_at = s.last_probe_at;
  st.last_ok_wall = s.last_ok_wall;
  if (!s.last_ok) return v;
  const Sample& ok = *s.last_ok;
  // A healthy server answers every interval; one silent for longer than an
  // interval plus the probe timeout is down even if its probe overran.
  v.up_until = ok.received_at + probe_interval_ + probe_timeout_;
  st.last_probe_seconds = std::chrono::duration<double>(ok.received_at - ok.sent_at).count();
  st.sample = s.last_ok;
  v.role = ok.role;  // the last known role; routing also requires `up`
  st.write_position = router::ToString(ok.write_position);
  v.tells_visibility = ok.role == Role::kPrimary && ok.tells_transactions;
  v.visible_as_of = s.visible_as_of;
  if (ok.role != Role::kReplica) return v;
  st.replay_paused = ok.replay_paused;
  st.replication_running = ok.replicating;
  st.reported_lag_seconds = ok.reported_lag_seconds;
  // A replica cannot stream from a primary that is down; then only its bound
  // (which grows) decides. Against a live primary, a replica that is not
  // streaming is broken and serves nothing. "Live" must be seen after the
  // replica said so: a dying primary drops its replicas' streams up to an
  // interval before its own probe fails, and judging them broken then closed
  // every class for a settle time.
  const bool primary_seen_since = primary_sample != nullptr && s.not_streaming_since &&
                                  primary_sample->sent_at > *s.not_streaming_since;
  v.replicating = ok.replicating || primary_sample == nullptr || !primary_seen_since;
  v.replayed = ok.replay_position;
  if (!history_.empty()) {
    st.lag_distance = router::Distance(ok.replay_position, history_.latest());
    if (auto fresh = history_.FreshAsOf(ok.replay_position)) {
      v.fresh_as_of = fresh;
      v.bound_known = true;
    } else {
      v.fresh_as_of = history_.oldest();  // only a floor
    }
  }
  if (primary_sample != nullptr && !st.reported_lag_seconds) {
    for (const auto& d : primary_sample->downstream) {
      if (d.application_name == v.name) st.reported_lag_seconds = d.replay_lag_seconds;
    }
  }
  return v;
}

}  // namespace lagrouter::daemon
