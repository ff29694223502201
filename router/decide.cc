#include "router/decide.h"

namespace lagrouter::router {

namespace {

// A replica's decision: its bound as of `now`; a proven one is right for
// this read only (valid_for 0: never cached).
Decision ReplicaDecision(const ClusterView& cluster, const QueryClass& cls, size_t server,
                         bool proven, TimePoint now) {
  Decision d;
  d.at = now;
  d.outcome = proven ? Outcome::kProvenReplica : Outcome::kFreshReplica;
  d.server = static_cast<int>(server);
  d.bound = *BoundAt(cluster.servers[server], now);
  d.valid_for = proven ? Duration::zero() : ValidFor(cls, d.bound);
  return d;
}

// The route's pick from the judged reasons: the session's own replica, else
// a fresh (or proven) replica by weight, else the class's fallback.
Decision Pick(const ClusterView& cluster, const Ask& ask, const Reasons& reasons,
              uint64_t total_weight, TimePoint now) {
  const QueryClass& cls = *ask.cls;
  if (ask.sticky >= 0 && reasons[static_cast<size_t>(ask.sticky)] == Reason::kFreshReplica) {
    return ReplicaDecision(cluster, cls, static_cast<size_t>(ask.sticky), false, now);
  }
  if (total_weight > 0) {
    uint64_t pick = ask.spread % total_weight;
    for (size_t i = 0; i < cluster.servers.size(); ++i) {
      const auto& s = cluster.servers[i];
      if (reasons[i] != Reason::kFreshReplica || static_cast<int>(i) == ask.sticky) continue;
      if (pick < s.weight) {
        return ReplicaDecision(cluster, cls, i, ask.proven_since.has_value(), now);
      }
      pick -= s.weight;
    }
  }
  Decision d;
  d.at = now;
  if (cls.max_staleness > Duration::zero() && cls.fallback == Fallback::kError) {
    d.why = ask.after != nullptr
                ? "no replica is fresh enough for this class and has replayed the requested "
                  "position, and the class does not fall back to the primary"
                : "no replica is fresh enough for this class, and the class does not fall back "
                  "to the primary";
    return d;
  }
  if (cluster.primary < 0) {
    d.why = cluster.primaries_claimed > 1
                ? "several servers claim to be primary (split brain); refusing to pick one"
                : "the primary is needed but is down or unknown";
    return d;
  }
  // A primary with commits in flight is waited for (Decide's plan) while the
  // asker may wait; this is the answer if it cannot.
  const Reason primary = reasons[static_cast<size_t>(cluster.primary)];
  if (primary != Reason::kPrimary && primary != Reason::kCommitsInFlight) {
    d.why = "the primary is needed but has not answered a probe in time";
    return d;
  }
  d.outcome =
      cls.max_staleness > Duration::zero() ? Outcome::kFallbackPrimary : Outcome::kPrimaryClass;
  d.server = cluster.primary;
  d.bound = Duration::zero();
  // A primary stays right until a probe could show a failover.
  d.valid_for = cluster.probe_interval;
  return d;
}

ProbePlan Plan(const ClusterView& cluster, const Ask& ask, const Reasons& reasons, TimePoint now,
               std::optional<TimePoint> primary_sampled_at) {
  ProbePlan plan;
  // No replica can be proven before the primary has a sample taken after the
  // request arrived: sample the primary alone, and the unproven replicas once
  // that sample is in (the publication it makes re-plans). Asking for them
  // now would tie them to the primary's turn and its rate cap.
  const bool proof_needs_primary =
      ask.proven_since && (!primary_sampled_at || *primary_sampled_at < *ask.proven_since);
  bool unproven = false;
  for (size_t i = 0; i < reasons.size(); ++i) {
    if (reasons[i] == Reason::kStale || reasons[i] == Reason::kNotReplayed) {
      plan.servers.push_back(i);
    } else if (reasons[i] == Reason::kUnproven) {
      unproven = true;
      if (!proof_needs_primary) plan.servers.push_back(i);
    }
  }
  const bool waits_for_primary =
      (unproven && proof_needs_primary) ||
      (cluster.primary >= 0 &&
       reasons[static_cast<size_t>(cluster.primary)] == Reason::kCommitsInFlight);
  if (plan.empty() && !waits_for_primary) return plan;
  // A replica's bound is at least the age of the primary's newest sample:
  // past PrimaryResampleAge even a replica that replayed it could not serve
  // the class, so the primary is sampled first and the replicas after it.
  const bool bound_needs_primary =
      ask.cls->max_staleness > Duration::zero() &&
      (!primary_sampled_at || now - *primary_sampled_at > PrimaryResampleAge(*ask.cls));
  if (cluster.primary >= 0 && (bound_needs_primary || waits_for_primary)) {
    plan.primary_first = bound_needs_primary && !plan.empty();
    plan.servers.push_back(static_cast<size_t>(cluster.primary));
    if (reasons[static_cast<size_t>(cluster.primary)] == Reason::kCommitsInFlight) {
      plan.visibility_of = cluster.primary;
    }
  }
  return plan;
}

}  // namespace

Verdict Decide(const ClusterView& cluster, const Ask& ask, TimePoint now,
               std::optional<TimePoint> primary_sampled_at) {
  Verdict v(cluster.servers.size());
  uint64_t total_weight = 0;
  for (size_t i = 0; i < cluster.servers.size(); ++i) {
    // The session's own server serves on the class's terms; the others need the proof.
    const bool own = static_cast<int>(i) == ask.sticky;
    // The primary's visibility is waited for only while the asker may wait.
    const bool wait_visible = !own && ask.wait > Duration::zero();
    v.reasons[i] = Explain(cluster, i, *ask.cls, ask.class_index, now, ask.after, ask.asker,
                           own ? std::nullopt : ask.proven_since,
                           wait_visible ? ask.visible_since : std::nullopt);
    if (v.reasons[i] == Reason::kFreshReplica && !own) total_weight += cluster.servers[i].weight;
  }
  v.decision = Pick(cluster, ask, v.reasons, total_weight, now);
  if (!IsReplica(v.decision.outcome) && ask.wait > Duration::zero()) {
    v.plan = Plan(cluster, ask, v.reasons, now, primary_sampled_at);
    v.wait = !v.plan.empty();
  }
  return v;
}

}  // namespace lagrouter::router
