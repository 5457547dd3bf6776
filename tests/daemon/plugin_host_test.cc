// The plugin host and the batcher against real .so files: the bundled
// hashembed and the misbehaving test plugin.
#include <catch2/catch.hpp>

#include <chrono>
#include <cmath>
#include <map>
#include <thread>

#include "daemon/batcher.h"
#include "daemon/plugin.h"
#include "tests/daemon/test_util.h"

namespace hb {
namespace {

const std::string kTestDir = HB_TEST_PLUGIN_DIR;
const std::string kPluginDir = HB_PLUGIN_DIR;

using testing::MakeBatcher;

// Submits texts as one job and waits for it.
std::shared_ptr<BatchJob> Run(Batcher& b, std::vector<std::string> texts) {
  auto job = std::make_shared<BatchJob>();
  job->texts = std::move(texts);
  job->cancelled = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> done{false};
  job->finish = [&done](BatchJob&) { done = true; };
  REQUIRE(b.Submit(job).ok());
  for (int i = 0; i < 2000 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(done);
  return job;
}

TEST_CASE("ABI major mismatch is refused with a clear message", "[plugin]") {
  auto p = Plugin::Load(kTestDir + "/testplugin_bad_major.so");
  REQUIRE(!p.ok());
  CHECK(p.status().message().find("ABI 99.1 is incompatible with host ABI 1.1") !=
        std::string::npos);
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

TEST_CASE("texts of concurrent jobs are batched together", "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 64;
  o.max_queue_delay_us = 50000;
  auto b = MakeBatcher(kTestDir + "/testplugin_good.so", o);
  std::vector<std::shared_ptr<BatchJob>> jobs;
  std::atomic<int> done{0};
  for (int i = 0; i < 32; ++i) {
    auto job = std::make_shared<BatchJob>();
    job->texts = {"t" + std::to_string(i)};
    job->finish = [&done](BatchJob&) { ++done; };
    REQUIRE(b->Submit(job).ok());
    jobs.push_back(job);
  }
  for (int i = 0; i < 2000 && done < 32; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(done == 32);
  // Element 2 is the batch size the plugin saw.
  CHECK(jobs[31]->output[2] > 1.0f);
  CHECK(b->Stats().batches < 32);
}

TEST_CASE("a full queue is refused at once", "[batcher]") {
  BatcherOptions o;
  o.max_queue = 3;
  o.max_queue_delay_us = 200000;
  o.max_batch_size = 64;
  auto b = MakeBatcher(kTestDir + "/testplugin_good.so", o);
  auto job = std::make_shared<BatchJob>();
  job->texts = {"a", "b", "c"};
  std::atomic<bool> done{false};
  job->finish = [&done](BatchJob&) { done = true; };
  REQUIRE(b->Submit(job).ok());
  auto more = std::make_shared<BatchJob>();
  more->texts = {"d"};
  auto t0 = std::chrono::steady_clock::now();
  Status s = b->Submit(more);
  CHECK(s.code() == StatusCode::kOutOfRange);
  CHECK(std::chrono::steady_clock::now() - t0 < std::chrono::milliseconds(50));
  CHECK(b->Stats().rejected_overloaded == 1);
  b->Drain();
  CHECK(done);
}

TEST_CASE("cancelled texts are dropped before execute", "[batcher]") {
  BatcherOptions o;
  o.max_queue_delay_us = 100000;
  auto b = MakeBatcher(kTestDir + "/testplugin_good.so", o);
  auto job = std::make_shared<BatchJob>();
  job->texts = {"x", "y"};
  job->cancelled = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> done{false};
  job->finish = [&done](BatchJob&) { done = true; };
  REQUIRE(b->Submit(job).ok());
  job->cancelled->store(true);
  for (int i = 0; i < 2000 && !done; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  REQUIRE(done);
  CHECK(b->Stats().dropped_cancelled == 2);
  CHECK(b->Stats().batches == 0);
}

TEST_CASE("a hanging execute is released by cancellation", "[batcher]") {
  BatcherOptions o;
  o.max_queue_delay_us = 0;
  auto b = MakeBatcher(kTestDir + "/testplugin_good.so", o);
  auto job = std::make_shared<BatchJob>();
  job->texts = {"HANG"};
  job->cancelled = std::make_shared<std::atomic<bool>>(false);
  std::atomic<bool> done{false};
  job->finish = [&done](BatchJob&) { done = true; };
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
