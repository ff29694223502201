#include "probes/probe.h"

namespace lagrouter::probes {

const char* ErrorKindName(ErrorKind kind) {
  switch (kind) {
    case ErrorKind::kConnect: return "connect";
    case ErrorKind::kTimeout: return "timeout";
    case ErrorKind::kQuery: return "query";
    case ErrorKind::kParse: return "parse";
    case ErrorKind::kAuth: return "auth";
    case ErrorKind::kNone: break;
  }
  return "none";
}

}  // namespace lagrouter::probes
