// Dispatcher: runs routed calls and brings their outcomes back to the loop.
//
// Dispatch() looks the function up in the Router (unrouted -> undef), runs
// it inline, on the WorkerPool or through its async entry, and calls `done`
// on the loop thread with the outcome. Completions from other threads come
// back through one uv_async_t. Cancel() guarantees `done` is never called for
// that call; queued worker tasks see the shared flag and skip the work.
//
// Thread: Dispatch, Cancel and every `done` run on the loop thread.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"
#include "daemon/metrics.h"
#include "daemon/router.h"
#include "daemon/service.h"
#include "daemon/worker_pool.h"

namespace hb {

class Dispatcher {
 public:
  using DoneFn = std::function<void(const CallOutcome&)>;

  Dispatcher(uv_loop_t* loop, Router* router, WorkerPool* pool, Metrics* metrics);
  ~Dispatcher();
  Dispatcher(const Dispatcher&) = delete;
  Dispatcher& operator=(const Dispatcher&) = delete;

  // Returns a call id for Cancel(). `done` may run before Dispatch returns
  // (inline routes and undef).
  uint64_t Dispatch(CallRequest req, DoneFn done);
  // Drops the call: `done` will not run. Unknown or finished ids are ignored.
  void Cancel(uint64_t call_id);
  size_t inflight() const { return calls_.size(); }
  // Closes the async handle (two-step); `closed` runs when it is gone.
  void Close(std::function<void()> closed);

 private:
  struct Pending {
    DoneFn done;
    std::shared_ptr<std::atomic<bool>> cancelled;
    std::string module;
    std::string function;
    uint64_t start_ns = 0;
    uint64_t bytes_in = 0;
  };
  struct Completed {
    uint64_t id;
    CallOutcome outcome;
  };
  void Complete(uint64_t id, const CallOutcome& outcome);
  void Post(uint64_t id, CallOutcome outcome);  // any thread
  void Drain();

  uv_loop_t* loop_;
  Router* router_;
  WorkerPool* pool_;
  Metrics* metrics_;
  uv_async_t async_;
  std::function<void()> closed_;
  uint64_t next_id_ = 1;
  std::unordered_map<uint64_t, Pending> calls_;
  Mutex mu_;
  std::vector<Completed> completed_ GUARDED_BY(mu_);  // from any thread
};

}  // namespace hb
