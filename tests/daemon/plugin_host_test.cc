// The plugin host and the batcher against real .so files: the bundled
// hashembed and the misbehaving test plugin.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <string_view>
#include <utility>
#include <thread>

#include "daemon/batcher.h"
#include "daemon/plugin.h"
#include "tests/daemon/batch_run.h"
#include "tests/daemon/test_util.h"

namespace hb {
namespace {

const std::string kTestDir = HB_TEST_PLUGIN_DIR;
const std::string kPluginDir = HB_PLUGIN_DIR;

using testing::MakeBatcher;

// Submits texts as one job and waits for it.
std::shared_ptr<testing::TextRun> Run(Batcher& b, std::vector<std::string> texts) {
  auto run = testing::RunTexts(b, std::move(texts));
  REQUIRE(run != nullptr);
  return run;
}

TEST_CASE("ABI major mismatch is refused with a clear message", "[plugin]") {
  auto p = Plugin::Load(kTestDir + "/testplugin_bad_major.so");
  REQUIRE(!p.ok());
  CHECK(p.status().message().find("ABI 99.3 is incompatible with host ABI 1.3") !=
        std::string::npos);
}

TEST_CASE("count_tokens (ABI 1.2) is read only from plugins that claim 1.2", "[plugin]") {
  for (const char* so : {"/testplugin_good.so", "/testplugin_v11.so"}) {
    auto p = Plugin::Load(kTestDir + so);
    REQUIRE(p.ok());
    auto m = ModelHandle::Load(*p, "m", R"({"max_tokens": 3})");
    REQUIRE(m.ok());
    CHECK((*m)->caps().max_tokens == 3);
    auto inst = InstanceHandle::Create(*m, -1);
    REQUIRE(inst.ok());
    uint32_t tokens = 0;
    bool answered = (*inst)->CountTokens("one two  three four", &tokens);
    if (std::string(so) == "/testplugin_good.so") {
      CHECK(answered);
      CHECK(tokens == 4);
    } else {
      CHECK_FALSE(answered);  // the table has the field, but 1.1 does not promise it
    }
  }
}

TEST_CASE("a .so without the entry point is refused", "[plugin]") {
  auto p = Plugin::Load(kTestDir + "/notaplugin.so");
  REQUIRE(!p.ok());
  CHECK(p.status().message().find("hb_plugin_get_api") != std::string::npos);
  CHECK(!Plugin::Load(kTestDir + "/missing.so").ok());
}

TEST_CASE("a failing model_load reports the plugin's message", "[plugin]") {
  auto p = Plugin::Load(kTestDir + "/testplugin_good.so");
  REQUIRE(p.ok());
  auto m = ModelHandle::Load(*p, "m", R"({"fail_load": true})");
  REQUIRE(!m.ok());
  CHECK(m.status().message().find("asked to fail") != std::string::npos);
}

TEST_CASE("hashembed is deterministic, normalised and finite on empty text", "[plugin]") {
  BatcherOptions o;
  auto b = MakeBatcher(kPluginDir + "/hashembed.so", o);
  auto j1 = Run(*b, {"The quick brown fox", "", "the QUICK brown fox!"});
  auto j2 = Run(*b, {"The quick brown fox"});
  const size_t dim = b->output_dim();
  REQUIRE(dim == 256);
  double norm = 0, dot = 0;
  for (size_t k = 0; k < dim; ++k) {
    CHECK(j1->output[k] == j2->output[k]);
    norm += j1->output[k] * j1->output[k];
    dot += j1->output[k] * j1->output[2 * dim + k];
    CHECK(j1->output[dim + k] == 0.0f);  // empty text: the zero vector
  }
  CHECK(std::abs(norm - 1.0) < 1e-5);
  CHECK(dot > 0.99);  // case and punctuation do not matter
}

TEST_CASE("one failing text fails only itself", "[plugin][batcher]") {
  BatcherOptions o;
  o.max_queue_delay_us = 20000;
  auto b = MakeBatcher(kTestDir + "/testplugin_good.so", o);
  auto j = Run(*b, {"ok", "FAIL me", "fine", "NAN", "BOOM"});
  CHECK(j->status[0] == HB_OK);
  CHECK(j->status[1] == HB_ERR_INVALID_ARGUMENT);
  CHECK(j->messages[1] == "text refused");
  CHECK(j->status[2] == HB_OK);
  CHECK(j->status[3] == HB_ERR_INTERNAL);  // NaN is caught by the host
  CHECK(j->status[4] == HB_ERR_INTERNAL);
  CHECK(j->output[2 * 4 + 0] == 4.0f);
}

// Occupies the model's only instance until `hang->job->cancelled` is set.
std::shared_ptr<testing::TextRun> Block(Batcher& b) {
  auto hang = testing::MakeTextRun({"HANG"}, b.output_dim());
  REQUIRE(b.Submit(hang->job).ok());
  for (int i = 0; i < 2000 && b.Stats().busy_instances == 0; ++i) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(b.Stats().busy_instances == 1);
  return hang;
}

TEST_CASE("texts of concurrent jobs are batched together", "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 64;
  o.max_queue_delay_us = 50000;
  auto b = MakeBatcher(kTestDir + "/testplugin_good.so", o);
  auto hang = Block(*b);
  std::vector<std::shared_ptr<testing::TextRun>> runs;
  for (int i = 0; i < 32; ++i) {
    runs.push_back(testing::MakeTextRun({"t" + std::to_string(i)}, b->output_dim()));
    REQUIRE(b->Submit(runs.back()->job).ok());
  }
  hang->job->cancelled->store(true);
  for (auto& r : runs) REQUIRE(r->Wait());
  // Element 2 is the batch size the plugin saw: all 32 gathered while the
  // instance was busy.
  CHECK(runs[31]->output[2] == 32.0f);
  CHECK(b->Stats().batches == 2);
}

TEST_CASE("a full queue is refused at once", "[batcher]") {
  BatcherOptions o;
  o.max_queue = 3;
  o.max_queue_delay_us = 200000;
  o.max_batch_size = 64;
  auto b = MakeBatcher(kTestDir + "/testplugin_good.so", o);
  auto hang = Block(*b);
  auto job = testing::MakeTextRun({"a", "b", "c"}, b->output_dim());
  REQUIRE(b->Submit(job->job).ok());
  auto more = testing::MakeTextRun({"d"}, b->output_dim());
  auto t0 = std::chrono::steady_clock::now();
  Status s = b->Submit(more->job);
  CHECK(s.code() == StatusCode::kOutOfRange);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50));
  CHECK(b->Stats().rejected_overloaded == 1);
  hang->job->cancelled->store(true);
  b->Drain();
  CHECK(job->finished);
}

