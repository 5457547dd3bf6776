// Batcher (daemon/batcher.h): the contract of the dynamic batcher, against
// the test plugin. Its texts steer it (tests/plugins/test_plugin.cc): an
// embedding is [length, first byte, batch size, executes running on the
// instance]; "HANG" blocks an instance until the job is cancelled, which is
// how these tests hold an instance busy while they queue work behind it
// (an idle model starts a request at once: continuous batching).
#include "daemon/batcher.h"

#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/daemon/batch_run.h"
#include "tests/daemon/test_util.h"

namespace hb {
namespace {

using testing::MakeBatcher;
using testing::TestPlugin;
using testing::WaitFor;
using Clock = std::chrono::steady_clock;

constexpr uint32_t kDim = 4;  // the test plugin's output_dim

using testing::TextRun;

// A text job whose finish counts its runs in `*finished`.
std::shared_ptr<TextRun> TextJob(std::vector<std::string> texts, std::atomic<int>* finished) {
  auto run = testing::MakeTextRun(std::move(texts), kDim);
  TextRun* raw = run.get();
  run->job->finish = [finished, raw](BatchJob&) {
    raw->finished = true;
    ++*finished;
  };
  return run;
}

Status Sub(Batcher& b, const std::shared_ptr<TextRun>& run) { return b.Submit(run->job); }
Status Sub(Batcher& b, const std::shared_ptr<BatchJob>& job) { return b.Submit(job); }

std::shared_ptr<BatchJob> TermJob(std::string function, std::atomic<int>* finished) {
  auto job = std::make_shared<BatchJob>();
  job->kind = BatchJob::Kind::kTerm;
  job->function = std::move(function);
  job->arity = 1;
  job->args_etf = *EncodeWithVersion(Term::List({Term::Atom("hi")}));
  job->cancelled = std::make_shared<std::atomic<bool>>(false);
  job->finish = [finished](BatchJob&) { ++*finished; };
  return job;
}

// Holds one instance in an execute until Release(); the queue is empty and
// the instance busy once the constructor returns, and the execute over once
// the destructor has.
class Blocker {
 public:
  explicit Blocker(Batcher& b, uint64_t busy = 1) : job_(TextJob({"HANG"}, &finished_)) {
    REQUIRE(b.Submit(job_->job).ok());
    REQUIRE(WaitFor([&] { return b.Load().busy_instances == busy && b.Load().queue_depth == 0; }));
  }
  ~Blocker() {
    Release();
    CHECK(WaitFor([this] { return finished(); }));
  }
  void Release() { job_->job->cancelled->store(true); }
  bool finished() const { return finished_ == 1; }

