// A connection's requests: what h2o is told of them (limits, the idle
// timeout, the handler), decoding one into an HttpRequest, answering it, and
// keep-alive until the loop drains.
#include <netdb.h>
#include <spdlog/spdlog.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstdint>
#include <exception>
#include <string_view>

#include "common/text.h"
#include "daemon/http/loop.h"

namespace lagrouter::daemon {

using http_internal::kInternalError;

namespace {

// Request line and headers, and the body: larger requests are refused.
// h2o itself buffers up to H2O_MAX_REQLEN (~400 KiB) of headers per
// connection before it parses them; the 16 KiB limit is applied on top.
constexpr size_t kMaxHeaderBytes = 16 * 1024;
constexpr size_t kMaxBodyBytes = 64 * 1024;

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// %XX becomes its byte (so "%00" is a NUL byte, not the end of the value);
// an escape that is not two hex digits is kept as written.
std::string Decode(std::string_view s, bool plus_is_space) {
  if (s.find_first_of(plus_is_space ? "%+" : "%") == std::string_view::npos) return std::string(s);
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%' && i + 2 < s.size()) {
      const int hi = HexValue(s[i + 1]), lo = HexValue(s[i + 2]);
      if (hi >= 0 && lo >= 0) {
        out.push_back(static_cast<char>(hi * 16 + lo));
        i += 2;
        continue;
      }
    }
    out.push_back(plus_is_space && c == '+' ? ' ' : c);
  }
  return out;
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 301: return "Moved Permanently";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 429: return "Too Many Requests";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
  }
  return status < 400 ? "OK" : status < 500 ? "Client Error" : "Server Error";
}

bool HasLineBreakOrNul(std::string_view s) {
  return s.find_first_of(std::string_view("\r\n\0", 3)) != std::string_view::npos;
}

}  // namespace

QueryParams ParseQuery(std::string_view query) {
  QueryParams params;
  while (!query.empty()) {
    const size_t amp = query.find('&');
    const std::string_view piece = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
    if (piece.empty()) continue;
    const size_t eq = piece.find('=');
    const std::string_view key = piece.substr(0, eq);
    const std::string_view value =
        eq == std::string_view::npos ? std::string_view() : piece.substr(eq + 1);
    params.emplace(Decode(key, true), Decode(value, true));
  }
  return params;
}

std::string DecodePath(std::string_view path) {
  return Decode(path, false);
}

void HttpServer::ConfigureH2o() {
  h2o_config_ = std::make_unique<H2oConfig>();
  h2o_globalconf_t& g = h2o_config_->global;
  h2o_config_init(&g);
  h2o_config_->initialized = true;
  g.server_name = h2o_iovec_init(H2O_STRLIT(""));  // no Server header
  g.max_request_entity_size = kMaxBodyBytes;
  // h2o's request timeout runs from the end of one answer (or the accept) to
  // the whole next request: an idle or a slow client is closed after it.
  g.http1.req_timeout = static_cast<uint64_t>(std::max(1, options_.idle_timeout_seconds)) * 1000;
  g.http1.upgrade_to_http2 = 0;  // HTTP/1.1 only, as documented
  h2o_hostconf_t* host = h2o_config_register_host(&g, h2o_iovec_init(H2O_STRLIT("default")), 65535);
  h2o_pathconf_t* path = h2o_config_register_path(host, "/", 0);
  h2o_handler_t* h = h2o_create_handler(path, sizeof(h2o_handler_t));
  h->on_req = &Loop::OnRequest;
}

void HttpServer::Loop::Adopt(h2o_socket_t* sock) {
  auto* conn = new Connection{this, h2o_socket_get_fd(sock), {}, 0};
  sockaddr_storage peer{};
  const socklen_t len = h2o_socket_getpeername(sock, reinterpret_cast<sockaddr*>(&peer));
  char host[NI_MAXHOST];
  const size_t n =
      len > 0 ? h2o_socket_getnumerichost(reinterpret_cast<sockaddr*>(&peer), len, host) : SIZE_MAX;
  if (n != SIZE_MAX) {
    conn->peer_addr.assign(host, n);
    conn->peer_port = std::max(0, h2o_socket_getport(reinterpret_cast<sockaddr*>(&peer)));
  }
  connections.insert(conn);
  sock->on_close.cb = &Loop::OnClosed;
  sock->on_close.data = conn;
  h2o_accept(&accept_ctx, sock);
}

