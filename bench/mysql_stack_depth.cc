// mysql_stack_depth: how deep the MySQL probe's calls reach into
// libmariadb's coroutine stack (the non-blocking API runs each call on a
// stack of its own, 256 KB by default in libmariadb 3.3.20; see
// probes/mysql_probe.cc). The stack is a fresh mapping (malloc maps chunks
// of 16 KB and more on their own, TuneAllocator), so its resident pages
// (mincore) are the pages a call ever touched: its high-water mark.
//
//   LAGROUTER_DB_PASSWORD=... mysql_stack_depth HOST PORT USER
//       [SSLMODE [SSLROOTCERT]] [SAMPLES]
//
// Runs the real probe (MakeMysqlProbe, RunToCompletion): the first sample
// connects (TLS handshake, authentication), SHOW GRANTS, the probe query;
// the others only the probe query. Prints, after the first sample and after
// the last, the pages of the stack in use then and how deep they reach.
#include <malloc.h>
#include <sys/mman.h>

#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "daemon/app.h"
#include "probes/probe.h"

// This tool's own malloc, glibc's underneath: remembers the latest
// allocation of at least 128 KB, which in this process is the probe's
// coroutine stack (the probe makes a fresh one once connected).
extern "C" void* __libc_malloc(size_t);
extern "C" void __libc_free(void*);
namespace {

uintptr_t stack_bottom = 0;
size_t stack_size = 0;
size_t released_deepest = 0;  // KB: the deepest stack freed so far (a connect's)

struct Usage {
  bool ok = false;
  size_t resident = 0;  // pages, malloc's header page included
  size_t deepest = 0;   // KB below the top that calls reached
};

Usage Measure() {
  Usage u;
  if (stack_bottom == 0) return u;
  const uintptr_t page = 4096;
  const uintptr_t first = stack_bottom & ~(page - 1);
  const uintptr_t end = (stack_bottom + stack_size + page - 1) & ~(page - 1);
  std::vector<unsigned char> in_core((end - first) / page);
  if (mincore(reinterpret_cast<void*>(first), end - first, in_core.data()) != 0) return u;
  // Page 0 holds malloc's chunk header; the stack grows down from the top.
  for (size_t i = 0; i < in_core.size(); ++i) {
    if ((in_core[i] & 1) == 0) continue;
    ++u.resident;
    if (i > 0 && u.deepest == 0) u.deepest = (in_core.size() - i) * 4;
  }
  u.ok = true;
  return u;
}

}  // namespace

extern "C" void* malloc(size_t n) {
  void* p = __libc_malloc(n);
  if (n >= 128 * 1024 && p != nullptr) {
    stack_bottom = reinterpret_cast<uintptr_t>(p);
    stack_size = n;
  }
  return p;
}

// A stack is freed when the probe replaces it after its connect, or closes
// the connection (a failed connect): how deep did it go?
extern "C" void free(void* p) {
  if (p != nullptr && reinterpret_cast<uintptr_t>(p) == stack_bottom) {
    const Usage u = Measure();
    if (u.deepest > released_deepest) released_deepest = u.deepest;
    stack_bottom = 0;
  }
  __libc_free(p);
}

namespace {

void Report(const char* when) {
  const Usage u = Measure();
  if (!u.ok) {
    std::printf("%-28s no live stack (the connection is closed)", when);
  } else {
    std::printf(
        "%-28s stack %zu KB: %zu pages resident (malloc's header page included), "
        "calls reached %zu KB below its top",
        when, stack_size / 1024, u.resident, u.deepest);
  }
  std::printf("; deepest stack freed so far (a connect's): %zu KB\n", released_deepest);
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr,
                 "usage: LAGROUTER_DB_PASSWORD=... mysql_stack_depth HOST PORT USER [SSLMODE "
                 "[SSLROOTCERT]] [SAMPLES]\n");
    return 2;
  }
  lagrouter::daemon::TuneAllocator();  // as the daemon runs
  lagrouter::probes::ServerEndpoint ep;
  ep.host = argv[1];
  ep.port = std::atoi(argv[2]);
  lagrouter::probes::Login login;
  login.user = argv[3];
  if (const char* pw = std::getenv("LAGROUTER_DB_PASSWORD")) login.password = pw;
  int samples = 10;
  for (int i = 4; i < argc; ++i) {
    const std::string a = argv[i];
    if (!a.empty() && a.find_first_not_of("0123456789") == std::string::npos) {
      samples = std::atoi(a.c_str());
    } else if (login.sslmode.empty()) {
      login.sslmode = a;
    } else {
      login.sslrootcert = a;
    }
  }
  ep.login = std::make_shared<const lagrouter::probes::Login>(std::move(login));
  auto probe = lagrouter::probes::MakeMysqlProbe(ep);
  for (int i = 0; i < samples; ++i) {
    const auto s = lagrouter::probes::RunToCompletion(
        *probe, lagrouter::probes::Clock::now() + std::chrono::seconds(5));
    if (!s.ok) std::printf("sample %d failed: %s\n", i + 1, s.error.c_str());
    if (i == 0) Report("after the first sample");
  }
  Report(("after " + std::to_string(samples) + " samples").c_str());
}
