#include "daemon/batcher.h"

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/log.h"

namespace hb {
namespace {

using Clock = std::chrono::steady_clock;

uint64_t MicrosSince(Clock::time_point t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count());
}

}  // namespace

Batcher::Batcher(std::string model, BatcherOptions options,
                 std::vector<std::unique_ptr<InstanceHandle>> instances)
    : model_(std::move(model)), options_(options), instances_(std::move(instances)) {
  if (!instances_.empty()) {
    const ModelCaps& caps = instances_[0]->model().caps();
    output_dim_ = caps.output_dim;
    // Never hand a plugin more than it said it takes.
    const_cast<BatcherOptions&>(options_).max_batch_size =
        std::max<uint32_t>(1, std::min(options_.max_batch_size, caps.max_batch_size));
  }
  execute_started_.resize(instances_.size());
  for (auto& inst : instances_) {
    InstanceHandle* raw = inst.get();
    threads_.emplace_back([this, raw] { Run(raw); });
  }
}

Batcher::~Batcher() { Drain(); }

Status Batcher::Submit(std::shared_ptr<BatchJob> job) {
  const bool text = job->kind == BatchJob::Kind::kText;
  size_t n = text ? job->texts.size() : 1;
  // Prepared outside the lock, given to the job only once it is accepted: a
  // refused job stays as the caller made it.
  std::vector<float> output;
  std::vector<hb_status> status;
  std::vector<std::string> messages;
  if (text) {
    output.assign(n * output_dim_, 0.0f);
    status.assign(n, HB_OK);
    messages.assign(n, std::string());
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_) return Unavailable("model '" + model_ + "' is draining");
    if (queue_.size() + n > options_.max_queue) {
      ++stats_.rejected_overloaded;
      return OutOfRange("model '" + model_ + "' queue is full (" +
                        std::to_string(options_.max_queue) + " texts)");
    }
    if (text) {
      job->output = std::move(output);
      job->status = std::move(status);
      job->messages = std::move(messages);
    }
    job->remaining.store(n, std::memory_order_relaxed);
    job->enqueued = Clock::now();
    for (size_t i = 0; i < n; ++i) queue_.push_back({job, static_cast<uint32_t>(i)});
    ++stats_.jobs;
    stats_.texts += job->kind == BatchJob::Kind::kText ? n : 0;
  }
  cv_.notify_one();
  return Status::Ok();
}

void Batcher::Drain() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (draining_ && threads_.empty()) return;
    draining_ = true;
  }
  cv_.notify_all();
  for (std::thread& t : threads_) {
    if (t.joinable()) t.join();
  }
  threads_.clear();
}

BatcherLoad Batcher::LoadLocked() const {
  BatcherLoad load;
  load.queue_depth = queue_.size();
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
  std::lock_guard<std::mutex> lock(mu_);
  return LoadLocked();
}

BatcherStats Batcher::Stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  BatcherStats s = stats_;
  BatcherLoad load = LoadLocked();
  s.queue_depth = load.queue_depth;
  s.busy_instances = load.busy_instances;
  s.longest_running_execute_ms = load.longest_running_execute_ms;
  return s;
}

void Batcher::Done(const std::shared_ptr<BatchJob>& job, size_t n) {
  if (job->remaining.fetch_sub(n, std::memory_order_acq_rel) == n && job->finish) {
    job->finish(*job);
  }
}

void Batcher::Run(InstanceHandle* instance) {
  size_t slot = 0;
  for (size_t i = 0; i < instances_.size(); ++i) {
    if (instances_[i].get() == instance) slot = i;
  }
  const auto delay = std::chrono::microseconds(options_.max_queue_delay_us);
  for (;;) {
    std::vector<Item> batch;
    {
      std::unique_lock<std::mutex> lock(mu_);
      cv_.wait(lock, [this] { return draining_ || !queue_.empty(); });
      if (queue_.empty()) return;  // draining and nothing left
      // Wait for a full batch, but never past the oldest text's deadline.
      auto deadline = queue_.front().job->enqueued + delay;
      while (!draining_ && queue_.size() < options_.max_batch_size && Clock::now() < deadline) {
        cv_.wait_until(lock, deadline);
        if (queue_.empty()) break;
      }
      if (queue_.empty()) continue;  // another instance took it
      if (queue_.front().job->kind == BatchJob::Kind::kTerm) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      } else {
        while (!queue_.empty() && batch.size() < options_.max_batch_size &&
               queue_.front().job->kind == BatchJob::Kind::kText) {
          batch.push_back(std::move(queue_.front()));
          queue_.pop_front();
        }
      }
      execute_started_[slot] = Clock::now();
      if (!queue_.empty()) cv_.notify_one();  // more work for a sibling
    }
    if (batch[0].job->kind == BatchJob::Kind::kTerm) {
      RunTerm(instance, batch[0]);
    } else {
      RunTexts(instance, batch);
    }
    std::lock_guard<std::mutex> lock(mu_);
    execute_started_[slot] = Clock::time_point();
  }
}

