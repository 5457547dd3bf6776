// Small helpers the Batcher's two files share (batcher.cc: scheduling,
// batcher_exec.cc: running a batch). Internal to the Batcher.
#pragma once

#include <chrono>
#include <cstdint>

#include "base/catch_all.h"
#include "daemon/batch_job.h"

namespace hb::batcher_internal {

using Clock = std::chrono::steady_clock;

inline uint64_t MicrosSince(Clock::time_point t) {
  return static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::microseconds>(Clock::now() - t).count());
}

inline bool Cancelled(const BatchJob& j) {
  return j.cancelled && j.cancelled->load(std::memory_order_acquire);
}

// Hands one result to the job's owner; what it throws stays here.
inline void Deliver(BatchJob& job, const TextResult& r) noexcept {
  if (job.deliver) CatchAll("delivering a result", [&] { job.deliver(r); });
}

}  // namespace hb::batcher_internal
