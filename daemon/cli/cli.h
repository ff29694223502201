// Command-line subcommands of the lagrouter binary that talk to a running
// daemon over its HTTP API (so they need no configuration file).
#pragma once

namespace lagrouter::daemon {

// `lagrouter status [--url URL]`: prints every cluster's servers, roles,
// states, staleness bounds and eligible classes as an aligned table.
// `args` are the arguments after "status". Returns the exit code: 0, 1 when
// the daemon is unreachable or answers badly, 2 on bad usage.
int RunStatusCommand(int argc, char** argv);

}  // namespace lagrouter::daemon
