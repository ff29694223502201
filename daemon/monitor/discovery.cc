#include "daemon/monitor/discovery.h"

#include <httplib.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <nlohmann/json.hpp>
#include <set>

#include "common/text.h"
#include "daemon/config/internal.h"

namespace lagrouter::daemon {

using json = nlohmann::json;

const char* DiscoveryStateName(DiscoveryState state) {
  switch (state) {
    case DiscoveryState::kPending: return "pending";
    case DiscoveryState::kOk: return "ok";
    case DiscoveryState::kPartial: return "partial";
    case DiscoveryState::kUnreachable: return "unreachable";
  }
  return "unknown";
}

namespace {

// An answer larger than this is not a member list (Patroni's is ~200 bytes a member).
constexpr size_t kMaxBody = 1 << 20;
// More members than this is not a PostgreSQL cluster.
constexpr size_t kMaxMembers = 1000;

std::string ServerList(const std::vector<ServerConfig>& servers) {
  std::string out;
  for (const auto& s : servers) {
    if (!out.empty()) out += ", ";
    out += s.name;
  }
  return out.empty() ? "none" : out;
}

std::string Join(const std::vector<std::string>& parts) {
  std::string out;
  for (const auto& p : parts) {
    if (!out.empty()) out += "; ";
    out += p;
  }
  return out;
}

}  // namespace

Result<PatroniCluster> ParsePatroniCluster(std::string_view body) {
  if (body.size() > kMaxBody) {
    return MakeError("the answer is " + std::to_string(body.size()) +
                     " bytes, not a member list (limit " + std::to_string(kMaxBody) + ")");
  }
  const json doc = json::parse(body, nullptr, false);
  if (doc.is_discarded()) return MakeError("the answer is not JSON");
  if (!doc.is_object()) return MakeError("the answer is not a JSON object");
  const auto members = doc.find("members");
  if (members == doc.end() || !members->is_array()) {
    return MakeError("the answer has no \"members\" array");
  }
  if (members->size() > kMaxMembers) {
    return MakeError("the answer lists " + std::to_string(members->size()) + " members (limit " +
                     std::to_string(kMaxMembers) + ")");
  }
  PatroniCluster out;
  std::set<std::string> names;
  std::set<std::pair<std::string, int>> addresses;
  for (size_t i = 0; i < members->size(); ++i) {
    const json& m = (*members)[i];
    const std::string where = "members[" + std::to_string(i) + "]";
    auto problem = [&](const std::string& what) { out.problems.push_back(where + ": " + what); };
    if (!m.is_object()) {
      problem("not an object");
      continue;
    }
    auto text = [&m](const char* key) -> std::string {
      const auto it = m.find(key);
      return it != m.end() && it->is_string() ? it->get<std::string>() : std::string();
    };
    PatroniMember member;
    member.name = text("name");
    member.host = text("host");
    member.role = text("role");
    member.state = text("state");
    if (member.name.empty()) {
      problem("no name");
      continue;
    }
    if (!config_internal::ValidName(member.name)) {
      problem("name " + Quote(member.name) +
              " is not a lagrouter server name (1-64 letters, digits, '-', '_' or '.')");
      continue;
    }
    const std::string who = where + " (" + member.name + ")";
    if (member.host.empty() || member.host.size() > 253 ||
        member.host.find_first_of(" \t\r\n/@") != std::string::npos) {
      out.problems.push_back(who + ": no usable host");
      continue;
    }
    const auto port = m.find("port");
    if (port == m.end() || !port->is_number_integer() || port->get<int64_t>() < 1 ||
        port->get<int64_t>() > 65535) {
      out.problems.push_back(who + ": no usable port");
      continue;
    }
    member.port = static_cast<int>(port->get<int64_t>());
    if (!names.insert(member.name).second) {
      out.problems.push_back(who + ": the name is listed twice");
      continue;
    }
    if (!addresses.insert({member.host, member.port}).second) {
      out.problems.push_back(who + ": " + member.host + ":" + std::to_string(member.port) +
                             " is listed for another member too");
      continue;
    }
    out.members.push_back(std::move(member));
  }
  return out;
}

DiscoveryStep NextMembers(const std::vector<ServerConfig>& last_known,
                          const Result<PatroniCluster>& answer) {
  DiscoveryStep step;
  if (!answer) {
    step.servers = last_known;
    step.state = DiscoveryState::kUnreachable;
    step.error = answer.error();
    return step;
  }
  for (const auto& m : answer->members) {
    ServerConfig s;
    s.name = m.name;
    s.host = m.host;
    s.port = m.port;
    step.servers.push_back(std::move(s));
  }
  std::vector<std::string> problems = answer->problems;
  if (answer->members.empty() && problems.empty()) problems.push_back("no members listed");
  if (problems.empty()) {
    step.state = DiscoveryState::kOk;
  } else {
    // Partial: add what is usable, remove nothing.
    step.state = DiscoveryState::kPartial;
    for (const auto& known : last_known) {
      const bool named = std::any_of(step.servers.begin(), step.servers.end(),
                                     [&](const ServerConfig& s) { return s.name == known.name; });
      if (!named) step.servers.push_back(known);
    }
    step.error = Join(problems);
  }
  std::sort(step.servers.begin(), step.servers.end(),
            [](const ServerConfig& a, const ServerConfig& b) { return a.name < b.name; });
  return step;
}

bool SameMembers(const std::vector<ServerConfig>& a, const std::vector<ServerConfig>& b) {
  return std::equal(
      a.begin(), a.end(), b.begin(), b.end(), [](const ServerConfig& x, const ServerConfig& y) {
        return x.name == y.name && x.host == y.host && x.port == y.port && x.weight == y.weight;
      });
}

Fetcher FetchHttp() {
  return [](const std::string& url, router::Duration timeout) -> Result<std::string> {
    // url: http://host[:port][/prefix]; validated by the config.
    const auto slash = url.find('/', std::string("http://").size());
    const std::string base = slash == std::string::npos ? url : url.substr(0, slash);
    const std::string path = (slash == std::string::npos ? "" : url.substr(slash)) + "/cluster";
    httplib::Client client(base);
    const auto us = std::chrono::duration_cast<std::chrono::microseconds>(timeout).count();
    client.set_connection_timeout(us / 1000000, us % 1000000);
    client.set_read_timeout(us / 1000000, us % 1000000);
    client.set_write_timeout(us / 1000000, us % 1000000);
    const auto res = client.Get(path);
    if (!res) return MakeError(url + ": " + httplib::to_string(res.error()));
    if (res->status != 200) {
      return MakeError(url + ": HTTP " + std::to_string(res->status) + " from " + path);
    }
    return res->body;
  };
}

struct Discovery::Cluster {
  std::string name;
  DiscoveryConfig cfg;
  std::shared_ptr<DiscoveryBoard> board;
  std::vector<ServerConfig> members;
  DiscoveryStatus status;
  size_t preferred_url = 0;  // the last URL that answered; asked first
  router::TimePoint next_poll{};
};

Discovery::Discovery(Fetcher fetch) : fetch_(std::move(fetch)) {}

Discovery::~Discovery() {
  Stop();
}

DiscoveryStep Discovery::Poll(const DiscoveryConfig& cfg, const std::vector<ServerConfig>& known,
                              size_t& preferred_url, std::string& source) {
  // Ask the URLs in turn, the last one that answered first; the first
  // complete answer wins. A partial answer is kept in case none is complete.
  std::vector<std::string> errors;
  std::optional<DiscoveryStep> partial;
  std::string partial_source;
  const size_t n = cfg.urls.size();
  for (size_t k = 0; k < n; ++k) {
    const size_t i = (preferred_url + k) % n;
    const std::string& url = cfg.urls[i];
    auto body = fetch_(url, cfg.timeout);
    Result<PatroniCluster> answer =
        body ? ParsePatroniCluster(*body) : Result<PatroniCluster>(MakeError(body.error()));
    if (body && !answer) answer = MakeError(url + ": " + answer.error());
    if (!answer) {
      errors.push_back(answer.error());
      continue;
    }
    DiscoveryStep step = NextMembers(known, answer);
    if (step.state == DiscoveryState::kOk) {
      preferred_url = i;
      source = url;
      return step;
    }
    step.error = url + ": " + step.error;
    if (!partial) {
      partial = std::move(step);
      partial_source = url;
    }
  }
  if (partial) {
    source = partial_source;
    return *std::move(partial);
  }
  DiscoveryStep step = NextMembers(known, MakeError(Join(errors)));
  return step;
}

bool Discovery::Record(Cluster& c, DiscoveryStep step, const std::string& source, bool first) {
  DiscoveryStatus& st = c.status;
  const DiscoveryState before = st.state;
  const std::string before_error = st.last_error;
  ++st.polls;
  st.state = step.state;
  st.last_error = step.error;
  if (!source.empty()) st.source = source;
  if (step.state == DiscoveryState::kOk) {
    st.last_ok = router::Clock::now();
    st.last_ok_wall = std::chrono::system_clock::now();
  } else {
    ++st.failed_polls;
  }
  // Log transitions once, and a changed error text.
  if (step.state == DiscoveryState::kOk && before != DiscoveryState::kOk &&
      before != DiscoveryState::kPending) {
    spdlog::info("cluster={} discovery recovered: {} answered with {} members", c.name, source,
                 step.servers.size());
  } else if (step.state != DiscoveryState::kOk &&
             (step.state != before || step.error != before_error)) {
    spdlog::warn("cluster={} discovery {}: keeping the last known members ({}): {}", c.name,
                 DiscoveryStateName(step.state), ServerList(c.members), step.error);
  }
  const bool changed = !SameMembers(c.members, step.servers);
  if (changed) {
    for (const auto& s : step.servers) {
      const bool known = std::any_of(c.members.begin(), c.members.end(),
                                     [&](const ServerConfig& k) { return k.name == s.name; });
      if (!known) {
        spdlog::info("cluster={} discovery: member {} ({}:{}) {}", c.name, s.name, s.host, s.port,
                     first ? "found" : "added");
      }
    }
    for (const auto& k : c.members) {
      auto it = std::find_if(step.servers.begin(), step.servers.end(),
                             [&](const ServerConfig& s) { return s.name == k.name; });
      if (it == step.servers.end()) {
        spdlog::info("cluster={} discovery: member {} ({}:{}) removed", c.name, k.name, k.host,
                     k.port);
      } else if (it->host != k.host || it->port != k.port) {
        spdlog::info("cluster={} discovery: member {} moved from {}:{} to {}:{}", c.name, k.name,
                     k.host, k.port, it->host, it->port);
      }
    }
    if (!first) ++st.member_changes;
    c.members = std::move(step.servers);
  }
  st.members.clear();
  for (const auto& s : c.members) st.members.push_back(s.name);
  c.board->Set(st);
  return changed && !first;
}

std::shared_ptr<const Config> Discovery::Adopt(Config config) {
  std::vector<std::unique_ptr<Cluster>> next;
  std::vector<Cluster*> to_poll;
  {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& cc : config.clusters) {
      if (!cc.discovery.enabled()) continue;
      auto same = std::find_if(clusters_.begin(), clusters_.end(), [&](const auto& c) {
        return c != nullptr && c->name == cc.name && c->cfg.urls == cc.discovery.urls;
      });
      if (same != clusters_.end()) {
        (*same)->cfg = cc.discovery;  // interval and timeout may change
        next.push_back(std::move(*same));
        continue;
      }
      auto c = std::make_unique<Cluster>();
      c->name = cc.name;
      c->cfg = cc.discovery;
      c->board = std::make_shared<DiscoveryBoard>();
      c->next_poll = router::TimePoint::max();  // polled below first, not by the thread
      to_poll.push_back(c.get());
      next.push_back(std::move(c));
    }
    clusters_ = std::move(next);
    file_config_ = std::move(config);
    ++generation_;
  }
  // New clusters are polled once now, so the configuration starts with
  // members. Adopt runs on the daemon's main thread only, and the polling
  // thread drops results of an older generation, so these are not raced.
  for (Cluster* c : to_poll) {
    std::string source;
    size_t preferred = 0;
    DiscoveryStep step = Poll(c->cfg, {}, preferred, source);
    std::lock_guard<std::mutex> lock(mu_);
    c->preferred_url = preferred;
    c->next_poll = router::Clock::now() + c->cfg.interval;
    Record(*c, std::move(step), source, true);
  }
  cv_.notify_all();
  return Current();
}

