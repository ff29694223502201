#include "tests/support/http.h"

#include <httplib.h>
#include <strings.h>

#include <algorithm>

namespace lagrouter::test_support {

std::string HttpReply::Header(const std::string& name) const {
  for (const auto& [k, v] : headers) {
    if (strcasecmp(k.c_str(), name.c_str()) == 0) return v;
  }
  return "";
}

struct HttpClient::Impl {
  std::unique_ptr<httplib::ClientImpl> client;
};

HttpClient::HttpClient(int port, const HttpOptions& o) : impl_(std::make_unique<Impl>()) {
  if (o.tls) {
    auto ssl = o.cert.empty()
                   ? std::make_unique<httplib::SSLClient>("127.0.0.1", port)
                   : std::make_unique<httplib::SSLClient>("127.0.0.1", port, o.cert, o.key);
    if (!o.ca.empty()) {
      ssl->set_ca_cert_path(o.ca.c_str());
      ssl->enable_server_certificate_verification(true);
    } else {
      ssl->enable_server_certificate_verification(false);
    }
    impl_->client = std::move(ssl);
  } else {
    impl_->client = std::make_unique<httplib::ClientImpl>("127.0.0.1", port);
  }
  impl_->client->set_connection_timeout(o.connect_timeout_s, 0);
  impl_->client->set_read_timeout(o.read_timeout_s, 0);
  impl_->client->set_write_timeout(o.write_timeout_s, 0);
  if (o.keep_alive) impl_->client->set_keep_alive(true);
}

HttpClient::~HttpClient() = default;

HttpReply HttpClient::Get(const std::string& path, const std::string& token) {
  std::vector<std::pair<std::string, std::string>> headers;
  if (!token.empty()) headers.emplace_back("Authorization", "Bearer " + token);
  return Get(path, headers);
}

HttpReply HttpClient::Get(const std::string& path,
                          const std::vector<std::pair<std::string, std::string>>& headers) {
  httplib::Headers h;
  for (const auto& [k, v] : headers) h.emplace(k, v);
  auto res = impl_->client->Get(path.c_str(), h);
  HttpReply reply;
  if (!res) {
    reply.error = httplib::to_string(res.error());
    return reply;
  }
  reply.status = res->status;
  reply.body = res->body;
  for (const auto& [k, v] : res->headers) reply.headers.emplace_back(k, v);
  reply.json = Json::parse(res->body, nullptr, false);
  if (reply.json.is_discarded()) reply.json = nullptr;
  return reply;
}

HttpReply HttpGet(int port, const std::string& path, const std::string& token) {
  return HttpClient(port).Get(path, token);
}

bool Contains(const Json& list, const std::string& item) {
  return list.is_array() && std::find(list.begin(), list.end(), item) != list.end();
}

std::string RoutePath(const std::string& cluster, const std::string& cls,
                      const std::string& after) {
  std::string q = "/v1/route?cluster=" + cluster + "&class=" + cls;
  if (!after.empty()) q += "&after=" + httplib::detail::encode_query_param(after);
  return q;
}

}  // namespace lagrouter::test_support
