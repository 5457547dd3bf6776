// Guards: Batcher::Submit promises that a refused job (queue full, or the
// batcher draining) is untouched. It sized the job's output, status and
// message vectors and set its counters before deciding, so a refused job
// came back changed, and every refusal under overload zero-filled an output
// buffer in the caller's job. Found by the batcher's unit tests (issue #9).
#include <catch2/catch.hpp>

#include "daemon/batcher.h"
#include "tests/daemon/test_util.h"

namespace hb {
namespace {

std::shared_ptr<BatchJob> Job(std::vector<std::string> texts) {
  auto job = std::make_shared<BatchJob>();
  job->texts = std::move(texts);
  return job;
}

void CheckUntouched(const BatchJob& job) {
  CHECK(job.output.empty());
  CHECK(job.status.empty());
  CHECK(job.messages.empty());
  CHECK(job.remaining.load() == 0);
  CHECK(job.enqueued == std::chrono::steady_clock::time_point());
}

TEST_CASE("a job refused by a full queue is untouched", "[regression][batcher]") {
  BatcherOptions o;
  o.max_queue = 1;
  auto b = testing::MakeBatcher(testing::TestPlugin(), o);
  auto job = Job({"one", "two"});
  REQUIRE(b->Submit(job).code() == StatusCode::kOutOfRange);
  CheckUntouched(*job);
}

TEST_CASE("a job refused by a draining batcher is untouched", "[regression][batcher]") {
  auto b = testing::MakeBatcher(testing::TestPlugin(), BatcherOptions{});
  b->Drain();
  auto job = Job({"one"});
  REQUIRE(b->Submit(job).code() == StatusCode::kUnavailable);
  CheckUntouched(*job);
}

}  // namespace
}  // namespace hb
