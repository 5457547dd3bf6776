// ModelRegistry: loading from a plugin directory, routes, and a reload that
// swaps batchers while calls are in flight (the TSan preset runs this too).
#include "daemon/model_registry.h"

#include <catch2/catch.hpp>
#include <uv.h>

#include <chrono>
#include <filesystem>
#include <thread>

#include "daemon/model_terms.h"

namespace hb {
namespace {

namespace fs = std::filesystem;

struct Env {
  uv_loop_t loop;
  Router router;
  fs::path dir;
  std::unique_ptr<ModelRegistry> reg;

  Env() {
    uv_loop_init(&loop);
    dir = fs::temp_directory_path() / ("hbreg" + std::to_string(::getpid()) + "_" +
                                       std::to_string(reinterpret_cast<uintptr_t>(this)));
    fs::create_directories(dir);
    fs::copy_file(std::string(HB_PLUGIN_DIR) + "/hashembed.so", dir / "hashembed.so");
    fs::copy_file(std::string(HB_TEST_PLUGIN_DIR) + "/testplugin_good.so", dir / "testplugin_good.so");
    fs::copy_file(std::string(HB_TEST_PLUGIN_DIR) + "/testplugin_bad_major.so", dir / "bad.so");
    reg = std::make_unique<ModelRegistry>(&loop, &router, dir.string());
  }
  ~Env() {
    reg->Close([] {});
    uv_run(&loop, UV_RUN_DEFAULT);
    reg.reset();
    uv_loop_close(&loop);
    fs::remove_all(dir);
  }
  template <typename Pred>
  bool RunUntil(Pred pred, int ms = 5000) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return pred();
  }
};

// The value under atom `key` in a map term; fails the test when absent.
const Term* Get(const Term& map, const char* key) {
  for (size_t i = 0; i + 1 < map.size(); i += 2) {
    if (map[i].is_atom(key)) return &map[i + 1];
  }
  FAIL("no key " << key);
  return nullptr;
}

ModelConfig Model(const std::string& name, const std::string& plugin) {
  ModelConfig m;
  m.name = name;
  m.plugin = plugin;
  return m;
}

TEST_CASE("registry loads models, routes modules, reports a failed one", "[registry]") {
  Env env;
  std::vector<ModelConfig> models = {Model("default", "hashembed"), Model("broken", "bad")};
  size_t failed = env.reg->Load(models, {{"ml", "default"}, {"broken", "broken"}});
  CHECK(failed == 1);
  CHECK(env.router.Find("ml", "encode", 1) != nullptr);
  CHECK(env.router.Find("ml", "batch_encode_f32", 1) != nullptr);
  CHECK(env.router.Find("broken", "encode", 1) == nullptr);
  CHECK(env.reg->degraded());
  RegistrySnapshot snap = env.reg->Snapshot(SnapshotDetail::kLoad);
  REQUIRE(snap.models.size() == 2);
  const ModelSnapshot& broken = snap.models[0];  // by name
  CHECK(broken.name == "broken");
  CHECK(broken.status == ModelStatus::kFailed);
  CHECK(std::string(ModelStatusName(broken.status)) == "failed");
  CHECK_FALSE(broken.serving);
  CHECK(broken.error.find("bad.so") != std::string::npos);
  CHECK(broken.stats == nullptr);
  const ModelSnapshot& good = snap.models[1];
  CHECK(good.name == "default");
  CHECK(good.status == ModelStatus::kOk);
  CHECK(good.serving);
  CHECK(good.plugin_name == "hashembed");
  CHECK(good.config.plugin == "hashembed");
  CHECK(good.caps.output_dim == 256);
  CHECK(good.stats == nullptr);  // kLoad copies no histogram
  RegistrySnapshot full = env.reg->Snapshot(SnapshotDetail::kStats);
  REQUIRE(full.models[1].stats != nullptr);
  CHECK(full.models[1].stats->jobs == 0);
  CHECK(full.models[0].stats == nullptr);  // failed: no batcher, no stats
}

TEST_CASE("reload swaps a model under load without failing a call", "[registry][reload]") {
  Env env;
  std::vector<ModelConfig> models = {Model("default", "hashembed")};
  REQUIRE(env.reg->Load(models, {{"ml", "default"}}) == 0);
  std::atomic<int> ok{0}, bad{0};
  int submitted = 0;
  auto fire = [&] {
    const Route* r = env.router.Find("ml", "encode", 1);
    REQUIRE(r != nullptr);
    CallRequest req;
    req.module = "ml";
    req.function = "encode";
    req.args = Term::List({Term::Binary("text " + std::to_string(submitted))});
    req.cancelled = std::make_shared<std::atomic<bool>>(false);
    ++submitted;
    r->run_async(req, [&](CallOutcome o) { (o.is_error() ? bad : ok)++; });
  };
  for (int i = 0; i < 100; ++i) fire();
  bool reloaded = false;
  models[0].max_batch_size = 8;  // a changed configuration: rebuilt and swapped
  env.reg->Reload(models, {{"ml", "default"}}, [&] { reloaded = true; });
  while (!reloaded) {
    fire();
    uv_run(&env.loop, UV_RUN_NOWAIT);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
    if (submitted > 200000) break;
  }
  REQUIRE(reloaded);
  for (int i = 0; i < 100; ++i) fire();
  REQUIRE(env.RunUntil([&] { return ok + bad == submitted; }));
  CHECK(bad == 0);
  CHECK(env.reg->reloads_completed() == 1);
}

TEST_CASE("health lists the devices plugins report and follows a reload", "[registry][devices]") {
  Env env;
  ModelConfig m = Model("gpu", "testplugin_good");
  m.options_json = R"({"fake_devices": 2})";
  m.instances = 2;
  m.devices = {0, 1};
  REQUIRE(env.reg->Load({m}, {{"gpu", "gpu"}}) == 0);
  auto used0 = [&]() -> int64_t {
    Term devices = DevicesTerm(env.reg->Snapshot(SnapshotDetail::kLoad).devices,
                               std::chrono::steady_clock::now());
    if (devices.size() != 2) return -1;
    return Get(devices[0], "memory_used_bytes")->int_value();
  };
  REQUIRE(env.RunUntil([&] { return used0() == (1ll << 30) + (512ll << 20); }));
  Term d1 = DevicesTerm(env.reg->Snapshot(SnapshotDetail::kLoad).devices,
                        std::chrono::steady_clock::now())[1];
  CHECK(Get(d1, "id")->text() == "cuda:1");
  CHECK(Get(d1, "name")->text() == "Test GPU 1");
  CHECK(Get(d1, "memory_total_bytes")->int_value() == (16ll << 30));
  CHECK(Get(d1, "plugins")->size() == 1);
  // One instance after the reload: the new plugin's figures replace the old.
  m.instances = 1;
  bool reloaded = false;
  env.reg->Reload({m}, {{"gpu", "gpu"}}, [&] { reloaded = true; });
  REQUIRE(env.RunUntil([&] { return reloaded; }));
  CHECK(env.RunUntil([&] { return used0() == (1ll << 30) + (256ll << 20); }));
}

TEST_CASE("models on plugins without devices report none", "[registry][devices]") {
  Env env;
  REQUIRE(env.reg->Load({Model("default", "hashembed")}, {{"ml", "default"}}) == 0);
  std::this_thread::sleep_for(std::chrono::milliseconds(50));
  uv_run(&env.loop, UV_RUN_NOWAIT);
  RegistrySnapshot snap = env.reg->Snapshot(SnapshotDetail::kLoad);
  CHECK(snap.devices.devices.empty());
  CHECK(snap.devices.samples >= 1);
}

TEST_CASE("retired batcher threads are reaped across reloads", "[registry][reload]") {
  Env env;
  ModelConfig m = Model("default", "hashembed");
  REQUIRE(env.reg->Load({m}, {{"ml", "default"}}) == 0);
  for (uint32_t i = 0; i < 20; ++i) {
    m.max_batch_size = 8 + i;  // a changed configuration: rebuilt, old one retired
    bool reloaded = false;
    env.reg->Reload({m}, {{"ml", "default"}}, [&] { reloaded = true; });
    REQUIRE(env.RunUntil([&] { return reloaded; }));
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // an idle drain is quick
  }
  CHECK(env.reg->reloads_completed() == 20);
  // Each retirement joins the finished ones: at most the latest may remain.
  CHECK(env.reg->retiring_threads() <= 2);
}

}  // namespace
}  // namespace hb
