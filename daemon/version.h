#pragma once

namespace lagrouter::daemon {
inline constexpr const char* kVersion = "0.1.0";
}  // namespace lagrouter::daemon
