#include "tests/chaos/trace.h"

#include <cstdarg>
#include <cstdlib>
#include <map>
#include <vector>

#include "tests/chaos/daemon_api.h"

namespace lagrouter::chaos {

namespace {
double Now() {
  return std::chrono::duration<double>(Clock::now().time_since_epoch()).count();
}
}  // namespace

Trace& Trace::Get() {
  static Trace trace;
  return trace;
}

Trace::Trace() {
  if (const char* path = std::getenv("CHAOS_TRACE"); path != nullptr && *path != '\0') {
    file_ = std::fopen(path, "w");
  }
  if (const char* b = std::getenv("CHAOS_TRACE_BOUNDS"); b != nullptr) bounds_ = *b == '1';
  if (const char* c = std::getenv("CHAOS_TRACE_CLASS"); c != nullptr && *c != '\0') cls_ = c;
}

void Trace::Line(const char* fmt, ...) {
  if (file_ == nullptr) return;
  std::lock_guard lock(mu_);
  std::fprintf(file_, "%.4f ", Now());
  va_list ap;
  va_start(ap, fmt);
  std::vfprintf(file_, fmt, ap);
  va_end(ap);
  std::fputc('\n', file_);
}

void Trace::Read(size_t k, Outcome outcome, const std::string& reason, int port) {
  if (file_ == nullptr) return;
  Line("R %s %s %s %d", kClasses[k], kOutcomeNames[outcome], reason.empty() ? "-" : reason.c_str(),
       port);
}

void Trace::Event(const std::string& text) {
  if (file_ == nullptr) return;
  Line("F %s", text.c_str());
}

void Trace::StartPolling(const Options& o, const std::atomic<bool>& stop) {
  if (file_ == nullptr) return;
  poller_ = std::thread([this, &o, &stop] {
    HttpClient client(o.daemon_port, Http());
    std::vector<std::string> names;
    while (names.empty() && !stop.load()) {
      const auto status = client.Get("/v1/status");
      if (status.status == 200 && status.json.is_object()) {
        for (const auto& c : status.json["clusters"]) {
          for (const auto& s : c["servers"]) names.push_back(s["name"].get<std::string>());
        }
      }
      if (names.empty()) std::this_thread::sleep_for(milliseconds(100));
    }
    std::map<std::string, std::string> last;
    while (!stop.load()) {
      for (const auto& name : names) {
        const auto r = client.Get("/v1/check/shop/" + name + "?class=" + cls_ + "&role=replica");
        std::string state = "no_answer -";
        std::string bound = "-";
        if (r.json.is_object() && r.json.contains("reason")) {
          state = r.json["reason"].get<std::string>();
          state += " " + (r.json.contains("role") && r.json["role"].is_string()
                              ? r.json["role"].get<std::string>()
                              : std::string("-"));
          if (r.json.contains("staleness_bound_ms") && r.json["staleness_bound_ms"].is_number()) {
            bound = std::to_string(r.json["staleness_bound_ms"].get<int64_t>());
          }
        }
        // A line per change of reason; with CHAOS_TRACE_BOUNDS=1 a line per answer.
        if (last[name] != state || bounds_) {
          last[name] = state;
          Line("S %s %s %s", name.c_str(), state.c_str(), bound.c_str());
        }
      }
      std::this_thread::sleep_for(milliseconds(20));
    }
  });
}

void Trace::StopPolling() {
  if (poller_.joinable()) poller_.join();
  if (file_ != nullptr) std::fflush(file_);
}

}  // namespace lagrouter::chaos
