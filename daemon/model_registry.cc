#include "daemon/model_registry.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <set>

#include "base/catch_all.h"
#include "base/log.h"
#include "daemon/ml_service.h"

namespace hb {

std::string DefaultPluginDir() {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n > 0) {
    exe[n] = '\0';
    std::string dir(exe);
    dir = dir.substr(0, dir.rfind('/'));
    std::string beside = dir + "/plugins";
    struct stat st;
    // A build tree: the daemon and its plugins/ sit side by side.
    if (stat((dir + "/CMakeCache.txt").c_str(), &st) == 0 && stat(beside.c_str(), &st) == 0) {
      return beside;
    }
    // Installed under a prefix: PREFIX/sbin/hornbeamd, PREFIX/lib/hornbeamd/plugins.
    std::string prefix = dir.substr(0, dir.rfind('/'));
    std::string installed = prefix + "/lib/hornbeamd/plugins";
    if (stat(installed.c_str(), &st) == 0) return installed;
  }
  return "/usr/lib/hornbeamd/plugins";
}

ModelRegistry::ModelRegistry(uv_loop_t* loop, Router* router, std::string plugin_dir,
                             std::chrono::milliseconds device_poll)
    : loop_(loop), router_(router), plugin_dir_(std::move(plugin_dir)), devices_(device_poll) {
  uv_async_init(loop_, &reload_async_,
                [](uv_async_t* a) {
                  CatchAll("reload", [&] { static_cast<ModelRegistry*>(a->data)->OnReloadBuilt(); });
                });
  reload_async_.data = this;
  uv_timer_init(loop_, &debounce_);
  debounce_.data = this;
  open_handles_ = 2;
}

ModelRegistry::~ModelRegistry() {
  for (Retiring& r : retiring_) {
    if (r.thread.joinable()) r.thread.join();
  }
  if (reload_thread_.joinable()) reload_thread_.join();
}

