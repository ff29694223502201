#include "daemon/cli/cli.h"

#include <httplib.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace lagrouter::daemon {

namespace {

constexpr const char* kDefaultUrl = "http://127.0.0.1:8432";

void StatusUsage(FILE* out) {
  std::fprintf(out,
               "usage: lagrouter status [--url URL] [--token-file FILE]\n"
               "  --url URL          the daemon's address (default $LAGROUTER_URL, else %s)\n"
               "  --token-file FILE  API token for /v1/ when the daemon has [[client]] tokens\n"
               "                     (default: $LAGROUTER_TOKEN)\n",
               kDefaultUrl);
}

std::string FormatMs(int64_t ms) {
  char buf[32];
  if (ms < 1000) {
    std::snprintf(buf, sizeof buf, "%lld ms", static_cast<long long>(ms));
  } else if (ms < 60000) {
    std::snprintf(buf, sizeof buf, "%.1f s", static_cast<double>(ms) / 1000.0);
  } else if (ms < 3600000) {
    std::snprintf(buf, sizeof buf, "%.1f min", static_cast<double>(ms) / 60000.0);
  } else {
    std::snprintf(buf, sizeof buf, "%.1f h", static_cast<double>(ms) / 3600000.0);
  }
  return buf;
}

std::string Str(const nlohmann::json& j, const char* key, const char* dflt = "") {
  const auto it = j.find(key);
  return it != j.end() && it->is_string() ? it->get<std::string>() : dflt;
}

bool Bool(const nlohmann::json& j, const char* key) {
  const auto it = j.find(key);
  return it != j.end() && it->is_boolean() && it->get<bool>();
}

using Row = std::vector<std::string>;

void PrintTable(const std::vector<Row>& rows) {
  std::vector<size_t> width;
  for (const auto& r : rows) {
    if (width.size() < r.size()) width.resize(r.size(), 0);
    for (size_t i = 0; i < r.size(); ++i) width[i] = std::max(width[i], r[i].size());
  }
  for (const auto& r : rows) {
    std::string line;
    for (size_t i = 0; i < r.size(); ++i) {
      line += r[i];
      if (i + 1 < r.size()) line.append(width[i] - r[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    std::printf("%s\n", line.c_str());
  }
}

Row ServerRow(const nlohmann::json& cluster, const nlohmann::json& s) {
  const std::string role = Str(s, "role", "unknown");
  const bool primary = role == "primary";
  const bool replica = role == "replica";
  std::string replicating = "-";
  std::string bound = "-";
  std::string eligible = "-";
  if (primary) {
    bound = "0 (primary)";
    eligible = Str(cluster, "primary") == Str(s, "name") ? "every class" : "none (not usable)";
  }
  if (replica) {
    replicating = Bool(s, "replay_paused") ? "paused" : Bool(s, "replicating") ? "yes" : "no";
    const auto b = s.find("staleness_bound_ms");
    if (b != s.end() && b->is_number()) {
      bound = FormatMs(b->get<int64_t>());
    } else if (s.contains("staleness_at_least_ms") && s["staleness_at_least_ms"].is_number()) {
      bound = ">= " + FormatMs(s["staleness_at_least_ms"].get<int64_t>()) + " (unknown)";
    } else {
      bound = "unknown";
    }
    eligible.clear();
    if (s.contains("eligible_classes") && s["eligible_classes"].is_array()) {
      for (const auto& k : s["eligible_classes"]) {
        if (!k.is_string()) continue;
        eligible += (eligible.empty() ? "" : ",") + k.get<std::string>();
      }
    }
    if (eligible.empty()) eligible = "none";
  }
  std::string server = Str(s, "name");
  std::string error = Str(s, "last_error");
  if (error.size() > 60) error = error.substr(0, 57) + "...";
  return {Str(cluster, "name"), server, role,     Bool(s, "up") ? "yes" : "no",
          replicating,          bound,  eligible, error};
}

struct StatusOptions {
  std::string url;
  std::string token;
};

// Arguments and environment into `o`; an exit code when the command ends here
// (--help, or a usage error already reported).
std::optional<int> ParseStatusArgs(int argc, char** argv, StatusOptions& o) {
  const char* env_url = std::getenv("LAGROUTER_URL");
  o.url = env_url != nullptr && *env_url != '\0' ? env_url : kDefaultUrl;
  const char* env_token = std::getenv("LAGROUTER_TOKEN");
  o.token = env_token != nullptr ? env_token : "";
  std::string token_file;
  for (int i = 0; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--url" && i + 1 < argc) {
      o.url = argv[++i];
    } else if (arg.rfind("--url=", 0) == 0) {
      o.url = arg.substr(6);
    } else if (arg == "--token-file" && i + 1 < argc) {
      token_file = argv[++i];
    } else if (arg == "--help" || arg == "-h") {
      StatusUsage(stdout);
      return 0;
    } else {
      std::fprintf(stderr, "lagrouter status: unknown argument '%s'\n", arg.c_str());
      StatusUsage(stderr);
      return 2;
    }
  }
  std::string& url = o.url;
  while (!url.empty() && url.back() == '/') url.pop_back();
  if (url.rfind("http://", 0) != 0 || url.size() <= 7 || url.find('/', 7) != std::string::npos) {
    std::fprintf(stderr, "lagrouter status: --url must look like http://HOST:PORT (got '%s')\n",
                 url.c_str());
    return 2;
  }
  if (!token_file.empty()) {
    std::ifstream in(token_file);
    if (!in || !std::getline(in, o.token)) {
      std::fprintf(stderr, "lagrouter status: cannot read the token from '%s'\n",
                   token_file.c_str());
      return 2;
    }
    std::string& token = o.token;
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
  }
  return std::nullopt;
}

void PrintStatus(const std::string& url, const nlohmann::json& status) {
  std::string classes_line;
  if (status.contains("classes") && status["classes"].is_array()) {
    for (const auto& k : status["classes"]) {
      const int64_t ms = k.value("max_staleness_ms", int64_t{0});
      classes_line += (classes_line.empty() ? "" : ", ") + Str(k, "name") + " " +
                      (ms == 0 ? "0 s" : FormatMs(ms));
      if (Str(k, "fallback") == "error") classes_line += " (no fallback)";
    }
  }
  std::printf("lagrouter at %s: %s, probe every %s\n", url.c_str(),
              Bool(status, "ready") ? "ready" : "NOT READY (first probe cycle running)",
              FormatMs(status.value("probe_interval_ms", int64_t{0})).c_str());
  if (!classes_line.empty()) std::printf("classes: %s\n", classes_line.c_str());
  std::printf("\n");

  std::vector<Row> rows = {
      {"CLUSTER", "SERVER", "ROLE", "UP", "REPLICATING", "BOUND", "ELIGIBLE", "LAST ERROR"}};
  std::vector<std::string> problems, discovery;
  for (const auto& c : status["clusters"]) {
    if (!c.is_object() || !c.contains("servers") || !c["servers"].is_array()) continue;
    for (const auto& s : c["servers"]) {
      if (s.is_object()) rows.push_back(ServerRow(c, s));
    }
    const std::string problem = Str(c, "primary_problem");
    if (!problem.empty()) problems.push_back(Str(c, "name") + ": " + problem);
    // Members from Patroni: say when the last known ones are kept.
    if (c.contains("discovery") && c["discovery"].is_object()) {
      const auto& d = c["discovery"];
      const std::string state = Str(d, "state");
      if (state != "ok") {
        discovery.push_back(Str(c, "name") + ": " + Str(d, "source") + " " + state +
                            ", keeping the last known members: " + Str(d, "error"));
      }
    }
  }
  PrintTable(rows);
  for (const auto& p : problems) std::printf("\nprimary problem in %s\n", p.c_str());
  for (const auto& d : discovery) std::printf("\nmember discovery in %s\n", d.c_str());
}

}  // namespace

int RunStatusCommand(int argc, char** argv) {
  StatusOptions o;
  if (auto exit_code = ParseStatusArgs(argc, argv, o)) return *exit_code;
  const std::string& url = o.url;
  const std::string& token = o.token;

  httplib::Client client(url);
  if (!token.empty()) client.set_bearer_token_auth(token.c_str());
  client.set_connection_timeout(2, 0);
  client.set_read_timeout(5, 0);
  const auto res = client.Get("/v1/status");
  if (!res) {
    std::fprintf(stderr, "lagrouter status: cannot reach lagrouter at %s: %s\n", url.c_str(),
                 httplib::to_string(res.error()).c_str());
    return 1;
  }
  if (res->status == 401 || res->status == 403) {
    std::fprintf(stderr, "lagrouter status: %s refused the request (HTTP %d): %.200s\n%s",
                 url.c_str(), res->status, res->body.c_str(),
                 token.empty() ? "set LAGROUTER_TOKEN or pass --token-file FILE\n" : "");
    return 1;
  }
  const auto status = nlohmann::json::parse(res->body, nullptr, false);
  if (res->status != 200 || status.is_discarded() || !status.is_object() ||
      !status.contains("clusters") || !status["clusters"].is_array()) {
    std::fprintf(stderr, "lagrouter status: %s/v1/status answered HTTP %d, not a status: %.200s\n",
                 url.c_str(), res->status, res->body.c_str());
    return 1;
  }

  PrintStatus(url, status);
  return 0;
}

}  // namespace lagrouter::daemon
