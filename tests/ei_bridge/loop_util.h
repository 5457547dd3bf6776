// Waiting in tests: polling a condition with a deadline, and a libuv loop
// the test thread runs until something has happened. Shared by the
// ei_bridge and daemon unit tests.
#pragma once

#include <catch2/catch.hpp>
#include <uv.h>

#include <chrono>
#include <functional>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

namespace hb::testing {

using std::chrono::milliseconds;

// Generous on purpose: CI machines are small and shared. A test that waits
// this long has failed anyway.
inline constexpr milliseconds kPatience{10000};

// Polls `pred` until it holds or `timeout` passes; returns its last value.
template <typename Pred>
bool WaitFor(Pred pred, milliseconds timeout = kPatience) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return pred();
    std::this_thread::sleep_for(milliseconds(1));
  }
  return true;
}

// A libuv loop run by the test thread, in steps. Everything else the test
// must serve while the loop runs (a fake peer's socket) is a poller, called
// once per step.
class TestLoop {
 public:
  TestLoop() { uv_loop_init(&loop_); }
  ~TestLoop() {
    if (abandoned_) return;
    // Their owners have closed the handles by now; run the close callbacks
    // still due, then close the loop. A handle left open fails the test.
    pollers_.clear();  // what they serve may be gone
    bool closed = RunUntil([this] { return uv_loop_close(&loop_) == 0; });
    CHECK(closed);
  }
  TestLoop(const TestLoop&) = delete;
  TestLoop& operator=(const TestLoop&) = delete;

  uv_loop_t* get() { return &loop_; }
  // For a test that has already failed with an object that would not close:
  // the loop is left as it is (leaked), never run again, so that nothing
  // calls into what the test has freed.
  void Abandon() { abandoned_ = true; }
  void AddPoller(std::function<void()> poll) { pollers_.push_back(std::move(poll)); }

  // One step: the loop once without blocking, then the pollers.
  void Step() {
    uv_run(&loop_, UV_RUN_NOWAIT);
    for (auto& p : pollers_) p();
  }

  // Steps until `pred` holds or `timeout` passes; returns pred().
  template <typename Pred>
  bool RunUntil(Pred pred, milliseconds timeout = kPatience) {
    return WaitFor(
        [&] {
          Step();
          return pred();
        },
        timeout);
  }

  // Steps until `closed` (which `owned`'s close callback sets). If that
  // never comes (the test has failed), `owned` still has handles here: it
  // is leaked and the loop abandoned, so that the test fails rather than
  // crashes.
  template <typename T>
  bool AwaitClose(std::unique_ptr<T>& owned, const bool& closed) {
    if (RunUntil([&] { return closed; })) return true;
    FAIL_CHECK("a close never finished");
    owned.release();
    Abandon();
    return false;
  }

  // Steps for `d`, for a test that checks something does *not* happen.
  void RunFor(milliseconds d) {
    RunUntil([] { return false; }, d);
  }

 private:
  uv_loop_t loop_;
  bool abandoned_ = false;
  std::vector<std::function<void()>> pollers_;
};

}  // namespace hb::testing
