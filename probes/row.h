// A result row by column name, as every engine's driver returns it: text
// values, NULL as nullopt. Parsers take rows, so recorded rows are testable.
#pragma once

#include <map>
#include <optional>
#include <string>

namespace lagrouter::probes {

using Row = std::map<std::string, std::optional<std::string>>;

}  // namespace lagrouter::probes
