#include "tests/chaos/writer.h"

#include <thread>

#include "tests/chaos/daemon_api.h"

namespace lagrouter::chaos {

namespace {

std::string InsertSql(bool postgres, int64_t id) {
  return postgres ? "INSERT INTO seq (id) VALUES (" + std::to_string(id) +
                        ") ON CONFLICT (id) DO NOTHING"
                  : "INSERT IGNORE INTO shop.seq (id) VALUES (" + std::to_string(id) + ")";
}

}  // namespace

void Writer::Run() {
  HttpClient client(h_.o.daemon_port, Http());
  std::unique_ptr<SqlConn> db;
  int64_t next = h_.start_id + 1;
  std::string value, error;
  while (!h_.stop.load()) {
    if (db == nullptr) {
      // Follow the current primary: the daemon's answer for a 0 s class.
      const Route r = AskRoute(client, "primary");
      if (r.status != 200) {
        SleepFor(milliseconds(20), h_.stop);
        continue;
      }
      db = h_.pool.Acquire(r.port, &error);
      if (db == nullptr) {
        errors_++;
        SleepFor(milliseconds(20), h_.stop);
        continue;
      }
    }
    if (db->TryQuery(InsertSql(h_.o.postgres, next), &value, &error)) {
      // A retried id that had committed already is recorded late: that only
      // loosens the check for that id, never makes it wrong.
      h_.log.Append(next, Clock::now());
      ++next;
      commits_++;
      std::this_thread::sleep_for(milliseconds(h_.o.write_pause_ms));
    } else {
      errors_++;
      db.reset();
    }
  }
}

}  // namespace lagrouter::chaos
