#include "tests/chaos/report.h"

#include <cstdio>

namespace lagrouter::chaos {

namespace {

// Commits, reads per class and outcome, faults, commits lost by failovers.
void PrintHeader(Harness& h, RunResults& r) {
  std::printf("\n== freshness checker report (%s, path %s, %d s)\n", h.o.engine(),
              PathName(h.o.path), h.o.seconds);
  std::printf("commits: %llu (write errors %llu)\n",
              static_cast<unsigned long long>(r.writer.commits()),
              static_cast<unsigned long long>(r.writer.errors()));
  for (size_t k : h.classes) {
    std::printf("reads %-7s", kClasses[k]);
    for (int oc = 0; oc < kOutcomes; ++oc) {
      std::printf(" %s=%llu", kOutcomeNames[oc],
                  static_cast<unsigned long long>(h.reads.by_class[k][oc].load()));
    }
    std::printf("\n");
  }
  r.faults.Print();
  if (!r.lost.empty()) {
    std::printf("commits lost by failovers: %zu (ids %lld-%lld), absent from the final primary\n",
                r.lost.size(), static_cast<long long>(*r.lost.begin()),
                static_cast<long long>(*r.lost.rbegin()));
  }
  std::printf("reads missing lost commits only (not routing violations): %llu\n",
              static_cast<unsigned long long>(r.freshness.LostWriteReads()));
}

}  // namespace

int Report(Harness& h, RunResults& r) {
  PrintHeader(h, r);
  uint64_t violations = 0;
  bool vacuous = false;
  for (Judgement* j : r.judgements) {
    j->Print();
    violations += j->Violations();
    vacuous = vacuous || j->Vacuous();
  }
  const uint64_t checked = r.freshness.Checked();
  const int faults_total = r.faults.Injected();
  std::printf("reads checked: %llu, faults injected: %d, violations: %llu\n",
              static_cast<unsigned long long>(checked), faults_total,
              static_cast<unsigned long long>(r.freshness.Violations()));
  std::fflush(stdout);
  if (r.faults.HealFailed() > 0) {
    std::printf("RESULT: error (a fault could not be healed)\n");
    return 2;
  }
  if (violations > 0) {
    std::printf("RESULT: violations found\n");
    return 1;
  }
  if (vacuous || faults_total == 0 || r.writer.commits() == 0) {
    std::printf("RESULT: vacuous run (no reads, commits, faults or replica reads in a class)\n");
    return 2;
  }
  std::printf("RESULT: no violations\n");
  return 0;
}

}  // namespace lagrouter::chaos
