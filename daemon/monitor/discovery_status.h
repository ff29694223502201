// What a cluster's member discovery (daemon/monitor/discovery.h) last saw, for
// /v1/status, /metrics, the status page and the log. Outlives every running
// configuration: the Discovery owns a board per discovering cluster and its
// thread writes them; each configuration's API and metrics are handed the
// Discovery as DiscoveryBoards and read them by cluster name.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "router/time.h"

namespace lagrouter::daemon {

enum class DiscoveryState {
  kPending,      // not asked yet
  kOk,           // the last answer was complete: the members are the manager's
  kPartial,      // the last answer left members out or malformed: last known kept
  kUnreachable,  // no URL answered with a usable member list: last known kept
};
const char* DiscoveryStateName(DiscoveryState state);

struct DiscoveryStatus {
  DiscoveryState state = DiscoveryState::kPending;
  std::string source;                        // the URL of the last usable answer
  std::string last_error;                    // why the last poll was not complete ("" when ok)
  std::optional<router::TimePoint> last_ok;  // the last complete answer (monotonic)
  std::optional<std::chrono::system_clock::time_point> last_ok_wall;
  std::vector<std::string> members;  // the names in use, sorted
  uint64_t polls = 0;                // every poll
  uint64_t failed_polls = 0;         // polls that were not complete (partial or unreachable)
  uint64_t member_changes = 0;       // member sets applied after the first
};

// One cluster's status: written by the discovery thread, read by requests.
class DiscoveryBoard {
 public:
  std::shared_ptr<const DiscoveryStatus> Get() const {
    std::lock_guard<std::mutex> lock(mu_);
    return status_;
  }
  void Set(DiscoveryStatus status) {
    auto next = std::make_shared<const DiscoveryStatus>(std::move(status));
    std::lock_guard<std::mutex> lock(mu_);
    status_.swap(next);
  }

 private:
  mutable std::mutex mu_;
  std::shared_ptr<const DiscoveryStatus> status_ = std::make_shared<const DiscoveryStatus>();
};

// The read side of every cluster's board (implemented by Discovery).
class DiscoveryBoards {
 public:
  virtual ~DiscoveryBoards() = default;
  // What discovery last saw of `cluster`; null when it does not discover.
  virtual std::shared_ptr<const DiscoveryStatus> Status(std::string_view cluster) const = 0;
};

}  // namespace lagrouter::daemon