TEST_CASE("cancelled texts are dropped before execute", "[batcher]") {
  BatcherOptions o;
  o.max_queue_delay_us = 100000;
  auto b = MakeBatcher(kTestDir + "/testplugin_good.so", o);
  auto hang = Block(*b);
  auto job = testing::MakeTextRun({"x", "y"}, b->output_dim());
  REQUIRE(b->Submit(job->job).ok());
  job->job->cancelled->store(true);
  hang->job->cancelled->store(true);
  REQUIRE(job->Wait());
  CHECK(b->Stats().dropped_cancelled == 2);
  CHECK(b->Stats().batches == 1);  // the blocker's
}

TEST_CASE("a hanging execute is released by cancellation", "[batcher]") {
  BatcherOptions o;
  o.max_queue_delay_us = 0;
  auto b = MakeBatcher(kTestDir + "/testplugin_good.so", o);
  auto run = testing::MakeTextRun({"HANG"}, b->output_dim());
  auto& job = run->job;
  std::atomic<bool>& done = run->finished;
  REQUIRE(b->Submit(job).ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(100));
  CHECK(b->Stats().busy_instances == 1);
  CHECK(!done);
  job->cancelled->store(true);
  for (int i = 0; i < 2000 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  CHECK(done);
}

TEST_CASE("term calls pass external-format bytes both ways", "[plugin]") {
  BatcherOptions o;
  auto b = MakeBatcher(kTestDir + "/testplugin_good.so", o);
  auto job = std::make_shared<BatchJob>();
  job->kind = BatchJob::Kind::kTerm;
  job->function = "echo";
  job->arity = 1;
  job->args_etf = *EncodeWithVersion(Term::List({Term::Atom("hi")}));
  std::atomic<bool> done{false};
  job->finish = [&done](BatchJob&) { done = true; };
  REQUIRE(b->Submit(job).ok());
  for (int i = 0; i < 2000 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(done);
  CHECK(job->term_code == HB_OK);
  CHECK(job->result_etf == job->args_etf);
}

// ABI 1.3 report_progress: a plugin that claims 1.3 reports through the
// host to the job's sink; one that claims 1.2 loads on this host and runs
// the same function without reporting.
TEST_CASE("progress reports (ABI 1.3) reach the job, a 1.2 plugin runs without them",
          "[plugin][batcher]") {
  for (const char* so : {"/testplugin_good.so", "/testplugin_v12.so"}) {
    BatcherOptions o;
    auto b = MakeBatcher(kTestDir + so, o);
    auto job = std::make_shared<BatchJob>();
    job->kind = BatchJob::Kind::kTerm;
    job->function = "steps";
    job->arity = 0;
    job->args_etf = *EncodeWithVersion(Term::Nil());
    job->cancelled = std::make_shared<std::atomic<bool>>(false);
    std::mutex mu;
    std::vector<std::pair<double, std::string>> reports;
    job->progress = [&](double p, std::string_view m) {
      std::lock_guard<std::mutex> lock(mu);
      reports.emplace_back(p, std::string(m));
    };
    std::atomic<bool> done{false};
    job->finish = [&done](BatchJob&) { done = true; };
    REQUIRE(b->Submit(job).ok());
    REQUIRE(testing::WaitFor([&] { return done.load(); }));
    CHECK(job->term_code == HB_OK);
    std::lock_guard<std::mutex> lock(mu);
    if (std::string(so) == "/testplugin_good.so") {
      REQUIRE(reports.size() == 20);
      CHECK(reports.front() == std::make_pair(0.05, std::string("step 1 of 20")));
      CHECK(reports.back() == std::make_pair(1.0, std::string("step 20 of 20")));
    } else {
      CHECK(reports.empty());
    }
  }
}

TEST_CASE("model stats count bytes through the plugin and failures by reason", "[batcher]") {
  BatcherOptions o;
  auto b = MakeBatcher(kTestDir + "/testplugin_good.so", o);
  Run(*b, {"hello", "FAIL x", "BOOM"});
  BatcherStats st = b->Stats();
  CHECK(st.bytes_in == 5 + 6 + 4);
  CHECK(st.bytes_out == 4 * sizeof(float));  // one text embedded, 4 floats
  CHECK(st.errors_by_reason == std::map<std::string, uint64_t>{{"internal", 1},
                                                               {"invalid_argument", 1}});
  Run(*b, {"BATCHFAIL"});  // a failed batch fails each of its texts
  CHECK(b->Stats().errors_by_reason.at("internal") == 2);
}

}  // namespace
}  // namespace hb
