// The report at the end of a run, and the exit code it comes to:
//   0 no violation; 1 violations (any judgement's); 2 a fault could not be
//   healed, or a vacuous run (no reads, commits or faults, or a judgement
//   that judged nothing).
#pragma once

#include <set>
#include <vector>

#include "tests/chaos/fault_schedule.h"
#include "tests/chaos/freshness.h"
#include "tests/chaos/harness.h"
#include "tests/chaos/judgement.h"
#include "tests/chaos/writer.h"

namespace lagrouter::chaos {

struct RunResults {
  const Writer& writer;
  FaultSchedule& faults;
  Freshness& freshness;                // also among `judgements`
  const std::set<int64_t>& lost;       // commits absent from the final primary
  std::vector<Judgement*> judgements;  // printed in this order
};

// Prints the report (the header, each judgement's lines, the totals and the
// RESULT line); returns the exit code.
int Report(Harness& h, RunResults& r);

}  // namespace lagrouter::chaos