namespace {

const char* StatusName(hb_status s) {
  switch (s) {
    case HB_ERR_INVALID_ARGUMENT: return "invalid_argument";
    case HB_ERR_UNSUPPORTED: return "unsupported";
    case HB_ERR_RESOURCE: return "resource";
    case HB_ERR_INTERNAL: return "internal";
    case HB_ERR_UNAVAILABLE: return "unavailable";
    case HB_ERR_CANCELLED: return "cancelled";
    default: return "other";  // a plugin's own code: one label, not one each
  }
}

}  // namespace

void Batcher::RunTexts(InstanceHandle* instance, std::vector<Item>& batch) {
  // Drop texts whose caller has gone before spending compute on them.
  std::vector<Item> live;
  live.reserve(batch.size());
  size_t dropped = 0;
  for (Item& it : batch) {
    if (it.job->cancelled && it.job->cancelled->load(std::memory_order_acquire)) {
      ++dropped;
      Done(it.job, 1);
    } else {
      live.push_back(std::move(it));
    }
  }
  uint64_t queue_us_max = 0;
  for (Item& it : live) queue_us_max = std::max(queue_us_max, MicrosSince(it.job->enqueued));
  Status st = Status::Ok();
  uint64_t exec_us = 0;
  if (!live.empty()) {
    std::vector<hb_text_request> reqs(live.size());
    std::vector<hb_text_result> results(live.size());
    for (size_t i = 0; i < live.size(); ++i) {
      const std::string& text = live[i].job->texts[live[i].index];
      reqs[i].text = text.data();
      reqs[i].length = text.size();
      reqs[i].token = live[i].job->cancelled ? CancelToken(live[i].job->cancelled.get()) : 0;
      results[i].embedding = live[i].job->output.data() + size_t{live[i].index} * output_dim_;
      results[i].status = HB_OK;
      results[i].message[0] = '\0';
    }
    auto t0 = Clock::now();
    st = instance->ExecuteText(reqs.data(), results.data(), static_cast<uint32_t>(live.size()));
    exec_us = MicrosSince(t0);
    for (size_t i = 0; i < live.size(); ++i) {
      BatchJob& job = *live[i].job;
      uint32_t idx = live[i].index;
      if (!st.ok()) {
        job.status[idx] = HB_ERR_INTERNAL;
        job.messages[idx] = st.message();
        continue;
      }
      job.status[idx] = results[i].status;
      if (results[i].status != HB_OK) {
        job.messages[idx] =
            std::string(results[i].message, strnlen(results[i].message, sizeof(results[i].message)));
        continue;
      }
      // A plugin that returns NaN or infinities has failed that text.
      const float* v = job.output.data() + size_t{idx} * output_dim_;
      for (uint32_t k = 0; k < output_dim_; ++k) {
        if (!std::isfinite(v[k])) {
          job.status[idx] = HB_ERR_INTERNAL;
          job.messages[idx] = "model produced a non-finite value";
          break;
        }
      }
    }
  }
  {
    std::lock_guard<std::mutex> lock(mu_);
    stats_.dropped_cancelled += dropped;
    for (const Item& it : live) {
      const BatchJob& job = *it.job;
      stats_.bytes_in += job.texts[it.index].size();
      hb_status code = job.status[it.index];
      if (code == HB_OK) {
        stats_.bytes_out += uint64_t{output_dim_} * sizeof(float);
      } else {
        ++stats_.errors_by_reason[StatusName(code)];
      }
    }
    if (!live.empty()) {
      ++stats_.batches;
      stats_.batch_size.Record(live.size());
      stats_.queue_us.Record(queue_us_max);
      stats_.execute_us.Record(exec_us);
      if (!st.ok()) ++stats_.batch_errors;
    }
  }
  if (!st.ok()) HB_LOG_WARN("model '" + model_ + "': execute failed: " + st.message());
  for (Item& it : live) Done(it.job, 1);
}

void Batcher::RunTerm(InstanceHandle* instance, Item& item) {
  BatchJob& job = *item.job;
  if (job.cancelled && job.cancelled->load(std::memory_order_acquire)) {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.dropped_cancelled;
  } else {
    hb_term_request req;
    req.function = job.function.c_str();
    req.arity = job.arity;
    req.args = reinterpret_cast<const uint8_t*>(job.args_etf.data());
    req.args_length = job.args_etf.size();
    req.token = job.cancelled ? CancelToken(job.cancelled.get()) : 0;
    auto t0 = Clock::now();
    uint64_t queued = MicrosSince(job.enqueued);
    Status st = instance->ExecuteTerm(req, &job.result_etf, &job.term_code);
    if (!st.ok()) job.term_message = st.message();
    std::lock_guard<std::mutex> lock(mu_);
    stats_.bytes_in += job.args_etf.size();
    if (job.term_code == HB_OK) {
      stats_.bytes_out += job.result_etf.size();
    } else {
      ++stats_.errors_by_reason[StatusName(job.term_code)];
    }
    ++stats_.batches;
    stats_.batch_size.Record(1);
    stats_.queue_us.Record(queued);
    stats_.execute_us.Record(MicrosSince(t0));
  }
  Done(item.job, 1);
}

}  // namespace hb
