// Guards: Batcher::Submit promises that a refused job (queue full, or the
// batcher draining) is untouched. It sized the job's output, status and
// message vectors and set its counters before deciding, so a refused job
// came back changed, and every refusal under overload zero-filled an output
// buffer in the caller's job. Found by the batcher's unit tests (issue #9);
// the streaming batcher (issue #11) keeps the promise: its bookkeeping
// fields are set only once a job is accepted.
#include <catch2/catch.hpp>

#include "daemon/batcher.h"
#include "tests/daemon/batch_run.h"
#include "tests/daemon/test_util.h"

namespace hb {
namespace {

void CheckUntouched(const testing::TextRun& run) {
  CHECK(run.job->issued == 0);
  CHECK(run.job->completed.load() == 0);
  CHECK(run.job->enqueued == std::chrono::steady_clock::time_point());
  CHECK_FALSE(run.finished);
  for (hb_status s : run.status) CHECK(s == HB_OK);  // nothing delivered
}

TEST_CASE("a job refused by a full queue is untouched", "[regression][batcher]") {
  BatcherOptions o;
  o.max_queue = 1;
  auto b = testing::MakeBatcher(testing::TestPlugin(), o);
  auto hang = testing::MakeTextRun({"HANG"}, b->output_dim());
  REQUIRE(b->Submit(hang->job).ok());
  REQUIRE(testing::WaitFor([&] { return b->Load().busy_instances == 1; }));
  auto waiting = testing::MakeTextRun({"queued"}, b->output_dim());
  REQUIRE(b->Submit(waiting->job).ok());  // the queue is now full of other work
  auto job = testing::MakeTextRun({"one", "two"}, b->output_dim());
  REQUIRE(b->Submit(job->job).code() == StatusCode::kOutOfRange);
  CheckUntouched(*job);
  hang->job->cancelled->store(true);
  b->Drain();
}

TEST_CASE("a job refused by a draining batcher is untouched", "[regression][batcher]") {
  auto b = testing::MakeBatcher(testing::TestPlugin(), BatcherOptions{});
  b->Drain();
  auto job = testing::MakeTextRun({"one"}, b->output_dim());
  REQUIRE(b->Submit(job->job).code() == StatusCode::kUnavailable);
  CheckUntouched(*job);
}

}  // namespace
}  // namespace hb