std::map<std::string, ModelRegistry::PluginFile> ModelRegistry::ScanDirectory() const {
  std::map<std::string, PluginFile> files;
  DIR* d = opendir(plugin_dir_.c_str());
  if (d == nullptr) return files;
  while (dirent* e = readdir(d)) {
    std::string name = e->d_name;
    if (name.size() <= 3 || name.compare(name.size() - 3, 3, ".so") != 0) continue;
    PluginFile f;
    f.path = plugin_dir_ + "/" + name;
    struct stat st;
    if (stat(f.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    f.inode = st.st_ino;
    f.size = static_cast<uint64_t>(st.st_size);
    f.mtime_ns = static_cast<int64_t>(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec;
    files[name.substr(0, name.size() - 3)] = f;
  }
  closedir(d);
  return files;
}

std::vector<ModelRegistry::Built> ModelRegistry::Build(const std::string& dir,
                                                       const std::vector<ModelConfig>& models,
                                                       const std::map<std::string, PluginFile>& files) {
  std::map<std::string, std::shared_ptr<Plugin>> loaded;
  std::map<std::string, Status> failed;
  std::vector<Built> out;
  for (const ModelConfig& mc : models) {
    Built b;
    b.config = mc;
    auto f = files.find(mc.plugin);
    if (f == files.end()) {
      b.status = NotFound("model '" + mc.name + "': no plugin '" + mc.plugin + ".so' in " + dir);
      out.push_back(std::move(b));
      continue;
    }
    b.file = f->second;
    if (mc.isolation == "process") {
      // The plugin is loaded by the children only, never in the daemon.
      BuildIsolated(mc, f->second.path, &b);
      out.push_back(std::move(b));
      continue;
    }
    std::shared_ptr<Plugin> plugin;
    if (auto it = loaded.find(mc.plugin); it != loaded.end()) {
      plugin = it->second;
    } else if (auto e = failed.find(mc.plugin); e != failed.end()) {
      b.status = e->second;
      out.push_back(std::move(b));
      continue;
    } else {
      Result<std::shared_ptr<Plugin>> p = Plugin::Load(f->second.path);
      if (!p.ok()) {
        failed[mc.plugin] = p.status();
        b.status = p.status();
        out.push_back(std::move(b));
        continue;
      }
      plugin = loaded[mc.plugin] = *p;
    }
    b.plugin_name = plugin->name();
    b.plugin_version = plugin->version();
    Result<std::shared_ptr<ModelHandle>> model = ModelHandle::Load(plugin, mc.name, mc.options_json);
    if (!model.ok()) {
      b.status = model.status();
      out.push_back(std::move(b));
      continue;
    }
    b.caps = (*model)->caps();
    std::vector<std::unique_ptr<InstanceHandle>> instances;
    for (uint32_t i = 0; i < mc.instances && b.status.ok(); ++i) {
      int device = mc.devices[i % mc.devices.size()];
      if (b.caps.needs_gpu && device < 0) {
        b.status = InvalidArgument("model '" + mc.name + "' needs a GPU; configure devices [0, ...]");
        break;
      }
      Result<std::unique_ptr<InstanceHandle>> inst = InstanceHandle::Create(*model, device);
      if (!inst.ok()) {
        b.status = Unavailable("model '" + mc.name + "': " + inst.status().message());
        break;
      }
      instances.push_back(std::move(inst).value());
    }
    if (b.status.ok()) {
      BatcherOptions bo;
      bo.max_batch_size = mc.max_batch_size;
      bo.max_queue_delay_us = mc.max_queue_delay_us;
      bo.max_queue = mc.max_queue;
      b.batcher = std::make_shared<Batcher>(mc.name, bo, std::move(instances));
      // Only for a model that serves: the batcher keeps the plugin loaded,
      // so this reference never runs fini on the thread that drops it.
      b.plugin = plugin;
    }
    out.push_back(std::move(b));
  }
  return out;
}

void ModelRegistry::BuildIsolated(const ModelConfig& mc, const std::string& path, Built* b) {
  Result<IsolatedModel> m = StartIsolatedModel(mc, path);
  if (!m.ok()) {
    b->status = m.status();
    return;
  }
  b->caps = m->hello.caps;
  b->plugin_name = m->hello.plugin_name;
  b->plugin_version = m->hello.plugin_version;
  b->isolation = m->health;
  b->plugin = m->plugin;  // its devices come from the workers' boards
  BatcherOptions bo;
  bo.max_batch_size = mc.max_batch_size;
  bo.max_queue_delay_us = mc.max_queue_delay_us;
  bo.max_queue = mc.max_queue;
  b->batcher = std::make_shared<Batcher>(mc.name, bo, std::move(m->instances));
}

size_t ModelRegistry::Load(const std::vector<ModelConfig>& models,
                           const std::map<std::string, std::string>& routes) {
  // Every .so in the directory is checked at startup, used or not, so a
  // broken plugin is reported when it is installed rather than when a
  // configuration first names it.
  std::map<std::string, PluginFile> files = ScanDirectory();
  std::set<std::string> used;
  for (const ModelConfig& m : models) used.insert(m.plugin);
  for (const auto& [stem, f] : files) {
    if (used.count(stem)) continue;
    Result<std::shared_ptr<Plugin>> p = Plugin::Load(f.path);
    if (!p.ok()) {
      HB_LOG_WARN("skipping plugin: " + p.status().message());
    } else {
      HB_LOG_INFO("plugin " + f.path + " (" + (*p)->name() + " " + (*p)->version() +
                  ") available, not used by any model");
    }
  }
  models_ = models;
  routes_ = routes;
  std::vector<Built> built = Build(plugin_dir_, models, files);
  size_t failures = 0;
  for (const Built& b : built) failures += b.status.ok() ? 0 : 1;
  Install(std::move(built), routes);
  return failures;
}

void ModelRegistry::Install(std::vector<Built> built,
                            const std::map<std::string, std::string>& routes) {
  for (Built& b : built) {
    std::shared_ptr<Slot>& slot = slots_[b.config.name];
    if (!slot) slot = std::make_shared<Slot>();
    std::shared_ptr<Batcher> old = slot->batcher;
    slot->config = b.config;
    slot->file = b.file;
    if (b.status.ok()) {
      slot->batcher = b.batcher;
      slot->status = ModelStatus::kOk;
      slot->error.clear();
      slot->caps = b.caps;
      slot->plugin_name = b.plugin_name;
      slot->plugin_version = b.plugin_version;
      slot->plugin = b.plugin;
      slot->isolation = b.isolation;
      auto serving = std::make_shared<ServingModel>();
      serving->name = b.config.name;
      serving->config = b.config;
      serving->caps = b.caps;
      serving->plugin_name = b.plugin_name;
      serving->plugin_version = b.plugin_version;
      serving->batcher = b.batcher;
      serving->cache = std::make_shared<ResultCache>(b.config.cache_bytes, b.caps.output_dim);
      slot->serving = std::move(serving);
      HB_LOG_INFO("model '" + b.config.name + "' ready: plugin " + b.plugin_name + " " +
                  b.plugin_version + ", " + std::to_string(b.config.instances) +
                  " instance(s) on " + DevicesText(b.config.devices) + ", dim " +
                  std::to_string(b.caps.output_dim) + ", max batch " +
                  std::to_string(b.batcher->options().max_batch_size));
      if (old && old != b.batcher) Retire(old);
    } else {
      // A model that worked keeps serving its old version when the new one
      // fails to load.
      HB_LOG_ERROR(b.status.message() + (old ? " (keeping the running version)" : ""));
      if (!old) {
        slot->status = ModelStatus::kFailed;
        slot->error = b.status.message();
      }
    }
  }
  // Models no longer configured: unroute, then drain.
  for (auto it = slots_.begin(); it != slots_.end();) {
    bool configured = false;
    for (const ModelConfig& m : models_) configured = configured || m.name == it->first;
    if (!configured) {
      if (it->second->batcher) Retire(it->second->batcher);
      it = slots_.erase(it);
    } else {
      ++it;
    }
  }
  InstallRoutes(routes);
  if (on_serving_) {
    std::vector<std::string> serving;
    for (const auto& [name, slot] : slots_) {
      if (slot->status == ModelStatus::kOk) serving.push_back(name);
    }
    on_serving_(serving);
  }
  std::vector<std::weak_ptr<Plugin>> plugins;
  for (const auto& [name, slot] : slots_) {
    if (slot->status == ModelStatus::kOk) plugins.push_back(slot->plugin);
  }
  devices_.SetPlugins(std::move(plugins));
}

void ModelRegistry::Retire(std::shared_ptr<Batcher> b) {
  // Drain off the loop: queued calls finish on the old instances, then the
  // last reference unloads model and plugin.
  ReapRetired();
  auto done = std::make_shared<std::atomic<bool>>(false);
  retiring_.push_back({std::thread([b = std::move(b), done]() mutable {
                         CatchAll("retire", [&] {
                           b->Drain();
                           b.reset();
                         });
                         done->store(true, std::memory_order_release);
                       }),
                       done});
}

void ModelRegistry::ReapRetired() {
  for (auto it = retiring_.begin(); it != retiring_.end();) {
    if (it->done->load(std::memory_order_acquire)) {
      it->thread.join();  // already past its last statement: returns at once
      it = retiring_.erase(it);
    } else {
      ++it;
    }
  }
}

void ModelRegistry::Reload(std::vector<ModelConfig> models,
                           std::map<std::string, std::string> routes,
                           std::function<void()> done) {
  queued_reloads_.push_back({std::move(models), std::move(routes), std::move(done)});
  if (!reload_running_) StartNextReload();
}

void ModelRegistry::StartNextReload() {
  if (queued_reloads_.empty() || closed_) return;
  current_ = std::move(queued_reloads_.front());
  queued_reloads_.erase(queued_reloads_.begin());
  reload_running_ = true;
  std::map<std::string, PluginFile> files = ScanDirectory();
  // Rebuild what changed: new or changed configuration, a changed plugin
  // file, or a model that is not serving.
  std::vector<ModelConfig> rebuild;
  for (const ModelConfig& m : current_.models) {
    auto it = slots_.find(m.name);
    auto f = files.find(m.plugin);
    // An isolated model that failed is rebuilt too: a reload is how an
    // operator brings it back.
    bool changed = it == slots_.end() || it->second->status != ModelStatus::kOk ||
                   (it->second->isolation && it->second->isolation->failed()) ||
                   !(it->second->config == m) || f == files.end() ||
                   !(f->second == it->second->file);
    if (changed) rebuild.push_back(m);
  }
  if (reload_thread_.joinable()) reload_thread_.join();
  std::string dir = plugin_dir_;
  reload_thread_ = std::thread([this, dir, rebuild, files] {
    // A failed build (out of memory) installs nothing: the models serve on.
    if (!CatchAll("reload", [&] { reload_result_ = Build(dir, rebuild, files); })) {
      reload_result_.clear();
    }
    uv_async_send(&reload_async_);
  });
}

void ModelRegistry::OnReloadBuilt() {
  if (!reload_running_) return;
  if (reload_thread_.joinable()) reload_thread_.join();
  models_ = current_.models;
  routes_ = current_.routes;
  size_t n = reload_result_.size();
  // A reload empties every result cache: rebuilt models get new ones, and
  // the others start afresh too, so no answer outlives the reload that an
  // operator expects to take effect.
  for (const auto& [name, slot] : slots_) {
    if (slot->serving) slot->serving->cache->Clear();
  }
  Install(std::move(reload_result_), routes_);
  reload_result_.clear();
  reload_running_ = false;
  ++reloads_completed_;
  HB_LOG_INFO("reload complete: " + std::to_string(n) + " model(s) rebuilt");
  auto done = std::move(current_.done);
  current_ = Pending();
  if (done) done();
  StartNextReload();
}

void ModelRegistry::WatchDirectory() {
  if (uv_fs_event_init(loop_, &watcher_) != 0) return;
  watcher_.data = this;
  ++open_handles_;
  int rc = uv_fs_event_start(
      &watcher_,
      [](uv_fs_event_t* h, const char* filename, int, int status) {
        auto* self = static_cast<ModelRegistry*>(h->data);
        if (status < 0 || filename == nullptr) return;
        std::string f = filename;
        if (f.size() < 3 || f.compare(f.size() - 3, 3, ".so") != 0) return;
        // Installers write in several steps; act once the directory is quiet.
        uv_timer_start(&self->debounce_, [](uv_timer_t* t) {
          auto* me = static_cast<ModelRegistry*>(t->data);
          HB_LOG_INFO("plugin directory changed; reloading");
          me->Reload(me->models_, me->routes_);
        }, 300, 0);
      },
      plugin_dir_.c_str(), 0);
  if (rc != 0) {
    HB_LOG_WARN("cannot watch plugin directory " + plugin_dir_ + ": " + uv_strerror(rc));
  } else {
    watching_ = true;
  }
}

void ModelRegistry::Close(std::function<void()> closed) {
  closed_ = closed ? std::move(closed) : [] {};
  queued_reloads_.clear();
  if (reload_thread_.joinable()) reload_thread_.join();
  reload_result_.clear();
  for (auto& [name, slot] : slots_) {
    if (slot->batcher) slot->batcher->Drain();
  }
  for (Retiring& r : retiring_) {
    if (r.thread.joinable()) r.thread.join();
  }
  retiring_.clear();
  auto on_close = [](uv_handle_t* h) {
    auto* self = static_cast<ModelRegistry*>(h->data);
    if (--self->open_handles_ == 0) self->closed_();
  };
  uv_close(reinterpret_cast<uv_handle_t*>(&reload_async_), on_close);
  uv_close(reinterpret_cast<uv_handle_t*>(&debounce_), on_close);
  if (open_handles_ == 3) uv_close(reinterpret_cast<uv_handle_t*>(&watcher_), on_close);
}

ModelStatus ModelRegistry::StatusOf(const Slot& slot, const BatcherLoad& load) {
  if (slot.status == ModelStatus::kOk && slot.isolation) {
    IsolationHealth::View v = slot.isolation->Get();
    if (v.failed) return ModelStatus::kFailed;
    if (v.recent_crashes > 0) return ModelStatus::kDegraded;
  }
  // An execute running far longer than this model's batches usually take
  // means a hung plugin or device.
  if (slot.status == ModelStatus::kOk &&
      load.longest_running_execute_ms > slot.config.stuck_after_ms) {
    return ModelStatus::kDegraded;
  }
  return slot.status;
}

bool ModelRegistry::degraded() const {
  for (const auto& [name, slot] : slots_) {
    BatcherLoad load = slot->batcher ? slot->batcher->Load() : BatcherLoad();
    if (StatusOf(*slot, load) != ModelStatus::kOk) return true;
  }
  return false;
}

std::shared_ptr<const ServingModel> ModelRegistry::Find(const std::string& name) const {
  auto it = slots_.find(name);
  if (it == slots_.end() || it->second->status != ModelStatus::kOk) return nullptr;
  // A model failed by its crashes answers model_unavailable at once.
  if (it->second->isolation && it->second->isolation->failed()) return nullptr;
  return it->second->serving;
}

std::vector<std::shared_ptr<const ServingModel>> ModelRegistry::All() const {
  std::vector<std::shared_ptr<const ServingModel>> out;
  for (const auto& [name, slot] : slots_) {
    if (slot->serving && slot->status == ModelStatus::kOk &&
        !(slot->isolation && slot->isolation->failed())) {
      out.push_back(slot->serving);
    }
  }
  return out;
}

RegistrySnapshot ModelRegistry::Snapshot(SnapshotDetail detail) const {
  RegistrySnapshot out;
  out.models.reserve(slots_.size());
  for (const auto& [name, slot] : slots_) {
    ModelSnapshot m;
    m.name = name;
    m.config = slot->config;
    m.plugin_name = slot->plugin_name;
    m.plugin_version = slot->plugin_version;
    m.caps = slot->caps;
    m.error = slot->error;
    m.serving = slot->batcher != nullptr;
    if (m.serving && detail == SnapshotDetail::kStats) {
      // One lock of the batcher for both, so load and counters agree.
      auto stats = std::make_shared<BatcherStats>(slot->batcher->Stats());
      m.load = {stats->queue_depth, stats->busy_instances, stats->longest_running_execute_ms};
      m.stats = std::move(stats);
    } else if (m.serving) {
      m.load = slot->batcher->Load();
    }
    if (slot->serving) m.cache = slot->serving->cache->Stats();
    m.status = StatusOf(*slot, m.load);
    if (slot->isolation) {
      IsolationHealth::View v = slot->isolation->Get();
      m.restarts = v.restarts;
      m.crashes = v.crashes;
      m.last_crash = v.last_cause;
      if (v.failed) m.error = "failed after " + std::to_string(v.crashes) + " crashes";
    }
    out.models.push_back(std::move(m));
  }
  out.devices = devices_.Latest();
  return out;
}

}  // namespace hb
