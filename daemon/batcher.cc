#include "daemon/batcher.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/catch_all.h"
#include "base/log.h"
#include "daemon/batcher_util.h"

namespace hb {
namespace {

using batcher_internal::Clock;
using batcher_internal::Cancelled;
using batcher_internal::Deliver;

size_t Unissued(const BatchJob& j) { return j.size() - j.issued; }
size_t Inflight(const BatchJob& j) {
  return j.issued - j.completed.load(std::memory_order_acquire);
}

}  // namespace

BatcherOptions Batcher::Effective(BatcherOptions options,
                                  const std::vector<std::unique_ptr<InstanceHandle>>& instances) {
  if (!instances.empty()) {
    // Never hand a plugin more than it said it takes.
    uint32_t plugin_max = instances[0]->model().caps().max_batch_size;
    options.max_batch_size = std::max<uint32_t>(1, std::min(options.max_batch_size, plugin_max));
  }
  return options;
}

Batcher::Batcher(std::string model, BatcherOptions options,
                 std::vector<std::unique_ptr<InstanceHandle>> instances)
    : model_(std::move(model)),
      options_(Effective(options, instances)),
      output_dim_(instances.empty() ? 0 : instances[0]->model().caps().output_dim),
      max_tokens_(instances.empty() ? 0 : instances[0]->model().caps().max_tokens),
      // Enough of one job in flight to keep every instance busy with full
      // batches and the next one ready; never more than the queue holds.
      window_(std::max<size_t>(1, std::min<size_t>(options_.max_queue,
                                                   (instances.size() + 1) *
                                                       options_.max_batch_size))),
      instances_(std::move(instances)) {
  execute_started_.resize(instances_.size());
  for (size_t slot = 0; slot < instances_.size(); ++slot) {
    threads_.emplace_back([this, slot] { Run(slot); });
  }
}

Batcher::~Batcher() { Drain(); }

size_t Batcher::Counted(const BatchJob& job) const { return std::min(Unissued(job), window_); }

Status Batcher::Submit(std::shared_ptr<BatchJob> job) {
  const size_t n = job->size();
  if (n == 0) return InvalidArgument("a job with nothing to do");
  {
    MutexLock lock(&mu_);
    if (draining_) return Unavailable("model '" + model_ + "' is draining");
    if (waiting_ + std::min(n, window_) > options_.max_queue) {
      ++stats_.rejected_overloaded;
      return OutOfRange("model '" + model_ + "' queue is full (" +
                        std::to_string(options_.max_queue) + " texts)");
    }
    // Accepted: only now is the job the Batcher's to change.
    job->issued = 0;
    job->completed.store(0, std::memory_order_relaxed);
    job->enqueued = Clock::now();
    waiting_ += Counted(*job);
    unissued_ += n;
    ++stats_.jobs;
    stats_.texts += job->kind == BatchJob::Kind::kText ? n : 0;
    pending_[static_cast<int>(job->priority)].push_back(std::move(job));
  }
  cv_.Signal();
  return Status::Ok();
}

void Batcher::Drain() {
  {
    MutexLock lock(&mu_);
    if (draining_ && threads_.empty()) return;
    draining_ = true;
  }
  cv_.SignalAll();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

BatcherLoad Batcher::LoadLocked() const {
  BatcherLoad load;
  load.queue_depth = unissued_;
  auto now = Clock::now();
  for (const auto& t : execute_started_) {
    if (t == Clock::time_point()) continue;
    ++load.busy_instances;
    load.longest_running_execute_ms = std::max<uint64_t>(
        load.longest_running_execute_ms,
        std::chrono::duration_cast<std::chrono::milliseconds>(now - t).count());
  }
  return load;
}

BatcherLoad Batcher::Load() const {
  MutexLock lock(&mu_);
  return LoadLocked();
}

BatcherStats Batcher::Stats() const {
  MutexLock lock(&mu_);
  BatcherStats s = stats_;
  BatcherLoad load = LoadLocked();
  s.queue_depth = load.queue_depth;
  s.busy_instances = load.busy_instances;
  s.longest_running_execute_ms = load.longest_running_execute_ms;
  return s;
}

size_t Batcher::Takeable(Priority p) const {
  size_t n = 0;
  for (const auto& job : pending_[static_cast<int>(p)]) {
    if (Cancelled(*job)) return options_.max_batch_size;  // Take() will drop it
    size_t room = window_ - std::min(window_, Inflight(*job));
    n += std::min(Unissued(*job), room);
    if (n >= options_.max_batch_size) break;  // enough to know a batch is full
  }
  return n;
}

bool Batcher::HasWork() const {
  return Takeable(Priority::kInteractive) > 0 || Takeable(Priority::kBulk) > 0;
}

void Batcher::Done(BatchJob& job, size_t n) noexcept {
  if (n == 0) return;
  if (job.completed.fetch_add(n, std::memory_order_acq_rel) + n == job.size() && job.finish) {
    // `finish` answers the caller; if it throws, that call's answer is lost
    // (its caller times out) but the instance thread serves on.
    CatchAll("finishing a call", [&] { job.finish(job); });
  }
}

std::vector<Batcher::Slice> Batcher::Take() {
  const Priority p = Takeable(Priority::kInteractive) > 0 ? Priority::kInteractive
                                                           : Priority::kBulk;
  std::deque<std::shared_ptr<BatchJob>>& jobs = pending_[static_cast<int>(p)];
  std::vector<Slice> batch;
  size_t room = options_.max_batch_size;
  for (auto it = jobs.begin(); it != jobs.end() && room > 0;) {
    BatchJob& job = **it;
    // A cancelled job's texts not yet issued are dropped at once (finished
    // by the caller of Take, outside the lock, as a slice with no work).
    bool cancelled = Cancelled(job);
    if (job.kind == BatchJob::Kind::kTerm && !batch.empty() && !cancelled) break;  // alone
    size_t avail = cancelled ? Unissued(job)
                             : std::min({Unissued(job), room,
                                         window_ - std::min(window_, Inflight(job))});
    if (avail == 0) {
      ++it;
      continue;  // window full: its results are still coming
    }
    size_t before = Counted(job);
    Slice s{*it, static_cast<uint32_t>(job.issued), static_cast<uint32_t>(job.issued + avail)};
    job.issued += avail;
    waiting_ -= before - Counted(job);
    unissued_ -= avail;
    if (!cancelled) room -= avail;
    batch.push_back(std::move(s));
    it = Unissued(job) == 0 ? jobs.erase(it) : std::next(it);
    if (job.kind == BatchJob::Kind::kTerm && !cancelled) break;
  }
  return batch;
}

bool Batcher::WaitForBatch(std::vector<Slice>* batch) {
  for (;;) {
    if (!HasWork()) {
      if (draining_ && unissued_ == 0) return false;
      cv_.Wait(&mu_);
      continue;
    }
    // Continuous batching: an idle model starts at once; while other
    // instances run, gather a fuller batch for at most max_queue_delay_us.
    if (busy_ > 0 && !draining_) {
      Priority p = Takeable(Priority::kInteractive) > 0 ? Priority::kInteractive
                                                         : Priority::kBulk;
      const auto& front = pending_[static_cast<int>(p)].front();
      auto deadline = front->enqueued + std::chrono::microseconds(options_.max_queue_delay_us);
      if (Takeable(p) < options_.max_batch_size && Clock::now() < deadline) {
        cv_.WaitUntil(&mu_, deadline);
        if (Takeable(p) < options_.max_batch_size && Clock::now() < deadline && busy_ > 0) {
          continue;  // woken early without a full batch: keep gathering
        }
      }
    }
    *batch = Take();
    if (!batch->empty()) return true;
  }
}

void Batcher::Run(size_t slot) {
  InstanceHandle* instance = instances_[slot].get();
  for (;;) {
    std::vector<Slice> batch;
    {
      MutexLock lock(&mu_);
      if (!WaitForBatch(&batch)) return;
      ++busy_;
      execute_started_[slot] = Clock::now();
      if (HasWork()) cv_.Signal();  // more for a sibling
    }
    // RunTerm and RunTexts finish no job before everything that can throw
    // is done, so a failure here fails exactly this batch.
    std::string what;
    if (!CatchAll("batch", [&] {
          if (batch[0].job->kind == BatchJob::Kind::kTerm && !Cancelled(*batch[0].job)) {
            RunTerm(instance, batch[0]);
          } else {
            RunTexts(instance, batch);
          }
        }, &what)) {
      FailUnfinished(batch, what);
    }
    MutexLock lock(&mu_);
    --busy_;
    execute_started_[slot] = Clock::time_point();
  }
}

void Batcher::FailUnfinished(std::vector<Slice>& batch, const std::string& what) noexcept {
  const std::string message = "host error: " + what;
  for (Slice& s : batch) {
    BatchJob& job = *s.job;
    if (job.kind == BatchJob::Kind::kTerm) {
      job.term_code = HB_ERR_INTERNAL;
      CatchAll("failing a call", [&] { job.term_message = message; });
    } else {
      for (uint32_t i = s.begin; i < s.end; ++i) {
        TextResult r;
        r.index = i;
        r.status = HB_ERR_INTERNAL;
        r.message = message;
        Deliver(job, r);
      }
    }
    Done(job, s.end - s.begin);
  }
}

}  // namespace hb
