#include "daemon/jobs_service.h"

#include <algorithm>
#include <chrono>
#include <limits>

#include "base/log.h"
#include "base/mutex.h"

namespace hb {
namespace {

Term Atom(const char* a) { return Term::Atom(a); }
Term Ok(Term v) { return Term::Tuple({Atom("ok"), std::move(v)}); }
Term Err(Term r) { return Term::Tuple({Atom("error"), std::move(r)}); }

int64_t SystemMs() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
             std::chrono::system_clock::now().time_since_epoch())
      .count();
}

// What jobs:result/1 answers for a finished call: the value, or the
// exception as {error, Reason} (throw and exit keep their class).
Term ResultOf(const CallOutcome& o) {
  switch (o.kind) {
    case CallOutcome::Kind::kReturn:
      return Ok(o.value);
    case CallOutcome::Kind::kError:
      return Err(o.value);
    case CallOutcome::Kind::kThrow:
      return Err(Term::Tuple({Atom("throw"), o.value}));
    case CallOutcome::Kind::kExit:
      return Err(Term::Tuple({Atom("exit"), o.value}));
  }
  return Err(Atom("unknown"));
}

constexpr uint64_t kTickMs = 50;

}  // namespace

// Progress reports wait here for the loop thread; only the latest report
// of each job is kept (a subscriber needs the current value, not a backlog).
// Shared with every job's progress callback, which may outlive the service.
struct JobsService::Inbox {
  Mutex mu;
  uv_async_t* async GUARDED_BY(mu) = nullptr;  // null once closing
  std::unordered_map<std::string, std::pair<double, std::string>> latest GUARDED_BY(mu);

  void Post(const std::string& id, double p, std::string_view msg) {
    MutexLock lock(&mu);
    if (async == nullptr) return;
    latest[id] = {std::clamp(p, 0.0, 1.0), std::string(msg.substr(0, 1024))};
    uv_async_send(async);
  }
};

JobsService::JobsService(uv_loop_t* loop, Router* router, Dispatcher* dispatcher,
                         JobsConfig config, SendFn send)
    : loop_(loop), router_(router), dispatcher_(dispatcher), config_(std::move(config)),
      send_(std::move(send)), store_(config_.state_dir), inbox_(std::make_shared<Inbox>()) {
  id_prefix_ = std::to_string(SystemMs()) + "-";
}

JobsService::~JobsService() = default;

bool JobsService::Start() {
  if (!store_.enabled()) {
    HB_LOG_INFO("jobs: no state_dir (nor $STATE_DIRECTORY): finished jobs are not kept "
                "across restarts");
  } else {
    Status s = store_.Open();
    if (!s.ok()) {
      HB_LOG_ERROR("cannot start: state_dir: " + s.message());
      return false;
    }
    std::vector<JobRecord> loaded = store_.LoadAll(SystemMs());
    std::sort(loaded.begin(), loaded.end(),
              [](const JobRecord& a, const JobRecord& b) { return a.submitted_at < b.submitted_at; });
    for (JobRecord& r : loaded) {
      Job job;
      job.result_bytes = EncodedSize(r.result);
      kept_bytes_ += job.result_bytes;
      std::string id = r.id;
      job.rec = std::move(r);
      order_.push_back(id);
      jobs_.emplace(id, std::move(job));
    }
    HB_LOG_INFO("jobs: " + std::to_string(loaded.size()) + " job(s) reloaded from " +
                store_.dir());
    Evict();
  }
  uv_async_init(loop_, &async_, [](uv_async_t* a) {
    static_cast<JobsService*>(a->data)->DrainProgress();
  });
  async_.data = this;
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<JobsService*>(t->data)->Tick(); },
                 kTickMs, kTickMs);
  handles_open_ = 2;
  {
    MutexLock lock(&inbox_->mu);
    inbox_->async = &async_;
  }
  AddRoutes();
  return true;
}

