// plugin_bench: throughput of any hornbeamd model plugin, through dlopen and
// the C ABI only (plugins/include/hornbeam/plugin.h).
//
//   plugin_bench PLUGIN.so CONFIG_JSON [DEVICE] [options]
//     --seconds S          time per batch size (default 5)
//     --batches 1,8,64,256 batch sizes (default; capped at max_batch_size)
//     --gflops F           FLOPs per text, to report GFLOP/s for any plugin
//     --sgemm-peak         also measure OpenBLAS sgemm GFLOP/s (2048^2, 4096^2;
//                          the best call of 3 s of them, with the chosen kernels)
//     --blas auto|library|CORE  OpenBLAS kernels, chosen as the daemon does
//                          (daemon/blas_tuning.h; default auto: the fastest
//                          that passes the self-check); library = no override
//     --blas-threads N     OpenBLAS threads (default: all usable cores)
//     --json               one JSON object per batch size instead of a table
//     --dump FILE          write the corpus's embeddings (one batch, float32
//                          rows) to FILE and stop: to compare kernel sets
//   plugin_bench --print-corpus   the fixed corpus, one JSON string per line
//   plugin_bench --sgemm-peak     just the sgemm measurement
//
// OpenBLAS reads its kernels and threads when it loads (before main), so
// the bench chooses them and then re-executes itself with them in its
// environment (HB_BLAS_BENCH_CHOICE marks the second run).
//
// For use_lite* plugins whose config names a model_dir, FLOPs are counted
// exactly per text (GEMMs + attention, from the model's dimensions and each
// text's token count) with the use_lite tokenizer; --gflops overrides.
#include <cblas.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "bench/corpus.h"
#include "bench/plugin_client.h"
#include "daemon/blas_tuning.h"
#include "hornbeam/plugin.h"
#include "plugins/use_lite/model.h"
#include "plugins/use_lite/tokenizer.h"

namespace {

using hornbeam::tools::BenchCorpus;
using hornbeam::tools::PluginInstance;
using hornbeam::tools::PluginLibrary;
using hornbeam::tools::PluginModel;
using Clock = std::chrono::steady_clock;

struct Options {
  std::string plugin, config;
  int device = -2;  // -2: pick from caps (0 if needs_gpu, else -1)
  double seconds = 5;
  std::vector<uint32_t> batches = {1, 8, 64, 256};
  std::optional<double> flops_per_text;
  bool sgemm_peak = false, json = false, print_corpus = false;
  std::string blas = "auto";
  uint32_t blas_threads = 0;
  std::string dump;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "plugin_bench: %s\nusage: plugin_bench PLUGIN.so CONFIG_JSON [DEVICE] [--seconds S] "
               "[--batches 1,8,64,256] [--gflops FLOPS_PER_TEXT] [--sgemm-peak] [--json]\n"
               "       [--blas auto|library|CORE] [--blas-threads N]\n"
               "       plugin_bench --print-corpus | --sgemm-peak\n",
               why);
  std::exit(2);
}

Options Parse(int argc, char** argv) {
  Options o;
  std::vector<std::string> positional;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    auto value = [&]() -> std::string {
      if (i + 1 >= argc) Usage(("missing value for " + a).c_str());
      return argv[++i];
    };
    if (a == "--seconds") {
      o.seconds = std::atof(value().c_str());
    } else if (a == "--batches") {
      if (!hornbeam::tools::ParseUintList(value(), &o.batches)) Usage("bad --batches list");
    } else if (a == "--gflops") {
      o.flops_per_text = std::atof(value().c_str());
    } else if (a == "--sgemm-peak") {
      o.sgemm_peak = true;
    } else if (a == "--blas") {
      o.blas = value();
    } else if (a == "--blas-threads") {
      o.blas_threads = static_cast<uint32_t>(std::atoi(value().c_str()));
    } else if (a == "--dump") {
      o.dump = value();
    } else if (a == "--json") {
      o.json = true;
    } else if (a == "--print-corpus") {
      o.print_corpus = true;
    } else if (a.rfind("--", 0) == 0) {
      Usage(("unknown option " + a).c_str());
    } else {
      positional.push_back(a);
    }
  }
  if (positional.size() >= 1) o.plugin = positional[0];
  if (positional.size() >= 2) o.config = positional[1];
  if (positional.size() >= 3) o.device = std::atoi(positional[2].c_str());
  if (positional.size() > 3) Usage("too many arguments");
  if (!o.print_corpus && !(o.sgemm_peak && o.plugin.empty()) && o.config.empty()) {
    Usage("need PLUGIN.so and CONFIG_JSON");
  }
  return o;
}

