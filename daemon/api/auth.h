// API authentication and authorization: bearer tokens of configured clients
// ([[client]]), each allowed some clusters and classes. Pure logic (no HTTP
// types) so it is unit-tested and reused by every endpoint under /v1/.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "daemon/config/config.h"

namespace lagrouter::daemon {

// Why a request was refused; a label of lagrouter_http_denied_requests_total.
enum class Denial {
  kNone,
  kMissingToken,       // no Authorization header (401)
  kBadAuthorization,   // not "Bearer <token>" (401)
  kUnknownToken,       // no client has this token (401)
  kClusterNotAllowed,  // outside the client's clusters (403)
  kClassNotAllowed,    // outside the client's classes (403)
};
const char* DenialName(Denial denial);

struct AuthDecision {
  int client = -1;  // index into Config::clients; -1 when unknown
  Denial denial = Denial::kNone;
  std::string message;  // for the caller; never contains the token

  bool allowed() const { return denial == Denial::kNone; }
  // 401 for authentication failures, 403 for authorization, 200 when allowed.
  int status() const;
};

class Authenticator {
 public:
  explicit Authenticator(const Config& config) : config_(config) {}

  bool enabled() const { return config_.AuthEnabled(); }
  // Whether `path` needs a client token: everything under /v1/ once any
  // client is configured; /metrics, /healthz and /readyz when [auth] says so.
  bool Protects(std::string_view path) const;

  // `authorization`: the Authorization header ("" when absent). Every
  // client's digest is compared, in constant time, whatever matches.
  AuthDecision Authenticate(std::string_view authorization) const;

  // Whether an authenticated client may use these clusters and classes (the
  // request's targets; a request naming none is allowed).
  AuthDecision Authorize(int client, const std::vector<std::string_view>& clusters,
                         const std::vector<std::string_view>& classes) const;

  const std::string& ClientName(int client) const;

 private:
  const Config& config_;
};

}  // namespace lagrouter::daemon
