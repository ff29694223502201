// Small primitives for secrets: SHA-256 digests of API tokens, constant-time
// comparison, hex parsing and the file-permission rule for secret files.
#pragma once

#include <array>
#include <string>
#include <string_view>

#include "common/result.h"

namespace lagrouter::daemon {

using Sha256Digest = std::array<unsigned char, 32>;

// SHA-256 (OpenSSL EVP) of `data`.
Sha256Digest Sha256(std::string_view data);

// Equal contents, in time independent of where they differ (CRYPTO_memcmp).
bool DigestEqual(const Sha256Digest& a, const Sha256Digest& b);

// 64 hex digits (either case, as `sha256sum` prints them) -> digest.
Result<Sha256Digest> ParseSha256Hex(std::string_view hex);
std::string ToHex(const Sha256Digest& digest);

// Reads a secret file (a password, a token): refused when it is readable,
// writable or executable by group or others (the message says how to fix
// it, and never contains the secret). Trailing newlines are dropped.
Result<std::string> ReadPrivateFile(const std::string& path);
// Only the permission rule, for files read by others (TLS keys).
Result<void> CheckPrivateFile(const std::string& path);

}  // namespace lagrouter::daemon
