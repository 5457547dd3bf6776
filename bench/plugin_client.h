// plugin_client: a model plugin (.so) driven through the C ABI alone
// (plugins/include/hornbeam/plugin.h), for tools that load a plugin without
// the daemon: plugin_bench and gpu_check.
//
// Ownership: PluginLibrary owns the dlopen handle and the plugin state
// (init .. fini); PluginModel owns one model_load; PluginInstance one
// instance_create. Each must be destroyed before the object it was made
// from (the instance before its model, the model before its library): the
// factories take a reference to the parent and keep a pointer to it.
//
// Threads: open, load and create from one thread at a time. Embed on
// *different* instances may run concurrently (the ABI allows it); one
// instance is used by one thread at a time. DeviceInfo may run beside Embed.
//
// Errors are values: a factory returns null and fills *error; Embed and
// DeviceInfo return false and fill *error. No exception leaves this code on
// purpose, and none crosses the ABI.
#ifndef HORNBEAM_BENCH_PLUGIN_CLIENT_H_
#define HORNBEAM_BENCH_PLUGIN_CLIENT_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hornbeam/plugin.h"

namespace hornbeam::tools {

class PluginLibrary {
 public:
  // dlopens `path`, checks the ABI (same major, minor <= ours, execute_text
  // present) and calls init with a host table whose log callback writes
  // warnings and errors to stderr as "<log_prefix>: message", which never
  // cancels and allocates with malloc.
  static std::unique_ptr<PluginLibrary> Open(const std::string& path, const std::string& log_prefix,
                                             std::string* error);
  ~PluginLibrary();
  PluginLibrary(const PluginLibrary&) = delete;
  PluginLibrary& operator=(const PluginLibrary&) = delete;

  const hb_plugin_api& api() const { return *api_; }
  void* state() const { return state_; }
  std::string name() const { return api_->name ? api_->name : "?"; }

  // True when the plugin's table has device_info (ABI 1.1 and non-null).
  bool HasDeviceInfo() const;
  // The devices the plugin reports now (at most 16).
  bool DeviceInfo(std::vector<hb_device_info>* devices, std::string* error) const;

 private:
  PluginLibrary() = default;

  void* handle_ = nullptr;
  const hb_plugin_api* api_ = nullptr;
  void* state_ = nullptr;
  std::string log_prefix_;  // read by the log callback through host_.host_ctx
  hb_host_api host_{};
};

class PluginModel {
 public:
  static std::unique_ptr<PluginModel> Load(PluginLibrary& library, const std::string& name,
                                           const std::string& config_json, std::string* error);
  ~PluginModel();
  PluginModel(const PluginModel&) = delete;
  PluginModel& operator=(const PluginModel&) = delete;

  PluginLibrary& library() const { return *library_; }
  void* handle() const { return model_; }
  const hb_model_caps& caps() const { return caps_; }
  std::string description() const { return caps_.description ? caps_.description : "?"; }

 private:
  PluginModel() = default;

  PluginLibrary* library_ = nullptr;
  void* model_ = nullptr;
  hb_model_caps caps_{};
};

// The outcome of one text: the plugin's per-text status and message.
struct TextStatus {
  hb_status status = HB_OK;
  std::string message;
};

class PluginInstance {
 public:
  // device: -1 for the CPU, else a GPU ordinal (as instance_create).
  static std::unique_ptr<PluginInstance> Create(PluginModel& model, int32_t device,
                                                std::string* error);
  ~PluginInstance();
  PluginInstance(const PluginInstance&) = delete;
  PluginInstance& operator=(const PluginInstance&) = delete;

  const PluginModel& model() const { return *model_; }
  int32_t device() const { return device_; }
  uint32_t dim() const { return model_->caps().output_dim; }

  // Embeds every text, in execute_text calls of at most max_batch_size.
  // On true, *out holds texts.size() * dim() floats (rows of failed texts
  // are zero) and *statuses one entry per text. False when an execute call
  // failed as a whole (its err in *error) or, when statuses is null, when
  // any text failed (the first one's message in *error).
  bool Embed(std::span<const std::string_view> texts, std::vector<float>* out,
             std::vector<TextStatus>* statuses, std::string* error);

 private:
  PluginInstance() = default;

  PluginModel* model_ = nullptr;
  void* instance_ = nullptr;
  int32_t device_ = -1;
  // Reused between calls so that timing loops measure the plugin.
  std::vector<hb_text_request> requests_;
  std::vector<hb_text_result> results_;
};

// Splits "1,8,64" into numbers; false on anything else.
bool ParseUintList(const std::string& list, std::vector<uint32_t>* out);

}  // namespace hornbeam::tools

#endif  // HORNBEAM_BENCH_PLUGIN_CLIENT_H_
