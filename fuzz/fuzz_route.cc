// libFuzzer target: a request's path and query, decoded as the HTTP transport
// decodes them (percent escapes, so any byte reaches the handler), through
// HttpApi::Handle (gate, dispatch, /v1/route) over a Monitor that is never
// started. Every answer must be a valid JSON object with an error on failure.
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
  // The request as the transport decodes it: "PATH?QUERY" (a path without a
  // '?' is /v1/route's query alone, so most inputs exercise the router).
  daemon::HttpRequest req;
  req.method = "GET";
  const size_t q = input.find('?');
  req.path = q == std::string_view::npos ? "/v1/route" : daemon::DecodePath(input.substr(0, q));
  req.params = daemon::ParseQuery(q == std::string_view::npos ? input : input.substr(q + 1));
  const auto r = world->api->Handle(req);
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
