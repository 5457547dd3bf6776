// The checks gpu_check runs: a candidate plugin (use_lite_cuda on a GPU)
// against a reference plugin (use_lite on the CPU), both loaded through the
// C ABI from the same model files. Each check adds rows to the Report and
// never stops the others: a failed check is a FAIL row, not an early exit.
//
// Threads: the checks run one after another on the calling thread;
// CheckInstances starts one thread per candidate instance and joins them
// before it returns.
#ifndef HORNBEAM_BENCH_GPU_CHECK_CHECKS_H_
#define HORNBEAM_BENCH_GPU_CHECK_CHECKS_H_

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "bench/cosine.h"
#include "bench/gpu_check/nvml.h"
#include "bench/gpu_check/report.h"
#include "bench/gpu_check/texts.h"
#include "bench/plugin_client.h"

namespace hornbeam::gpu_check {

struct Options {
  std::string reference_plugin, candidate_plugin, model_dir, fixture;
  int32_t device = 0;  // the candidate's; -1 runs it on the CPU (a self-test)
  uint32_t texts = 1000, max_words = 300;
  uint64_t seed = 1;
  std::vector<uint32_t> batches = {1, 8, 64, 256, 1024};
  std::vector<uint32_t> instances = {2, 4};
  double seconds = 3;  // per timing cell
  double min_cosine = 0.9999;
  std::string nvidia_smi = "nvidia-smi";  // "none": no comparison
  double deadline_s = 300;
  std::string rows_out;
};

// One plugin, one model, one instance: what each side of the comparison
// holds. Members are destroyed in reverse order (instance, model, library).
struct Side {
  std::unique_ptr<tools::PluginLibrary> library;
  std::unique_ptr<tools::PluginModel> model;
  std::unique_ptr<tools::PluginInstance> instance;
  double load_seconds = 0;  // model_load + instance_create

  // "use_lite 1.0.0 (cpu)"
  std::string Title() const;
};
bool LoadSide(const std::string& plugin, const std::string& model_dir, int32_t device, Side* side,
              std::string* error);

struct Context {
  const Options& options;
  Side& reference;
  Side& candidate;
  Report& report;
  const Nvml* nvml;  // null when NVML is not there
  std::chrono::steady_clock::time_point deadline;
  // Filled by the checks for later ones.
  std::vector<float> fixture_reference_rows;
  double candidate_rate_at_max_batch = 0;

  // True (with a FAIL row for `section`) once the deadline has passed.
  bool OutOfTime(const std::string& section);
};

// Fixture sentences: candidate rows against reference rows (and, for
// information, against the TF.js vectors of the fixture).
void CheckFixture(Context& c, const std::vector<FixtureSentence>& fixture);
// options.texts generated texts; then the first 64 one at a time against
// their batched rows (no row may depend on its batch neighbours).
void CheckGenerated(Context& c);
// Each edge case alone, then all in one batch with ordinary texts: same
// status, same message, and for successes the same row.
void CheckEdgeCases(Context& c);
// The candidate's device_info against nvidia-smi (and NVML), with the
// instances that are alive now; `when` names them in the row.
void CheckDeviceMemory(Context& c, const std::string& when);
// texts/s of both sides at each options.batches size.
void CheckThroughput(Context& c);
// options.instances candidate instances on one device, each on its own
// thread at max_batch_size: total texts/s, errors, and rows still right.
void CheckInstances(Context& c, const std::vector<FixtureSentence>& fixture);

}  // namespace hornbeam::gpu_check

#endif  // HORNBEAM_BENCH_GPU_CHECK_CHECKS_H_
