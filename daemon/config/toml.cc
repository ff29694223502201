// Typed access to the TOML tables of a config: every failure names the key.
#include <algorithm>
#include <cctype>

#include "daemon/config/internal.h"

namespace lagrouter::daemon::config_internal {
namespace {

std::string Join(const std::string& where, const char* key) {
  return where.empty() ? key : where + "." + key;
}

}  // namespace

void Fail(const std::string& key, const std::string& problem) {
  throw ConfigError{key + ": " + problem};
}

void CheckKeys(const Table& t, const std::string& where, std::initializer_list<const char*> known) {
  for (const auto& entry : t.as_table()) {
    // Not a structured binding: clang 14 (the fuzz build) cannot capture one.
    const std::string& key = entry.first;
    if (std::find_if(known.begin(), known.end(), [&](const char* k) { return key == k; }) ==
        known.end()) {
      std::string list;
      for (const char* k : known) list += std::string(list.empty() ? "" : ", ") + k;
      Fail(where.empty() ? key : where + "." + key, "unknown key (known here: " + list + ")");
    }
  }
}

const Table* Find(const Table& t, const char* key) {
  const auto& table = t.as_table();
  auto it = table.find(key);
  return it == table.end() ? nullptr : &it->second;
}

std::string GetString(const Table& t, const std::string& where, const char* key, bool required,
                      const std::string& fallback) {
  const Table* v = Find(t, key);
  if (v == nullptr) {
    if (required) Fail(Join(where, key), "missing (a string is required)");
    return fallback;
  }
  if (!v->is_string()) Fail(Join(where, key), "must be a string");
  return v->as_string().str;
}

int64_t GetInt(const Table& t, const std::string& where, const char* key, int64_t fallback,
               int64_t lo, int64_t hi, bool required) {
  const Table* v = Find(t, key);
  if (v == nullptr) {
    if (required) Fail(Join(where, key), "missing (an integer is required)");
    return fallback;
  }
  if (!v->is_integer()) Fail(Join(where, key), "must be an integer");
  const int64_t i = v->as_integer();
  if (i < lo || i > hi) {
    Fail(Join(where, key), "must be from " + std::to_string(lo) + " to " + std::to_string(hi) +
                               ", got " + std::to_string(i));
  }
  return i;
}

router::Duration GetDuration(const Table& t, const std::string& where, const char* key,
                             router::Duration fallback, bool required) {
  const Table* v = Find(t, key);
  if (v == nullptr) {
    if (required) Fail(Join(where, key), "missing (a duration like \"250ms\", \"5s\", \"1h\")");
    return fallback;
  }
  if (!v->is_string()) {
    Fail(Join(where, key), "must be a duration string like \"250ms\", \"5s\" or \"1h\"");
  }
  auto d = ParseDuration(v->as_string().str);
  if (!d) Fail(Join(where, key), d.error());
  return *d;
}

bool GetBool(const Table& t, const std::string& where, const char* key, bool fallback) {
  const Table* v = Find(t, key);
  if (v == nullptr) return fallback;
  if (!v->is_boolean()) Fail(Join(where, key), "must be true or false");
  return v->as_boolean();
}

std::vector<std::string> GetNameList(const Table& t, const std::string& where, const char* key,
                                     const char* what, bool* all) {
  const Table* v = Find(t, key);
  const std::string k = Join(where, key);
  if (v == nullptr) {
    Fail(k, std::string("missing: list the ") + what + " this client may use, or [\"*\"] for all");
  }
  if (!v->is_array()) Fail(k, std::string("must be a list of ") + what + ", e.g. [\"shop\"]");
  std::vector<std::string> out;
  *all = false;
  for (const auto& e : v->as_array()) {
    if (!e.is_string()) Fail(k, "every entry must be a string");
    const std::string name = e.as_string().str;
    if (name == "*") {
      *all = true;
    } else {
      out.push_back(name);
    }
  }
  if (*all && !out.empty()) Fail(k, "\"*\" means all; do not list names next to it");
  if (!*all && out.empty()) {
    Fail(k, std::string("empty: a client that may use no ") + what +
                " is useless; remove it or list some");
  }
  return out;
}

bool ValidName(const std::string& name) {
  return !name.empty() && name.size() <= 64 &&
         std::all_of(name.begin(), name.end(), [](unsigned char c) {
           return std::isalnum(c) || c == '-' || c == '_' || c == '.';
         });
}

}  // namespace lagrouter::daemon::config_internal
