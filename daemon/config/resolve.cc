// What a parsed config points to: passwords, client tokens and TLS files.
#include <sched.h>

#include <cstdlib>
#include <span>
#include <thread>

#include "daemon/config/internal.h"
#include "daemon/http/tls.h"

namespace lagrouter::daemon {
namespace {

// "FILE: KEY: " before a problem, as the parser's messages start.
std::string Context(const Config& config, const std::string& key) {
  return config.path + ": " + key + ": ";
}

Result<void> CheckTlsFiles(const Config& config) {
  if (!config.Tls()) return Ok();
  LAGROUTER_RETURN_IF_ERROR_CONTEXT(CheckPrivateFile(config.tls_key),
                                    Context(config, "listen.tls_key"));
  // CheckServerTls's messages name the key.
  LAGROUTER_RETURN_IF_ERROR_CONTEXT(
      CheckServerTls({config.tls_cert, config.tls_key, config.tls_client_ca}), config.path + ": ");
  return Ok();
}

Result<void> ResolvePassword(const Config& config, ClusterConfig& cluster) {
  const std::string w = "cluster." + cluster.name;
  if (!cluster.password_env.empty()) {
    const char* value = std::getenv(cluster.password_env.c_str());
    if (value == nullptr) {
      return MakeError(Context(config, w + ".password_env") + "environment variable " +
                       cluster.password_env + " is not set");
    }
    cluster.password = value;
  } else if (!cluster.password_file.empty()) {
    LAGROUTER_ASSIGN_OR_RETURN_CONTEXT(cluster.password, ReadPrivateFile(cluster.password_file),
                                       Context(config, w + ".password_file"));
  }
  return Ok();
}

Result<void> ResolveToken(const Config& config, ClientConfig& client) {
  if (!client.token_file) return Ok();
  const std::string key = "client." + client.name + ".token_file";
  LAGROUTER_ASSIGN_OR_RETURN_CONTEXT(const std::string token, ReadPrivateFile(*client.token_file),
                                     Context(config, key));
  if (token.size() < 16) {
    return MakeError(Context(config, key) + "'" + *client.token_file +
                     "' holds a token shorter than 16 characters; generate one with: openssl "
                     "rand -hex 32");
  }
  client.token_sha256 = Sha256(token);
  return Ok();
}

}  // namespace

int UsableCores() {
  cpu_set_t set;
  CPU_ZERO(&set);
  if (sched_getaffinity(0, sizeof set, &set) == 0 && CPU_COUNT(&set) > 0) return CPU_COUNT(&set);
  return std::max(1u, std::thread::hardware_concurrency());
}

Result<void> ResolveConfig(Config& config) {
  if (config.http_threads == 0) config.http_threads = UsableCores();
  LAGROUTER_RETURN_IF_ERROR(CheckTlsFiles(config));
  for (auto& cluster : config.clusters) LAGROUTER_RETURN_IF_ERROR(ResolvePassword(config, cluster));
  for (size_t i = 0; i < config.clients.size(); ++i) {
    LAGROUTER_RETURN_IF_ERROR(ResolveToken(config, config.clients[i]));
    const std::span<const ClientConfig> earlier(config.clients.data(), i);
    LAGROUTER_RETURN_IF_ERROR_CONTEXT(
        config_internal::CheckOwnToken(config.clients[i], earlier, true), config.path + ": ");
  }
  return Ok();
}

}  // namespace lagrouter::daemon
