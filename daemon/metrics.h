// Metrics: counters and latency summaries per {Module, Function}.
//
// Thread: the loop thread only (every call completes there), so no locks.
// Latencies go into a log-linear histogram (32 sub-buckets per power of two:
// about 3% relative error) from which p50/p99 are read.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <string>
#include <utility>

#include "ei_bridge/term.h"

namespace hb {

class LatencyHistogram {
 public:
  static constexpr int kSubBits = 5;
  static constexpr int kBuckets = (64 - kSubBits + 1) << kSubBits;
  void Record(uint64_t us);
  // q in [0, 1]; 0 when empty. Returns the upper bound of the bucket.
  uint64_t Quantile(double q) const;
  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }

 private:
  static int BucketOf(uint64_t v);
  static uint64_t UpperBound(int bucket);
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
};

struct CallStats {
  uint64_t count = 0;
  uint64_t errors = 0;
  uint64_t cancelled = 0;
  // External term format sizes: of the argument list a call came with, and
  // of the value (or exception) it returned -- the payload, not the few
  // bytes of distribution framing around it.
  uint64_t bytes_in = 0;
  uint64_t bytes_out = 0;
  std::map<std::string, uint64_t> errors_by_reason;
  LatencyHistogram latency_us;
};

class Metrics {
 public:
  void RecordCall(const std::string& module, const std::string& function, uint64_t latency_us,
                  bool error, const std::string& reason, uint64_t bytes_in = 0,
                  uint64_t bytes_out = 0);
  void RecordCancelled(const std::string& module, const std::string& function);
  // A call refused before it ran (a limit, draining), by reason.
  void RecordRejected(const std::string& reason) {
    ++rejected_total_;
    ++rejected_by_reason_[reason];
  }
  const std::map<std::string, uint64_t>& rejected_by_reason() const { return rejected_by_reason_; }

  uint64_t requests_total() const { return requests_total_; }
  uint64_t errors_total() const { return errors_total_; }
  uint64_t cancelled_total() const { return cancelled_total_; }
  const std::map<std::pair<std::string, std::string>, CallStats>& calls() const { return calls_; }

  // The map metrics:get_all/0 returns (with `inflight` supplied by the caller).
  Term ToTerm(uint64_t inflight) const;

 private:
  uint64_t requests_total_ = 0;
  uint64_t errors_total_ = 0;
  uint64_t cancelled_total_ = 0;
  uint64_t rejected_total_ = 0;
  std::map<std::string, uint64_t> rejected_by_reason_;
  std::map<std::pair<std::string, std::string>, CallStats> calls_;
};

}  // namespace hb