void JobsService::Close(std::function<void()> closed) {
  closing_ = true;
  closed_ = std::move(closed);
  {
    MutexLock lock(&inbox_->mu);
    inbox_->async = nullptr;
  }
  router_->RemoveModule("jobs");
  // Running jobs are asked to stop so their workers can be joined; their
  // records still say queued, so the next start reports them interrupted.
  for (auto& [id, job] : jobs_) {
    if (job.cancelled) job.cancelled->store(true, std::memory_order_release);
  }
  store_.Flush();
  if (handles_open_ == 0) {
    if (closed_) closed_();
    return;
  }
  auto on_closed = [](uv_handle_t* h) {
    auto* self = static_cast<JobsService*>(h->data);
    if (--self->handles_open_ == 0 && self->closed_) self->closed_();
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), on_closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&timer_), on_closed);
}

void JobsService::AddRoutes() {
  auto inline_route = [this](const char* f, int arity, Route::RunFn run) {
    Route r;
    r.execution = Route::Execution::kInline;
    r.run = std::move(run);
    router_->Add("jobs", f, arity, std::move(r));
  };
  auto submit = [this](const CallRequest& req) { return Submit(req); };
  inline_route("submit", 3, submit);
  inline_route("submit", 4, submit);
  auto with_job = [this](const char* f, std::function<Term(Job*)> answer) {
    return [this, f, answer](const CallRequest& req) {
      if (!req.args[0].is_binary()) return CallOutcome::BadArg("jobs", f, req.args);
      Job* job = Find(req.args[0]);
      return CallOutcome::Return(job ? answer(job) : Err(Atom("not_found")));
    };
  };
  inline_route("status", 1, with_job("status", [](Job* j) { return JobStatusTerm(j->rec); }));
  inline_route("result", 1, with_job("result", [](Job* j) {
    return j->rec.finished() ? j->rec.result : Atom("pending");
  }));
  inline_route("cancel", 1, [this](const CallRequest& req) { return Cancel(req); });
  inline_route("list", 0, [this](const CallRequest&) {
    std::vector<Term> all;
    for (const std::string& id : order_) all.push_back(JobStatusTerm(jobs_.at(id).rec));
    return CallOutcome::Return(Term::List(std::move(all)));
  });
  inline_route("subscribe", 1, [this](const CallRequest& req) {
    return Subscribe(req, req.caller_pid);
  });
  inline_route("subscribe", 2, [this](const CallRequest& req) {
    return Subscribe(req, req.args[1]);
  });
  Route await;
  await.execution = Route::Execution::kAsync;
  await.run_async = [this](CallRequest req, CallDone done) { Await(std::move(req), done); };
  router_->Add("jobs", "await", 2, std::move(await));
}

JobsService::Job* JobsService::Find(const Term& id) {
  if (!id.is_binary()) return nullptr;
  auto it = jobs_.find(id.text());
  return it == jobs_.end() ? nullptr : &it->second;
}

CallOutcome JobsService::Submit(const CallRequest& req) {
  const Term& m = req.args[0];
  const Term& f = req.args[1];
  const Term& a = req.args[2];
  const char* fn = "submit";
  if (!m.is_atom() || !f.is_atom() || !a.is_proper_list() || m.is_atom("jobs")) {
    return CallOutcome::BadArg("jobs", fn, req.args);
  }
  Term subscriber;
  if (req.args.size() == 4) {
    const Term& opts = req.args[3];
    if (!opts.is_map()) return CallOutcome::BadArg("jobs", fn, req.args);
    for (size_t i = 0; i + 1 < opts.size(); i += 2) {
      const Term& v = opts[i + 1];
      if (opts[i].is_atom("subscribe") && v.is_atom("true") && req.caller_pid.is_pid()) {
        subscriber = req.caller_pid;
      } else if (opts[i].is_atom("subscribe") && v.is_pid()) {
        subscriber = v;
      } else if (!(opts[i].is_atom("subscribe") && v.is_atom("false"))) {
        return CallOutcome::BadArg("jobs", fn, req.args);
      }
    }
  }
  int arity = static_cast<int>(a.size());
  if (router_->Find(m.text(), f.text(), arity) == nullptr) {
    return CallOutcome::Return(
        Err(Term::Tuple({Atom("undef"), Term::Tuple({m, f, Term::Int(arity)})})));
  }
  if (queued_ >= config_.max_queued) return CallOutcome::Return(Err(Atom("overloaded")));
  Job job;
  job.rec.id = id_prefix_ + std::to_string(next_seq_++);
  job.rec.module = m.text();
  job.rec.function = f.text();
  job.rec.arity = arity;
  job.rec.submitted_at = SystemMs();
  job.args = a;
  job.cancelled = std::make_shared<std::atomic<bool>>(false);
  if (subscriber.is_pid()) job.subscribers.push_back(subscriber);
  std::string id = job.rec.id;
  store_.Save(job.rec);
  order_.push_back(id);
  jobs_.emplace(id, std::move(job));
  ++queued_;
  StartQueued();
  return CallOutcome::Return(Ok(Term::Binary(id)));
}