// The best single sgemm of those run in `seconds`: on a shared machine a
// call that lost the CPU is slow, never fast, so the best is what the
// kernels can do.
double SgemmGflops(int n, double seconds) {
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size());
  auto run = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(),
                n, 0.0f, c.data(), n);
  };
  run();  // warm-up: thread pool, page faults
  const auto start = Clock::now();
  double best = 0;
  do {
    const auto t0 = Clock::now();
    run();
    best = std::max(best, 1.0 / std::chrono::duration<double>(Clock::now() - t0).count());
  } while (std::chrono::duration<double>(Clock::now() - start).count() < seconds);
  return 2.0 * n * n * static_cast<double>(n) * best / 1e9;
}

// Exact FLOPs of each corpus text for use_lite* plugins; empty otherwise.
std::vector<double> UseLiteFlops(const std::string& config) {
  nlohmann::json j = nlohmann::json::parse(config, nullptr, false);
  if (!j.is_object() || !j.contains("model_dir") || !j["model_dir"].is_string()) return {};
  const std::string dir = j["model_dir"].get<std::string>();
  hornbeam::use_lite::Tokenizer tokenizer;
  hornbeam::use_lite::Model model;
  std::string error;
  if (!tokenizer.LoadFile(dir + "/vocab.json", &error) || !model.Load(dir, &error)) return {};
  std::vector<double> flops;
  std::vector<int32_t> ids;
  for (const std::string& text : BenchCorpus()) {
    tokenizer.Encode(text, &ids, &error);
    flops.push_back(model.FlopsPerText(static_cast<int>(ids.size())));
  }
  return flops;
}

// One table row (or JSON line) per batch size: texts/s of `instance` over
// the corpus, cycled, for opt.seconds each.
bool RunBatches(const Options& opt, PluginInstance& instance, const std::vector<double>& flops,
                double peak, std::string* error) {
  const std::vector<std::string>& corpus = BenchCorpus();
  const uint32_t max_batch = instance.model().caps().max_batch_size;
  std::vector<std::string_view> batch_texts;
  std::vector<float> out;
  for (uint32_t batch : opt.batches) {
    batch = std::clamp<uint32_t>(batch, 1, max_batch);
    size_t next = 0, texts = 0, calls = 0;
    double total_flops = 0;
    auto run = [&](bool count) {
      batch_texts.clear();
      for (uint32_t i = 0; i < batch; ++i) {
        const size_t k = (next + i) % corpus.size();
        batch_texts.push_back(corpus[k]);
        if (count && !flops.empty()) total_flops += flops[k];
      }
      next = (next + batch) % corpus.size();
      return instance.Embed(batch_texts, &out, nullptr, error);
    };
    if (!run(false)) return false;  // warm-up: workspace growth, thread pools
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      if (!run(true)) return false;
      texts += batch;
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < opt.seconds);
    const double rate = texts / elapsed, gflops = total_flops / elapsed / 1e9;
    if (opt.json) {
      nlohmann::json row = {{"plugin", instance.model().library().name()},
                            {"batch", batch},
                            {"texts_per_s", rate},
                            {"ms_per_batch", 1e3 * elapsed / calls}};
      if (!flops.empty()) row["gflops"] = gflops;
      if (peak > 0) row["sgemm_peak_gflops"] = peak;
      std::printf("%s\n", row.dump().c_str());
    } else {
      std::printf("| %5u | %7.1f | %8.2f |", batch, rate, 1e3 * elapsed / calls);
      if (!flops.empty()) std::printf(" %7.1f |", gflops);
      if (peak > 0 && !flops.empty()) std::printf(" %11.0f%% |", 100.0 * gflops / peak);
      std::printf("\n");
    }
    std::fflush(stdout);
  }
  return true;
}

