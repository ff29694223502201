// The state of one cluster, folded from probe samples: pure. It starts no
// thread, reads no clock and logs nothing; time comes in with each sample and
// what changed goes out as events. The Monitor is the shell around it.
#pragma once

#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "daemon/config/config.h"
#include "daemon/monitor/snapshot.h"
#include "probes/probe.h"
#include "router/history.h"

namespace lagrouter::daemon {

// A change worth telling people about, once (the Monitor logs these).
struct ClusterEvent {
  enum class Kind {
    kFirstProbe,          // the server's first probe finished
    kProbeFailed,         // was ok (or never probed), now fails
    kProbeRecovered,      // was failing, now ok
    kRoleChanged,         // a different role than its last good sample
    kReplicationChanged,  // a replica's stream started, stopped or changed state
    kSuperuser,           // the monitoring user turned out to be a superuser
    kVisibilityUnknown,   // a PostgreSQL primary that cannot tell its commits in flight
    kPrimaryElected,      // `server` is the cluster's one primary now
    kSplitBrain,          // `claims` servers claim the primary role
    kPrimaryChanged,      // the history restarts: another server is primary
    kHistoryRestarted,    // the history restarts: the primary's position went back
  };
  Kind kind;
  size_t server = 0;  // the server the event is about (kSplitBrain: none)
  int claims = 0;     // kSplitBrain
};

class ClusterState {
 public:
  // Refers to `cluster` and `config`, which outlive it (a copy per cluster
  // cost ~0.2 KB a server).
  ClusterState(const ClusterConfig& cluster, const Config& config);

  struct Update {
    std::vector<ClusterEvent> events;
    std::shared_ptr<const ClusterSnapshot> snapshot;
  };
  // Folds in a sample of server `server`, applied at `now` (`wall`: the same
  // instant on the wall clock, for people); returns what changed and the
  // snapshot to publish.
  // `on_demand`: the probe was asked for by a waiting request, not scheduled.
  Update Apply(size_t server, probes::Sample sample, router::TimePoint now,
               std::chrono::system_clock::time_point wall, bool on_demand = false);

  // The snapshot before any sample: every server unprobed.
  std::shared_ptr<const ClusterSnapshot> Initial();

  // The elected primary (index), or -1; replicas wait for its sample.
  int primary() const { return primary_; }
  const ServerConfig& server_config(size_t server) const { return cluster_.servers[server]; }
  // For messages about events: the latest successful sample of a server (null
  // before one), and why its latest probe failed (kNone and "" if it did not).
  const probes::Sample* last_ok(size_t server) const { return servers_[server].last_ok.get(); }
  probes::ErrorKind error_kind(size_t server) const { return servers_[server].error_kind; }
  const std::string& error(size_t server) const { return servers_[server].error; }
  const ClusterConfig& config() const { return cluster_; }

 private:
  struct Server {
    bool probed = false;
    // The latest sample: whether it was ok, when it came, and why it failed.
    // Only a successful sample is kept whole (last_ok): a failed one says
    // nothing more, and a second Sample per server cost ~0.4 KB.
    bool up = false;
    router::TimePoint last_probe_at{};
    probes::ErrorKind error_kind = probes::ErrorKind::kNone;
    std::string error;
    // The latest successful sample, shared with the snapshots' ServerStatus.
    std::shared_ptr<const probes::Sample> last_ok;
    std::optional<std::chrono::system_clock::time_point> last_ok_wall;
    std::optional<router::TimePoint> fresh_as_of;  // from the previous snapshot, for gate peaks
    // When this replica first reported its stream not running (the probe's
    // sent_at), until it runs again.
    std::optional<router::TimePoint> not_streaming_since;
    // As primary: router::ServerView::visible_as_of, and the previous
    // sample's start and next transaction id (RecordVisibility).
    std::optional<router::TimePoint> visible_as_of;
    std::optional<std::pair<router::TimePoint, uint64_t>> previous_next_xid;
    uint64_t on_demand_probes = 0;
  };

  void Observe(size_t server, probes::Sample sample, std::chrono::system_clock::time_point wall,
               std::vector<ClusterEvent>& events);
  static void RecordVisibility(Server& s, const probes::Sample& sample);
  // A position_only sample as a whole one: the server's previous sample with
  // the new role's position and times (an error sample without one).
  static probes::Sample Completed(probes::Sample sample, const probes::Sample* before);
  void Elect(std::vector<ClusterEvent>& events);
  void RecordHistory(size_t server, std::vector<ClusterEvent>& events);
  // `sampled`: the server whose sample this update applies (-1: none); its
  // gates judge their comfort line (router::UpdateGate's own_sample).
  std::shared_ptr<const ClusterSnapshot> Build(router::TimePoint now, bool update_gates,
                                               int sampled);
  router::ServerView ViewOf(size_t server, const probes::Sample* primary_sample,
                            ServerStatus& status) const;

  const ClusterConfig& cluster_;
  router::Duration probe_interval_;
  router::Duration probe_timeout_;
  const std::vector<router::QueryClass>& classes_;
  // Some class has a check_margin: only then are check gates kept.
  bool check_gates_;
  // The last snapshot built: its views hold the hysteresis gates, which the
  // next Build advances (kept there, not also per server here).
  std::shared_ptr<const ClusterSnapshot> built_;
  std::vector<Server> servers_;
  router::PositionHistory history_;
  int history_owner_ = -1;  // the server whose samples fill the history
  int primary_ = -1;
  int claims_ = 0;
  bool primary_live_before_ = false;  // a primary was up at the previous update
};

}  // namespace lagrouter::daemon
