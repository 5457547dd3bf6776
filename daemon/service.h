// The seam between the RPC layer and what a call does: a Route names how a
// function runs, and a Router maps {Module, Function, Arity} to Routes.
//
// Execution modes:
//   kInline  O(1), non-blocking functions (health:ping, metrics:get_all) run
//            on the loop thread; a thread hop would cost more than the work.
//   kWorker  anything that can block or take time runs on the WorkerPool;
//            queued work whose caller gave up is dropped before it starts.
//   kAsync   the function takes a CallDone and completes it later, from any
//            thread, exactly once (the batcher of the plugin host).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "daemon/call_outcome.h"
#include "ei_bridge/term.h"

namespace hb {

struct CallRequest {
  std::string module;
  std::string function;
  Term args;                                   // the proper argument list
  std::shared_ptr<std::atomic<bool>> cancelled;  // set when the caller is gone
  std::string caller_node;
  // The process that made the call (erpc/spawn caller, gen:call From pid);
  // nil for casts without one. jobs:subscribe/1 sends to it.
  Term caller_pid;
  // Reports progress of a long function (0.0..1.0, a short message); empty
  // unless the call runs as a job (daemon/jobs_service.h). Thread-safe: any
  // thread may call it, any number of times.
  std::function<void(double, std::string_view)> progress;
};

// Completes an async call. Thread-safe; call exactly once.
using CallDone = std::function<void(CallOutcome)>;

struct Route {
  enum class Execution { kInline, kWorker, kAsync };
  Execution execution = Execution::kWorker;
  using RunFn = std::function<CallOutcome(const CallRequest&)>;
  RunFn run;                                                  // kInline, kWorker
  std::function<void(CallRequest, CallDone)> run_async;       // kAsync
};

}  // namespace hb
