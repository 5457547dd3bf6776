// plugin_bench: throughput of any hornbeamd model plugin, through dlopen and
// the C ABI only (plugins/include/hornbeam/plugin.h).
//
//   plugin_bench PLUGIN.so CONFIG_JSON [DEVICE] [options]
//     --seconds S          time per batch size (default 5)
//     --batches 1,8,64,256 batch sizes (default; capped at max_batch_size)
//     --gflops F           FLOPs per text, to report GFLOP/s for any plugin
//     --sgemm-peak         also measure OpenBLAS sgemm GFLOP/s (2048^2, 4096^2)
//     --json               one JSON object per batch size instead of a table
//   plugin_bench --print-corpus   the fixed corpus, one JSON string per line
//   plugin_bench --sgemm-peak     just the sgemm measurement
//
// For use_lite* plugins whose config names a model_dir, FLOPs are counted
// exactly per text (GEMMs + attention, from the model's dimensions and each
// text's token count) with the use_lite tokenizer; --gflops overrides.
#include <cblas.h>
#include <dlfcn.h>

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

#include "hornbeam/plugin.h"
#include "plugins/use_lite/model.h"
#include "plugins/use_lite/tokenizer.h"

namespace {

using Clock = std::chrono::steady_clock;

// Varied on purpose: short and long, questions, lists, numbers, code,
// non-English, emoji. Average ~17 USE Lite tokens per text.
const std::vector<std::string>& Corpus() {
  static const std::vector<std::string> corpus = {
      "A man is playing a guitar.",
      "Someone plays the guitar.",
      "The stock market fell sharply today after the central bank raised rates.",
      "How old are you?",
      "What is the best way to learn a new programming language quickly?",
      "The weather is lovely this afternoon, so we are walking to the park.",
      "I like to eat pizza with my friends on Friday nights.",
      "Quantum chromodynamics describes the strong interaction between quarks and gluons.",
      "Please reset my password; I can no longer log in to my account.",
      "The new phone has a faster processor, a brighter screen and a longer battery life.",
      "Erlang processes are cheap, isolated and communicate only by message passing.",
      "Where is the nearest train station?",
      "She sells sea shells by the sea shore.",
      "Our quarterly revenue grew 12% year over year, driven by strong demand in Europe.",
      "The patient reported mild headaches and occasional dizziness over the past two weeks.",
      "Café au lait and a croissant, s'il vous plaît.",
      "Der schnelle braune Fuchs springt über den faulen Hund.",
      "El niño comió pan y jamón en la cocina.",
      "我爱自然语言处理。",
      "Great product, would buy again! 👍",
      "Terrible customer service, waited 45 minutes on hold.",
      "int main() { return 0; }",
      "Call me at 555-0199 before 10:00 tomorrow.",
      "The committee will meet on Tuesday to review the proposal and vote on the budget.",
      "Photosynthesis converts light energy into chemical energy stored in glucose.",
      "Can you recommend a good book about the history of the Roman Empire?",
      "The train was delayed because of a signal failure near the central station.",
      "Machine learning models need large amounts of clean, well labelled data.",
      "He forgot his umbrella and got soaked on the way home.",
      "The museum is closed on Mondays and public holidays.",
      "In 1969, Apollo 11 landed on the Moon and Neil Armstrong took the first steps.",
      "Add two cups of flour, one egg and a pinch of salt, then stir until smooth.",
      "The server returned a 503 error during the deployment of version 2.4.1.",
      "Thanks for your help yesterday, it really made a difference.",
      "Is it possible to change my flight to an earlier departure?",
      "The quick brown fox jumps over the lazy dog.",
      "Climate change is causing more frequent and intense heat waves across the globe, "
      "putting pressure on water supplies, agriculture and public health systems, and "
      "forcing cities to rethink how they design streets, buildings and green spaces.",
      "When the distributed system partitions, each side must decide whether to keep "
      "accepting writes and risk divergence, or to refuse them and lose availability; "
      "the right answer depends on what the application can tolerate and how conflicts "
      "can be reconciled after the network heals.",
      "The orchestra played Beethoven's ninth symphony to a full house.",
      "Do not forget to water the plants while I am away.",
      "Mars has two small moons, Phobos and Deimos.",
      "The invoice total is $1,249.99 including tax and shipping.",
      "Our cat likes to sleep in the sunniest spot of the living room.",
      "Please summarise the attached report in three bullet points.",
      "Traffic on the highway is heavy due to an accident near exit 12.",
      "The recipe calls for fresh basil, but dried oregano works too.",
      "Why is the sky blue?",
      "hello",
  };
  return corpus;
}

struct Options {
  std::string plugin, config;
  int device = -2;  // -2: pick from caps (0 if needs_gpu, else -1)
  double seconds = 5;
  std::vector<uint32_t> batches = {1, 8, 64, 256};
  std::optional<double> flops_per_text;
  bool sgemm_peak = false, json = false, print_corpus = false;
};

[[noreturn]] void Usage(const char* why) {
  std::fprintf(stderr,
               "plugin_bench: %s\nusage: plugin_bench PLUGIN.so CONFIG_JSON [DEVICE] [--seconds S] "
               "[--batches 1,8,64,256] [--gflops FLOPS_PER_TEXT] [--sgemm-peak] [--json]\n"
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
      o.batches.clear();
      std::string list = value();
      for (size_t pos = 0; pos < list.size();) {
        size_t comma = list.find(',', pos);
        o.batches.push_back(static_cast<uint32_t>(std::atoi(list.substr(pos, comma - pos).c_str())));
        pos = comma == std::string::npos ? list.size() : comma + 1;
      }
    } else if (a == "--gflops") {
      o.flops_per_text = std::atof(value().c_str());
    } else if (a == "--sgemm-peak") {
      o.sgemm_peak = true;
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

double SgemmGflops(int n, double seconds) {
  std::vector<float> a(static_cast<size_t>(n) * n, 0.5f), b(a.size(), 0.25f), c(a.size());
  auto run = [&] {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a.data(), n, b.data(),
                n, 0.0f, c.data(), n);
  };
  run();  // warm-up: thread pool, page faults
  int reps = 0;
  const auto start = Clock::now();
  double elapsed = 0;
  do {
    run();
    ++reps;
    elapsed = std::chrono::duration<double>(Clock::now() - start).count();
  } while (elapsed < seconds);
  return 2.0 * n * n * static_cast<double>(n) * reps / elapsed / 1e9;
}

void Log(void*, hb_log_level level, const char* msg) {
  if (level >= HB_LOG_WARNING) std::fprintf(stderr, "plugin: %s\n", msg);
}
int NotCancelled(void*, uint64_t) { return 0; }
void* Alloc(void*, size_t n) { return std::malloc(n); }

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
  for (const std::string& text : Corpus()) {
    tokenizer.Encode(text, &ids, &error);
    flops.push_back(model.FlopsPerText(static_cast<int>(ids.size())));
  }
  return flops;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = Parse(argc, argv);
  if (opt.print_corpus) {
    for (const std::string& text : Corpus()) std::printf("%s\n", nlohmann::json(text).dump().c_str());
    return 0;
  }
  double peak = 0;
  if (opt.sgemm_peak) {
    for (int n : {2048, 4096}) {
      double g = SgemmGflops(n, 3.0);
      peak = std::max(peak, g);
      std::printf("sgemm %dx%d: %.1f GFLOP/s (OpenBLAS, %d threads)\n", n, n, g,
                  openblas_get_num_threads());
    }
    if (opt.plugin.empty()) return 0;
  }

  void* lib = dlopen(opt.plugin.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    std::fprintf(stderr, "plugin_bench: %s\n", dlerror());
    return 1;
  }
  auto get_api = reinterpret_cast<hb_plugin_get_api_fn>(dlsym(lib, "hb_plugin_get_api"));
  const hb_plugin_api* api =
      get_api ? get_api(HB_PLUGIN_ABI_MAJOR, HB_PLUGIN_ABI_MINOR) : nullptr;
  if (api == nullptr || api->abi_major != HB_PLUGIN_ABI_MAJOR ||
      api->abi_minor > HB_PLUGIN_ABI_MINOR || api->execute_text == nullptr) {
    std::fprintf(stderr, "plugin_bench: %s is not a usable ABI %d.%d text plugin\n",
                 opt.plugin.c_str(), HB_PLUGIN_ABI_MAJOR, HB_PLUGIN_ABI_MINOR);
    return 1;
  }
  hb_host_api host{sizeof(hb_host_api), HB_PLUGIN_ABI_MAJOR, HB_PLUGIN_ABI_MINOR, nullptr, &Log,
                   &NotCancelled, &Alloc};
  char err[512] = "";
  void *plugin = nullptr, *model = nullptr, *instance = nullptr;
  hb_model_caps caps{};
  caps.struct_size = sizeof(caps);
  if (api->init(&host, &plugin, err, sizeof(err)) != HB_OK ||
      api->model_load(plugin, "bench", opt.config.c_str(), &model, &caps, err, sizeof(err)) !=
          HB_OK) {
    std::fprintf(stderr, "plugin_bench: %s\n", err);
    return 1;
  }
  const int device = opt.device != -2 ? opt.device : (caps.needs_gpu ? 0 : -1);
  if (api->instance_create(model, device, &instance, err, sizeof(err)) != HB_OK) {
    std::fprintf(stderr, "plugin_bench: instance_create(%d): %s\n", device, err);
    return 1;
  }

  std::vector<double> flops;
  if (opt.flops_per_text) {
    flops.assign(Corpus().size(), *opt.flops_per_text);
  } else if (std::string(api->name).rfind("use_lite", 0) == 0) {
    flops = UseLiteFlops(opt.config);
  }
  const std::vector<std::string>& corpus = Corpus();
  if (!opt.json) {
    std::printf("\n%s %s on %s; %zu corpus texts; %.0f s per batch size\n\n", api->name,
                api->version, caps.description ? caps.description : "?", corpus.size(),
                opt.seconds);
    std::printf("| batch | texts/s | ms/batch |%s%s\n|------:|--------:|---------:|%s%s\n",
                flops.empty() ? "" : " GFLOP/s |", peak > 0 && !flops.empty() ? " % sgemm peak |" : "",
                flops.empty() ? "" : "--------:|", peak > 0 && !flops.empty() ? "-------------:|" : "");
  }
  const uint32_t dim = std::max<uint32_t>(caps.output_dim, 1);
  for (uint32_t batch : opt.batches) {
    batch = std::clamp<uint32_t>(batch, 1, caps.max_batch_size);
    std::vector<hb_text_request> requests(batch);
    std::vector<hb_text_result> results(batch);
    std::vector<float> out(static_cast<size_t>(batch) * dim);
    for (uint32_t i = 0; i < batch; ++i) results[i].embedding = out.data() + i * dim;
    size_t next = 0, texts = 0, calls = 0;
    double total_flops = 0;
    auto run = [&](bool count) {
      for (uint32_t i = 0; i < batch; ++i) {
        const size_t k = (next + i) % corpus.size();
        requests[i] = {corpus[k].data(), corpus[k].size(), k};
        if (count && !flops.empty()) total_flops += flops[k];
      }
      next = (next + batch) % corpus.size();
      if (api->execute_text(instance, requests.data(), results.data(), batch, err, sizeof(err)) !=
          HB_OK) {
        std::fprintf(stderr, "plugin_bench: execute_text: %s\n", err);
        std::exit(1);
      }
      for (uint32_t i = 0; i < batch; ++i) {
        if (results[i].status != HB_OK) {
          std::fprintf(stderr, "plugin_bench: request failed: %s\n", results[i].message);
          std::exit(1);
        }
      }
    };
    run(false);  // warm-up: workspace growth, thread pools
    const auto start = Clock::now();
    double elapsed = 0;
    do {
      run(true);
      texts += batch;
      ++calls;
      elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    } while (elapsed < opt.seconds);
    const double rate = texts / elapsed, gflops = total_flops / elapsed / 1e9;
    if (opt.json) {
      nlohmann::json row = {{"plugin", api->name}, {"batch", batch}, {"texts_per_s", rate},
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
  api->instance_destroy(instance);
  api->model_unload(model);
  api->fini(plugin);
  dlclose(lib);
  return 0;
}
