// The Monitor's judgement of replication state, over scripted probes: exact
// interleavings of a dying primary and its replicas that a real cluster
// produces only now and then.
#include <gtest/gtest.h>

#include <chrono>
#include <mutex>
#include <nlohmann/json.hpp>
#include <thread>

#include "daemon/http_api.h"

namespace lagrouter::daemon {
namespace {

using std::chrono::milliseconds;

// What the scripted servers do; shared by their probes.
struct Script {
  std::mutex mu;
  bool primary_dead = false;
  bool die_after_next_primary_answer = false;
  bool r1_streaming = true;
};

class ScriptedProbe final : public probes::Probe {
 public:
  ScriptedProbe(Script& script, std::string name) : script_(script), name_(std::move(name)) {}

  probes::Sample Run(probes::Clock::time_point) override {
    probes::Sample s;
    s.sent_at = probes::Clock::now();
    std::lock_guard<std::mutex> lock(script_.mu);
    const router::Lsn lsn{0x3000000};  // an idle primary: the position never moves
    if (name_ == "p") {
      if (script_.primary_dead) {
        s.error_kind = probes::ErrorKind::kConnect;
        s.error = "connection refused";
      } else {
        s.ok = true;
        s.role = router::Role::kPrimary;
        s.write_position = lsn;
        // The primary dies just after answering: its replicas lose their
        // stream before its own next probe can fail.
        if (script_.die_after_next_primary_answer) script_.primary_dead = true;
      }
    } else {
      s.ok = true;
      s.role = router::Role::kReplica;
      s.replicating = !script_.primary_dead && (name_ != "r1" || script_.r1_streaming);
      s.replication_state = s.replicating ? "streaming" : "stopped";
      s.replay_position = s.receive_position = lsn;
    }
    s.flavor = "scripted";
    s.received_at = probes::Clock::now();
    return s;
  }

 private:
  Script& script_;
  std::string name_;
};

class MonitorJudgement : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parsed = ParseConfig(R"(
[probe]
interval = "50ms"
timeout = "200ms"
[[cluster]]
name = "shop"
engine = "postgres"
user = "lagrouter"
  [[cluster.server]]
  name = "p"
  host = "127.0.0.1"
  port = 1
  [[cluster.server]]
  name = "r1"
  host = "127.0.0.1"
  port = 2
  [[cluster.server]]
  name = "r2"
  host = "127.0.0.1"
  port = 3
[class.reports]
max_staleness = "1h"
fallback = "error"
)",
                              "t");
    ASSERT_TRUE(parsed.ok()) << parsed.error();
    config_ = std::make_shared<const Config>(std::move(parsed).value());
    metrics_ = std::make_unique<Metrics>(*config_);
    monitor_ = std::make_unique<Monitor>(config_, metrics_.get(),
                                         [this](const ClusterConfig&, const ServerConfig& s) {
                                           return std::make_unique<ScriptedProbe>(script_, s.name);
                                         });
    api_ = std::make_unique<HttpApi>(config_, *monitor_, *metrics_);
    monitor_->Start();
    ASSERT_TRUE(WaitUntil([&] { return Reports().status == 200; }, milliseconds(2000)));
  }
  void TearDown() override { monitor_->Stop(); }

  ApiResponse Reports() {
    return api_->Route(ParseQuery("cluster=shop&class=reports"), router::Clock::now());
  }
  std::string CheckReason(const std::string& server) {
    const auto r = api_->Check("shop", server, ParseQuery("class=reports"), router::Clock::now());
    return nlohmann::json::parse(r.body).value("reason", "");
  }
  static bool WaitUntil(const std::function<bool()>& done, milliseconds timeout) {
    const auto until = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < until) {
      if (done()) return true;
      std::this_thread::sleep_for(milliseconds(2));
    }
    return done();
  }

  Script script_;
  std::shared_ptr<const Config> config_;
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<Monitor> monitor_;
  std::unique_ptr<HttpApi> api_;
};

TEST_F(MonitorJudgement, ADyingPrimaryDoesNotTakeItsReplicasOutOfLooseClasses) {
  {
    std::lock_guard<std::mutex> lock(script_.mu);
    script_.die_after_next_primary_answer = true;
  }
  // For 1.5 s (30 intervals) a 1 h class asks on: the replicas' data is as
  // fresh as ever, so every answer must name one, through the primary's death.
  int answers = 0, refused = 0;
  std::string first_refusal;
  const auto until = std::chrono::steady_clock::now() + milliseconds(1500);
  while (std::chrono::steady_clock::now() < until) {
    const auto r = Reports();
    ++answers;
    if (r.status != 200 && refused++ == 0) first_refusal = r.body;
    std::this_thread::sleep_for(milliseconds(1));
  }
  EXPECT_EQ(refused, 0) << "of " << answers << " answers; first: " << first_refusal;
  EXPECT_EQ(CheckReason("p"), "down");  // the primary's death was seen
  EXPECT_EQ(CheckReason("r1"), "fresh_replica");
}

TEST_F(MonitorJudgement, AStoppedStreamUnderALivePrimaryIsExcludedAnIntervalLater) {
  {
    std::lock_guard<std::mutex> lock(script_.mu);
    script_.r1_streaming = false;
  }
  const auto stopped = std::chrono::steady_clock::now();
  ASSERT_TRUE(WaitUntil([&] { return CheckReason("r1") == "not_replicating"; }, milliseconds(1000)))
      << CheckReason("r1");
  // Two intervals: the replica's report, then a primary answer sent after it.
  EXPECT_LT(std::chrono::steady_clock::now() - stopped, milliseconds(250));
  EXPECT_EQ(CheckReason("r2"), "fresh_replica");
  for (int i = 0; i < 50; ++i) {
    const auto r = Reports();
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(nlohmann::json::parse(r.body)["server"], "r2");
  }
}

}  // namespace
}  // namespace lagrouter::daemon