 private:
  std::atomic<int> finished_{0};
  std::shared_ptr<TextRun> job_;
};

// Submits `jobs` from `threads` threads at once (adding their ids to `*ids`);
// returns how many Submit refused. Catch's assertions stay on this thread.
int SubmitConcurrently(Batcher& b, const std::vector<std::shared_ptr<TextRun>>& jobs,
                       int threads, std::set<std::thread::id>* ids = nullptr) {
  std::atomic<int> refused{0};
  std::vector<std::thread> submitters;
  for (int t = 0; t < threads; ++t) {
    submitters.emplace_back([&, t] {
      for (size_t i = t; i < jobs.size(); i += threads) refused += !b.Submit(jobs[i]->job).ok();
    });
    if (ids) ids->insert(submitters.back().get_id());
  }
  for (auto& t : submitters) t.join();
  return refused;
}

float Out(const TextRun& job, size_t text, size_t k) { return job.output[text * kDim + k]; }

TEST_CASE("batcher: batches hold at most max_batch_size texts", "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 3;
  o.max_queue_delay_us = 1000;
  auto b = MakeBatcher(TestPlugin(), o);
  std::atomic<int> finished{0};
  auto job = TextJob({"a", "b", "c", "d", "e", "f", "g"}, &finished);
  REQUIRE(Sub(*b, job).ok());  // all seven queued at once
  REQUIRE(WaitFor([&] { return finished == 1; }));
  // The plugin saw batches of 3, 3 and 1.
  for (size_t i = 0; i < 6; ++i) CHECK(Out(*job, i, 2) == 3.0f);
  CHECK(Out(*job, 6, 2) == 1.0f);
  CHECK(b->Stats().batches == 3);
}

TEST_CASE("batcher: max_batch_size is capped by the plugin's and is at least 1", "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 1000;
  CHECK(MakeBatcher(TestPlugin(), o)->options().max_batch_size == 64);  // the plugin's cap
  o.max_batch_size = 0;
  CHECK(MakeBatcher(TestPlugin(), o)->options().max_batch_size == 1);
}

TEST_CASE("batcher: a lone text on an idle model starts at once", "[batcher]") {
  BatcherOptions o;
  o.max_queue_delay_us = 60'000'000;  // a minute: the test would time out
  auto b = MakeBatcher(TestPlugin(), o);
  std::atomic<int> finished{0};
  auto job = TextJob({"lone"}, &finished);
  auto t0 = Clock::now();
  REQUIRE(Sub(*b, job).ok());
  REQUIRE(WaitFor([&] { return finished == 1; }));
  CHECK(Clock::now() - t0 < std::chrono::seconds(30));
  CHECK(Out(*job, 0, 2) == 1.0f);
}

TEST_CASE("batcher: arrivals gather while the instance is busy, then run together at once",
          "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 60'000'000;
  auto b = MakeBatcher(TestPlugin(), o);
  std::atomic<int> finished{0};
  auto first = TextJob({"first"}, &finished);
  auto second = TextJob({"second"}, &finished);
  {
    Blocker blocker(*b);
    REQUIRE(Sub(*b, first).ok());
    REQUIRE(Sub(*b, second).ok());
  }
  REQUIRE(WaitFor([&] { return finished == 2; }));
  // Two jobs, one batch, and no wait for the batch to fill.
  CHECK(Out(*first, 0, 2) == 2.0f);
  CHECK(Out(*second, 0, 2) == 2.0f);
  CHECK(b->Stats().batches == 2);  // the blocker's and theirs
}

TEST_CASE("batcher: while another instance runs, a free one waits at most the delay",
          "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 200'000;
  auto b = MakeBatcher(TestPlugin(), o, 2);
  std::atomic<int> finished{0};
  Blocker blocker(*b);  // one instance busy: the model is busy
  auto t0 = Clock::now();
  auto lone = TextJob({"lone"}, &finished);
  REQUIRE(Sub(*b, lone).ok());
  REQUIRE(WaitFor([&] { return finished == 1; }));
  CHECK(Clock::now() - t0 >= std::chrono::microseconds(o.max_queue_delay_us));
}

TEST_CASE("batcher: interactive texts go before bulk ones", "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 2;
  auto b = MakeBatcher(TestPlugin(), o);
  std::atomic<int> finished{0};
  std::vector<int> order;
  std::mutex mu;
  auto bulk = TextJob({"b1", "b2", "b3", "b4"}, &finished);
  bulk->job->priority = Priority::kBulk;
  auto interactive = TextJob({"i1"}, &finished);
  for (auto* run : {bulk.get(), interactive.get()}) {
    auto inner = run->job->deliver;
    int tag = run == bulk.get() ? 0 : 1;
    run->job->deliver = [&, inner, tag](const TextResult& r) {
      inner(r);
      std::lock_guard<std::mutex> lock(mu);
      order.push_back(tag);
    };
  }
  {
    Blocker blocker(*b);
    REQUIRE(Sub(*b, bulk).ok());         // first in...
    REQUIRE(Sub(*b, interactive).ok());  // ...but interactive runs first
  }
  REQUIRE(WaitFor([&] { return finished == 2; }));
  REQUIRE(order.size() == 5);
  CHECK(order[0] == 1);
  CHECK(Out(*interactive, 0, 2) == 1.0f);  // not mixed with bulk texts
}

TEST_CASE("batcher: a job larger than the queue streams through a window at a time",
          "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 4;
  o.max_queue = 6;
  auto b = MakeBatcher(TestPlugin(), o, 2);
  CHECK(b->window() == 6);  // min(max_queue, (instances + 1) * max_batch_size)
  std::atomic<int> finished{0};
  std::vector<std::string> texts;
  for (int i = 0; i < 1000; ++i) texts.push_back("t" + std::to_string(i));
  auto big = TextJob(texts, &finished);
  REQUIRE(Sub(*b, big).ok());  // 1000 texts, a queue of 6: accepted
  REQUIRE(WaitFor([&] { return finished == 1; }));
  for (size_t i = 0; i < texts.size(); ++i) {
    CHECK(big->status[i] == HB_OK);
    CHECK(Out(*big, i, 0) == static_cast<float>(texts[i].size()));
  }
  CHECK(b->Stats().batches >= 250);
}

TEST_CASE("batcher: cancelling a streaming job drops its texts not yet issued", "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 4;
  auto b = MakeBatcher(TestPlugin(), o);
  std::atomic<int> finished{0};
  std::vector<std::string> texts(10000, "x");
  auto big = TextJob(texts, &finished);
  {
    Blocker blocker(*b);
    REQUIRE(Sub(*b, big).ok());
    big->job->cancelled->store(true);
  }
  REQUIRE(WaitFor([&] { return finished == 1; }));
  CHECK(b->Stats().dropped_cancelled == 10000);
  CHECK(b->Load().queue_depth == 0);
}

TEST_CASE("batcher: instances run in parallel", "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 1;
  auto b = MakeBatcher(TestPlugin(), o, 2);
  // Two hanging executes at once: only possible on two instances at a time.
  Blocker one(*b, 1);
  Blocker two(*b, 2);
  CHECK(b->Load().busy_instances == 2);
  one.Release();
  two.Release();
  CHECK(WaitFor([&] { return one.finished() && two.finished(); }));
}

TEST_CASE("batcher: an instance never runs two executes at once", "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 1;
  o.max_queue_delay_us = 0;
  auto b = MakeBatcher(TestPlugin(), o, 2);
  std::atomic<int> finished{0};
  std::vector<std::shared_ptr<TextRun>> jobs;
  for (int i = 0; i < 12; ++i) jobs.push_back(TextJob({"SLOW"}, &finished));
  REQUIRE(SubmitConcurrently(*b, jobs, 3) == 0);
  REQUIRE(WaitFor([&] { return finished == 12; }));
  // Element 3: how many executes ran on that instance when this one began.
  for (const auto& job : jobs) CHECK(Out(*job, 0, 3) == 1.0f);
}

TEST_CASE("batcher: cancelled texts are dropped before execute and counted", "[batcher]") {
  BatcherOptions o;
  auto b = MakeBatcher(TestPlugin(), o);
  std::atomic<int> finished{0};
  auto gone = TextJob({"x", "yy", "zzz"}, &finished);
  auto gone_term = TermJob("echo", &finished);
  auto live = TextJob({"live"}, &finished);
  {
    Blocker blocker(*b);  // everything below queues behind it
    REQUIRE(Sub(*b, gone).ok());
    REQUIRE(Sub(*b, gone_term).ok());
    REQUIRE(Sub(*b, live).ok());
    gone->job->cancelled->store(true);
    gone_term->cancelled->store(true);
  }
  b->Drain();
  CHECK(finished == 3);  // a dropped job still finishes
  BatcherStats st = b->Stats();
  CHECK(st.dropped_cancelled == 4);
  CHECK(gone_term->result_etf.empty());  // never executed
  CHECK(Out(*live, 0, 2) == 1.0f);       // the dropped texts were not in its batch
  CHECK(st.bytes_in == 4 + 4);           // "live" and the blocker's "HANG"
}

TEST_CASE("batcher: a job is refused at once, untouched, only when the queue is full of other work",
          "[batcher]") {
  BatcherOptions o;
  o.max_queue = 2;
  auto b = MakeBatcher(TestPlugin(), o);
  std::atomic<int> finished{0};
  auto fits = TextJob({"a", "b"}, &finished);
  auto over = TextJob({"c"}, &finished);
  auto big = TextJob({"a", "b", "c", "d", "e"}, &finished);
  {
    Blocker blocker(*b);
    REQUIRE(Sub(*b, fits).ok());  // exactly max_queue
    Status s = Sub(*b, over);
    CHECK(s.code() == StatusCode::kOutOfRange);
    CHECK(s.message().find("queue is full") != std::string::npos);
    CHECK(Sub(*b, big).code() == StatusCode::kOutOfRange);
    CHECK(b->Load().queue_depth == 2);
    for (const auto& refused : {over, big}) {
      CHECK(refused->job->issued == 0);
      CHECK(refused->job->completed.load() == 0);
    }
  }
  REQUIRE(WaitFor([&] { return finished == 1; }));
  REQUIRE(Sub(*b, big).ok());  // alone it streams through: big is never "too big"
  REQUIRE(WaitFor([&] { return finished == 2; }));
  CHECK_FALSE(over->finished);  // a refused job's finish never runs
  BatcherStats st = b->Stats();
  CHECK(st.rejected_overloaded == 2);
  CHECK(st.jobs == 3);  // the blocker, `fits` and `big` the second time
}

TEST_CASE("batcher: after Drain, Submit refuses with kUnavailable and leaves the job alone",
          "[batcher]") {
  auto b = MakeBatcher(TestPlugin(), BatcherOptions{});
  b->Drain();
  std::atomic<int> finished{0};
  auto job = TextJob({"late"}, &finished);
  Status s = Sub(*b, job);
  CHECK(s.code() == StatusCode::kUnavailable);
  CHECK(job->job->issued == 0);
  CHECK(b->Stats().jobs == 0);
  b->Drain();  // again: a no-op
  CHECK(finished == 0);
}

TEST_CASE("batcher: Drain runs what is queued without waiting out the delay", "[batcher]") {
  BatcherOptions o;
  o.max_queue_delay_us = 60'000'000;
  auto b = MakeBatcher(TestPlugin(), o);
  std::atomic<int> finished{0};
  std::vector<std::shared_ptr<TextRun>> jobs;
  for (int i = 0; i < 3; ++i) {
    jobs.push_back(TextJob({"t" + std::to_string(i)}, &finished));
    REQUIRE(Sub(*b, jobs.back()).ok());
  }
  auto t0 = Clock::now();
  b->Drain();
  CHECK(Clock::now() - t0 < std::chrono::seconds(30));
  CHECK(finished == 3);
  for (const auto& job : jobs) CHECK(job->status[0] == HB_OK);
  CHECK(b->Stats().queue_depth == 0);
}

TEST_CASE("batcher: finish runs exactly once per job, on an instance thread, with every text",
          "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 8;
  o.max_queue_delay_us = 500;
  auto b = MakeBatcher(TestPlugin(), o, 2);
  constexpr int kJobs = 200;
  std::vector<std::shared_ptr<TextRun>> jobs;
  std::vector<std::atomic<int>> runs(kJobs);
  std::mutex mu;
  std::set<std::thread::id> finish_threads;
  for (int i = 0; i < kJobs; ++i) {
    std::vector<std::string> texts;
    for (int k = 0; k <= i % 5; ++k) texts.push_back(std::string(1 + k, char('a' + i % 26)));
    auto job = testing::MakeTextRun(texts, kDim);
    job->job->finish = [&, i](BatchJob&) {
      ++runs[i];
      std::lock_guard<std::mutex> lock(mu);
      finish_threads.insert(std::this_thread::get_id());
    };
    jobs.push_back(job);
  }
  std::set<std::thread::id> submitter_ids = {std::this_thread::get_id()};
  REQUIRE(SubmitConcurrently(*b, jobs, 4, &submitter_ids) == 0);
  b->Drain();
  for (int i = 0; i < kJobs; ++i) CHECK(runs[i] == 1);
  CHECK(finish_threads.size() <= 2);  // one thread per instance
  for (const auto& id : finish_threads) CHECK(submitter_ids.count(id) == 0);
  // Each text's embedding is its own, in its own slot.
  for (const auto& job : jobs) {
    for (size_t k = 0; k < job->texts.size(); ++k) {
      CHECK(Out(*job, k, 0) == static_cast<float>(job->texts[k].size()));
      CHECK(Out(*job, k, 1) == static_cast<float>(job->texts[k][0]));
    }
  }
}

TEST_CASE("batcher: a term job runs alone and returns the plugin's bytes", "[batcher]") {
  BatcherOptions o;
  o.max_queue_delay_us = 60'000'000;  // nothing runs before Drain: all is queued
  auto b = MakeBatcher(TestPlugin(), o);
  std::atomic<int> finished{0};
  auto before = TextJob({"before"}, &finished);
  auto echo = TermJob("echo", &finished);
  auto fail = TermJob("fail", &finished);
  auto after = TextJob({"after"}, &finished);
  REQUIRE(Sub(*b, before).ok());
  REQUIRE(Sub(*b, echo).ok());
  REQUIRE(Sub(*b, fail).ok());
  REQUIRE(Sub(*b, after).ok());
  b->Drain();
  CHECK(finished == 4);
  CHECK(echo->term_code == HB_OK);
  CHECK(echo->result_etf == echo->args_etf);
  CHECK(fail->term_code == HB_ERR_INVALID_ARGUMENT);
  CHECK(fail->term_message == "refused");
  // The texts on either side were not batched across the term calls.
  CHECK(Out(*before, 0, 2) == 1.0f);
  CHECK(Out(*after, 0, 2) == 1.0f);
  BatcherStats st = b->Stats();
  CHECK(st.jobs == 4);
  CHECK(st.texts == 2);  // term calls are not texts
  CHECK(st.batches == 4);
  CHECK(st.errors_by_reason == std::map<std::string, uint64_t>{{"invalid_argument", 1}});
}

TEST_CASE("batcher: a text's failure fails that text; a failed execute fails its batch",
          "[batcher]") {
  BatcherOptions o;
  auto b = MakeBatcher(TestPlugin(), o);
  std::atomic<int> finished{0};
  auto mixed = TextJob({"ok", "FAIL", "NAN", "BOOM"}, &finished);
  auto batch_fail = TextJob({"fine", "BATCHFAIL"}, &finished);
  auto later = TextJob({"later"}, &finished);
  REQUIRE(Sub(*b, mixed).ok());
  REQUIRE(WaitFor([&] { return finished == 1; }));
  REQUIRE(Sub(*b, batch_fail).ok());
  REQUIRE(WaitFor([&] { return finished == 2; }));
  REQUIRE(Sub(*b, later).ok());
  REQUIRE(WaitFor([&] { return finished == 3; }));

  CHECK(mixed->status == std::vector<hb_status>{HB_OK, HB_ERR_INVALID_ARGUMENT, HB_ERR_INTERNAL,
                                                HB_ERR_INTERNAL});
  CHECK(mixed->messages[0].empty());
  CHECK(mixed->messages[1] == "text refused");
  CHECK(mixed->messages[2] == "model produced a non-finite value");
  CHECK(mixed->messages[3] == "exploded");
  CHECK(Out(*mixed, 0, 0) == 2.0f);
  CHECK(batch_fail->status == std::vector<hb_status>{HB_ERR_INTERNAL, HB_ERR_INTERNAL});
  CHECK(batch_fail->messages[0].find("batch failed on purpose") != std::string::npos);
  CHECK(later->status[0] == HB_OK);  // the instance goes on

  BatcherStats st = b->Stats();
  CHECK(st.batch_errors == 1);
  CHECK(st.errors_by_reason ==
        std::map<std::string, uint64_t>{{"internal", 4}, {"invalid_argument", 1}});
  CHECK(st.bytes_out == 2 * kDim * sizeof(float));  // "ok" and "later"
}

TEST_CASE("batcher: stats count jobs, texts, batches and bytes", "[batcher]") {
  BatcherOptions o;
  o.max_batch_size = 2;
  o.max_queue_delay_us = 60'000'000;
  auto b = MakeBatcher(TestPlugin(), o);
  std::atomic<int> finished{0};
  auto job = TextJob({"abc", "de", "f"}, &finished);
  auto echo = TermJob("echo", &finished);
  REQUIRE(Sub(*b, job).ok());
  REQUIRE(Sub(*b, echo).ok());
  b->Drain();
  REQUIRE(finished == 2);
  BatcherStats st = b->Stats();
  CHECK(st.jobs == 2);
  CHECK(st.texts == 3);
  CHECK(st.batches == 3);  // {abc, de}, {f}, echo
  CHECK(st.batch_size.count() == 3);
  CHECK(st.batch_size.sum() == 2 + 1 + 1);
  CHECK(st.queue_us.count() == 3);
  CHECK(st.execute_us.count() == 3);
  CHECK(st.bytes_in == 3 + 2 + 1 + echo->args_etf.size());
  CHECK(st.bytes_out == 3 * kDim * sizeof(float) + echo->result_etf.size());
  CHECK(st.errors_by_reason.empty());
  CHECK(st.dropped_cancelled == 0);
  CHECK(st.rejected_overloaded == 0);
  CHECK(st.batch_errors == 0);
}

TEST_CASE("batcher: load shows the queue, busy instances and the longest execute",
          "[batcher]") {
  BatcherOptions o;
  o.max_queue_delay_us = 0;
  auto b = MakeBatcher(TestPlugin(), o, 2);
  std::atomic<int> finished{0};
  auto queued = TextJob({"abc", "de", "f"}, &finished);
  {
    Blocker blocker(*b);
    REQUIRE(WaitFor([&] { return b->Load().longest_running_execute_ms >= 20; }));
    Blocker second(*b, 2);
    REQUIRE(Sub(*b, queued).ok());
    BatcherLoad load = b->Load();
    CHECK(load.queue_depth == 3);
    CHECK(load.busy_instances == 2);
    CHECK(load.longest_running_execute_ms >= 20);
    BatcherStats st = b->Stats();  // the same figures
    CHECK(st.queue_depth == 3);
    CHECK(st.busy_instances == 2);
    CHECK(st.longest_running_execute_ms >= 20);
  }
  REQUIRE(WaitFor([&] { return finished == 1 && b->Load().busy_instances == 0; }));
  BatcherLoad idle = b->Load();
  CHECK(idle.queue_depth == 0);
  CHECK(idle.longest_running_execute_ms == 0);
}

}  // namespace
}  // namespace hb
