// libFuzzer target: /v1/route query parsing. The input is a query string,
// split on '&' and '=' like cpp-httplib does (without percent-decoding, so any
// byte reaches the handler), and handed to HttpApi::Route over a Monitor that is
// never started. Every answer must be 200, 400 or 503 with a valid JSON body.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "daemon/config.h"
#include "daemon/http_api.h"
#include "daemon/metrics.h"
#include "daemon/monitor.h"
#include "probes/probe.h"

namespace {

using namespace lagrouter;

constexpr const char* kConfig = R"(
[[cluster]]
name = "shop"
engine = "postgres"
user = "lagrouter"
  [[cluster.server]]
  name = "pg-a"
  host = "127.0.0.1"
  port = 5441
  [[cluster.server]]
  name = "pg-b"
  host = "127.0.0.1"
  port = 5442
[[cluster]]
name = "maria"
engine = "mysql"
user = "lagrouter"
  [[cluster.server]]
  name = "db-0"
  host = "127.0.0.1"
  port = 3407
  [[cluster.server]]
  name = "db-1"
  host = "127.0.0.1"
  port = 3408
[class.inventory]
max_staleness = "0s"
[class.dashboard]
max_staleness = "5s"
[class.reports]
max_staleness = "1h"
fallback = "error"
)";

// A probe that must never run: the monitor is never started.
class NeverProbe : public probes::Probe {
 public:
  probes::Sample Run(probes::Clock::time_point) override { std::abort(); }
};

struct World {
  World() {
    auto parsed = daemon::ParseConfig(kConfig, "fuzz.toml");
    if (!parsed) std::abort();
    config = std::make_shared<const daemon::Config>(std::move(parsed).value());
    metrics = std::make_unique<daemon::Metrics>(*config);
    monitor = std::make_unique<daemon::Monitor>(
        config, metrics.get(), [](const daemon::ClusterConfig&, const daemon::ServerConfig&) {
          return std::make_unique<NeverProbe>();
        });
    api = std::make_unique<daemon::HttpApi>(config, *monitor, *metrics);
  }
  std::shared_ptr<const daemon::Config> config;
  std::unique_ptr<daemon::Metrics> metrics;
  std::unique_ptr<daemon::Monitor> monitor;
  std::unique_ptr<daemon::HttpApi> api;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  static World* world = new World();
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  daemon::QueryParams params;
  size_t pos = 0;
  while (pos <= input.size()) {
    size_t amp = input.find('&', pos);
    if (amp == std::string_view::npos) amp = input.size();
    const std::string_view pair = input.substr(pos, amp - pos);
    const size_t eq = pair.find('=');
    if (eq == std::string_view::npos) {
      params.emplace(std::string(pair), "");
    } else {
      params.emplace(std::string(pair.substr(0, eq)), std::string(pair.substr(eq + 1)));
    }
    pos = amp + 1;
  }
  const auto r = world->api->Route(params, router::Clock::now());
  if (r.status != 200 && r.status != 400 && r.status != 503) std::abort();
  const auto json = nlohmann::json::parse(r.body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) std::abort();
  if (r.status == 200 ? !json.contains("server") : !json.contains("error")) std::abort();
  return 0;
}