void JobsService::StartQueued() {
  for (size_t i = 0; i < order_.size() && queued_ > 0 && running_ < config_.max_running; ++i) {
    auto it = jobs_.find(order_[i]);
    if (it == jobs_.end() || it->second.rec.state != JobState::kQueued) continue;
    Launch(&it->second);
  }
}

void JobsService::Launch(Job* job) {
  --queued_;
  ++running_;
  job->rec.state = JobState::kRunning;
  job->rec.started_at = SystemMs();
  CallRequest req;
  req.module = job->rec.module;
  req.function = job->rec.function;
  req.args = job->args;
  req.cancelled = job->cancelled;
  req.caller_node = "jobs";
  std::string id = job->rec.id;
  req.progress = [inbox = inbox_, id](double p, std::string_view msg) { inbox->Post(id, p, msg); };
  // Dispatch may finish the call before it returns (inline routes): the
  // job is looked up again by id afterwards.
  uint64_t call_id = dispatcher_->Dispatch(
      std::move(req), [this, id](const CallOutcome& o) { OnCallDone(id, o); });
  auto it = jobs_.find(id);
  if (it != jobs_.end() && it->second.rec.state == JobState::kRunning) {
    it->second.call_id = call_id;
  }
}

void JobsService::OnCallDone(const std::string& id, const CallOutcome& o) {
  if (closing_) return;
  auto it = jobs_.find(id);
  if (it == jobs_.end() || it->second.rec.state != JobState::kRunning) return;
  it->second.call_id = 0;
  Finish(&it->second, o.is_error() ? JobState::kFailed : JobState::kDone, ResultOf(o));
}

void JobsService::Finish(Job* job, JobState state, Term result) {
  if (job->rec.state == JobState::kRunning) --running_;
  if (job->rec.state == JobState::kQueued) --queued_;
  job->rec.state = state;
  job->rec.finished_at = SystemMs();
  if (state == JobState::kDone) job->rec.progress = 1.0;
  job->rec.result = std::move(result);
  job->args = Term();
  job->result_bytes = EncodedSize(job->rec.result);
  kept_bytes_ += job->result_bytes;
  store_.Save(job->rec);
  Term id = Term::Binary(job->rec.id);
  for (const Term& pid : job->subscribers) {
    send_(pid, Term::Tuple({Atom("hornbeam_job"), id,
                            Term::Tuple({Atom("done"), job->rec.result})}));
  }
  job->subscribers.clear();
  for (Awaiter& a : job->awaiters) a.done(CallOutcome::Return(job->rec.result));
  job->awaiters.clear();
  Evict();
  StartQueued();
}

CallOutcome JobsService::Cancel(const CallRequest& req) {
  if (!req.args[0].is_binary()) return CallOutcome::BadArg("jobs", "cancel", req.args);
  Job* job = Find(req.args[0]);
  if (job == nullptr) return CallOutcome::Return(Err(Atom("not_found")));
  if (job->rec.finished()) return CallOutcome::Return(Err(Atom("finished")));
  // The flag stops queued worker tasks and tells running code (plugins
  // through their cancel check) to stop; the call's outcome is dropped.
  job->cancelled->store(true, std::memory_order_release);
  if (job->call_id != 0) dispatcher_->Cancel(job->call_id);
  job->call_id = 0;
  Finish(job, JobState::kCancelled, Err(Atom("cancelled")));
  return CallOutcome::Return(Atom("ok"));
}

