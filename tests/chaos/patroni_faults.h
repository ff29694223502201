// Patroni's own failovers as faults (--patroni-urls, with
// scripts/patroni-cluster.sh as --script): patroni_failover kills -9 the
// leader's postmaster, patroni_switchover asks patronictl. For each, the
// checker times the promotion (the first moment a new leader answers
// pg_is_in_recovery() = false, polled every 5 ms) and the first /v1/route
// answer for the 0 s class that names it. Healed when the old leader
// streams again; until then, a 0 s route naming the old (demoted) leader is
// a violation, which this judgement counts.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "tests/chaos/cluster_control.h"
#include "tests/chaos/faults.h"
#include "tests/chaos/harness.h"
#include "tests/chaos/judgement.h"

namespace lagrouter::chaos {

class PatroniFaults : public Judgement {
 public:
  explicit PatroniFaults(const ClusterControl& c) : c_(c) {}

  // The leader killed (or switched over); healed when it streams again.
  Fault Failover(bool switchover);

  // The failover timings (when there were any), the demoted-leader routes (with Patroni).
  void Print() override;
  uint64_t Violations() const override { return routes_to_demoted_; }

 private:
  using Members = std::map<int, std::unique_ptr<SqlConn>>;  // node -> connection (or none)
  struct Promotion {
    int new_node = -1;
    Clock::time_point promoted, routed;
  };
  // Polls the other members and the 0 s route until a new leader is promoted
  // and routed to; nullopt 60 s after `since`.
  std::optional<Promotion> WaitPromotion(Members& others, Clock::time_point since);
  void Record(bool switchover, const std::string& old_name, Clock::time_point killed,
              const Promotion& p);
  // Waits for `old_node` to stream again, counting 0 s routes that name it.
  bool WaitRejoined(int old_node);

  const ClusterControl& c_;
  std::mutex mu_;
  // Failovers: ms from the kill to the promotion, from the promotion to the
  // first route naming the new leader, from the kill to that route.
  std::vector<int64_t> promote_ms_, route_after_promote_ms_, kill_to_route_ms_;
  uint64_t routes_to_demoted_ = 0;
};

}  // namespace lagrouter::chaos
