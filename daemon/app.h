// Wires the daemon together and runs it until SIGTERM/SIGINT.
#pragma once

#include <memory>

#include "daemon/config/config.h"

namespace lagrouter::daemon {

// Returns the process exit code.
int RunDaemon(std::shared_ptr<const Config> config);

// Allocator settings for a process holding a connection per server (RunDaemon
// applies them; benchmarks of the daemon's parts call it too). libpq keeps two
// 16 KB buffers per connection and uses the first page of each: from the heap,
// their other pages became resident as freed memory was reused (about 15 KB a
// server); mapped on their own, only the pages used are.
void TuneAllocator();

}  // namespace lagrouter::daemon
