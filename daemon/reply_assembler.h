// ReplyAssembler: the reply of one encode or batch_encode call, built as
// external term format bytes while its rows arrive -- in any order, from any
// instance thread, some straight from the result cache. Rows are appended in
// index order as soon as they are contiguous, so a million-row reply holds
// only the bytes it will send plus the few rows that arrived early. The
// first failure in index order fails the call.
//
// Thread: Put from any thread (one mutex); Take* once Put said so.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <variant>

#include "base/mutex.h"
#include "daemon/batch_job.h"
#include "ei_bridge/term.h"

namespace hb {

class ReplyAssembler {
 public:
  enum class Shape { kOne, kMany };      // encode | batch_encode
  enum class Format { kFloats, kF32 };   // [float()] | <<X:32/float-little, ...>>
  enum class Progress { kMore, kComplete, kFailed };
  struct Failure {
    uint32_t index = 0;  // into the call's texts, from 0
    hb_status status = HB_OK;
    std::string message;
    uint32_t too_long_tokens = 0;
  };

  ReplyAssembler(size_t texts, uint32_t dim, Shape shape, Format format, bool normalize);

  // Takes the result of text `r.index` (of the call). Returns kComplete or
  // kFailed exactly once, to the Put that completed or failed the reply;
  // kMore otherwise (also for every Put after that).
  Progress Put(const TextResult& r) EXCLUDES(mu_);
  // After kComplete: the reply, as one opaque term (moved out).
  Term TakeReply() EXCLUDES(mu_);
  // After kFailed: the first failure in index order.
  Failure TakeFailure() EXCLUDES(mu_);

 private:
  std::string EncodeRow(const float* row) const;
  Progress Advance() REQUIRES(mu_);

  const size_t texts_;
  const uint32_t dim_;
  const Shape shape_;
  const Format format_;
  const bool normalize_;
  Mutex mu_;
  size_t next_ GUARDED_BY(mu_) = 0;  // rows appended so far
  std::map<uint32_t, std::variant<std::string, Failure>> early_ GUARDED_BY(mu_);
  std::string out_ GUARDED_BY(mu_);
  bool finished_ GUARDED_BY(mu_) = false;
  Failure failure_ GUARDED_BY(mu_);
};

}  // namespace hb
