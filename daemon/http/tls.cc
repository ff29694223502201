#include "daemon/http/tls.h"

#include <openssl/err.h>

#include <memory>

namespace lagrouter::daemon {
namespace {

// The oldest queued OpenSSL error as text (and the queue cleared).
std::string OpenSslError() {
  const unsigned long e = ERR_get_error();
  ERR_clear_error();
  if (e == 0) return "unknown OpenSSL error";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof(buf));
  return buf;
}

}  // namespace

Result<void> ConfigureServerTls(SSL_CTX& ctx, const TlsFiles& files) {
  ERR_clear_error();
  SSL_CTX_set_min_proto_version(&ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(&ctx, SSL_OP_NO_COMPRESSION | SSL_OP_NO_RENEGOTIATION);
  if (SSL_CTX_use_certificate_chain_file(&ctx, files.cert.c_str()) != 1) {
    return MakeError("listen.tls_cert: cannot load a PEM certificate from '" + files.cert +
                     "': " + OpenSslError());
  }
  if (SSL_CTX_use_PrivateKey_file(&ctx, files.key.c_str(), SSL_FILETYPE_PEM) != 1) {
    return MakeError("listen.tls_key: cannot load a PEM private key from '" + files.key +
                     "': " + OpenSslError());
  }
  if (SSL_CTX_check_private_key(&ctx) != 1) {
    return MakeError("listen.tls_key: '" + files.key + "' does not match the certificate '" +
                     files.cert + "'");
  }
  if (!files.client_ca.empty()) {
    if (SSL_CTX_load_verify_locations(&ctx, files.client_ca.c_str(), nullptr) != 1) {
      return MakeError("listen.tls_client_ca: cannot load PEM CA certificates from '" +
                       files.client_ca + "': " + OpenSslError());
    }
    STACK_OF(X509_NAME)* names = SSL_load_client_CA_file(files.client_ca.c_str());
    if (names == nullptr) {
      return MakeError("listen.tls_client_ca: no CA certificate in '" + files.client_ca + "'");
    }
    SSL_CTX_set_client_CA_list(&ctx, names);  // takes ownership
    SSL_CTX_set_verify(&ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, nullptr);
  }
  return Ok();
}

Result<void> CheckServerTls(const TlsFiles& files) {
  std::unique_ptr<SSL_CTX, decltype(&SSL_CTX_free)> ctx(SSL_CTX_new(TLS_server_method()),
                                                        &SSL_CTX_free);
  if (!ctx) return MakeError("listen: cannot create a TLS context: " + OpenSslError());
  return ConfigureServerTls(*ctx, files);
}

}  // namespace lagrouter::daemon
