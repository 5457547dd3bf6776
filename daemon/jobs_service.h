// JobsService: the `jobs` module. Any routed function can run as a job that
// outlives the connection of whoever submitted it:
//
//   jobs:submit(M, F, A) / jobs:submit(M, F, A, Opts) -> {ok, Id} | {error, overloaded} | ...
//   jobs:status(Id)    -> #{state, progress, message, submitted_at, started_at, finished_at, ...}
//   jobs:result(Id)    -> {ok, Value} | {error, Reason} | pending
//   jobs:await(Id, Timeout) -> like result/1 once finished; {error, timeout} after Timeout ms
//   jobs:cancel(Id)    -> ok | {error, not_found | finished}
//   jobs:list()        -> [StatusMap]
//   jobs:subscribe(Id) / jobs:subscribe(Id, Pid) -> ok; the process gets
//       {hornbeam_job, Id, {progress, P, Message}} and {hornbeam_job, Id, {done, Result}}
//
// Ids are binaries. Timestamps are Erlang system time in milliseconds
// (erlang:system_time(millisecond)), `undefined` until they happen. A job
// runs through the same Dispatcher path as a call (router, worker pool,
// batcher) but with no caller connection: nothing but jobs:cancel/1 cancels
// it. It is given a CallRequest::progress callback.
//
// Thread: everything runs on the loop thread except the progress callbacks,
// which come from any thread and are brought back through a uv_async_t.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "daemon/dispatcher.h"
#include "daemon/job_store.h"
#include "daemon/router.h"

namespace hb {

struct JobsConfig {
  uint32_t max_queued = 1000;   // queued (not yet running) jobs
  uint32_t max_running = 4;     // jobs running at once
  uint64_t keep_ms = 24ull * 3600 * 1000;  // a finished job is forgotten after this
  uint64_t keep_bytes = 256ull << 20;      // results kept, all jobs together
  std::string state_dir;        // empty: nothing persisted
};

class JobsService {
 public:
  // Sends `message` to the process `to` (a pid); loop thread.
  using SendFn = std::function<void(const Term& to, Term message)>;

  JobsService(uv_loop_t* loop, Router* router, Dispatcher* dispatcher, JobsConfig config,
              SendFn send);
  ~JobsService();
  JobsService(const JobsService&) = delete;
  JobsService& operator=(const JobsService&) = delete;

  // Opens the state directory, reloads finished jobs, starts the expiry
  // timer and routes the `jobs` module. Returns false (logged) when the
  // state directory cannot be used.
  bool Start();
  // Stops the timers and asks running jobs to stop (their cancel flag), so
  // the worker pool can be joined; their records still say queued, so the
  // next start reports them interrupted.
  void Close(std::function<void()> closed);
  // Jobs running now: SIGTERM's drain does not wait for them.
  size_t running() const { return running_; }

 private:
  struct Awaiter {
    CallDone done;
    uint64_t deadline_ms;  // loop clock; UINT64_MAX: infinity
    std::shared_ptr<std::atomic<bool>> cancelled;
  };
  struct Job {
    JobRecord rec;
    Term args;
    uint64_t call_id = 0;
    std::shared_ptr<std::atomic<bool>> cancelled;
    std::vector<Term> subscribers;
    std::vector<Awaiter> awaiters;
    size_t result_bytes = 0;
  };
  struct Inbox;  // progress reports from worker threads

  void AddRoutes();
  CallOutcome Submit(const CallRequest& req);
  CallOutcome Subscribe(const CallRequest& req, const Term& pid);
  CallOutcome Cancel(const CallRequest& req);
  void Await(CallRequest req, CallDone done);
  // The job an Id argument names; nullptr (and *bad set for a non-binary).
  Job* Find(const Term& id);
  void StartQueued();
  void Launch(Job* job);
  void OnCallDone(const std::string& id, const CallOutcome& o);
  void Finish(Job* job, JobState state, Term result);
  void DrainProgress();
  void Tick();
  void Evict();
  void Forget(const std::string& id);

  uv_loop_t* loop_;
  Router* router_;
  Dispatcher* dispatcher_;
  JobsConfig config_;
  SendFn send_;
  JobStore store_;
  std::shared_ptr<Inbox> inbox_;
  uv_async_t async_;
  uv_timer_t timer_;
  std::function<void()> closed_;
  int handles_open_ = 0;
  bool closing_ = false;
  std::string id_prefix_;
  uint64_t next_seq_ = 1;
  size_t running_ = 0;
  size_t queued_ = 0;
  size_t kept_bytes_ = 0;
  std::unordered_map<std::string, Job> jobs_;
  std::vector<std::string> order_;  // ids in submission order
};

}  // namespace hb
