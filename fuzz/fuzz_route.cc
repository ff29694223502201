// libFuzzer target: a request's path and query, decoded as the HTTP transport
// decodes them (percent escapes, so any byte reaches the handler), through
// HttpApi::Handle (gate, dispatch, /v1/route, /v1/check) over populated
// snapshots: before each input, scripted samples (chosen by a hash of the
// input) put the replicas fresh, behind, stopped or down, so requests reach
// eligibility and selection. Every answer must be a valid JSON object with
// an error on failure.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "tests/support/config_text.h"
#include "tests/support/scripted.h"

namespace {

using namespace lagrouter;
using test_support::ClusterSpec;
using test_support::ConfigText;

std::string Config() {
  return ConfigText()
      .Cluster(ClusterSpec("shop", "postgres").Server("pg-a", 5441).Server("pg-b", 5442))
      .Cluster(ClusterSpec("maria", "mysql").Server("db-0", 3407).Server("db-1", 3408))
      .Class("inventory", "0s")
      .Class("dashboard", "5s")
      .Class("reports", "1h", "error");
}

uint32_t Hash(std::string_view s) {
  uint32_t h = 2166136261u;  // FNV-1a
  for (unsigned char c : s) h = (h ^ c) * 16777619u;
  return h;
}

// One probe cycle of both clusters just before `now`, shaped by `scenario`.
void Cycle(test_support::ScriptedClusters& clusters, uint64_t cycle, uint32_t scenario,
           router::TimePoint now) {
  using test_support::FailedSample;
  using test_support::PrimarySample;
  using test_support::ReplicaSample;
  const auto t = now - std::chrono::milliseconds(scenario % 7);
  const uint64_t behind = (scenario >> 3) % 3;  // cycles the replicas lag
  const bool streaming = (scenario >> 5) % 4 != 0;
  const bool primary_up = (scenario >> 7) % 5 != 0;
  const bool replica_up = (scenario >> 9) % 5 != 0;
  auto maybe_down = [&](bool up, probes::Sample s) { return up ? std::move(s) : FailedSample(t); };
  clusters.Apply("shop", "pg-a", maybe_down(primary_up, PrimarySample(router::Lsn{cycle}, t)), t);
  clusters.Apply("shop", "pg-b",
                 maybe_down(replica_up, ReplicaSample(router::Lsn{cycle - behind}, t, streaming)),
                 t);
  const auto gtid = [](uint64_t seq) {
    return *router::ParsePosition(router::Engine::kMysql, "0-1-" + std::to_string(seq));
  };
  clusters.Apply("maria", "db-0", maybe_down(primary_up, PrimarySample(gtid(cycle), t)), t);
  clusters.Apply("maria", "db-1",
                 maybe_down(replica_up, ReplicaSample(gtid(cycle - behind), t, streaming)), t);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static auto* world = new test_support::ApiUnderTest(Config());
  static uint64_t cycle = 10;
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  Cycle(world->clusters(), ++cycle, Hash(input), router::Clock::now());
  // The request as the transport decodes it: "PATH?QUERY" (a path without a
  // '?' is /v1/route's query alone, so most inputs exercise the router).
  daemon::HttpRequest req;
  req.method = "GET";
  const size_t q = input.find('?');
  req.path = q == std::string_view::npos ? "/v1/route" : daemon::DecodePath(input.substr(0, q));
  req.params = daemon::ParseQuery(q == std::string_view::npos ? input : input.substr(q + 1));
  const auto r = world->api().Handle(req);
  if (r.status < 200 || r.status > 599) std::abort();
  if (r.content_type != std::string_view("application/json")) {
    if (req.path != "/" && req.path != "/metrics") std::abort();
    return 0;
  }
  const auto json = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) std::abort();
  if (req.path == "/v1/route" && r.status == 200 && !json.contains("server")) std::abort();
  if (r.status >= 400 && !json.contains("error") && !json.contains("reason")) std::abort();
  return 0;
}
