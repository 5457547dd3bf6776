// BatchJob: one call's work for a model's Batcher -- texts to embed (one,
// many, or a million) or one term call -- and how its results come back.
//
// Ownership: the caller builds the job and hands the Batcher a shared_ptr;
// texts are views into memory that `keepalive` owns (the call's decoded
// arguments), so a big request is never copied. The Batcher hands texts to
// instances a window at a time (see batcher.h); results come back through
// `deliver`, one per text, in any order and possibly from several instance
// threads at once, then `finish` runs once, after the last.
//
// Thread: built on the loop thread; afterwards the Batcher and instance
// threads own the bookkeeping fields; `deliver` and `finish` run on
// instance threads.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "hornbeam/plugin.h"

namespace hb {

enum class Priority {
  kInteractive = 0,  // goes first: one query a user waits for
  kBulk = 1,         // yields to interactive work: document sets, back-fills
};

// One text's outcome. `row` points at output_dim floats (valid only during
// the call) when status is HB_OK.
struct TextResult {
  uint32_t index = 0;  // into BatchJob::texts
  const float* row = nullptr;
  hb_status status = HB_OK;
  std::string_view message;  // on error
  // When the job asked for lengths to be checked and the text is longer than
  // the model reads: its token count (status HB_ERR_INVALID_ARGUMENT).
  uint32_t too_long_tokens = 0;
};

struct BatchJob {
  enum class Kind { kText, kTerm };
  Kind kind = Kind::kText;
  Priority priority = Priority::kInteractive;

  // kText
  std::shared_ptr<const void> keepalive;  // owns what `texts` point into
  std::vector<std::string_view> texts;
  bool check_length = false;  // refuse texts longer than the model reads
  std::function<void(const TextResult&)> deliver;

  // kTerm
  std::string function;
  uint32_t arity = 0;
  std::string args_etf;
  std::string result_etf;
  hb_status term_code = HB_OK;
  std::string term_message;
  // The plugin's progress reports (ABI 1.3) while it executes; empty
  // unless the call runs as a job.
  std::function<void(double, std::string_view)> progress;

  std::shared_ptr<std::atomic<bool>> cancelled;  // the caller gave up
  std::function<void(BatchJob&)> finish;         // once, after the last result

  // ---- the Batcher's bookkeeping ----
  size_t size() const { return kind == Kind::kText ? texts.size() : 1; }
  size_t issued = 0;                   // handed to instances (Batcher's mutex)
  std::atomic<size_t> completed{0};    // delivered
  std::chrono::steady_clock::time_point enqueued;
};

}  // namespace hb
