// WorkerPool (daemon/worker_pool.h): FIFO on one thread, parallel on many,
// Submit from anywhere, exceptions contained, Shutdown discards the queue.
#include "daemon/worker_pool.h"

#include <catch2/catch.hpp>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "tests/daemon/test_util.h"

namespace hb {
namespace {

using testing::Gate;
using testing::WaitFor;

// Everything written to stderr (where the daemon logs) while it lives.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    char path[] = "/tmp/hb_stderr_XXXXXX";
    fd_ = mkstemp(path);
    REQUIRE(fd_ >= 0);
    unlink(path);
    dup2(fd_, STDERR_FILENO);
  }
  ~StderrCapture() { Restore(); }
  // What was written so far; stderr stays captured.
  std::string Text() const {
    std::string out;
    char buf[4096];
    for (off_t off = 0;;) {
      ssize_t n = pread(fd_, buf, sizeof(buf), off);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
      off += n;
    }
    return out;
  }

 private:
  void Restore() {
    if (saved_ < 0) return;
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fd_);
    saved_ = -1;
  }
  int saved_ = -1;
  int fd_ = -1;
};

TEST_CASE("worker pool: one thread runs tasks in the order submitted", "[worker_pool]") {
  std::mutex mu;
  std::vector<int> order;
  std::atomic<int> ran{0};
  WorkerPool pool(1);
  CHECK(pool.threads() == 1);
  for (int i = 0; i < 200; ++i) {
    pool.Submit([&, i] {
      {
        std::lock_guard<std::mutex> lock(mu);
        order.push_back(i);
      }
      ++ran;
    });
  }
  REQUIRE(WaitFor([&] { return ran == 200; }));
  std::lock_guard<std::mutex> lock(mu);
  for (int i = 0; i < 200; ++i) CHECK(order[i] == i);
}

TEST_CASE("worker pool: several threads run tasks in parallel", "[worker_pool]") {
  constexpr int kThreads = 3;
  // Each task waits until all of them are running: only possible in parallel.
  Gate all_running;
  std::atomic<int> running{0};
  std::atomic<int> released{0};
  std::mutex mu;
  std::set<std::thread::id> ids;
  WorkerPool pool(kThreads);  // after what its tasks use: joined first
  CHECK(pool.threads() == kThreads);
  for (int i = 0; i < kThreads; ++i) {
    pool.Submit([&] {
      {
        std::lock_guard<std::mutex> lock(mu);
        ids.insert(std::this_thread::get_id());
      }
      if (++running == kThreads) all_running.Open();
      if (all_running.Wait()) ++released;
    });
  }
  REQUIRE(WaitFor([&] { return released == kThreads; }));
  std::lock_guard<std::mutex> lock(mu);
  CHECK(ids.size() == kThreads);
  CHECK(ids.count(std::this_thread::get_id()) == 0);
}

TEST_CASE("worker pool: zero threads means one", "[worker_pool]") {
  std::atomic<bool> ran{false};
  WorkerPool pool(0);
  CHECK(pool.threads() == 1);
  pool.Submit([&] { ran = true; });
  CHECK(WaitFor([&] { return ran.load(); }));
}

TEST_CASE("worker pool: Submit may be called from any thread", "[worker_pool]") {
  std::atomic<int> ran{0};
  WorkerPool pool(2);
  std::vector<std::thread> submitters;
  for (int t = 0; t < 4; ++t) {
    submitters.emplace_back([&] {
      for (int i = 0; i < 250; ++i) pool.Submit([&] { ++ran; });
    });
  }
  // Tasks may submit tasks too.
  pool.Submit([&] { pool.Submit([&] { ++ran; }); });
  for (auto& t : submitters) t.join();
  CHECK(WaitFor([&] { return ran == 1001; }));
}

TEST_CASE("worker pool: a task that throws is logged and the pool carries on", "[worker_pool]") {
  std::atomic<bool> after{false};
  std::string log;
  WorkerPool pool(1);
  {
    StderrCapture capture;
    pool.Submit([] { throw std::runtime_error("task exploded on purpose"); });
    pool.Submit([] { throw 42; });
    pool.Submit([&] { after = true; });
    REQUIRE(WaitFor([&] { return after.load(); }));
    log = capture.Text();
  }
  CHECK(log.find("worker task threw: task exploded on purpose") != std::string::npos);
  CHECK(log.find("worker task threw a non-standard exception") != std::string::npos);
  CHECK(pool.threads() == 1);
}

TEST_CASE("worker pool: Shutdown discards queued tasks and joins after the running one",
          "[worker_pool]") {
  Gate release;
  std::atomic<bool> running{false};
  std::atomic<bool> first_done{false};
  std::atomic<int> queued_ran{0};
  WorkerPool pool(1);
  pool.Submit([&] {
    running = true;
    release.Wait();
    first_done = true;
  });
  REQUIRE(WaitFor([&] { return running.load(); }));
  for (int i = 0; i < 5; ++i) pool.Submit([&] { ++queued_ran; });
  CHECK(pool.queued() == 5);

  std::atomic<bool> shutdown_returned{false};
  std::thread stopper([&] {
    pool.Shutdown();
    shutdown_returned = true;
  });
  CHECK(WaitFor([&] { return pool.queued() == 0; }));  // discarded at once
  CHECK_FALSE(shutdown_returned);                       // still waiting for the task
  release.Open();
  stopper.join();
  CHECK(first_done);
  CHECK(queued_ran == 0);
  CHECK(pool.threads() == 0);

  // Afterwards: Submit is ignored, Shutdown is a no-op.
  pool.Submit([&] { ++queued_ran; });
  CHECK(pool.queued() == 0);
  pool.Shutdown();
  CHECK(queued_ran == 0);
}

}  // namespace
}  // namespace hb
