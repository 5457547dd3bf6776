// BLAS tuning: which OpenBLAS kernels (OPENBLAS_CORETYPE) and how many
// OpenBLAS threads the CPU model plugins run with, chosen once at start.
//
// OpenBLAS (DYNAMIC_ARCH) reads OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS
// once, when it is loaded, and some builds do not know newer CPUs and fall
// back to old kernels (Debian 12's 0.3.21 runs SSE3 kernels on some AVX-512
// CPUs). So before the first plugin is dlopened, each candidate kernel set
// for this CPU's features runs in its own child process
// (hornbeamd-blas-probe, blas_probe/main.cc), which checks sgemm on
// use_lite's shapes against a double-precision reference and times it; the
// fastest correct one is put in the environment. A candidate that crashes,
// computes wrong numbers or that the library does not know is never used; if
// none passes, the library's own choice stays, with a warning.
//
// Threads rule: OpenBLAS threads per instance x CPU instances of models
// whose plugin links OpenBLAS <= usable cores, i.e.
// threads = max(1, cores / instances) unless `blas.threads` pins it.
//
// Results are cached (keyed by CPU, library file, probe and request) in
// $CACHE_DIRECTORY, $XDG_CACHE_HOME/hornbeamd or ~/.cache/hornbeamd.
//
// Threads: ChooseBlas/ApplyBlasChoice run before any other thread starts
// (main, plugin_bench); the process record (SetProcessBlasChoice,
// BlasChoiceForModel) is guarded by a mutex and may be read on any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "config/options.h"

namespace hb {

// One probed candidate.
struct BlasCandidate {
  std::string requested;  // OPENBLAS_CORETYPE asked for; "" = the library's own
  std::string corename;   // what the library says it ran
  bool ok = false;        // passed the self-check
  double gflops = 0;
  std::string error;      // why not ok
};

struct BlasChoice {
  std::string coretype;  // put in OPENBLAS_CORETYPE; "" = the library's own
  std::string corename;  // the kernels the library reported for it
  double gflops = 0;     // measured on use_lite's shapes; 0 if not probed
  uint32_t threads = 0;  // OPENBLAS_NUM_THREADS; 0 = left to the library
  // "auto" (fastest correct), "pinned" (blas.coretype, checked), "library"
  // (blas.coretype "library": no override) or "fallback" (nothing passed,
  // or no probe: the library's own choice).
  std::string source = "library";
  std::string library;   // openblas_get_config() of the probe
  bool cached = false;   // from the cache, not probed at this start
  double probe_ms = 0;   // time spent choosing at this start
  std::string warning;   // set for "fallback"
  std::vector<BlasCandidate> candidates;
};

struct BlasRequest {
  std::string coretype = "auto";  // blas.coretype
  uint32_t threads = 0;           // blas.threads; 0 = by the rule above
  uint32_t cpu_instances = 1;     // CPU instances of OpenBLAS-using models
  std::string probe;              // path of hornbeamd-blas-probe; "" = none found
  bool use_cache = true;
};

// OPENBLAS_CORETYPE names worth probing for a CPU with these /proc/cpuinfo
// `flags` and `vendor_id`, best first; the library's own is always probed too.
std::vector<std::string> BlasCandidatesFor(const std::string& flags, const std::string& vendor);

// Usable cores (sched_getaffinity), at least 1.
uint32_t UsableCores();

// Threads by the rule (or the pin).
uint32_t BlasThreads(uint32_t pinned, uint32_t cpu_instances);

// Probes and chooses (never fails: the worst answer is "fallback").
BlasChoice ChooseBlas(const BlasRequest& request);

// Puts the choice in this process's environment (before OpenBLAS loads).
void ApplyBlasChoice(const BlasChoice& choice);

// One log line: "blas: SkylakeX (auto), 240.5 GFLOP/s, 1 thread, ...".
std::string BlasChoiceText(const BlasChoice& choice);

// The daemon's start: finds the CPU models whose plugin links OpenBLAS,
// chooses, applies, logs and records the choice. A config with none (the
// built-in hashembed) costs nothing and records source "library".
void TuneBlasForModels(const Options& options, const std::string& plugin_dir);

// The process-wide record health:check (and ml:info) show.
void SetProcessBlasChoice(BlasChoice choice, std::string plugin_dir);
// The choice if `model` runs on the CPU with a plugin that links OpenBLAS.
std::optional<BlasChoice> BlasChoiceForModel(const ModelConfig& model);

// --- blas_probe_run.cc ---
// hornbeamd-blas-probe beside this executable (or one folder up, or under
// PREFIX/lib/hornbeamd), or $HB_BLAS_PROBE; "" if none.
std::string FindBlasProbe();
// Whether the ELF file at `path` has a DT_NEEDED entry starting libopenblas.
bool LinksOpenBlas(const std::string& path);
// Runs the probe with OPENBLAS_CORETYPE=`coretype` (unset for "") and
// OPENBLAS_NUM_THREADS=`threads` (unset for 0); its one JSON line, or ""
// with *error set (crash, timeout, no output).
std::string RunBlasProbe(const std::string& probe, const std::string& coretype, uint32_t threads,
                         const std::vector<std::string>& args, std::string* error);

}  // namespace hb
