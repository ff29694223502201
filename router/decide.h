// The one decision every asker shares: /v1/route (answered now or parked),
// the parked requests re-decided on each new snapshot, and /v1/check. Each
// server's Reason is judged once (Explain); the route's pick, the probes that
// could let a replica serve, and whether to wait for them all follow from
// those reasons. Pure, like router.h.
#pragma once

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <vector>

#include "router/router.h"

namespace lagrouter::router {

// What a request asks of a cluster.
struct Ask {
  const QueryClass* cls = nullptr;
  size_t class_index = 0;
  const Position* after = nullptr;  // a position the read must see, or nullptr
  Asker asker = Asker::kRoute;
  uint64_t spread = 0;  // as for Route()
  Duration wait{0};     // how much longer the asker may wait for on-demand probes
  // Sessions (monotonic reads): the server the session's last read went to,
  // -1 when unknown. Reads on one server never go back, so it serves on the
  // class's own terms; any other replica needs the proof below.
  int sticky = -1;
  // When the request arrived. A replica proven to hold every commit that
  // returned before it (Explain's proven_since) may serve a session that
  // moves, or a strict_replicas 0s class. Unset: no proof is asked.
  std::optional<TimePoint> proven_since;
  // When the request arrived, for a session read that may move from a
  // replica to the primary: the primary serves once shown to make visible
  // every commit the replica could have shown (Explain's visible_since), as
  // long as the asker may wait; then it serves anyway. Unset: not asked.
  std::optional<TimePoint> visible_since;

  // A /v1/route request (or a parked one, re-decided).
  static Ask Route(const QueryClass& cls, size_t class_index, const Position* after,
                   uint64_t spread, Duration wait = Duration::zero()) {
    return {&cls, class_index, after, Asker::kRoute, spread, wait, -1, std::nullopt, std::nullopt};
  }
  // Adds what the request's session and arrival ask: a session's reads may
  // move only to a proven replica; a strict_replicas 0s class is served only
  // by one. `arrived`: when the request arrived.
  // `session_server`: the session's server, -1 when unknown (it read
  // somewhere lagrouter did not name), kNewSession when it has read nothing.
  static constexpr int kNewSession = -2;
  Ask& For(bool in_session, int session_server, TimePoint arrived) {
    sticky = in_session ? std::max(session_server, -1) : -1;
    const bool moves = in_session && session_server != kNewSession;
    if (moves || (cls->max_staleness <= Duration::zero() && cls->strict_replicas)) {
      proven_since = arrived;
    }
    if (moves) visible_since = arrived;
    return *this;
  }
  // A load balancer's /v1/check.
  static Ask Check(const QueryClass& cls, size_t class_index) {
    return {&cls, class_index,  nullptr,     Asker::kCheck, 0, Duration::zero(),
            -1,   std::nullopt, std::nullopt};
  }
};

// Which servers to probe so that a replica may serve the read: those held
// out only by their bound (stale), by `after` (not replayed) or by a missing
// proof (unproven; once the primary has a sample taken after the request),
// and the primary: first when even a replica that replays its latest sample
// would be too stale for the class, alone when a proof needs its newer
// sample or it has commits in flight. Empty: probing cannot help.
struct ProbePlan {
  std::vector<size_t> servers;
  bool primary_first = false;
  // The primary, when its probe must tell which commits are visible (it has
  // commits in flight), which its position alone does not; else -1. Every
  // other probe of a plan needs only the server's role and position.
  int visibility_of = -1;
  bool empty() const { return servers.empty(); }
};

// Each server's reason, indexed like the cluster's servers. Inline for the
// clusters of a few servers that every request judges, so a route answer
// allocates nothing for it.
class Reasons {
 public:
  explicit Reasons(size_t n) : n_(n) {
    if (n > kInline) heap_.resize(n);
  }
  Reason& operator[](size_t i) { return n_ > kInline ? heap_[i] : inline_[i]; }
  Reason operator[](size_t i) const { return n_ > kInline ? heap_[i] : inline_[i]; }
  size_t size() const { return n_; }

 private:
  static constexpr size_t kInline = 16;
  size_t n_;
  std::array<Reason, kInline> inline_{};
  std::vector<Reason> heap_;
};

struct Verdict {
  explicit Verdict(size_t servers) : reasons(servers) {}
  Reasons reasons;    // each server's Explain() for the ask
  Decision decision;  // where the read goes now
  // The probes that could let a replica serve; planned only when the asker
  // may wait and no replica serves now.
  ProbePlan plan;
  // Park the request and ask for `plan`: no replica serves now, the asker
  // may still wait, and probing can help.
  bool wait = false;
};

// The age of the primary's newest sample past which a waiting request asks
// for a primary sample before the replicas': a replica's bound is at least
// that age, so past half the limit a replica that catches up to it could
// still not serve for long.
inline Duration PrimaryResampleAge(const QueryClass& cls) {
  return cls.max_staleness / 2;
}

// The one decision. `primary_sampled_at`: when the primary's newest sample
// in the history was taken (nullopt: none yet).
Verdict Decide(const ClusterView& cluster, const Ask& ask, TimePoint now,
               std::optional<TimePoint> primary_sampled_at);

}  // namespace lagrouter::router
