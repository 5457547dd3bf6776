// Plugin: one loaded model plugin (.so) and the C ABI around it.
//
// Loading copies the .so to a private file first and dlopens the copy
// (RTLD_NOW | RTLD_LOCAL): an operator replacing the file in place can then
// never corrupt code that is running, and a changed file is always a new
// object to the dynamic loader, so hot reload sees the new code.
//
// Plugin owns the dlopen handle and the plugin state (init/fini); a
// ModelHandle owns one loaded model (model_load/unload), an
// InstanceHandle one instance (instance_create/destroy). Destruction order is
// instances, models, plugin, enforced by shared ownership: a model keeps its
// plugin alive, an instance its model.
//
// Thread: load/unload from any single thread at a time (the loop thread or
// a reload worker); Execute* on the instance's own thread.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "hornbeam/plugin.h"

namespace hb {

// An accelerator as a plugin reports it (ABI 1.1 device_info).
struct DeviceInfo {
  std::string kind;  // "cuda"
  int32_t ordinal = 0;
  std::string name;
  std::string uuid;
  uint64_t memory_total_bytes = 0;
  uint64_t memory_used_bytes = 0;
};

class Plugin : public std::enable_shared_from_this<Plugin> {
 public:
  // Loads, checks the ABI, calls init. Errors name the file and the reason.
  static Result<std::shared_ptr<Plugin>> Load(const std::string& path);
  // A plugin loaded in child processes (isolation "process"): no code here,
  // only its names and `devices`, which answers QueryDevices (any thread).
  using DeviceQuery = std::function<Result<std::vector<DeviceInfo>>()>;
  static std::shared_ptr<Plugin> Remote(std::string name, std::string version,
                                        DeviceQuery devices);
  ~Plugin();
  Plugin(const Plugin&) = delete;
  Plugin& operator=(const Plugin&) = delete;

  const std::string& path() const { return path_; }
  const std::string& name() const { return name_; }
  const std::string& version() const { return version_; }
  const hb_plugin_api* api() const { return api_; }
  void* state() const { return state_; }

  // Whether the plugin answers device_info (ABI >= 1.1, entry present).
  bool reports_devices() const;
  // Calls device_info. At most kMaxDevices entries; a count the plugin
  // overstates is an error. Empty for plugins that report no devices.
  // Thread: any, one caller at a time (the DeviceMonitor's thread).
  static constexpr uint32_t kMaxDevices = 16;
  Result<std::vector<DeviceInfo>> QueryDevices() const;

 private:
  Plugin() = default;
  std::string path_;
  std::string private_copy_;
  std::string name_;
  std::string version_;
  void* dl_ = nullptr;
  const hb_plugin_api* api_ = nullptr;
  void* state_ = nullptr;
  DeviceQuery remote_devices_;
};

struct ModelCaps {
  uint32_t output_dim = 0;
  uint32_t max_batch_size = 1;
  uint32_t max_tokens = 0;
  bool needs_gpu = false;
  std::vector<std::string> term_functions;  // "predict/1"
  std::string description;
};

class ModelHandle {
 public:
  // A model loaded elsewhere (a hornbeamd-worker, isolation: "process"):
  // its caps and a Plugin::Remote, no plugin code in this process.
  static std::shared_ptr<ModelHandle> Detached(ModelCaps caps, std::shared_ptr<Plugin> plugin);
  static Result<std::shared_ptr<ModelHandle>> Load(std::shared_ptr<Plugin> plugin,
                                                   const std::string& model_name,
                                                   const std::string& options_json);
  ~ModelHandle();
  const ModelCaps& caps() const { return caps_; }
  const std::shared_ptr<Plugin>& plugin() const { return plugin_; }
  void* raw() const { return model_; }

 private:
  ModelHandle() = default;
  std::shared_ptr<Plugin> plugin_;
  void* model_ = nullptr;
  ModelCaps caps_;
};

// An instance that runs somewhere else (daemon/isolated_instance.h): the
// InstanceHandle forwards its calls. Same contract as InstanceHandle's
// methods; called from the instance's thread only.
class InstanceBackend {
 public:
  virtual ~InstanceBackend() = default;
  virtual Status ExecuteText(const hb_text_request* requests, hb_text_result* results,
                             uint32_t count) = 0;
  virtual bool CountTokens(std::string_view text, uint32_t* tokens) = 0;
  virtual Status ExecuteTerm(const hb_term_request& request, std::string* out,
                             hb_status* code) = 0;
};

class InstanceHandle {
 public:
  // An instance served by `backend` (a child process); `model` is Detached.
  static std::unique_ptr<InstanceHandle> Remote(std::shared_ptr<ModelHandle> model,
                                                std::unique_ptr<InstanceBackend> backend,
                                                int device);
  static Result<std::unique_ptr<InstanceHandle>> Create(std::shared_ptr<ModelHandle> model,
                                                        int device);
  ~InstanceHandle();
  int device() const { return device_; }
  const ModelHandle& model() const { return *model_; }

  // Runs execute_text. On a whole-batch failure returns the error; per-text
  // failures are in results[i].status.
  Status ExecuteText(const hb_text_request* requests, hb_text_result* results, uint32_t count);
  // The plugin's token count for `text` (ABI 1.2 count_tokens); false when
  // the plugin cannot say. Thread: any instance thread.
  bool CountTokens(std::string_view text, uint32_t* tokens) const;
  // Runs execute_term. `out` receives the encoded result (host-allocated).
  Status ExecuteTerm(const hb_term_request& request, std::string* out, hb_status* code);

 private:
  InstanceHandle() = default;
  std::shared_ptr<ModelHandle> model_;
  void* instance_ = nullptr;
  int device_ = -1;
  std::unique_ptr<InstanceBackend> remote_;  // set: every call goes there
};

// The status of a call whose instance died under it (isolation: "process"):
// host-only, never a plugin's (a plugin returning it is read as internal).
// Its name is "crashed": {model_error, crashed, <<"signal 11 in instance 0">>}.
inline constexpr hb_status kStatusCrashed = -0x6862;

// The one name of a plugin status, everywhere it shows: the reason in
// metrics (errors_by_reason, hornbeam_model_errors_total) and the Kind of
// {model_error, Kind, Message}. "ok", "invalid_argument", "unsupported",
// "resource_exhausted", "internal", "unavailable", "cancelled", "crashed"
// (kStatusCrashed, host-only); a plugin's
// own codes are all "other" (one label, not one per code).
const char* PluginStatusName(hb_status s);

// The host side of hb_host_api (process-wide). Request tokens are the
// addresses of the requests' cancellation flags, valid for the duration of
// the execute call that carries them.
const hb_host_api* HostApi();
// Where the progress reports of a request go (ABI 1.3 report_progress):
// between Register and Unregister, reports carrying `token` call `fn` (on the
// plugin's thread). Unregistered tokens' reports are dropped. Thread-safe.
using ProgressFn = std::function<void(double, std::string_view)>;
void RegisterProgress(uint64_t token, ProgressFn fn);
void UnregisterProgress(uint64_t token);
inline uint64_t CancelToken(const std::atomic<bool>* flag) {
  return static_cast<uint64_t>(reinterpret_cast<uintptr_t>(flag));
}

}  // namespace hb
