// A judgement: what one kind of reader or fault promises, decided at the end
// of the run. The report prints each judgement's lines in the order the
// scenario registered them; any judgement with violations fails the run
// (exit 1), any vacuous one makes it an error (exit 2). A new promise (say,
// monotonic reads per session) is a new Judgement beside its reader; the
// report and the other judgements stay as they are.
#pragma once

#include <cstdint>

namespace lagrouter::chaos {

class Judgement {
 public:
  virtual ~Judgement() = default;
  // Its lines of the report.
  virtual void Print() = 0;
  // Reads (or routes) that broke the promise; more than 0 fails the run.
  virtual uint64_t Violations() const = 0;
  // Nothing was judged (no reads of its kind): the run proves nothing.
  virtual bool Vacuous() const { return false; }
};

}  // namespace lagrouter::chaos
