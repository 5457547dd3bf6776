// Batcher: running one batch on an instance thread and handing the results
// back (see batcher.h). Everything that can throw happens before the first
// result is delivered, so a failure fails exactly the batch (FailUnfinished).
#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/catch_all.h"
#include "base/log.h"
#include "daemon/batcher.h"
#include "daemon/batcher_util.h"

namespace hb {
namespace {

using batcher_internal::Clock;
using batcher_internal::Cancelled;
using batcher_internal::Deliver;
using batcher_internal::MicrosSince;

// One text that runs (or was refused for its length).
struct Item {
  BatchJob* job;
  uint32_t index;
  uint32_t too_long_tokens;  // > 0: not run
};

// A plugin that returns NaN or infinities has failed that text.
void CheckFinite(const float* row, uint32_t dim, hb_text_result* r) {
  for (uint32_t k = 0; k < dim; ++k) {
    if (!std::isfinite(row[k])) {
      r->status = HB_ERR_INTERNAL;
      snprintf(r->message, sizeof(r->message), "%s", "model produced a non-finite value");
      return;
    }
  }
}

}  // namespace

void Batcher::RunTexts(InstanceHandle* instance, std::vector<Slice>& batch) {
  std::vector<Item> run, refused;
  size_t dropped = 0;
  uint64_t queue_us = 0;
  for (Slice& s : batch) {
    BatchJob& job = *s.job;
    if (Cancelled(job)) {
      dropped += s.end - s.begin;  // its caller is gone: no compute spent
      continue;
    }
    queue_us = std::max(queue_us, MicrosSince(job.enqueued));
    for (uint32_t i = s.begin; i < s.end; ++i) {
      uint32_t tokens = 0;
      bool too_long = job.check_length && max_tokens_ > 0 &&
                      instance->CountTokens(job.texts[i], &tokens) && tokens > max_tokens_;
      (too_long ? refused : run).push_back({&job, i, too_long ? tokens : 0});
    }
  }
  std::vector<float> out(run.size() * output_dim_);
  std::vector<hb_text_request> reqs(run.size());
  std::vector<hb_text_result> results(run.size());
  for (size_t i = 0; i < run.size(); ++i) {
    std::string_view text = run[i].job->texts[run[i].index];
    reqs[i].text = text.data();
    reqs[i].length = text.size();
    reqs[i].token = run[i].job->cancelled ? CancelToken(run[i].job->cancelled.get()) : 0;
    results[i].embedding = out.data() + i * output_dim_;
    results[i].status = HB_OK;
    results[i].message[0] = '\0';
  }
  Status st = Status::Ok();
  auto t0 = Clock::now();
  if (!run.empty()) {
    st = instance->ExecuteText(reqs.data(), results.data(), static_cast<uint32_t>(run.size()));
  }
  uint64_t exec_us = MicrosSince(t0);
  for (size_t i = 0; i < run.size() && st.ok(); ++i) {
    if (results[i].status == HB_OK) CheckFinite(results[i].embedding, output_dim_, &results[i]);
  }
  uint64_t bytes_in = 0;
  for (const hb_text_request& r : reqs) bytes_in += r.length;
  Record(run.size(), bytes_in, queue_us, exec_us, st, results);
  if (!st.ok()) HB_LOG_WARN("model '" + model_ + "': execute failed: " + st.message());
  {
    MutexLock lock(&mu_);
    stats_.dropped_cancelled += dropped;
  }

  // From here nothing throws: every result goes back, then every job counts
  // its texts done.
  for (const Item& it : refused) {
    TextResult r;
    r.index = it.index;
    r.status = HB_ERR_INVALID_ARGUMENT;
    r.message = "text longer than the model reads";
    r.too_long_tokens = it.too_long_tokens;
    Deliver(*it.job, r);
  }
  for (size_t i = 0; i < run.size(); ++i) {
    TextResult r;
    r.index = run[i].index;
    r.status = st.ok() ? results[i].status : HB_ERR_INTERNAL;
    if (r.status == HB_OK) {
      r.row = results[i].embedding;
    } else {
      r.message = st.ok() ? std::string_view(results[i].message,
                                             strnlen(results[i].message, sizeof(results[i].message)))
                          : std::string_view(st.message());
    }
    Deliver(*run[i].job, r);
  }
  for (Slice& s : batch) Done(*s.job, s.end - s.begin);
}

void Batcher::Record(size_t texts, uint64_t bytes_in, uint64_t queue_us, uint64_t exec_us,
                     const Status& st, const std::vector<hb_text_result>& results) {
  MutexLock lock(&mu_);
  stats_.bytes_in += bytes_in;
  for (const hb_text_result& r : results) {
    hb_status code = st.ok() ? r.status : HB_ERR_INTERNAL;
    if (code == HB_OK) {
      stats_.bytes_out += uint64_t{output_dim_} * sizeof(float);
    } else {
      ++stats_.errors_by_reason[PluginStatusName(code)];
    }
  }
  if (texts == 0) return;
  ++stats_.batches;
  stats_.batch_size.Record(texts);
  stats_.queue_us.Record(queue_us);
  stats_.execute_us.Record(exec_us);
  if (!st.ok()) ++stats_.batch_errors;
}

void Batcher::RunTerm(InstanceHandle* instance, Slice& slice) {
  BatchJob& job = *slice.job;
  hb_term_request req;
  req.function = job.function.c_str();
  req.arity = job.arity;
  req.args = reinterpret_cast<const uint8_t*>(job.args_etf.data());
  req.args_length = job.args_etf.size();
  req.token = job.cancelled ? CancelToken(job.cancelled.get()) : 0;
  auto t0 = Clock::now();
  uint64_t queued = MicrosSince(job.enqueued);
  // A job's cancel flag is its own: its token names this execute alone.
  bool reports = job.progress && req.token != 0;
  if (reports) RegisterProgress(req.token, job.progress);
  Status st = instance->ExecuteTerm(req, &job.result_etf, &job.term_code);
  if (reports) UnregisterProgress(req.token);
  if (!st.ok()) job.term_message = st.message();
  {
    MutexLock lock(&mu_);
    stats_.bytes_in += job.args_etf.size();
    if (job.term_code == HB_OK) {
      stats_.bytes_out += job.result_etf.size();
    } else {
      ++stats_.errors_by_reason[PluginStatusName(job.term_code)];
    }
    ++stats_.batches;
    stats_.batch_size.Record(1);
    stats_.queue_us.Record(queued);
    stats_.execute_us.Record(MicrosSince(t0));
  }
  Done(job, 1);
}

}  // namespace hb
