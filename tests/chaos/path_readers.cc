#include "tests/chaos/path_readers.h"

#include <map>
#include <random>
#include <sstream>

#include "tests/chaos/daemon_api.h"
#include "tests/chaos/trace.h"

namespace lagrouter::chaos {

namespace {

class PathReader {
 public:
  PathReader(Harness& h, Freshness& freshness, int index)
      : h_(h),
        freshness_(freshness),
        client_(h.o.daemon_port, Http()),
        rng_(h.o.seed + static_cast<uint64_t>(index) + 1) {}

  void Run();

 private:
  // The server to read class k on, per the path; *db set when the path holds
  // a connection for it (listen).
  Route Choose(size_t k, std::unique_ptr<SqlConn>* db);
  // Reads on the chosen server; false (counted) when it failed.
  bool ReadOn(size_t k, const Route& r, std::unique_ptr<SqlConn> db, std::string* value);

  Harness& h_;
  Freshness& freshness_;
  HttpClient client_;
  std::mt19937_64 rng_;
  std::map<size_t, std::unique_ptr<SqlConn>> held_;  // listen: the open connection per class
  int primary_port_ = 0;  // primary: the server the last route for "primary" named
  std::vector<int64_t> read_us_;
};

Route PathReader::Choose(size_t k, std::unique_ptr<SqlConn>* db) {
  Route r;
  switch (h_.o.path) {
    case Path::kNaive:
      r.status = 200;
      r.port = h_.o.base_port + h_.naive_node;
      r.server = "node" + std::to_string(h_.naive_node);
      break;
    case Path::kRoute: r = AskRoute(client_, kClasses[k], h_.o.wait); break;
    case Path::kPrimary:
      if (primary_port_ == 0) {
        const Route p = AskRoute(client_, "primary");
        primary_port_ = p.status == 200 ? p.port : 0;
      }
      r.status = primary_port_ > 0 ? 200 : 503;
      r.port = primary_port_;
      r.server = "primary";
      break;
    case Path::kListen:
      r.status = 200;
      r.port = h_.o.listen.at(kClasses[k]);
      r.server = "listener :" + std::to_string(r.port);
      *db = std::move(held_[k]);
      break;
    case Path::kClient: r.status = -1; break;  // client_readers.cc reads instead
  }
  return r;
}

bool PathReader::ReadOn(size_t k, const Route& r, std::unique_ptr<SqlConn> db, std::string* value) {
  std::string error;
  if (db == nullptr) db = h_.pool.Acquire(r.port, &error);
  if (db == nullptr || !db->TryQuery(h_.ReadSql(), value, &error)) {
    // The connection is dropped: the next read connects again (and, through
    // a listener, lands on whatever server it now offers).
    h_.reads.Count(k, kReadError);
    Trace::Get().Read(k, kReadError, r.reason, r.port);
    primary_port_ = 0;
    return false;
  }
  if (h_.o.path == Path::kListen) {
    held_[k] = std::move(db);
  } else {
    h_.pool.Release(r.port, std::move(db));
  }
  return true;
}

void PathReader::Run() {
  std::string value;
  while (!h_.stop.load()) {
    const size_t k = h_.classes[rng_() % h_.classes.size()];
    const auto sent = Clock::now();
    std::unique_ptr<SqlConn> db;
    const Route r = Choose(k, &db);
    if (r.status != 200) {
      h_.reads.Count(k, r.status == 503 ? k503 : kRouteError);
      Trace::Get().Read(k, r.status == 503 ? k503 : kRouteError, r.error, r.port);
      std::this_thread::sleep_for(milliseconds(5));
      continue;
    }
    if (!ReadOn(k, r, std::move(db), &value)) {
      std::this_thread::sleep_for(milliseconds(5));
      continue;
    }
    read_us_.push_back(
        std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - sent).count());
    Read read;
    read.k = k;
    read.sent = sent;
    read.server = r.server;
    read.bound_ms = r.bound_ms;
    std::istringstream(value) >> read.seen >> read.replica >> read.port;
    Trace::Get().Read(k, IsReplica(read.replica) ? kReplica : kPrimary, r.reason, read.port);
    freshness_.Judge(read);
    // Leave CPU to the servers and the daemon (2 cores run everything).
    std::this_thread::sleep_for(milliseconds(1));
  }
  h_.reads.AddDurations(read_us_);
}

}  // namespace

void StartPathReaders(Harness& h, Freshness& freshness, std::vector<std::thread>* threads) {
  for (int i = 0; i < h.o.readers; ++i) {
    threads->emplace_back([&h, &freshness, i] { PathReader(h, freshness, i).Run(); });
  }
}

}  // namespace lagrouter::chaos
