#include "daemon/config/secret.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <sys/stat.h>

#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lagrouter::daemon {

Sha256Digest Sha256(std::string_view data) {
  Sha256Digest out{};
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out.data(), &len, EVP_sha256(), nullptr) != 1 ||
      len != out.size()) {
    // Only on a broken OpenSSL installation; never compare against garbage.
    throw std::runtime_error("OpenSSL SHA-256 failed");
  }
  return out;
}

bool DigestEqual(const Sha256Digest& a, const Sha256Digest& b) {
  return CRYPTO_memcmp(a.data(), b.data(), a.size()) == 0;
}

Result<Sha256Digest> ParseSha256Hex(std::string_view hex) {
  if (hex.size() != 64) {
    return MakeError("must be 64 hex digits (the output of sha256sum), got " +
                     std::to_string(hex.size()) + " characters");
  }
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  Sha256Digest out{};
  for (size_t i = 0; i < out.size(); ++i) {
    const int hi = nibble(hex[2 * i]);
    const int lo = nibble(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return MakeError("must be 64 hex digits (0-9, a-f)");
    out[i] = static_cast<unsigned char>(hi << 4 | lo);
  }
  return out;
}

std::string ToHex(const Sha256Digest& digest) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : digest) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

Result<void> CheckPrivateFile(const std::string& path) {
  struct stat st {};
  if (stat(path.c_str(), &st) != 0) return MakeError("cannot read '" + path + "'");
  if (!S_ISREG(st.st_mode)) return MakeError("'" + path + "' is not a regular file");
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0) {
    return MakeError("'" + path + "' is readable by group or others; chmod 600 it");
  }
  return Ok();
}

Result<std::string> ReadPrivateFile(const std::string& path) {
  LAGROUTER_RETURN_IF_ERROR(CheckPrivateFile(path));
  std::ifstream in(path);
  if (!in) return MakeError("cannot read '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  std::string secret = ss.str();
  while (!secret.empty() && (secret.back() == '\n' || secret.back() == '\r')) secret.pop_back();
  return secret;
}

}  // namespace lagrouter::daemon
