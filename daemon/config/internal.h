// The config loader's parts shared by its files (config_*.cc); not an API.
#pragma once

#include <initializer_list>
#include <span>
#include <string>
#include <string_view>
#include <toml.hpp>
#include <vector>

#include "daemon/config/config.h"

namespace lagrouter::daemon::config_internal {

// TOML safety checks run before toml11 sees the text (text.cc).
// The line of the first invalid UTF-8 sequence, or 0.
size_t InvalidUtf8Line(std::string_view text);
// The line where brackets outside strings and comments nest deeper than
// `limit`, or 0.
size_t TooDeepLine(std::string_view text, int limit);

// Validation failure inside the parser; turned into a Result by ParseConfig.
struct ConfigError {
  std::string message;
};

// Throws ConfigError{"key: problem"}.
[[noreturn]] void Fail(const std::string& key, const std::string& problem);

// Typed access to TOML tables (toml.cc). `where` is the table's key
// ("" for the root); every failure names the full key and throws ConfigError.
using Table = toml::value;

void CheckKeys(const Table& t, const std::string& where, std::initializer_list<const char*> known);
const Table* Find(const Table& t, const char* key);
std::string GetString(const Table& t, const std::string& where, const char* key, bool required,
                      const std::string& fallback = "");
int64_t GetInt(const Table& t, const std::string& where, const char* key, int64_t fallback,
               int64_t lo, int64_t hi, bool required = false);
router::Duration GetDuration(const Table& t, const std::string& where, const char* key,
                             router::Duration fallback, bool required = false);
bool GetBool(const Table& t, const std::string& where, const char* key, bool fallback);
// A required list of names; ["*"] alone means all (returned as *all).
std::vector<std::string> GetNameList(const Table& t, const std::string& where, const char* key,
                                     const char* what, bool* all);
// 1-64 letters, digits, '-', '_' or '.'.
bool ValidName(const std::string& name);

// Checks across sections, after they are loaded (validate.cc): fails
// ("listen.address: ...") when the API would be open to the network without
// listen.allow_unauthenticated.
void CheckExposure(const Config& cfg);

// Fails ("client.NAME: has the same token as client ...") when `client`'s
// token is one of `earlier`'s. Before ResolveConfig, clients with a
// token_file have no digest yet: `files_read` false leaves them out.
Result<void> CheckOwnToken(const ClientConfig& client, std::span<const ClientConfig> earlier,
                           bool files_read);

}  // namespace lagrouter::daemon::config_internal