const HttpServer::Loop::Connection* HttpServer::Loop::ConnectionOf(h2o_req_t* req) {
  h2o_socket_t* sock = req->conn->callbacks->get_socket(req->conn);
  if (sock == nullptr || sock->on_close.cb != &Loop::OnClosed) return nullptr;
  return static_cast<const Connection*>(sock->on_close.data);
}

void HttpServer::Loop::OnClosed(void* data) {
  auto* conn = static_cast<Connection*>(data);
  conn->loop->connections.erase(conn);
  delete conn;
}

int HttpServer::Loop::OnRequest(h2o_handler_t*, h2o_req_t* req) {
  reinterpret_cast<Context*>(req->conn->ctx)->loop->Serve(req);
  return 0;
}

void HttpServer::Loop::Serve(h2o_req_t* req) {
  size_t header_bytes = req->input.method.len + req->input.path.len;
  for (size_t i = 0; i < req->headers.size; ++i) {
    header_bytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len + 4;
  }
  if (header_bytes > kMaxHeaderBytes) {
    req->http1_is_persistent = 0;
    Write(req, {431, R"({"error":"bad_request","message":"request headers over 16 KiB"})"});
    return;
  }

  HttpRequest r;
  r.method.assign(req->input.method.base, req->input.method.len);
  const std::string_view target(req->input.path.base, req->input.path.len);
  const size_t q = req->input.query_at;
  if (q == SIZE_MAX || q > target.size()) {
    r.path = DecodePath(target);
  } else {
    r.path = DecodePath(target.substr(0, q));
    r.params = ParseQuery(target.substr(q + 1));
  }
  if (r.path.empty()) r.path = "/";
  const ssize_t auth = h2o_find_header(&req->headers, H2O_TOKEN_AUTHORIZATION, -1);
  if (auth >= 0) {
    const h2o_iovec_t& v = req->headers.entries[auth].value;
    r.authorization.assign(v.base, v.len);
  }
  if (const Connection* conn = ConnectionOf(req)) {
    r.remote_addr = conn->peer_addr;
    r.remote_port = conn->peer_port;
  }

  r.deferrer = this;
  current = req;
  deferred = false;
  ApiResponse res;
  try {
    res = server->handler_(r);
  } catch (const std::exception& e) {
    spdlog::error("handler for {} failed: {}", r.path, e.what());
    res = {500, kInternalError};
  }
  current = nullptr;
  if (deferred) return;  // a LaterReply answers
  Write(req, res);
}

void HttpServer::Loop::Write(h2o_req_t* req, const ApiResponse& res) {
  req->res.status = res.status;
  req->res.reason = ReasonPhrase(res.status);
  h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, "Content-Type",
                 res.content_type, std::strlen(res.content_type));
  for (const auto& [name, value] : res.headers) {
    if (name.empty() || HasLineBreakOrNul(name) || HasLineBreakOrNul(value)) {
      spdlog::error("refusing to send a header with a line break: {}", Printable(name, 64));
      continue;
    }
    const h2o_iovec_t n = h2o_strdup(&req->pool, name.data(), name.size());
    const h2o_iovec_t v = h2o_strdup(&req->pool, value.data(), value.size());
    h2o_add_header_by_str(&req->pool, &req->res.headers, n.base, n.len, 1, n.base, v.base, v.len);
  }
  // The client's next request goes to a fresh connection, and so to the
  // next listener's loops (a reload) or nowhere (a shutdown): never lost.
  if (draining) req->http1_is_persistent = 0;
  req->res.content_length = res.body.size();
  h2o_send_inline(req, res.body.data(), res.body.size());  // HEAD: headers only
}

}  // namespace lagrouter::daemon
