// ModelRegistry: loading from a plugin directory, routes, and a reload that
// swaps batchers while calls are in flight (the TSan preset runs this too).
#include "daemon/model_registry.h"

#include <catch2/catch.hpp>
#include <uv.h>

#include <chrono>
#include <filesystem>
#include <thread>

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
  Term health = env.reg->HealthTerm();
  REQUIRE(health.size() == 2);
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

}  // namespace
}  // namespace hb
