// lagrouter: replication-lag-aware read router. Thin: arguments, config, run.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <cstring>
#include <string>

#include "daemon/app.h"
#include "daemon/cli/cli.h"
#include "daemon/config/config.h"
#include "daemon/version.h"

namespace {

constexpr int kExitUsage = 2;  // also: invalid config

void Usage(FILE* out) {
  std::fprintf(
      out,
      "usage: lagrouter --config FILE [--check]\n"
      "       lagrouter status [--url http://127.0.0.1:8432]\n"
      "  --config FILE  TOML configuration (see docs/configuration.md)\n"
      "  --check        validate the configuration, print its warnings, exit (0 valid, 2 invalid)\n"
      "  --version      print the version\n"
      "  status         print a running daemon's clusters, servers and bounds\n");
}

}  // namespace

int main(int argc, char** argv) {
  if (argc > 1 && std::strcmp(argv[1], "status") == 0) {
    return lagrouter::daemon::RunStatusCommand(argc - 2, argv + 2);
  }
  std::string config_path;
  bool check = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) {
      config_path = argv[++i];
    } else if (arg.rfind("--config=", 0) == 0) {
      config_path = arg.substr(9);
    } else if (arg == "--check") {
      check = true;
    } else if (arg == "--version") {
      std::printf("lagrouter %s\n", lagrouter::daemon::kVersion);
      return 0;
    } else if (arg == "--help" || arg == "-h") {
      Usage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "lagrouter: unknown argument '%s'\n", arg.c_str());
      Usage(stderr);
      return kExitUsage;
    }
  }
  if (config_path.empty()) {
    std::fprintf(stderr, "lagrouter: --config FILE is required\n");
    Usage(stderr);
    return kExitUsage;
  }
  auto config = lagrouter::daemon::LoadConfig(config_path);
  if (!config) {
    std::fprintf(stderr, "lagrouter: invalid configuration: %s\n", config.error().c_str());
    return kExitUsage;
  }
  if (check) {
    // Warnings do not make a configuration invalid: still exit 0.
    for (const auto& warning : lagrouter::daemon::ConfigWarnings(*config)) {
      std::fprintf(stderr, "lagrouter: warning: %s\n", warning.c_str());
    }
    std::printf("%s: OK (%zu clusters, %zu classes)\n", config_path.c_str(),
                config->clusters.size(), config->classes.size());
    return 0;
  }
  spdlog::set_level(spdlog::level::from_str(config->log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %l %v");
  return lagrouter::daemon::RunDaemon(
      std::make_shared<const lagrouter::daemon::Config>(std::move(config).value()));
}
