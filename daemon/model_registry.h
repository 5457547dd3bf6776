// ModelRegistry: plugins in the plugin directory, the configured models
// they serve, and the Erlang modules routed to those models.
//
// Startup (Load) is synchronous: the daemon reports ready only once every
// configured model has loaded or failed with a logged reason. A bad plugin
// or model costs only itself; the rest serve.
//
// Reload (SIGHUP, or a .so appearing or changing in the plugin directory)
// builds the new plugins, models, instances and batchers on a background
// thread, then swaps them in on the loop thread. Calls already queued on an
// old batcher finish there (it drains on a thread of its own) and the old
// model unloads once its last call is answered: no call fails because of a
// reload.
//
// What it serves is read as a RegistrySnapshot (model_snapshot.h); the
// services render that, the registry renders nothing.
//
// Thread: every public method on the loop thread.
#pragma once

#include <uv.h>

#include <atomic>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "config/options.h"
#include "daemon/batcher.h"
#include "daemon/device_monitor.h"
#include "daemon/isolated_instance.h"
#include "daemon/model_snapshot.h"
#include "daemon/router.h"
#include "daemon/serving_model.h"

namespace hb {

// The internal module every serving model is also routed under, whatever
// `routes` says: what the model's process (model_process.h) calls.
std::string ModelModule(const std::string& model);

class ModelRegistry {
 public:
  // `device_poll` is how often plugins are asked for their devices.
  ModelRegistry(uv_loop_t* loop, Router* router, std::string plugin_dir,
                std::chrono::milliseconds device_poll = std::chrono::seconds(5));
  ~ModelRegistry();
  ModelRegistry(const ModelRegistry&) = delete;
  ModelRegistry& operator=(const ModelRegistry&) = delete;

  // Loads every plugin in the directory and every configured model, and
  // installs the routes. Returns the number of models that failed.
  size_t Load(const std::vector<ModelConfig>& models,
              const std::map<std::string, std::string>& routes);
  // Starts a background reload with this configuration; `done` runs on the
  // loop thread when the swap is complete. A reload requested while one is
  // running is queued behind it.
  void Reload(std::vector<ModelConfig> models, std::map<std::string, std::string> routes,
              std::function<void()> done = nullptr);
  // Watches the plugin directory; a changed or new .so triggers Reload with
  // the current configuration after a short quiet period.
  void WatchDirectory();
  // Stops watching, drains every batcher, joins helper threads.
  void Close(std::function<void()> closed);

  // Every configured model, by name, and the devices plugins last reported
  // (see DeviceMonitor). kLoad copies no histogram: cheap enough for every
  // health:check. Never waits on a plugin.
  RegistrySnapshot Snapshot(SnapshotDetail detail) const;
  // The model serving under `name` now (null when it does not serve), and
  // every serving model: what routes use at call time.
  std::shared_ptr<const ServingModel> Find(const std::string& name) const;
  // Runs after every (re)install of the model routes, which clears the
  // routed modules: other services re-add their routes there (ml:train).
  void set_after_routes(std::function<void()> f) { after_routes_ = std::move(f); }
  std::vector<std::shared_ptr<const ServingModel>> All() const;
  // A model failed or hangs (status not ok): what Snapshot would say,
  // without copying anything.
  bool degraded() const;
  bool reloading() const { return reload_running_; }
  // Called on the loop thread after every install (start, reload) with the
  // names of the models that serve now.
  void set_on_serving(std::function<void(const std::vector<std::string>&)> f) {
    on_serving_ = std::move(f);
  }
  size_t retiring_threads() const { return retiring_.size(); }  // for tests
  uint64_t reloads_completed() const { return reloads_completed_; }

 private:
  // Identity of a plugin file: a reload rebuilds models whose file changed.
  struct PluginFile {
    std::string path;
    uint64_t inode = 0;
    uint64_t size = 0;
    int64_t mtime_ns = 0;
    bool operator==(const PluginFile& o) const {
      return path == o.path && inode == o.inode && size == o.size && mtime_ns == o.mtime_ns;
    }
  };
  // One configured model as served now; routes hold it by shared_ptr.
  struct Slot {
    ModelConfig config;
    std::shared_ptr<Batcher> batcher;  // null while failed
    ModelStatus status = ModelStatus::kLoading;  // kOk | kFailed once built
    std::string error;
    PluginFile file;
    ModelCaps caps;
    std::string plugin_name;
    std::string plugin_version;
    std::weak_ptr<Plugin> plugin;  // for the device monitor only
    std::shared_ptr<ServingModel> serving;  // what routes use; null until built
    // isolation "process": its crash record (kFailed once it says so).
    std::shared_ptr<IsolationHealth> isolation;
  };
  struct Built {
    ModelConfig config;
    Status status;
    std::shared_ptr<Batcher> batcher;
    PluginFile file;
    ModelCaps caps;
    std::string plugin_name;
    std::string plugin_version;
    std::shared_ptr<Plugin> plugin;
    std::shared_ptr<IsolationHealth> isolation;
  };
  // Runs on a background thread: everything that can take time.
  static std::vector<Built> Build(const std::string& dir, const std::vector<ModelConfig>& models,
                                  const std::map<std::string, PluginFile>& files);
  void Install(std::vector<Built> built, const std::map<std::string, std::string>& routes);
  void InstallRoutes(const std::map<std::string, std::string>& routes);
  ModelLookup Lookup();
  // Builds an isolated model (its instances in hornbeamd-workers).
  static void BuildIsolated(const ModelConfig& mc, const std::string& path, Built* b);
  // The slot's status, or kDegraded while an execute has run past
  // stuck_after_ms or after a recent crash of an isolated model; kFailed
  // once it crashed too often.
  static ModelStatus StatusOf(const Slot& slot, const BatcherLoad& load);
  void Retire(std::shared_ptr<Batcher> b);
  std::map<std::string, PluginFile> ScanDirectory() const;
  void OnReloadBuilt();
  void StartNextReload();

  uv_loop_t* loop_;
  Router* router_;
  std::string plugin_dir_;
  std::vector<ModelConfig> models_;
  std::map<std::string, std::string> routes_;
  std::map<std::string, std::shared_ptr<Slot>> slots_;  // by model name
  std::vector<std::string> routed_modules_;
  std::function<void(const std::vector<std::string>&)> on_serving_;
  std::function<void()> after_routes_;

  // Reload machinery.
  uv_async_t reload_async_;
  uv_fs_event_t watcher_;
  uv_timer_t debounce_;
  bool watching_ = false;
  bool reload_running_ = false;
  struct Pending {
    std::vector<ModelConfig> models;
    std::map<std::string, std::string> routes;
    std::function<void()> done;
  };
  std::vector<Pending> queued_reloads_;
  std::thread reload_thread_;
  std::vector<Built> reload_result_;  // written by reload_thread_, read after join
  Pending current_;
  uint64_t reloads_completed_ = 0;
  // Batchers draining after a swap, each on its own thread; finished ones
  // are joined at the next Retire so a daemon reloaded every minute for a
  // month does not keep 40,000 dead thread objects.
  struct Retiring {
    std::thread thread;
    std::shared_ptr<std::atomic<bool>> done;
  };
  void ReapRetired();
  std::vector<Retiring> retiring_;
  int open_handles_ = 0;
  std::function<void()> closed_;
  DeviceMonitor devices_;
};

// Where plugins are looked for when the configuration names no directory:
// `plugins/` beside the executable in a build tree, else the installed path.
std::string DefaultPluginDir();

}  // namespace hb
