// The hand-built JSON of the hot path (daemon/json.h, RouteBody) against the
// renderer it replaced, kept here verbatim as the reference: clients,
// docs/openapi.yaml and tests/api rely on the exact bytes.
#include "daemon/api/api_json.h"

#include <gtest/gtest.h>

#include <limits>
#include <nlohmann/json.hpp>

#include "daemon/api/json.h"
#include "tests/router/views.h"

namespace lagrouter::daemon {
namespace {

// The renderer before it appended in runs and without temporaries.
namespace reference {

void AppendJsonString(std::string& out, std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  out.push_back('"');
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          out += "\\u00";
          out.push_back(kHex[c >> 4]);
          out.push_back(kHex[c & 15]);
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

void AppendRouteServer(std::string& body, const router::ServerView& s, bool replica,
                       router::Duration bound, router::Duration valid_for) {
  body += "\"server\":";
  AppendJsonString(body, s.name);
  body += ",\"role\":";
  AppendJsonString(body, replica ? "replica" : "primary");
  body += ",\"host\":";
  AppendJsonString(body, s.host);
  body += ",\"port\":" + std::to_string(s.port);
  body += ",\"staleness_bound_ms\":" + std::to_string(router::ToMillisCeil(bound));
  body += ",\"valid_for_ms\":" + std::to_string(std::max<int64_t>(0, router::ToMillis(valid_for)));
}

std::string RouteBody(const RouteAsk& ask, const router::Decision& d) {
  const bool replica = d.outcome == router::Outcome::kFreshReplica;
  std::string body;
  body += "{\"cluster\":";
  AppendJsonString(body, ask.cluster);
  body += ",\"class\":";
  AppendJsonString(body, ask.klass);
  body += ",";
  AppendRouteServer(body, ask.view.servers[static_cast<size_t>(d.server)], replica, d.bound,
                    d.valid_for);
  body += ",\"reason\":";
  AppendJsonString(body, router::OutcomeName(d.outcome));
  if (ask.waited) {
    char ms[32];
    std::snprintf(ms, sizeof ms, ",\"waited_ms\":%.3f",
                  std::chrono::duration<double, std::milli>(*ask.waited).count());
    body += ms;
  }
  body += ",\"servers\":[";
  bool first = true;
  for (size_t i = 0; i < ask.view.servers.size(); ++i) {
    const auto& s = ask.view.servers[i];
    router::Duration bound{0}, valid_for = d.valid_for;
    if (replica) {
      if (!router::Eligible(ask.view, i, ask.cls, ask.class_index, d.at, ask.after)) continue;
      bound = *router::BoundAt(s, d.at);
      valid_for = router::ValidFor(ask.cls, bound);
    } else if (static_cast<int>(i) != d.server) {
      continue;
    }
    body += first ? "{" : ",{";
    first = false;
    AppendRouteServer(body, s, replica, bound, valid_for);
    body += ",\"weight\":" + std::to_string(s.weight) + "}";
  }
  body += "]}";
  return body;
}

}  // namespace reference

std::string Json(std::string_view s) {
  std::string out;
  AppendJsonString(out, s);
  return out;
}

std::string ReferenceJson(std::string_view s) {
  std::string out;
  reference::AppendJsonString(out, s);
  return out;
}

TEST(AppendJsonString, EscapesAsBefore) {
  std::string every_byte;
  for (int c = 0; c < 256; ++c) every_byte.push_back(static_cast<char>(c));
  for (const std::string& s :
       {std::string(), std::string("pg-a"), every_byte, std::string("\"quoted\""),
        std::string("a\\b\nc\rd\te\x01\x1f\x7f"), std::string("caf\xc3\xa9 \xff"),
        std::string("\"\""), std::string(1, '\0'), std::string("tail\\")}) {
    EXPECT_EQ(Json(s), ReferenceJson(s)) << s;
    EXPECT_TRUE(nlohmann::json::accept(Json(s)) || s.find('\xff') != std::string::npos) << s;
  }
  std::string appended = "{";
  AppendJsonString(appended, "x\"y");
  EXPECT_EQ(appended, "{\"x\\\"y\"");  // appends, keeps what was there
}

TEST(AppendJsonNumber, WritesWhatToStringWrites) {
  for (int64_t n : {int64_t{0}, int64_t{-1}, int64_t{7}, int64_t{3599999},
                    std::numeric_limits<int64_t>::min(), std::numeric_limits<int64_t>::max()}) {
    std::string out = "x";
    AppendJsonNumber(out, n);
    EXPECT_EQ(out, "x" + std::to_string(n));
  }
  std::string out;
  AppendJsonNumber(out, std::numeric_limits<uint32_t>::max());
  AppendJsonNumber(out, 65535);
  EXPECT_EQ(out, std::to_string(std::numeric_limits<uint32_t>::max()) + "65535");
}

// Every reason's view, fresh-replica and primary answers, weights, a
// position, a wait and names that need escaping: the same bytes as before,
// with fragments built once per view or per answer.
TEST(RouteBody, SameBytesAsTheReferenceRenderer) {
  using std::chrono::milliseconds;
  std::vector<router::ClusterView> views;
  for (const auto& c : router::EveryReason()) views.push_back(c.cluster);
  auto heavy = router::Replica("r\"1\\", milliseconds(100));
  heavy.weight = 3;
  heavy.host = "db\n1.example";
  heavy.port = 65535;
  auto odd = router::Replica("caf\xc3\xa9\x01", milliseconds(999), 2000);
  odd.host = "10.0.0.7";
  odd.port = 5432;
  auto primary = router::Primary("p\t");
  primary.port = 5441;
  views.push_back(router::Cluster({primary, heavy, router::Replica("r2", milliseconds(400)), odd,
                                   router::Replica("r3", milliseconds(1500)),
                                   router::Replica("r4", milliseconds(0))}));
  const router::QueryClass classes[] = {
      router::Class("second", std::chrono::seconds(1)),
      router::Class("in\"ventory", router::Duration::zero()),
      router::Class("reports", std::chrono::hours(1), router::Fallback::kError)};
  const router::Position lsn_1500 = router::Lsn{1500};
  const std::optional<router::Duration> waits[] = {std::nullopt, milliseconds(0),
                                                   std::chrono::microseconds(12345)};
  int compared = 0;
  for (const auto& view : views) {
    const RouteFragments fragments(view);  // built once, as HttpApi keeps it per snapshot
    for (const auto& cls : classes) {
      for (const router::Position* after :
           {static_cast<const router::Position*>(nullptr), &lsn_1500}) {
        for (uint64_t spread = 0; spread < 8; ++spread) {
          for (const auto at : {router::kNow, router::kNow + milliseconds(300)}) {
            const auto v =
                router::Decide(view, router::Ask::Route(cls, 0, after, spread), at, std::nullopt);
            const router::Decision& d = v.decision;
            if (d.outcome == router::Outcome::kNoEligibleServer) continue;
            for (const auto& waited : waits) {
              const RouteAsk ask{"sh\"op", cls.name, view, cls, 0, after, waited};
              const std::string expected = reference::RouteBody(ask, d);
              ASSERT_EQ(RouteBody(ask, v, fragments), expected);
              ASSERT_EQ(RouteBody(ask, v), expected);
              ++compared;
            }
          }
        }
      }
    }
  }
  EXPECT_GT(compared, 500);
}

}  // namespace
}  // namespace lagrouter::daemon