void PrintHeader(const Options& opt, const PluginModel& model, bool has_flops, double peak) {
  std::printf("\n%s %s on %s; %zu corpus texts; %.0f s per batch size\n\n",
              model.library().name().c_str(), model.library().api().version,
              model.description().c_str(), BenchCorpus().size(), opt.seconds);
  const bool with_peak = peak > 0 && has_flops;
  std::printf("| batch | texts/s | ms/batch |%s%s\n|------:|--------:|---------:|%s%s\n",
              has_flops ? " GFLOP/s |" : "", with_peak ? " % sgemm peak |" : "",
              has_flops ? "--------:|" : "", with_peak ? "-------------:|" : "");
}

// First run: chooses the kernels, puts them in the environment and runs
// this program again (returns only if that fails). Second run: the choice.
std::string ChooseBlasAndReexec(const Options& opt, char** argv) {
  if (const char* done = std::getenv("HB_BLAS_BENCH_CHOICE")) return done;
  hb::BlasRequest req;
  req.coretype = opt.blas;
  req.threads = opt.blas_threads;
  req.probe = hb::FindBlasProbe();
  const hb::BlasChoice choice = hb::ChooseBlas(req);
  hb::ApplyBlasChoice(choice);
  std::string text = hb::BlasChoiceText(choice);
  if (!choice.warning.empty()) text += " [warning: " + choice.warning + "]";
  setenv("HB_BLAS_BENCH_CHOICE", text.c_str(), 1);
  execv("/proc/self/exe", argv);
  std::fprintf(stderr, "plugin_bench: re-exec failed (%s); kernels not applied\n",
               std::strerror(errno));
  return text;
}

int Fail(const std::string& what) {
  std::fprintf(stderr, "plugin_bench: %s\n", what.c_str());
  return 1;
}

// --dump: every corpus text in one execute, rows of float32 to `path`.
int Dump(PluginInstance& instance, const std::string& path) {
  std::vector<std::string_view> texts(BenchCorpus().begin(), BenchCorpus().end());
  std::vector<float> out;
  std::string error;
  if (!instance.Embed(texts, &out, nullptr, &error)) return Fail(error);
  FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || std::fwrite(out.data(), sizeof(float), out.size(), f) != out.size()) {
    if (f != nullptr) std::fclose(f);
    return Fail("cannot write " + path);
  }
  std::fclose(f);
  std::printf("%zu embeddings of %zu floats to %s\n", texts.size(), out.size() / texts.size(),
              path.c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = Parse(argc, argv);
  if (opt.print_corpus) {
    for (const std::string& text : BenchCorpus()) {
      std::printf("%s\n", nlohmann::json(text).dump().c_str());
    }
    return 0;
  }
  const std::string blas = ChooseBlasAndReexec(opt, argv);
  std::printf("%s%s\n", opt.json ? "# " : "", blas.c_str());
  double peak = 0;
  if (opt.sgemm_peak) {
    for (int n : {2048, 4096}) {
      double g = SgemmGflops(n, 3.0);
      peak = std::max(peak, g);
      std::printf("%ssgemm %dx%d: %.1f GFLOP/s (OpenBLAS %s kernels, %d threads)\n",
                  opt.json ? "# " : "", n, n, g, openblas_get_corename(),
                  openblas_get_num_threads());
    }
    if (opt.plugin.empty()) return 0;
  }
  std::string error;
  auto library = PluginLibrary::Open(opt.plugin, "plugin", &error);
  if (library == nullptr) return Fail(error);
  auto model = PluginModel::Load(*library, "bench", opt.config, &error);
  if (model == nullptr) return Fail(error);
  const int device = opt.device != -2 ? opt.device : (model->caps().needs_gpu ? 0 : -1);
  auto instance = PluginInstance::Create(*model, device, &error);
  if (instance == nullptr) return Fail(error);

  if (!opt.dump.empty()) return Dump(*instance, opt.dump);
  std::vector<double> flops;
  if (opt.flops_per_text) {
    flops.assign(BenchCorpus().size(), *opt.flops_per_text);
  } else if (library->name().rfind("use_lite", 0) == 0) {
    flops = UseLiteFlops(opt.config);
  }
  if (!opt.json) PrintHeader(opt, *model, !flops.empty(), peak);
  if (!RunBatches(opt, *instance, flops, peak, &error)) return Fail(error);
  return 0;
}
