// Batcher: the dynamic batcher of one model, in the manner of Triton's
// dynamic batcher, text-embeddings-inference's queue and vLLM's continuous
// batching.
//
// Calls arrive as BatchJobs (batch_job.h): one text, many texts, or one term
// call. Each model instance has a thread that runs one execute at a time:
//   * an idle model starts a request at once; while instances are busy,
//     arrivals gather into the next batch, and an instance that frees up
//     while others still run waits at most max_queue_delay_us (after the
//     oldest waiting job arrived) for a fuller batch;
//   * interactive jobs go first: a batch is formed from interactive texts
//     whenever any wait, else from bulk ones;
//   * a job of any size is handed out a window at a time (at most
//     window() of its texts issued and not yet finished), so a million-text
//     request streams through in plugin-sized chunks while other calls keep
//     getting their turn, and the daemon never holds more unfinished rows
//     than the window;
//   * texts whose caller gave up are dropped before execute; a cancelled
//     job's texts not yet issued are dropped at once.
//
// Admission: Submit() never blocks. It refuses a job (kOutOfRange: the
// caller answers `overloaded`) only when the texts already waiting -- each
// job counted for at most its window -- leave no room for this job's first
// window: the queue is full of other work, never "this request is big".
//
// Thread: Submit, Stats, Load from any thread; Drain from one thread;
// results are delivered on instance threads.
#pragma once

#include <chrono>
#include <deque>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "daemon/batch_job.h"
#include "daemon/metrics.h"
#include "daemon/plugin.h"

namespace hb {

struct BatcherOptions {
  uint32_t max_batch_size = 64;
  uint64_t max_queue_delay_us = 2000;
  size_t max_queue = 4096;  // texts waiting, all jobs together (see Submit)
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

  // kOutOfRange when the queue is full of other work (overloaded);
  // kUnavailable once draining; kInvalidArgument for a job with no text.
  // On error the job is untouched and `finish` never runs.
  Status Submit(std::shared_ptr<BatchJob> job);
  // Stops accepting, lets queued work finish, joins the instance threads.
  void Drain();
  BatcherStats Stats() const;
  BatcherLoad Load() const;
  const std::string& model() const { return model_; }
  uint32_t output_dim() const { return output_dim_; }
  const BatcherOptions& options() const { return options_; }
  size_t instances() const { return instances_.size(); }
  // Texts of one job issued and not finished, at most.
  size_t window() const { return window_; }
  // The plugin's own limit on tokens per text (0: none it states).
  uint32_t max_tokens() const { return max_tokens_; }

 private:
  // Texts of one job handed to an instance: job->texts[begin, end).
  struct Slice {
    std::shared_ptr<BatchJob> job;
    uint32_t begin = 0;
    uint32_t end = 0;
  };
  // `options` with max_batch_size capped by the plugin's own maximum.
  static BatcherOptions Effective(BatcherOptions options,
                                  const std::vector<std::unique_ptr<InstanceHandle>>& instances);
  // Counts `n` results of `job` finished; runs `finish` after the last.
  static void Done(BatchJob& job, size_t n) noexcept;
  // Marks every text of `batch` failed (internal) and finishes it.
  static void FailUnfinished(std::vector<Slice>& batch, const std::string& what) noexcept;

  BatcherLoad LoadLocked() const REQUIRES(mu_);
  // Texts an instance could take now.
  size_t Takeable(Priority p) const REQUIRES(mu_);
  bool HasWork() const REQUIRES(mu_);
  // How many waiting texts `job` counts for in admission.
  size_t Counted(const BatchJob& job) const;
  // Forms the next batch (interactive first); drops cancelled jobs' texts.
  std::vector<Slice> Take() REQUIRES(mu_);
  // Waits for work; false when draining and nothing is left.
  bool WaitForBatch(std::vector<Slice>* batch) REQUIRES(mu_);
  void Run(size_t slot);
  void RunTexts(InstanceHandle* instance, std::vector<Slice>& batch);
  void RunTerm(InstanceHandle* instance, Slice& slice);
  // Counts one executed batch of `texts` texts and `bytes_in` text bytes.
  void Record(size_t texts, uint64_t bytes_in, uint64_t queue_us, uint64_t exec_us,
              const Status& st, const std::vector<hb_text_result>& results) EXCLUDES(mu_);

  const std::string model_;
  const BatcherOptions options_;
  const uint32_t output_dim_;
  const uint32_t max_tokens_;
  const size_t window_;
  std::vector<std::unique_ptr<InstanceHandle>> instances_;
  std::vector<std::thread> threads_;

  mutable Mutex mu_;
  CondVar cv_;
  // Jobs with texts not yet issued, oldest first, by priority.
  std::deque<std::shared_ptr<BatchJob>> pending_[2] GUARDED_BY(mu_);
  size_t waiting_ GUARDED_BY(mu_) = 0;     // sum of Counted() over pending jobs
  size_t unissued_ GUARDED_BY(mu_) = 0;    // texts not yet issued, all jobs
  size_t busy_ GUARDED_BY(mu_) = 0;        // instances executing
  bool draining_ GUARDED_BY(mu_) = false;
  BatcherStats stats_ GUARDED_BY(mu_);
  // Per instance: when its running execute began (time_point() when idle).
  std::vector<std::chrono::steady_clock::time_point> execute_started_ GUARDED_BY(mu_);
};

}  // namespace hb
