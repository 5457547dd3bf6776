// WorkerPool: a fixed set of threads running queued tasks in FIFO order.
//
// Submit() may be called from any thread. Tasks must not throw (house rule:
// no exception crosses a worker); the pool catches anything that escapes and
// logs it rather than terminate the daemon. Shutdown() drains nothing: it
// discards queued tasks and joins the threads after their current task.
#pragma once

#include <deque>
#include <functional>
#include <thread>
#include <vector>

#include "base/mutex.h"

namespace hb {

class WorkerPool {
 public:
  explicit WorkerPool(size_t threads);
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  void Submit(std::function<void()> task);
  void Shutdown();
  size_t queued() const;
  size_t threads() const { return threads_.size(); }

 private:
  void Run();

  mutable Mutex mu_;
  CondVar cv_;
  std::deque<std::function<void()>> queue_ GUARDED_BY(mu_);
  bool stopping_ GUARDED_BY(mu_) = false;
  // Started in the constructor, joined by Shutdown (one caller at a time).
  std::vector<std::thread> threads_;
};

}  // namespace hb
