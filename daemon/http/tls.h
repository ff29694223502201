// HTTPS for the API: an OpenSSL server context from the [listen] TLS settings.
#pragma once

#include <openssl/ssl.h>

#include <string>

#include "common/result.h"

namespace lagrouter::daemon {

struct TlsFiles {
  std::string cert;       // PEM certificate chain (leaf first)
  std::string key;        // PEM private key (mode 0600)
  std::string client_ca;  // PEM CA bundle; non-empty: mutual TLS, a client certificate is required
};

// Loads the files into `ctx`: TLS 1.2 or newer, the chain, the key (checked
// against the certificate) and, with a client CA, mandatory client
// certificates. The error says which file and what OpenSSL found wrong.
Result<void> ConfigureServerTls(SSL_CTX& ctx, const TlsFiles& files);

// The same on a scratch context: validates the files (config --check).
Result<void> CheckServerTls(const TlsFiles& files);

}  // namespace lagrouter::daemon