std::shared_ptr<const Config> Discovery::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  auto config = std::make_shared<Config>(file_config_);
  for (auto& cc : config->clusters) {
    if (!cc.discovery.enabled()) continue;
    for (const auto& c : clusters_) {
      if (c->name != cc.name) continue;
      cc.servers = c->members;
    }
  }
  return config;
}

std::shared_ptr<const DiscoveryStatus> Discovery::Status(std::string_view cluster) const {
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& c : clusters_) {
    if (c->name == cluster) return c->board->Get();
  }
  return nullptr;
}

void Discovery::Start(std::function<void()> on_change) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    on_change_ = std::move(on_change);
    stopping_ = false;
  }
  thread_ = std::thread([this] { Loop(); });
}

void Discovery::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void Discovery::Loop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    // The cluster due first.
    Cluster* due = nullptr;
    for (auto& c : clusters_) {
      if (due == nullptr || c->next_poll < due->next_poll) due = c.get();
    }
    if (due == nullptr) {
      cv_.wait(lock, [this] { return stopping_ || !clusters_.empty(); });
      continue;
    }
    if (router::Clock::now() < due->next_poll) {
      cv_.wait_until(lock, due->next_poll);  // woken early by Adopt or Stop
      continue;
    }
    const DiscoveryConfig cfg = due->cfg;
    const std::vector<ServerConfig> known = due->members;
    size_t preferred = due->preferred_url;
    const uint64_t generation = generation_;
    due->next_poll = router::Clock::now() + cfg.interval;
    lock.unlock();
    std::string source;
    DiscoveryStep step = Poll(cfg, known, preferred, source);
    lock.lock();
    if (generation != generation_ || stopping_) continue;  // re-adopted meanwhile: stale
    due->preferred_url = preferred;
    const bool changed = Record(*due, std::move(step), source, false);
    if (changed && on_change_) {
      auto notify = on_change_;
      lock.unlock();
      notify();
      lock.lock();
    }
  }
}

}  // namespace lagrouter::daemon
