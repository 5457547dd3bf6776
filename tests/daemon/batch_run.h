// A text job whose results the test can read: the texts it owns, a row per
// text, and each text's status and message, filled as the Batcher delivers.
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "daemon/batcher.h"

namespace hb::testing {

struct TextRun {
  std::vector<std::string> texts;
  uint32_t dim = 0;
  std::vector<float> output;  // texts.size() * dim
  std::vector<hb_status> status;
  std::vector<std::string> messages;
  std::vector<uint32_t> too_long_tokens;
  std::shared_ptr<BatchJob> job;
  std::atomic<bool> finished{false};

  bool Wait(int ms = 5000) const {
    for (int i = 0; i < ms && !finished; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return finished;
  }
};

// A job over `texts` for a model of `dim` floats; results land in the run.
inline std::shared_ptr<TextRun> MakeTextRun(std::vector<std::string> texts, uint32_t dim) {
  auto run = std::make_shared<TextRun>();
  run->texts = std::move(texts);
  run->dim = dim;
  const size_t n = run->texts.size();
  run->output.assign(n * dim, 0.0f);
  run->status.assign(n, HB_OK);
  run->messages.assign(n, std::string());
  run->too_long_tokens.assign(n, 0);
  run->job = std::make_shared<BatchJob>();
  for (const std::string& t : run->texts) run->job->texts.push_back(t);
  run->job->cancelled = std::make_shared<std::atomic<bool>>(false);
  TextRun* raw = run.get();  // the test keeps the run alive until it finishes
  run->job->deliver = [raw](const TextResult& r) {
    raw->status[r.index] = r.status;
    raw->messages[r.index] = std::string(r.message);
    raw->too_long_tokens[r.index] = r.too_long_tokens;
    if (r.row) std::copy(r.row, r.row + raw->dim, raw->output.begin() + size_t{r.index} * raw->dim);
  };
  run->job->finish = [raw](BatchJob&) { raw->finished = true; };
  return run;
}

// Submits `texts` as one job and waits for it.
inline std::shared_ptr<TextRun> RunTexts(Batcher& b, std::vector<std::string> texts) {
  std::shared_ptr<TextRun> run = MakeTextRun(std::move(texts), b.output_dim());
  if (!b.Submit(run->job).ok() || !run->Wait()) return nullptr;
  return run;
}

}  // namespace hb::testing
