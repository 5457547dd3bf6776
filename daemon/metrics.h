// Metrics: counters and latency histograms per {Module, Function}.
//
// Thread: the loop thread only (every call completes there), so no locks.
// Latencies go into a log-linear histogram (32 sub-buckets per power of two:
// about 3% relative error) from which metrics:get_all's p50/p99 are read,
// and into fixed buckets that the Prometheus scrape exports as they are
// (see FixedBuckets).
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <span>
#include <string>
#include <utility>

#include "ei_bridge/term.h"

namespace hb {

// Upper bounds of the buckets exported to Prometheus, ascending; +Inf is
// implicit. Latencies in microseconds: 50 us to 60 s in steps of 2 to 2.5,
// from a hashembed text (tens of us) to a call near the longest rpc timeout.
inline constexpr std::array<uint64_t, 19> kLatencyBucketsUs = {
    50,     100,     250,     500,     1000,    2500,     5000,     10000,    25000,   50000,
    100000, 250000, 500000, 1000000, 2500000, 5000000, 10000000, 25000000, 60000000};
// Texts per execute: powers of two up to 1024 (max_batch_size is 64 by
// default; plugins cap it lower).
inline constexpr std::array<uint64_t, 11> kBatchSizeBuckets = {1,  2,   4,   8,   16,  32,
                                                               64, 128, 256, 512, 1024};

// Counts of observations against fixed upper bounds, exactly as a
// Prometheus histogram has them: bucket i counts the values v with
// bounds[i-1] < v <= bounds[i]; a value equal to a bound is in that bound's
// bucket (`le` is "less than or equal"). The bounds must outlive this (they
// are the static arrays above) and be ascending.
class FixedBuckets {
 public:
  static constexpr size_t kMaxBounds = 24;
  explicit FixedBuckets(std::span<const uint64_t> bounds);
  void Record(uint64_t v);
  std::span<const uint64_t> bounds() const { return bounds_; }
  // Observations <= bounds()[i]: the cumulative `le` count.
  uint64_t CountAtMost(size_t i) const;

 private:
  std::span<const uint64_t> bounds_;
  std::array<uint64_t, kMaxBounds> counts_{};  // per bucket, not cumulative
};

// A log-linear histogram for quantiles, with fixed buckets recorded
// alongside for export. Named for latencies (microseconds) but also counts
// batch sizes (texts), with kBatchSizeBuckets.
class LatencyHistogram {
 public:
  static constexpr int kSubBits = 5;
  static constexpr int kBuckets = (64 - kSubBits + 1) << kSubBits;
  explicit LatencyHistogram(std::span<const uint64_t> fixed_bounds = kLatencyBucketsUs)
      : fixed_(fixed_bounds) {}
  void Record(uint64_t us);
  // q in [0, 1]; 0 when empty. Returns the upper bound of the bucket.
  uint64_t Quantile(double q) const;
  uint64_t count() const { return count_; }
  uint64_t sum() const { return sum_; }  // exact, in the unit recorded
  const FixedBuckets& fixed() const { return fixed_; }

 private:
  static int BucketOf(uint64_t v);
  static uint64_t UpperBound(int bucket);
  std::array<uint64_t, kBuckets> counts_{};
  uint64_t count_ = 0;
  uint64_t sum_ = 0;
  FixedBuckets fixed_;
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
