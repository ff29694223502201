#include "tests/chaos/patroni_faults.h"

#include <atomic>
#include <cstdio>
#include <map>
#include <memory>
#include <optional>
#include <thread>

#include "tests/chaos/daemon_api.h"
#include "tests/chaos/harness.h"

namespace lagrouter::chaos {

using test_support::Ms;

namespace {

// A superuser connection to member `node` with 1 s deadlines; nullptr when it
// cannot be had (a member that just rejoined may not accept connections yet).
std::unique_ptr<SqlConn> ConnectMember(const Options& o, int node) {
  test_support::PgOptions po;
  po.connect_timeout_s = 1;
  po.query_timeout_s = 1;
  po.application_name = "";
  auto c = std::make_unique<test_support::PgConn>(o.base_port + node, "lagrouter", "postgres", po);
  return c->ok() ? std::move(c) : nullptr;
}

// The first of `conns` that answers pg_is_in_recovery() = false, or -1.
int PromotedMember(const Options& o, std::map<int, std::unique_ptr<SqlConn>>& conns) {
  for (auto& [node, c] : conns) {
    if (c == nullptr && (c = ConnectMember(o, node)) == nullptr) continue;
    std::string value, error;
    if (!c->TryQuery("SELECT pg_is_in_recovery()", &value, &error)) {
      c.reset();
    } else if (value == "f") {
      return node;
    }
  }
  return -1;
}

}  // namespace

std::optional<PatroniFaults::Promotion> PatroniFaults::WaitPromotion(Members& conns,
                                                                     Clock::time_point since) {
  const Options& o = c_.options();
  HttpClient client(o.daemon_port, Http());
  std::optional<Clock::time_point> promoted, routed;
  Promotion p;
  const auto deadline = since + std::chrono::seconds(60);
  while ((!promoted || !routed) && Clock::now() < deadline) {
    if (!promoted && (p.new_node = PromotedMember(o, conns)) >= 0) promoted = Clock::now();
    const Route r = AskRoute(client, "primary");
    if (r.status == 200 && promoted && r.port == o.base_port + p.new_node && !routed) {
      routed = Clock::now();
    }
    std::this_thread::sleep_for(milliseconds(5));
  }
  if (!promoted || !routed) return std::nullopt;
  p.promoted = *promoted;
  p.routed = *routed;
  return p;
}

void PatroniFaults::Record(bool switchover, const std::string& old_name, Clock::time_point killed,
                           const Promotion& p) {
  Log("%s: %s -> pt%d promoted %lld ms after the %s, routed %lld ms after the promotion",
      switchover ? "switchover" : "failover", old_name.c_str(), p.new_node + 1,
      static_cast<long long>(Ms(p.promoted - killed)), switchover ? "request" : "kill",
      static_cast<long long>(Ms(p.routed - p.promoted)));
  if (switchover) return;
  std::lock_guard lock(mu_);
  promote_ms_.push_back(Ms(p.promoted - killed));
  route_after_promote_ms_.push_back(Ms(p.routed - p.promoted));
  kill_to_route_ms_.push_back(Ms(p.routed - killed));
}

bool PatroniFaults::WaitRejoined(int old_node) {
  HttpClient client(c_.options().daemon_port, Http());
  std::atomic<bool> done{false};
  std::thread watcher([&] {
    while (!done.load()) {
      const Route r = AskRoute(client, "primary");
      if (r.status == 200 && r.port == c_.options().base_port + old_node) {
        std::lock_guard lock(mu_);
        routes_to_demoted_++;
      }
      std::this_thread::sleep_for(milliseconds(5));
    }
  });
  const bool ok = c_.Script("wait-streaming " + std::to_string(old_node + 1));
  done = true;
  watcher.join();
  if (!ok) Log("pt%d did not stream again", old_node + 1);
  return ok;
}

Fault PatroniFaults::Failover(bool switchover) {
  Fault f;
  const auto topo = CurrentTopology(c_.options());
  if (!topo) return f;
  const int old_node = topo->primary;
  const std::string old_name = "pt" + std::to_string(old_node + 1);
  // Connections to the other members, to see the promotion happen; reopened as needed.
  Members others;
  for (int node : topo->replicas) others[node] = ConnectMember(c_.options(), node);
  const auto killed = Clock::now();
  std::string out;
  std::thread switcher;
  if (switchover) {
    // patronictl waits for the switchover: run it beside the timing loop.
    switcher = std::thread([this] { c_.Script("switchover"); });
  } else if (!c_.Script("kill-leader", &out) || out != old_name) {
    Log("kill-leader killed '%s', expected %s", out.c_str(), old_name.c_str());
    return f;
  }
  const auto promotion = WaitPromotion(others, killed);
  if (switcher.joinable()) switcher.join();
  if (!promotion) {
    Log("%s: no promotion routed within 60 s", switchover ? "switchover" : "failover");
    return f;
  }
  Record(switchover, old_name, killed, *promotion);
  f.injected = true;
  // Meanwhile no 0 s route may name the old leader (demoted, restarting as a replica).
  f.heal = [this, old_node] { return WaitRejoined(old_node); };
  return f;
}

void PatroniFaults::Print() {
  if (!promote_ms_.empty()) {
    std::printf(
        "patroni failovers: %zu; kill -> promoted ms: p50 %lld max %lld; promoted -> "
        "routed ms: p50 %lld max %lld; kill -> routed ms: p50 %lld max %lld\n",
        promote_ms_.size(), static_cast<long long>(Percentile(promote_ms_, 50)),
        static_cast<long long>(Percentile(promote_ms_, 100)),
        static_cast<long long>(Percentile(route_after_promote_ms_, 50)),
        static_cast<long long>(Percentile(route_after_promote_ms_, 100)),
        static_cast<long long>(Percentile(kill_to_route_ms_, 50)),
        static_cast<long long>(Percentile(kill_to_route_ms_, 100)));
  }
  if (c_.options().patroni()) {
    std::printf("0s routes naming a demoted leader: %llu\n",
                static_cast<unsigned long long>(routes_to_demoted_));
  }
}

}  // namespace lagrouter::chaos
