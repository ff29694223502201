// libFuzzer target: replication positions as a client sends them (`after=`).
// The first byte picks the engine; the rest is the text. A position that parses
// must print back to text that parses to the same position.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "router/position.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace lagrouter::router;
  if (size == 0) return 0;
  const Engine engine = (data[0] & 1) != 0 ? Engine::kMysql : Engine::kPostgres;
  const std::string_view text(reinterpret_cast<const char*>(data + 1), size - 1);
  auto parsed = ParsePosition(engine, text);
  if (!parsed) {
    if (parsed.error().empty()) std::abort();  // an error names the problem
    return 0;
  }
  const Position& p = *parsed;
  if (!IsKnown(p)) std::abort();
  const std::string printed = ToString(p);
  auto again = ParsePosition(engine, printed);
  if (!again) std::abort();
  if (!(*again == p)) std::abort();
  if (ToString(*again) != printed) std::abort();
  if (!Covers(p, p) || Distance(p, p) != 0) std::abort();
  return 0;
}
