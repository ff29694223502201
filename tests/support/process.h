// Commands, waits with deadlines (no fixed sleeps) and ports, for tests and
// the chaos freshness checker. Standard library and POSIX only.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <string>

namespace lagrouter::test_support {

using Clock = std::chrono::steady_clock;

// Tests run as `flock LOCK ctest ...`: every descriptor this process inherited
// (the lock's among them) is made close-on-exec, so that a server a test
// (re)starts through a cluster script, or a daemon it forks, does not keep the
// lock held after the run. Done once, by RunCommand and Daemon, before either
// starts anything.
void KeepInheritedDescriptorsFromChildren();

// Runs a shell command (stderr joined to stdout); returns its exit code
// (-1 when it did not exit normally), its output in *out if given.
int RunCommand(const std::string& command, std::string* out = nullptr);

// `text` as one single-quoted shell word.
std::string ShellQuote(const std::string& text);

// `text` without trailing white space and line ends.
std::string TrimRight(std::string text);

// Polls `condition` until it holds or `timeout` passes; false on timeout.
bool WaitFor(const std::function<bool()>& condition, std::chrono::milliseconds timeout,
             std::chrono::milliseconds poll = std::chrono::milliseconds(20));

// A duration in whole milliseconds, for messages and measurements.
inline int64_t Ms(Clock::duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

// The value of KEY=VALUE in the output of `script env` ("" when absent), e.g.
// LAGROUTER_PG_DIR from scripts/pg-cluster.sh.
std::string ScriptEnv(const std::string& script, const std::string& key);

// True when something accepts TCP connections on 127.0.0.1:`port`.
bool PortOpen(int port);

}  // namespace lagrouter::test_support
