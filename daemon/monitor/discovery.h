// Member discovery from an HA manager (Patroni): which servers a cluster has.
// Discovery says which servers exist; probing says what each one is. Nothing
// the manager says about roles, lag or health is used for routing.
//
// Pure parts (unit-tested on captured answers): ParsePatroniCluster and
// NextMembers. The shell: FetchHttp (cpp-httplib) and Discovery, a thread
// that polls each discovering cluster and reports member-set changes; the
// daemon applies a change by starting a new configuration with the new
// members beside the running one, as a reload does (daemon/app.cc).
#pragma once

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "common/result.h"
#include "daemon/config/config.h"
#include "daemon/monitor/discovery_status.h"
#include "router/time.h"

namespace lagrouter::daemon {

// One member of Patroni's GET /cluster. `role` and `state` are kept for
// people (the log, /v1/status); routing never reads them.
struct PatroniMember {
  std::string name;
  std::string host;
  int port = 0;
  std::string role;   // leader, replica, sync_standby, standby_leader, ...
  std::string state;  // running, streaming, stopped, starting, creating replica, ...
};

struct PatroniCluster {
  std::vector<PatroniMember> members;  // the usable ones, in the answer's order
  // Members left out, each with why ("members[2]: no host"): the answer is partial.
  std::vector<std::string> problems;
};

// Parses the body of GET /cluster. An error when the body is not a JSON
// object with a "members" array; a member without a usable name (lagrouter's
// name rules), host or port, or that repeats a name or address, is left out
// and named in `problems`.
Result<PatroniCluster> ParsePatroniCluster(std::string_view body);

// What a cluster runs with after a poll.
struct DiscoveryStep {
  std::vector<ServerConfig> servers;  // sorted by name
  DiscoveryState state = DiscoveryState::kPending;
  std::string error;  // why the poll was not complete; "" when ok
};

// The members to use after `answer`, given the last known ones:
// - a complete answer with at least one member: exactly its members (kOk);
// - a partial one (problems, or no members at all): its usable members plus
//   every last known member it does not name: nothing is removed on a
//   partial answer (kPartial);
// - no answer: the last known members (kUnreachable).
DiscoveryStep NextMembers(const std::vector<ServerConfig>& last_known,
                          const Result<PatroniCluster>& answer);

// True when both lists name the same servers at the same addresses, in order.
bool SameMembers(const std::vector<ServerConfig>& a, const std::vector<ServerConfig>& b);

// GET of an http:// URL: the body of a 200 answer, else an error naming the
// URL and the problem. `timeout` bounds the connect and each read.
using Fetcher =
    std::function<Result<std::string>(const std::string& url, router::Duration timeout)>;
Fetcher FetchHttp();

// Polls Patroni for every cluster with discovery, in its own thread, and
// keeps what each poll saw (DiscoveryBoards) for the API and the metrics.
class Discovery final : public DiscoveryBoards {
 public:
  explicit Discovery(Fetcher fetch);
  ~Discovery() override;
  Discovery(const Discovery&) = delete;
  Discovery& operator=(const Discovery&) = delete;

  // Takes a configuration as loaded from its file (at start and on every
  // reload) and returns the one to run: the same, with each discovering
  // cluster's members filled in. A cluster that discovers from the same
  // URLs as before keeps its members and status; a new one is polled once
  // now (bounded by its discovery_timeout per URL).
  std::shared_ptr<const Config> Adopt(Config config);
  // The last adopted configuration with the members known now.
  std::shared_ptr<const Config> Current() const;
  // What the last poll of an adopted discovering cluster saw (pending until
  // its first); null for any other name.
  std::shared_ptr<const DiscoveryStatus> Status(std::string_view cluster) const override;

  // Polls each discovering cluster every discovery_interval; calls
  // `on_change` (on the polling thread) when a member set changed.
  void Start(std::function<void()> on_change);
  void Stop();

 private:
  struct Cluster;
  // One poll of a cluster whose settings are copied in; returns the step.
  DiscoveryStep Poll(const DiscoveryConfig& cfg, const std::vector<ServerConfig>& known,
                     size_t& preferred_url, std::string& source);
  // Records a step under mu_; true when the member set changed.
  bool Record(Cluster& c, DiscoveryStep step, const std::string& source, bool first);
  void Loop();

  Fetcher fetch_;
  mutable std::mutex mu_;  // guards everything below
  Config file_config_;     // the last adopted, as loaded
  std::vector<std::unique_ptr<Cluster>> clusters_;
  uint64_t generation_ = 0;  // bumped by Adopt: results of older polls are dropped
  std::function<void()> on_change_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace lagrouter::daemon
