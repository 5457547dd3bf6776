// Batcher: the dynamic batcher of one model, in the manner of Triton's
// dynamic batcher and text-embeddings-inference's queue.
//
// Calls arrive as Jobs: one text (encode), many texts (batch_encode), or one
// term call (predict-style). Texts of all jobs go into one FIFO queue; each
// model instance has its own thread that takes up to max_batch_size texts,
// waiting at most max_queue_delay_us after the oldest queued text for more to
// arrive, and runs one execute at a time. Instances run in parallel. Texts
// whose caller gave up are dropped before execute. A job finishes when its
// last text does; `finish` then runs on that instance thread.
//
// Submit() never blocks on execution: a queue over max_queue texts refuses
// the job at once (the caller answers `overloaded`).
//
// Thread: Submit, Stats from any thread; Drain from one thread.
#pragma once

#include <atomic>
#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/status.h"
#include "base/mutex.h"
#include "daemon/metrics.h"
#include "daemon/plugin.h"

namespace hb {

struct BatchJob {
  enum class Kind { kText, kTerm };
  Kind kind = Kind::kText;
  // kText
  std::vector<std::string> texts;
  std::vector<float> output;          // texts.size() * output_dim, filled by execute
  std::vector<hb_status> status;      // per text
  std::vector<std::string> messages;  // per text, on error
  // kTerm
  std::string function;
  uint32_t arity = 0;
  std::string args_etf;
  std::string result_etf;
  hb_status term_code = HB_OK;
  std::string term_message;
  // Whole-batch failure (execute returned an error), if any.
  Status batch_error;

  std::shared_ptr<std::atomic<bool>> cancelled;
  std::function<void(BatchJob&)> finish;  // once, on an instance thread

  // Internal bookkeeping.
  std::atomic<size_t> remaining{0};
  std::chrono::steady_clock::time_point enqueued;
};

struct BatcherOptions {
  uint32_t max_batch_size = 64;
  uint64_t max_queue_delay_us = 2000;
  size_t max_queue = 4096;  // texts waiting, all jobs together
};

// What health checks need, read without copying the histograms.
struct BatcherLoad {
  size_t queue_depth = 0;
  uint64_t busy_instances = 0;
  uint64_t longest_running_execute_ms = 0;
};

struct BatcherStats {
  uint64_t jobs = 0;
  uint64_t texts = 0;
  uint64_t batches = 0;
  uint64_t dropped_cancelled = 0;
  uint64_t rejected_overloaded = 0;
  uint64_t batch_errors = 0;
  // Per text (or term call) that failed, by PluginStatusName: "invalid_argument",
  // "internal" (a failed batch counts each of its texts), ...
  std::map<std::string, uint64_t> errors_by_reason;
  // What went through the plugin: text bytes and term arguments in;
  // embeddings (4 bytes a float) and term results out, successes only.
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  size_t queue_depth = 0;
  LatencyHistogram batch_size{kBatchSizeBuckets};
  LatencyHistogram queue_us;
  LatencyHistogram execute_us;
  uint64_t busy_instances = 0;
  uint64_t longest_running_execute_ms = 0;
};

class Batcher {
 public:
  Batcher(std::string model, BatcherOptions options,
          std::vector<std::unique_ptr<InstanceHandle>> instances);
  ~Batcher();  // drains
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // kOutOfRange when the queue is full (overloaded); kUnavailable once
  // draining. On error the job is untouched and `finish` never runs.
  Status Submit(std::shared_ptr<BatchJob> job);
  // Stops accepting, lets queued work finish, joins the instance threads.
  void Drain();
  BatcherStats Stats() const;
  BatcherLoad Load() const;
  const std::string& model() const { return model_; }
  uint32_t output_dim() const { return output_dim_; }
  const BatcherOptions& options() const { return options_; }

 private:
  // `options` with max_batch_size capped by the plugin's own maximum.
  static BatcherOptions Effective(BatcherOptions options,
                                  const std::vector<std::unique_ptr<InstanceHandle>>& instances);
  BatcherLoad LoadLocked() const REQUIRES(mu_);
  struct Item {
    std::shared_ptr<BatchJob> job;
    uint32_t index;
  };
  void Run(InstanceHandle* instance);
  void RunTexts(InstanceHandle* instance, std::vector<Item>& batch);
  void RunTerm(InstanceHandle* instance, Item& item);
  // Counts `n` texts of `job` finished; runs `finish` after the last.
  static void Done(const std::shared_ptr<BatchJob>& job, size_t n) noexcept;
  // Marks every item of `batch` failed (internal) and finishes it.
  static void FailUnfinished(std::vector<Item>& batch, const std::string& what) noexcept;

  const std::string model_;
  const BatcherOptions options_;
  const uint32_t output_dim_;
  std::vector<std::unique_ptr<InstanceHandle>> instances_;
  std::vector<std::thread> threads_;

  mutable Mutex mu_;
  CondVar cv_;
  std::deque<Item> queue_ GUARDED_BY(mu_);
  bool draining_ GUARDED_BY(mu_) = false;
  BatcherStats stats_ GUARDED_BY(mu_);
  // Per instance: when its running execute began (time_point() when idle).
  std::vector<std::chrono::steady_clock::time_point> execute_started_ GUARDED_BY(mu_);
};

}  // namespace hb
