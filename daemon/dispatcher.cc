#include "daemon/dispatcher.h"

#include <exception>

#include "base/catch_all.h"
#include "base/log.h"

namespace hb {
namespace {

// Runs a route's synchronous body. A C++ exception (out of memory, in
// practice) fails this call only, with internal_error.
CallOutcome RunGuarded(const Route::RunFn& run, const CallRequest& req) {
  CallOutcome out;
  std::string what;
  if (!CatchAll("route", [&] { out = run(req); }, &what)) {
    out = CallOutcome::InternalError(req.module, req.function, req.args, what);
  }
  return out;
}

// What the caller receives, in external term format (see CallStats).
uint64_t OutcomeBytes(const CallOutcome& o) {
  return EncodedSize(o.value) + (o.kind == CallOutcome::Kind::kError ? EncodedSize(o.stack) : 0);
}

}  // namespace

Dispatcher::Dispatcher(uv_loop_t* loop, Router* router, WorkerPool* pool, Metrics* metrics)
    : loop_(loop), router_(router), pool_(pool), metrics_(metrics) {
  uv_async_init(loop_, &async_, [](uv_async_t* a) { static_cast<Dispatcher*>(a->data)->Drain(); });
  async_.data = this;
}

Dispatcher::~Dispatcher() = default;

void Dispatcher::Close(std::function<void()> closed) {
  closed_ = std::move(closed);
  uv_close(reinterpret_cast<uv_handle_t*>(&async_), [](uv_handle_t* h) {
    auto* self = static_cast<Dispatcher*>(h->data);
    if (self->closed_) self->closed_();
  });
}

uint64_t Dispatcher::Dispatch(CallRequest req, DoneFn done) {
  uint64_t id = next_id_++;
  uint64_t start = uv_hrtime();
  if (!req.cancelled) req.cancelled = std::make_shared<std::atomic<bool>>(false);
  int arity = static_cast<int>(req.args.size());
  uint64_t bytes_in = EncodedSize(req.args);
  const Route* route = router_->Find(req.module, req.function, arity);
  // Unrouted and inline calls finish here, never counted as in flight. One
  // metrics key for every unrouted name: a caller must not be able to grow
  // the metrics map without bound by inventing module names.
  if (route == nullptr || route->execution == Route::Execution::kInline) {
    CallOutcome o = route ? RunGuarded(route->run, req)
                          : CallOutcome::Undef(req.module, req.function, req.args);
    uint64_t us = (uv_hrtime() - start) / 1000;
    metrics_->RecordCall(route ? req.module : "$unrouted", route ? req.function : "$unrouted", us,
                         o.is_error(), o.ReasonLabel(), bytes_in, OutcomeBytes(o));
    done(o);
    return id;
  }
  calls_[id] = Pending{std::move(done), req.cancelled, req.module, req.function, start, bytes_in};
  switch (route->execution) {
    case Route::Execution::kInline:
      break;  // handled above
    case Route::Execution::kWorker: {
      auto run = route->run;  // copy: the route table may change meanwhile
      pool_->Submit([this, id, run, req = std::move(req)] {
        // A caller that gave up while this waited in the queue costs nothing.
        if (req.cancelled->load(std::memory_order_acquire)) return;
        Post(id, RunGuarded(run, req));
      });
      break;
    }
    case Route::Execution::kAsync: {
      // A route that throws before it hands the call on fails the call; a
      // second completion after its own is ignored (Complete finds no id).
      // The frame names the arity: the arguments may be large, and were
      // handed on.
      std::string module = req.module, function = req.function, what;
      Term arity = Term::Int(static_cast<int64_t>(req.args.size()));
      if (!CatchAll("route", [&] {
            route->run_async(std::move(req), [this, id](CallOutcome o) { Post(id, std::move(o)); });
          }, &what)) {
        Post(id, CallOutcome::InternalError(module, function, arity, what));
      }
      break;
    }
  }
  return id;
}

void Dispatcher::Cancel(uint64_t call_id) {
  auto it = calls_.find(call_id);
  if (it == calls_.end()) return;
  it->second.cancelled->store(true, std::memory_order_release);
  metrics_->RecordCancelled(it->second.module, it->second.function);
  calls_.erase(it);
}

void Dispatcher::Post(uint64_t id, CallOutcome outcome) {
  {
    MutexLock lock(&mu_);
    completed_.push_back({id, std::move(outcome)});
  }
  uv_async_send(&async_);
}

void Dispatcher::Drain() {
  std::vector<Completed> batch;
  {
    MutexLock lock(&mu_);
    batch.swap(completed_);
  }
  for (Completed& c : batch) {
    // What `done` does next (encode the reply, send it) stays this call's
    // business: an exception there loses that reply only.
    CatchAll("call completion", [&] { Complete(c.id, c.outcome); });
  }
}

void Dispatcher::Complete(uint64_t id, const CallOutcome& outcome) {
  auto it = calls_.find(id);
  if (it == calls_.end()) return;  // cancelled meanwhile
  Pending p = std::move(it->second);
  calls_.erase(it);
  uint64_t us = (uv_hrtime() - p.start_ns) / 1000;
  metrics_->RecordCall(p.module, p.function, us, outcome.is_error(), outcome.ReasonLabel(),
                       p.bytes_in, OutcomeBytes(outcome));
  p.done(outcome);
}

}  // namespace hb
