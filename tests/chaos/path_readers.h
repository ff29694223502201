// The class readers of --path route, listen, primary and naive: each loops
// until h.stop, picks a class, reaches a server the way its path says, reads
// max(id) there and hands the read to the freshness judgement.
//   route    ask /v1/route (with --wait), read on the server it names
//   listen   a connection per class to a listener (--listen CLASS=PORT:
//            HAProxy, Pgpool-II), kept like a pool, reopened after an error
//   primary  the server the last route for "primary" named: the baseline
//   naive    always the first replica, bypassing lagrouter
#pragma once

#include <thread>
#include <vector>

#include "tests/chaos/freshness.h"
#include "tests/chaos/harness.h"

namespace lagrouter::chaos {

// Starts --readers threads of the path's reader.
void StartPathReaders(Harness& h, Freshness& freshness, std::vector<std::thread>* threads);

}  // namespace lagrouter::chaos
