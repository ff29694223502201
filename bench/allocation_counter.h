// Counts heap allocations (every operator new of the program that links
// allocation_counter.cc), so a benchmark can show a path allocates nothing.
#pragma once

#include <cstdint>

namespace lagrouter::bench {

// Allocations so far, in the whole program.
uint64_t Allocations();

}  // namespace lagrouter::bench
