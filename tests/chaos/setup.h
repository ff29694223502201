// Before a run: where the cluster keeps its data, the topology the daemon
// sees, the classes read in, and the tables (seq, ryw) on the primary.
#pragma once

#include "tests/chaos/harness.h"

namespace lagrouter::chaos {

// Fills h.data_dir, h.naive_node, h.classes and h.start_id and logs the run's
// first line; false (logged) on a setup error (exit 2).
bool PrepareRun(Harness& h);

}  // namespace lagrouter::chaos
