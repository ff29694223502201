// A result row by column name, as every engine's driver returns it: text
// values, NULL as nullopt. Parsers take rows, so recorded rows are testable.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>

namespace lagrouter::probes {

// std::less<>: looked up by string_view without building a string.
using Row = std::map<std::string, std::optional<std::string>, std::less<>>;

}  // namespace lagrouter::probes
