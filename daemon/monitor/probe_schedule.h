// When to probe: pure. The cluster ticks (ClusterTicks) and, per server, what
// to do next (ProbeSchedule): probe now, scheduled or on demand, or wait until
// a deadline. No thread, no lock, no clock and no entropy in here: `now` and
// the random numbers come in as arguments, so the Monitor's threads (or an
// event loop driving many servers) and the tests on scripted time drive the
// same schedule.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <queue>
#include <random>
#include <vector>

#include "router/time.h"

namespace lagrouter::daemon {

// Uniform numbers in [0, 1): the schedule's only randomness (the backoff's jitter).
class RandomSource {
 public:
  virtual ~RandomSource() = default;
  virtual double Uniform() = 0;
};

// A seeded generator; one per user, as it is not thread-safe. SplitMix64:
// eight bytes of state, plenty for a backoff's jitter (std::mt19937_64 kept
// 2.5 KB per cluster, 5 MB at 10,000 servers).
class SeededRandom final : public RandomSource {
 public:
  explicit SeededRandom(uint64_t seed) : state_(seed) {}
  double Uniform() override {
    uint64_t z = (state_ += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return static_cast<double>(z >> 11) * 0x1.0p-53;  // 53 bits: [0, 1)
  }

 private:
  uint64_t state_;
};

// The scheduled ticks of every cluster. Cluster i ticks at phase
// min(interval, 1 s) * i / n: with hundreds of clusters ticking at one instant, every
// probe woke at once and the HTTP loops queued behind them. A cluster's
// servers tick together (the primary-first lead needs them to).
class ClusterTicks {
 public:
  ClusterTicks(router::Duration interval, size_t clusters, router::TimePoint start);
  // The clusters whose tick is due at `now`, each once however many ticks
  // passed: one that fell behind (e.g. the process was suspended) skips the
  // missed ticks instead of bursting.
  std::vector<size_t> Due(router::TimePoint now);
  // The earliest next tick (start + interval when there is no cluster).
  router::TimePoint next() const;

 private:
  struct Next {
    router::TimePoint at;
    size_t cluster;
    bool operator>(const Next& o) const { return at > o.at || (at == o.at && cluster > o.cluster); }
  };
  router::Duration interval_;
  // Earliest first: a loop with thousands of clusters asks for the next tick
  // on every turn.
  std::priority_queue<Next, std::vector<Next>, std::greater<>> next_;
  router::TimePoint idle_next_;
};

// The primary's progress, as a replica's lead waits for it: its latest
// scheduled tick whose sample is in, and when its newest finished probe
// started.
struct PrimaryProgress {
  uint64_t tick_done = 0;
  router::TimePoint sampled = router::TimePoint::min();
  void Record(uint64_t tick, router::TimePoint started) {
    tick_done = tick;
    if (started > sampled) sampled = started;
  }
};

class ProbeSchedule {
 public:
  struct Options {
    router::Duration interval;  // probe.interval: the scheduled tick
    // The on-demand rate cap, a token bucket: per_second on average, bursts
    // of burst, so a replica that missed a write by a millisecond is asked
    // again at once, not a whole spacing later.
    double per_second = 100;
    double burst = 5;
    // The longest backoff of a failing server (before jitter).
    router::Duration max_backoff = std::chrono::seconds(2);
    // How long replicas of a known primary wait for its sample of the same
    // tick (or demand): a replica position read after the primary's reply
    // covers its newest sample more often, which tightens the bound under
    // load. Bounded, so a hung primary costs the replicas at most this.
    router::Duration primary_lead = std::chrono::milliseconds(20);
  };
  // The options the daemon runs with, from the configuration's values.
  static Options Defaults(router::Duration interval, int on_demand_probes_per_second);

  explicit ProbeSchedule(Options options) : options_(options) {}

  // A scheduled tick of the server's cluster.
  void Tick() { ++tick_; }
  // A waiting request needs a probe started at or after `since`;
  // `primary_first`: after the primary's own probe of that demand; `whole`:
  // one that reads the server's whole status, not only its position.
  void Demand(router::TimePoint since, bool primary_first, bool whole);

  struct Step {
    enum class Action { kProbe, kWait } action = Action::kWait;
    // kProbe: it counts as started at `now`, and satisfies every demand made
    // until then. `on_demand`: asked for by a waiting request, not the tick;
    // `tick`: the latest tick taken (PrimaryProgress::Record, for the primary).
    bool on_demand = false;
    uint64_t tick = 0;
    // kProbe: the server's role and position are all this probe must read
    // (probes::Depth::kPosition): on demand, and no demand asked for more.
    bool position_only = false;
    // kWait: ask again by this time, or when an event (Tick, Demand, the
    // primary's progress) comes; TimePoint::max(): only on an event.
    router::TimePoint until = router::TimePoint::max();
  };
  // What next at `now`. `primary`: the progress of the cluster's known
  // primary when this server is one of its replicas, else null.
  Step Next(router::TimePoint now, const PrimaryProgress* primary);
  // The probe Next started finished at `now`. A failing server is retried
  // with jittered exponential backoff, so a flapping or hung server never
  // sees a storm of connection attempts; waiting requests do not shorten it.
  void Finished(bool ok, router::TimePoint now, RandomSource& random);

  int failures() const { return failures_; }

 private:
  struct Turn {
    bool on_demand = false;
    router::TimePoint since{};  // on demand: the probe must start at or after this
    bool primary_first = false;
    bool position_only = false;
    router::TimePoint lead_until{};
  };
  // Takes a tick or a demand the bucket allows, if any; else says until when to wait.
  bool Take(router::TimePoint now, Step& wait);
  bool Waited(const Turn& turn, router::TimePoint now, const PrimaryProgress* primary) const;

  Options options_;
  uint64_t tick_ = 0;  // the cluster's ticks so far
  uint64_t seen_ = 0;  // the latest tick taken: a probe that overran misses ticks, not queues them
  router::TimePoint since_ = router::TimePoint::min();        // the newest demand
  router::TimePoint whole_since_ = router::TimePoint::min();  // the newest that wants it whole
  bool primary_first_ = false;
  router::TimePoint last_started_ = router::TimePoint::min();  // scheduled or not
  router::TimePoint last_whole_started_ = router::TimePoint::min();
  double tokens_ = -1;  // < 0: full (never used)
  router::TimePoint refilled_at_{};
  int failures_ = 0;  // consecutive failed probes
  router::TimePoint retry_at_{};
  bool has_turn_ = false;  // taken, waiting for the primary's lead
  Turn turn_;
};

}  // namespace lagrouter::daemon
