// isolation: "process" through the ModelRegistry and the ml routes: health
// shows a crashed model degraded with its restarts and last cause, a model
// that crashed too often failed and answered model_unavailable at once, and
// a reload of an isolated model under load fails no call.
#include <catch2/catch.hpp>
#include <uv.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "daemon/model_registry.h"
#include "daemon/prometheus.h"

namespace hb {
namespace {

namespace fs = std::filesystem;

struct Env {
  uv_loop_t loop;
  Router router;
  fs::path dir;
  std::unique_ptr<ModelRegistry> reg;

  explicit Env(std::chrono::milliseconds device_poll = std::chrono::seconds(5)) {
    setenv("HB_WORKER", HB_WORKER_PATH, 1);
    uv_loop_init(&loop);
    dir = fs::temp_directory_path() / ("hbiso" + std::to_string(::getpid()));
    fs::create_directories(dir);
    fs::copy_file(std::string(HB_TEST_PLUGIN_DIR) + "/testplugin_good.so", dir / "tp.so",
                  fs::copy_options::overwrite_existing);
    reg = std::make_unique<ModelRegistry>(&loop, &router, dir.string(), device_poll);
  }
  ~Env() {
    reg->Close([] {});
    uv_run(&loop, UV_RUN_DEFAULT);
    reg.reset();
    uv_loop_close(&loop);
    fs::remove_all(dir);
  }
  // Runs ml:encode(Text) and the loop until it is answered.
  CallOutcome Encode(const std::string& text) {
    const Route* r = router.Find("ml", "encode", 1);
    REQUIRE(r != nullptr);
    CallRequest req;
    req.module = "ml";
    req.function = "encode";
    req.args = Term::List({Term::Binary(text)});
    req.cancelled = std::make_shared<std::atomic<bool>>(false);
    std::optional<CallOutcome> out;
    r->run_async(req, [&](CallOutcome o) { out = std::move(o); });
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (!out && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    REQUIRE(out.has_value());
    return *out;
  }
};

ModelConfig IsolatedModel() {
  ModelConfig m;
  m.name = "iso";
  m.plugin = "tp";
  m.isolation = "process";
  m.max_restarts = 2;
  m.restart_backoff_ms = 10;
  return m;
}

// Whether the outcome's reason (a model_error's kind included) names `atom`.
bool Names(const CallOutcome& o, const char* atom) {
  const Term& v = o.value;
  if (v.is_atom(atom)) return true;
  for (size_t i = 0; i < v.size(); ++i) {
    if (v[i].is_atom(atom)) return true;
    for (size_t j = 0; j < v[i].size(); ++j) {
      if (v[i][j].is_atom(atom)) return true;
    }
  }
  return false;
}

TEST_CASE("isolation: health shows crashes, then failed; calls get model_unavailable at once",
          "[isolation][registry]") {
  Env env;
  REQUIRE(env.reg->Load({IsolatedModel()}, {{"ml", "iso"}}) == 0);
  CHECK(!env.Encode("hello").is_error());
  CallOutcome crashed = env.Encode("crash:segv");
  CHECK(crashed.is_error());
  CHECK(Names(crashed, "crashed"));
  CHECK(!env.Encode("again").is_error());  // restarted
  ModelSnapshot m = env.reg->Snapshot(SnapshotDetail::kLoad).models.at(0);
  CHECK(m.status == ModelStatus::kDegraded);
  CHECK(m.restarts == 1);
  CHECK(m.last_crash == "signal 11 in instance 0");
  CHECK(env.reg->degraded());
  {
    Metrics metrics;
    RegistrySnapshot stats = env.reg->Snapshot(SnapshotDetail::kStats);
    PrometheusInputs in;
    in.metrics = &metrics;
    in.models = &stats;
    CHECK(RenderPrometheus(in).find("hornbeam_model_worker_restarts_total{model=\"iso\"} 1\n") !=
          std::string::npos);
  }

  CHECK(Names(env.Encode("crash:abort"), "crashed"));
  CHECK(Names(env.Encode("crash:segv"), "crashed"));  // the third: more than max_restarts
  m = env.reg->Snapshot(SnapshotDetail::kLoad).models.at(0);
  CHECK(m.status == ModelStatus::kFailed);
  CHECK(m.error == "failed after 3 crashes");
  CallOutcome refused = env.Encode("hello");
  CHECK(refused.is_error());
  CHECK(Names(refused, "model_unavailable"));
  // A reload brings a failed isolated model back.
  bool reloaded = false;
  env.reg->Reload({IsolatedModel()}, {{"ml", "iso"}}, [&] { reloaded = true; });
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (!reloaded && std::chrono::steady_clock::now() < deadline) {
    uv_run(&env.loop, UV_RUN_NOWAIT);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  REQUIRE(reloaded);
  CHECK(!env.Encode("back").is_error());
  CHECK(env.reg->Snapshot(SnapshotDetail::kLoad).models.at(0).status == ModelStatus::kOk);
}

TEST_CASE("isolation: the devices an isolated plugin reports reach health", "[isolation][registry]") {
  Env env(std::chrono::milliseconds(50));
  ModelConfig m = IsolatedModel();
  m.options_json = R"({"fake_devices": 2})";
  REQUIRE(env.reg->Load({m}, {{"ml", "iso"}}) == 0);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  RegistrySnapshot snap;
  do {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    snap = env.reg->Snapshot(SnapshotDetail::kLoad);
  } while (snap.devices.devices.size() < 2 && std::chrono::steady_clock::now() < deadline);
  REQUIRE(snap.devices.devices.size() == 2);
  CHECK(snap.devices.devices[0].info.name == "Test GPU 0");
  CHECK(snap.devices.devices[1].info.uuid == "GPU-test-1");
  CHECK(snap.devices.devices[0].info.memory_used_bytes == (1ull << 30) + (256ull << 20));
  CHECK(snap.devices.devices[0].plugins == std::vector<std::string>{"testplugin"});
  // The daemon itself never loaded the plugin: its devices came through the worker.
}

TEST_CASE("isolation: a reload of an isolated model under load fails no call",
          "[isolation][registry][reload]") {
  Env env;
  ModelConfig m = IsolatedModel();
  m.instances = 2;
  REQUIRE(env.reg->Load({m}, {{"ml", "iso"}}) == 0);
  std::atomic<int> ok{0}, bad{0};
  int submitted = 0;
  auto fire = [&] {
    const Route* r = env.router.Find("ml", "encode", 1);
    REQUIRE(r != nullptr);
    CallRequest req;
    req.module = "ml";
    req.function = "encode";
    req.args = Term::List({Term::Binary("text " + std::to_string(submitted++))});
    req.cancelled = std::make_shared<std::atomic<bool>>(false);
    r->run_async(req, [&](CallOutcome o) { (o.is_error() ? bad : ok)++; });
  };
  for (int i = 0; i < 200; ++i) fire();
  bool reloaded = false;
  m.max_batch_size = 8;  // changed: rebuilt (new children) and swapped
  env.reg->Reload({m}, {{"ml", "iso"}}, [&] { reloaded = true; });
  while (!reloaded && submitted < 200000) {
    fire();
    uv_run(&env.loop, UV_RUN_NOWAIT);
    std::this_thread::sleep_for(std::chrono::microseconds(200));
  }
  REQUIRE(reloaded);
  for (int i = 0; i < 200; ++i) fire();
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (ok + bad < submitted && std::chrono::steady_clock::now() < deadline) {
    uv_run(&env.loop, UV_RUN_NOWAIT);
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  CHECK(ok + bad == submitted);
  CHECK(bad == 0);
}

}  // namespace
}  // namespace hb
