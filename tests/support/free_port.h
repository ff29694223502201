// Ports chosen at run time, so no test hard-codes a listen port.
#pragma once

namespace lagrouter::test_support {

// A TCP port free on 127.0.0.1 right now: binds port 0 (with SO_REUSEADDR),
// reads the port the kernel chose and closes. Another process may take it
// before the caller binds it; good enough for tests.
int FreePort();

}  // namespace lagrouter::test_support
