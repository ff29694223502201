#include "daemon/api/auth.h"

#include <algorithm>
#include <cctype>
#include <optional>

#include "common/text.h"
#include "daemon/config/secret.h"

namespace lagrouter::daemon {
namespace {

// A request's own words in a message: bounded and printable.
std::string Quoted(std::string_view s) {
  std::string out = "'";
  for (unsigned char c : s.substr(0, 64))
    out.push_back(c < 0x20 || c >= 0x7f ? '?' : static_cast<char>(c));
  if (s.size() > 64) out += "...";
  return out + "'";
}

std::string JoinNames(const std::vector<std::string>& names, bool all) {
  if (all) return "all";
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

}  // namespace

const char* DenialName(Denial denial) {
  switch (denial) {
    case Denial::kNone: return "none";
    case Denial::kMissingToken: return "missing_token";
    case Denial::kBadAuthorization: return "bad_authorization";
    case Denial::kUnknownToken: return "unknown_token";
    case Denial::kClusterNotAllowed: return "cluster_not_allowed";
    case Denial::kClassNotAllowed: return "class_not_allowed";
  }
  return "unknown";
}

int AuthDecision::status() const {
  switch (denial) {
    case Denial::kNone: return 200;
    case Denial::kClusterNotAllowed:
    case Denial::kClassNotAllowed: return 403;
    default: return 401;
  }
}

bool Authenticator::Protects(std::string_view path) const {
  if (!enabled()) return false;
  if (path.substr(0, 4) == "/v1/" || path == "/v1") return true;
  if (path == "/metrics") return config_.protect_metrics;
  if (path == "/healthz" || path == "/readyz") return config_.protect_health;
  return false;
}

AuthDecision Authenticator::Authenticate(std::string_view authorization) const {
  AuthDecision d;
  auto trim = [](std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
  };
  authorization = trim(authorization);
  if (authorization.empty()) {
    d.denial = Denial::kMissingToken;
    d.message = "this endpoint needs 'Authorization: Bearer <token>'";
    return d;
  }
  const size_t space = authorization.find(' ');
  if (space == std::string_view::npos ||
      !EqualsIgnoreCase(authorization.substr(0, space), "Bearer")) {
    d.denial = Denial::kBadAuthorization;
    d.message = "the Authorization header must be 'Bearer <token>'";
    return d;
  }
  const std::string_view token = trim(authorization.substr(space + 1));
  if (token.empty()) {
    d.denial = Denial::kBadAuthorization;
    d.message = "the Authorization header must be 'Bearer <token>'";
    return d;
  }
  // Digests of equal length, compared with CRYPTO_memcmp; every client is
  // compared, so the time says nothing about which one (if any) matched.
  const Sha256Digest digest = Sha256(token);
  int match = -1;
  for (size_t i = 0; i < config_.clients.size(); ++i) {
    const bool equal = DigestEqual(digest, config_.clients[i].token_sha256);
    match = equal ? static_cast<int>(i) : match;
  }
  if (match < 0) {
    d.denial = Denial::kUnknownToken;
    d.message = "the bearer token is not valid";
    return d;
  }
  d.client = match;
  return d;
}

AuthDecision Authenticator::Authorize(int client, const std::vector<std::string_view>& clusters,
                                      const std::vector<std::string_view>& classes) const {
  AuthDecision d;
  d.client = client;
  if (client < 0 || static_cast<size_t>(client) >= config_.clients.size()) {
    d.denial = Denial::kUnknownToken;
    d.message = "the bearer token is not valid";
    return d;
  }
  const ClientConfig& c = config_.clients[static_cast<size_t>(client)];
  // The first name in `asked` that `allows` refuses, if any.
  auto refused = [](const std::vector<std::string_view>& asked,
                    auto allows) -> std::optional<std::string_view> {
    for (auto name : asked) {
      if (!allows(name)) return name;
    }
    return std::nullopt;
  };
  if (auto cluster = refused(clusters, [&](auto n) { return c.AllowsCluster(n); })) {
    d.denial = Denial::kClusterNotAllowed;
    d.message = "client '" + c.name + "' may not use cluster " + Quoted(*cluster) +
                "; its clusters: " + JoinNames(c.clusters, c.all_clusters);
  } else if (auto klass = refused(classes, [&](auto n) { return c.AllowsClass(n); })) {
    d.denial = Denial::kClassNotAllowed;
    d.message = "client '" + c.name + "' may not use class " + Quoted(*klass) +
                "; its classes: " + JoinNames(c.classes, c.all_classes);
  }
  return d;
}

const std::string& Authenticator::ClientName(int client) const {
  static const std::string kNone;
  if (client < 0 || static_cast<size_t>(client) >= config_.clients.size()) return kNone;
  return config_.clients[static_cast<size_t>(client)].name;
}

}  // namespace lagrouter::daemon