CallOutcome JobsService::Subscribe(const CallRequest& req, const Term& pid) {
  if (!req.args[0].is_binary() || !pid.is_pid()) {
    return CallOutcome::BadArg("jobs", "subscribe", req.args);
  }
  Job* job = Find(req.args[0]);
  if (job == nullptr) return CallOutcome::Return(Err(Atom("not_found")));
  if (job->rec.finished()) {
    send_(pid, Term::Tuple({Atom("hornbeam_job"), req.args[0],
                            Term::Tuple({Atom("done"), job->rec.result})}));
  } else if (std::find(job->subscribers.begin(), job->subscribers.end(), pid) ==
             job->subscribers.end()) {
    job->subscribers.push_back(pid);
  }
  return CallOutcome::Return(Atom("ok"));
}

void JobsService::Await(CallRequest req, CallDone done) {
  const Term& timeout = req.args[1];
  bool infinite = timeout.is_atom("infinity");
  if (!req.args[0].is_binary() || !(infinite || (timeout.is_int() && timeout.int_value() >= 0))) {
    done(CallOutcome::BadArg("jobs", "await", req.args));
    return;
  }
  Job* job = Find(req.args[0]);
  if (job == nullptr) {
    done(CallOutcome::Return(Err(Atom("not_found"))));
  } else if (job->rec.finished()) {
    done(CallOutcome::Return(job->rec.result));
  } else {
    uint64_t deadline = infinite ? std::numeric_limits<uint64_t>::max()
                                 : uv_now(loop_) + static_cast<uint64_t>(timeout.int_value());
    job->awaiters.push_back({std::move(done), deadline, req.cancelled});
  }
}

void JobsService::DrainProgress() {
  std::unordered_map<std::string, std::pair<double, std::string>> batch;
  {
    MutexLock lock(&inbox_->mu);
    batch.swap(inbox_->latest);
  }
  for (auto& [id, report] : batch) {
    auto it = jobs_.find(id);
    if (it == jobs_.end() || it->second.rec.state != JobState::kRunning) continue;
    Job& job = it->second;
    job.rec.progress = report.first;
    job.rec.message = report.second;
    for (const Term& pid : job.subscribers) {
      send_(pid, Term::Tuple({Atom("hornbeam_job"), Term::Binary(id),
                              Term::Tuple({Atom("progress"), Term::Float(report.first),
                                           Term::Binary(report.second)})}));
    }
  }
}

void JobsService::Tick() {
  uint64_t now = uv_now(loop_);
  for (auto& [id, job] : jobs_) {
    auto& ws = job.awaiters;
    for (auto it = ws.begin(); it != ws.end();) {
      if (it->cancelled && it->cancelled->load(std::memory_order_acquire)) {
        it = ws.erase(it);  // the awaiting caller gave up
      } else if (now >= it->deadline_ms) {
        it->done(CallOutcome::Return(Err(Atom("timeout"))));
        it = ws.erase(it);
      } else {
        ++it;
      }
    }
  }
  Evict();
}

void JobsService::Evict() {
  int64_t now = SystemMs();
  std::vector<std::string> gone;
  for (const std::string& id : order_) {
    const Job& j = jobs_.at(id);
    if (j.rec.finished() && static_cast<uint64_t>(std::max<int64_t>(0, now - j.rec.finished_at)) >=
                                config_.keep_ms) {
      gone.push_back(id);
    }
  }
  for (const std::string& id : gone) Forget(id);
  // Over the byte budget: the longest finished go first.
  while (kept_bytes_ > config_.keep_bytes) {
    const Job* oldest = nullptr;
    for (const std::string& id : order_) {
      const Job& j = jobs_.at(id);
      if (j.rec.finished() && (!oldest || j.rec.finished_at < oldest->rec.finished_at)) {
        oldest = &j;
      }
    }
    if (oldest == nullptr) break;
    std::string id = oldest->rec.id;  // a copy: Forget erases the job
    Forget(id);
  }
}

void JobsService::Forget(const std::string& id) {
  auto it = jobs_.find(id);
  if (it == jobs_.end()) return;
  kept_bytes_ -= it->second.result_bytes;
  store_.Remove(id);
  jobs_.erase(it);
  order_.erase(std::remove(order_.begin(), order_.end(), id), order_.end());
}

}  // namespace hb
