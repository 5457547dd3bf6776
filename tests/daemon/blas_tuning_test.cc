// BLAS tuning (daemon/blas_tuning.h): candidates from CPU flags, the thread
// rule, which plugins link OpenBLAS, and the self-check against the real
// hornbeamd-blas-probe: a kernel made to compute wrong numbers or to crash
// (HB_BLAS_PROBE_FAULT) is never chosen, and when nothing passes the choice
// falls back to the library's own kernels with a warning.
#include "daemon/blas_tuning.h"

#include <cstdlib>
#include <catch2/catch.hpp>

#include "daemon/model_terms.h"
#include "tests/skip.h"

namespace hb {
namespace {

const Term* Get(const Term& map, const char* key) {
  for (size_t i = 0; i + 1 < map.size(); i += 2) {
    if (map[i] == Term::Atom(key)) return &map[i + 1];
  }
  return nullptr;
}

// Sets an environment variable for one scope.
struct ScopedEnv {
  ScopedEnv(const char* name, const std::string& value) : name(name) {
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() { unsetenv(name); }
  const char* name;
};

BlasRequest ProbeRequest(std::string coretype) {
  BlasRequest r;
  r.coretype = std::move(coretype);
  r.threads = 1;  // quick and steady on a shared machine
  r.probe = HB_BLAS_PROBE_PATH;
  r.use_cache = false;
  return r;
}

bool HaveProbe() {
  if (std::string(HB_BLAS_PROBE_PATH).empty()) {
    testing::Skip("hornbeamd-blas-probe not built (no OpenBLAS)");
    return false;
  }
  return true;
}

const BlasCandidate* Find(const BlasChoice& c, const std::string& requested) {
  for (const BlasCandidate& k : c.candidates) {
    if (k.requested == requested) return &k;
  }
  return nullptr;
}

TEST_CASE("candidates follow the CPU's features", "[blas]") {
  const std::string skx = "sse2 avx avx2 fma avx512f avx512dq avx512cd avx512bw avx512vl";
  CHECK(BlasCandidatesFor(skx, "GenuineIntel") ==
        std::vector<std::string>{"SkylakeX", "Haswell"});
  CHECK(BlasCandidatesFor(skx + " avx512_bf16 amx_tile amx_bf16", "GenuineIntel") ==
        std::vector<std::string>{"SapphireRapids", "Cooperlake", "SkylakeX", "Haswell"});
  CHECK(BlasCandidatesFor("avx avx2 fma", "AuthenticAMD") ==
        std::vector<std::string>{"Haswell", "Zen"});
  CHECK(BlasCandidatesFor("sse2 avx", "GenuineIntel") == std::vector<std::string>{"Sandybridge"});
  CHECK(BlasCandidatesFor("sse2 sse3", "GenuineIntel").empty());
}

TEST_CASE("threads: cores shared by the CPU instances, or pinned", "[blas]") {
  const uint32_t cores = UsableCores();
  CHECK(BlasThreads(0, 1) == cores);
  CHECK(BlasThreads(0, cores) == 1);
  CHECK(BlasThreads(0, cores * 4) == 1);
  CHECK(BlasThreads(3, 1) == 3);
}

TEST_CASE("plugins that link OpenBLAS are told apart by their ELF dependencies", "[blas]") {
  CHECK(LinksOpenBlas(std::string(HB_PLUGIN_DIR) + "/use_lite.so"));
  CHECK_FALSE(LinksOpenBlas(std::string(HB_PLUGIN_DIR) + "/hashembed.so"));
  CHECK_FALSE(LinksOpenBlas(std::string(HB_SOURCE_DIR) + "/README.md"));
  CHECK_FALSE(LinksOpenBlas("/nonexistent.so"));
}

TEST_CASE("auto picks a kernel set that passed the self-check", "[blas]") {
  if (!HaveProbe()) return;
  BlasChoice c = ChooseBlas(ProbeRequest("auto"));
  INFO(BlasChoiceText(c));
  CHECK(c.source == "auto");
  CHECK(c.threads == 1);
  CHECK(c.gflops > 0);
  CHECK_FALSE(c.corename.empty());
  const BlasCandidate* chosen = Find(c, c.coretype);
  REQUIRE(chosen != nullptr);
  CHECK(chosen->ok);
  CHECK(chosen->gflops == c.gflops);
}

TEST_CASE("a kernel set that computes wrong numbers is rejected", "[blas]") {
  if (!HaveProbe()) return;
  // The library's own kernels, whatever this CPU is: made to corrupt one
  // element of every product.
  BlasChoice first = ChooseBlas(ProbeRequest("library"));
  REQUIRE_FALSE(first.corename.empty());
  ScopedEnv fault("HB_BLAS_PROBE_FAULT", "corrupt:" + first.corename);
  BlasChoice c = ChooseBlas(ProbeRequest("auto"));
  INFO(BlasChoiceText(c));
  const BlasCandidate* own = Find(c, "");
  REQUIRE(own != nullptr);
  CHECK_FALSE(own->ok);
  CHECK(own->error.find("error bound") != std::string::npos);
  CHECK(c.corename != first.corename);
  // Pinned to the bad kernels: refused too, the library's own stays (its
  // numbers are no better, but nothing was forced on it).
  BlasChoice pinned = ChooseBlas(ProbeRequest(first.corename));
  CHECK(pinned.source == "fallback");
  CHECK(pinned.coretype.empty());
  CHECK(pinned.warning.find("failed") != std::string::npos);
}

TEST_CASE("when every kernel set fails or crashes, the library's own stays, with a warning",
          "[blas]") {
  if (!HaveProbe()) return;
  for (const char* fault : {"corrupt:*", "crash:*"}) {
    ScopedEnv env("HB_BLAS_PROBE_FAULT", fault);
    BlasChoice c = ChooseBlas(ProbeRequest("auto"));
    INFO(fault << ": " << BlasChoiceText(c));
    CHECK(c.source == "fallback");
    CHECK(c.coretype.empty());
    CHECK_FALSE(c.warning.empty());
    REQUIRE_FALSE(c.candidates.empty());
    for (const BlasCandidate& k : c.candidates) CHECK_FALSE(k.ok);
    if (std::string(fault) == "crash:*") {
      CHECK(c.candidates[0].error.find("signal") != std::string::npos);
    }
  }
}

TEST_CASE("a core name the library does not know is not taken for it", "[blas]") {
  if (!HaveProbe()) return;
  BlasChoice c = ChooseBlas(ProbeRequest("NoSuchCore"));
  INFO(BlasChoiceText(c));
  CHECK(c.source == "fallback");
  REQUIRE(Find(c, "NoSuchCore") != nullptr);
  CHECK(Find(c, "NoSuchCore")->error.find("not offered") != std::string::npos);
}

TEST_CASE("health shows the choice on CPU models of OpenBLAS plugins only", "[blas]") {
  BlasChoice c;
  c.coretype = "SkylakeX";
  c.corename = "SkylakeX";
  c.gflops = 240.5;
  c.threads = 1;
  c.source = "auto";
  SetProcessBlasChoice(c, HB_PLUGIN_DIR);
  RegistrySnapshot s;
  s.models.resize(3);
  s.models[0].config.plugin = "use_lite";
  s.models[1].config.plugin = "hashembed";
  s.models[2].config.plugin = "use_lite";
  s.models[2].config.devices = {0};  // GPU only
  Term h = ModelsHealthTerm(s);
  const Term* blas = Get(h[0], "blas");
  REQUIRE(blas != nullptr);
  CHECK(*Get(*blas, "coretype") == Term::Binary("SkylakeX"));
  CHECK(*Get(*blas, "gflops") == Term::Float(240.5));
  CHECK(*Get(*blas, "threads") == Term::Int(1));
  CHECK(*Get(*blas, "source") == Term::Atom("auto"));
  CHECK(Get(h[1], "blas") == nullptr);
  CHECK(Get(h[2], "blas") == nullptr);
  SetProcessBlasChoice(BlasChoice{}, HB_PLUGIN_DIR);
}

ModelConfig Model(const std::string& plugin, uint32_t instances, std::vector<int> devices) {
  ModelConfig m;
  m.name = plugin;
  m.plugin = plugin;
  m.instances = instances;
  m.devices = std::move(devices);
  return m;
}

TEST_CASE("the daemon's start tunes for the CPU instances of OpenBLAS models only", "[blas]") {
  if (!HaveProbe()) return;
  ScopedEnv probe("HB_BLAS_PROBE", HB_BLAS_PROBE_PATH);
  ScopedEnv cache("HB_BLAS_PROBE_FAULT", "none:none");  // no cache: a fault that never fires
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv("OPENBLAS_NUM_THREADS");
  Options o;
  // One CPU instance of use_lite (the other is on GPU 0), and hashembed.
  o.models = {Model("use_lite", 2, {-1, 0}), Model("hashembed", 8, {-1})};
  TuneBlasForModels(o, HB_PLUGIN_DIR);
  std::optional<BlasChoice> c = BlasChoiceForModel(o.models[0]);
  REQUIRE(c.has_value());
  INFO(BlasChoiceText(*c));
  CHECK(c->source == "auto");
  CHECK(c->threads == UsableCores());
  CHECK(std::string(std::getenv("OPENBLAS_NUM_THREADS")) == std::to_string(c->threads));
  CHECK_FALSE(BlasChoiceForModel(o.models[1]).has_value());
  unsetenv("OPENBLAS_CORETYPE");
  unsetenv("OPENBLAS_NUM_THREADS");

  o.blas_threads = 3;
  o.blas_coretype = "library";
  TuneBlasForModels(o, HB_PLUGIN_DIR);
  c = BlasChoiceForModel(o.models[0]);
  REQUIRE(c.has_value());
  CHECK(c->source == "library");
  CHECK(c->threads == 3);
  CHECK(std::getenv("OPENBLAS_CORETYPE") == nullptr);
  unsetenv("OPENBLAS_NUM_THREADS");

  // The built-in hashembed: no probe, nothing in the environment.
  o.models = {Model("hashembed", 1, {-1})};
  TuneBlasForModels(o, HB_PLUGIN_DIR);
  CHECK(std::getenv("OPENBLAS_NUM_THREADS") == nullptr);
  CHECK_FALSE(BlasChoiceForModel(Model("use_lite", 1, {-1})).value().warning.empty());
  SetProcessBlasChoice(BlasChoice{}, HB_PLUGIN_DIR);
}

}  // namespace
}  // namespace hb
