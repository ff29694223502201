// Wires the daemon together and runs it until SIGTERM/SIGINT.
#pragma once

#include <memory>

#include "daemon/config/config.h"

namespace lagrouter::daemon {

// Returns the process exit code.
int RunDaemon(std::shared_ptr<const Config> config);

}  // namespace lagrouter::daemon
