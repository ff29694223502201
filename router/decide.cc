#include "router/decide.h"

namespace lagrouter::router {

namespace {

// The route's pick from the judged reasons: a fresh replica by weight, else
// the class's fallback.
Decision Pick(const ClusterView& cluster, const Ask& ask, const Reasons& reasons,
              uint64_t total_weight, TimePoint now) {
  const QueryClass& cls = *ask.cls;
  Decision d;
  d.at = now;
  if (cls.max_staleness > Duration::zero()) {
    if (total_weight > 0) {
      uint64_t pick = ask.spread % total_weight;
      for (size_t i = 0; i < cluster.servers.size(); ++i) {
        const auto& s = cluster.servers[i];
        if (reasons[i] != Reason::kFreshReplica) continue;
        if (pick < s.weight) {
          d.outcome = Outcome::kFreshReplica;
          d.server = static_cast<int>(i);
          d.bound = *BoundAt(s, now);
          d.valid_for = ValidFor(cls, d.bound);
          return d;
        }
        pick -= s.weight;
      }
    }
    if (cls.fallback == Fallback::kError) {
      d.why = ask.after != nullptr
                  ? "no replica is fresh enough for this class and has replayed the requested "
                    "position, and the class does not fall back to the primary"
                  : "no replica is fresh enough for this class, and the class does not fall back "
                    "to the primary";
      return d;
    }
  }
  if (cluster.primary < 0) {
    d.why = cluster.primaries_claimed > 1
                ? "several servers claim to be primary (split brain); refusing to pick one"
                : "the primary is needed but is down or unknown";
    return d;
  }
  if (reasons[static_cast<size_t>(cluster.primary)] != Reason::kPrimary) {
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

ProbePlan Plan(const ClusterView& cluster, const QueryClass& cls, const Reasons& reasons,
               TimePoint now, std::optional<TimePoint> primary_sampled_at) {
  ProbePlan plan;
  if (cls.max_staleness <= Duration::zero()) return plan;  // primary only
  for (size_t i = 0; i < reasons.size(); ++i) {
    if (reasons[i] == Reason::kStale || reasons[i] == Reason::kNotReplayed) {
      plan.servers.push_back(i);
    }
  }
  if (plan.empty()) return plan;
  const bool primary_old =
      !primary_sampled_at || now - *primary_sampled_at > PrimaryResampleAge(cls);
  if (primary_old && cluster.primary >= 0) {
    plan.primary_first = true;
    plan.servers.push_back(static_cast<size_t>(cluster.primary));
  }
  return plan;
}

}  // namespace

Verdict Decide(const ClusterView& cluster, const Ask& ask, TimePoint now,
               std::optional<TimePoint> primary_sampled_at) {
  Verdict v(cluster.servers.size());
  uint64_t total_weight = 0;
  for (size_t i = 0; i < cluster.servers.size(); ++i) {
    v.reasons[i] = Explain(cluster, i, *ask.cls, ask.class_index, now, ask.after, ask.asker);
    if (v.reasons[i] == Reason::kFreshReplica) total_weight += cluster.servers[i].weight;
  }
  v.decision = Pick(cluster, ask, v.reasons, total_weight, now);
  if (v.decision.outcome != Outcome::kFreshReplica && ask.wait > Duration::zero()) {
    v.plan = Plan(cluster, *ask.cls, v.reasons, now, primary_sampled_at);
    v.wait = !v.plan.empty();
  }
  return v;
}

}  // namespace lagrouter::router
