#include "router/router.h"

#include "router/decide.h"

namespace lagrouter::router {

const char* RoleName(Role role) {
  switch (role) {
    case Role::kPrimary: return "primary";
    case Role::kReplica: return "replica";
    case Role::kUnknown: break;
  }
  return "unknown";
}

const char* OutcomeName(Outcome outcome) {
  switch (outcome) {
    case Outcome::kFreshReplica: return "fresh_replica";
    case Outcome::kPrimaryClass: return "primary_class";
    case Outcome::kFallbackPrimary: return "fallback_primary";
    case Outcome::kProvenReplica: return "proven_replica";
    case Outcome::kNoEligibleServer: break;
  }
  return "no_eligible_server";
}

void UpdateGate(Gate& gate, Duration limit, Duration comfortable, Duration settle, bool healthy,
                Duration peak_bound, Duration bound, TimePoint now, bool own_sample,
                bool primary_live) {
  if (settle <= Duration::zero()) {
    gate = Gate{};  // no hysteresis: the bound alone decides, at request time
    return;
  }
  const bool past_limit = peak_bound > limit || bound > limit;
  if (!healthy || past_limit) {
    gate.held = true;
    gate.lagged = gate.lagged || (past_limit && primary_live);
    gate.comfortable_since.reset();
    gate.eligible_from = TimePoint::max();
    // A sample of its own that shows it caught up (the limit was passed only
    // before it) starts its settle time at once.
    if (!healthy || !own_sample || bound > comfortable) return;
  }
  if (!gate.held) {
    gate.eligible_from = TimePoint::min();
    return;
  }
  const bool settled = gate.comfortable_since && now >= *gate.comfortable_since + settle;
  // Between its own samples a replica's bound sits higher than at them: the
  // comfort line is judged at its own samples only.
  if (!settled && !own_sample) return;
  if (!settled && bound > comfortable) {
    gate.comfortable_since.reset();
    gate.eligible_from = TimePoint::max();
    return;
  }
  if (!gate.lagged) {
    gate = Gate{};  // held for its health alone: back at its first comfortable sample
    return;
  }
  if (!gate.comfortable_since) gate.comfortable_since = now;
  gate.eligible_from = *gate.comfortable_since + settle;
  if (now >= gate.eligible_from) {
    // Settled: once requests may have seen it eligible, a later dip above
    // the comfort line (but within the limit) must not take it out again.
    gate = Gate{};
  }
}

void UpdateCheckGate(Gate& gate, const QueryClass& cls, bool healthy, Duration peak_bound,
                     Duration bound, TimePoint /*now*/) {
  if (cls.settle <= Duration::zero()) {
    gate = Gate{};  // no hysteresis: the bound alone decides, at request time
    return;
  }
  const Duration limit = CheckLimit(cls);
  if (!healthy || peak_bound > limit || bound > limit) {
    gate.held = true;
    gate.comfortable_since.reset();
    gate.eligible_from = TimePoint::max();
    return;
  }
  if (gate.held && bound <= ReadmitBelow(cls)) gate = Gate{};
}

std::optional<Duration> BoundAt(const ServerView& s, TimePoint now) {
  if (!s.bound_known) return std::nullopt;
  return StalenessAt(s.fresh_as_of, now);
}

const char* ReasonName(Reason reason) {
  switch (reason) {
    case Reason::kNotProbed: return "not_probed";
    case Reason::kDown: return "down";
    case Reason::kPrimary: return "primary";
    case Reason::kPrimaryAmbiguous: return "primary_ambiguous";
    case Reason::kRoleUnknown: return "role_unknown";
    case Reason::kPrimaryOnlyClass: return "primary_only_class";
    case Reason::kNotReplicating: return "not_replicating";
    case Reason::kBoundUnknown: return "bound_unknown";
    case Reason::kStale: return "stale";
    case Reason::kNearLimit: return "near_limit";
    case Reason::kSettling: return "settling";
    case Reason::kNotReplayed: return "not_replayed";
    case Reason::kUnproven: return "unproven";
    case Reason::kCommitsInFlight: return "commits_in_flight";
    case Reason::kFreshReplica: return "fresh_replica";
  }
  return "unknown";
}

void ElectPrimary(ClusterView& cluster) {
  cluster.primary = -1;
  cluster.primaries_claimed = 0;
  for (size_t i = 0; i < cluster.servers.size(); ++i) {
    const ServerView& s = cluster.servers[i];
    if (s.up && s.role == Role::kPrimary) {
      ++cluster.primaries_claimed;
      cluster.primary = static_cast<int>(i);
    }
  }
  if (cluster.primaries_claimed > 1) cluster.primary = -1;
}

Reason Explain(const ClusterView& cluster, size_t server, const QueryClass& cls, size_t class_index,
               TimePoint now, const Position* after, Asker asker,
               std::optional<TimePoint> proven_since, std::optional<TimePoint> visible_since) {
  const ServerView& s = cluster.servers[server];
  if (!s.probed) return Reason::kNotProbed;
  if (!UpAt(s, now)) return Reason::kDown;
  if (s.role == Role::kPrimary) {
    if (cluster.primary != static_cast<int>(server)) return Reason::kPrimaryAmbiguous;
    if (visible_since && s.tells_visibility &&
        !(s.visible_as_of && *s.visible_as_of >= *visible_since)) {
      return Reason::kCommitsInFlight;
    }
    return Reason::kPrimary;
  }
  if (s.role != Role::kReplica) return Reason::kRoleUnknown;
  // A 0s class is the primary's, unless the read asks for a proof and the
  // class lets a proven replica serve it.
  const bool strict = cls.max_staleness <= Duration::zero();
  if (strict && !(cls.strict_replicas && proven_since)) return Reason::kPrimaryOnlyClass;
  if (!s.replicating) return Reason::kNotReplicating;
  const auto bound = BoundAt(s, now);
  if (!bound) return Reason::kBoundUnknown;
  if (!strict) {
    if (*bound > cls.max_staleness) return Reason::kStale;
    const bool margin = asker == Asker::kCheck && cls.check_margin > Duration::zero();
    if (margin && *bound > CheckLimit(cls)) return Reason::kNearLimit;
    // The route's gate holds checks too; the check's own gate only adds the
    // wait for a replica back from the margin band to get under ReadmitBelow.
    if (class_index < s.gates.size() && now < s.gates[class_index].eligible_from) {
      return Reason::kSettling;
    }
    if (margin && class_index < s.check_gates.size() &&
        now < s.check_gates[class_index].eligible_from) {
      return Reason::kSettling;
    }
  }
  if (after != nullptr && !Covers(s.replayed, *after)) return Reason::kNotReplayed;
  // A proof is exact: no hysteresis, only whether the replica replayed a
  // primary sample taken after the read was asked.
  if (proven_since && *s.fresh_as_of < *proven_since) return Reason::kUnproven;
  return Reason::kFreshReplica;
}

Decision Route(const ClusterView& cluster, const QueryClass& cls, size_t class_index,
               const Position* after, TimePoint now, uint64_t spread) {
  return Decide(cluster, Ask::Route(cls, class_index, after, spread), now, std::nullopt).decision;
}

}  // namespace lagrouter::router
