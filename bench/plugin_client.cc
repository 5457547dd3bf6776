#include "bench/plugin_client.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace hornbeam::tools {
namespace {

// Host callbacks. The tools print only what may explain a failure: the
// plugins log every model load at info level.
void Log(void* ctx, hb_log_level level, const char* msg) {
  if (level < HB_LOG_WARNING) return;
  const auto* prefix = static_cast<const std::string*>(ctx);
  std::fprintf(stderr, "%s: %s\n", prefix->c_str(), msg);
}
int NeverCancelled(void*, uint64_t) { return 0; }
void* Alloc(void*, size_t size) { return std::malloc(size); }

// Whether `api` (a table of api->struct_size bytes) has device_info.
bool TableHasDeviceInfo(const hb_plugin_api& api) {
  return api.abi_minor >= 1 &&
         api.struct_size >= offsetof(hb_plugin_api, device_info) + sizeof(api.device_info) &&
         api.device_info != nullptr;
}

void IgnoreProgress(void*, uint64_t, double, const char*) {}

}  // namespace

std::unique_ptr<PluginLibrary> PluginLibrary::Open(const std::string& path,
                                                   const std::string& log_prefix,
                                                   std::string* error) {
  std::unique_ptr<PluginLibrary> lib(new PluginLibrary());
  lib->handle_ = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib->handle_ == nullptr) {
    *error = dlerror();
    return nullptr;
  }
  auto get_api = reinterpret_cast<hb_plugin_get_api_fn>(dlsym(lib->handle_, "hb_plugin_get_api"));
  const hb_plugin_api* api = get_api ? get_api(HB_PLUGIN_ABI_MAJOR, HB_PLUGIN_ABI_MINOR) : nullptr;
  if (api == nullptr || api->abi_major != HB_PLUGIN_ABI_MAJOR ||
      api->abi_minor > HB_PLUGIN_ABI_MINOR || api->execute_text == nullptr) {
    *error = path + " is not a usable ABI " + std::to_string(HB_PLUGIN_ABI_MAJOR) + "." +
             std::to_string(HB_PLUGIN_ABI_MINOR) + " text plugin";
    return nullptr;
  }
  lib->api_ = api;
  lib->log_prefix_ = log_prefix;
  lib->host_ = hb_host_api{sizeof(hb_host_api),
                           HB_PLUGIN_ABI_MAJOR,
                           HB_PLUGIN_ABI_MINOR,
                           &lib->log_prefix_,
                           &Log,
                           &NeverCancelled,
                           &Alloc,
                           &IgnoreProgress};
  char err[512] = "";
  if (api->init(&lib->host_, &lib->state_, err, sizeof(err)) != HB_OK) {
    *error = std::string("init: ") + err;
    lib->api_ = nullptr;  // nothing to fini
    return nullptr;
  }
  return lib;
}

PluginLibrary::~PluginLibrary() {
  if (api_ != nullptr) api_->fini(state_);
  if (handle_ != nullptr) dlclose(handle_);
}

bool PluginLibrary::HasDeviceInfo() const { return TableHasDeviceInfo(*api_); }

bool PluginLibrary::DeviceInfo(std::vector<hb_device_info>* devices, std::string* error) const {
  devices->clear();
  if (!HasDeviceInfo()) return true;
  constexpr uint32_t kCapacity = 16;
  std::vector<hb_device_info> slots(kCapacity);
  for (hb_device_info& d : slots) d.struct_size = sizeof(d);
  uint32_t count = 0;
  char err[512] = "";
  if (api_->device_info(state_, slots.data(), kCapacity, &count, err, sizeof(err)) != HB_OK) {
    *error = std::string("device_info: ") + err;
    return false;
  }
  slots.resize(std::min(count, kCapacity));
  *devices = std::move(slots);
  return true;
}

std::unique_ptr<PluginModel> PluginModel::Load(PluginLibrary& library, const std::string& name,
                                               const std::string& config_json, std::string* error) {
  std::unique_ptr<PluginModel> model(new PluginModel());
  model->library_ = &library;
  model->caps_.struct_size = sizeof(model->caps_);
  char err[512] = "";
  if (library.api().model_load(library.state(), name.c_str(), config_json.c_str(), &model->model_,
                               &model->caps_, err, sizeof(err)) != HB_OK) {
    *error = std::string("model_load: ") + err;
    model->model_ = nullptr;
    return nullptr;
  }
  if (model->caps_.output_dim == 0 || model->caps_.max_batch_size == 0) {
    *error = "model_load: the model embeds no text (output_dim or max_batch_size is 0)";
    return nullptr;
  }
  return model;
}

PluginModel::~PluginModel() {
  if (model_ != nullptr) library_->api().model_unload(model_);
}

std::unique_ptr<PluginInstance> PluginInstance::Create(PluginModel& model, int32_t device,
                                                       std::string* error) {
  std::unique_ptr<PluginInstance> instance(new PluginInstance());
  instance->model_ = &model;
  instance->device_ = device;
  char err[512] = "";
  if (model.library().api().instance_create(model.handle(), device, &instance->instance_, err,
                                            sizeof(err)) != HB_OK) {
    *error = "instance_create(" + std::to_string(device) + "): " + err;
    instance->instance_ = nullptr;
    return nullptr;
  }
  return instance;
}

PluginInstance::~PluginInstance() {
  if (instance_ != nullptr) model_->library().api().instance_destroy(instance_);
}

bool PluginInstance::Embed(std::span<const std::string_view> texts, std::vector<float>* out,
                           std::vector<TextStatus>* statuses, std::string* error) {
  const hb_plugin_api& api = model_->library().api();
  const size_t dim = this->dim();
  const size_t max_batch = model_->caps().max_batch_size;
  out->assign(texts.size() * dim, 0.0f);
  if (statuses != nullptr) statuses->assign(texts.size(), TextStatus{});
  char err[512] = "";
  for (size_t begin = 0; begin < texts.size(); begin += max_batch) {
    const size_t count = std::min(max_batch, texts.size() - begin);
    requests_.resize(count);
    results_.resize(count);
    for (size_t i = 0; i < count; ++i) {
      const std::string_view text = texts[begin + i];
      requests_[i] = {text.data(), text.size(), begin + i};
      results_[i].embedding = out->data() + (begin + i) * dim;
      results_[i].status = HB_OK;
      results_[i].message[0] = '\0';
    }
    if (api.execute_text(instance_, requests_.data(), results_.data(), static_cast<uint32_t>(count),
                         err, sizeof(err)) != HB_OK) {
      *error = std::string("execute_text: ") + err;
      return false;
    }
    for (size_t i = 0; i < count; ++i) {
      const hb_text_result& r = results_[i];
      if (statuses != nullptr) {
        (*statuses)[begin + i] = {r.status,
                                  std::string(r.message, strnlen(r.message, sizeof(r.message)))};
      } else if (r.status != HB_OK) {
        *error = "text " + std::to_string(begin + i) + " failed: " + r.message;
        return false;
      }
    }
  }
  return true;
}

bool ParseUintList(const std::string& list, std::vector<uint32_t>* out) {
  out->clear();
  size_t pos = 0;
  while (pos <= list.size()) {
    const size_t comma = std::min(list.find(',', pos), list.size());
    const std::string item = list.substr(pos, comma - pos);
    char* end = nullptr;
    const unsigned long value = std::strtoul(item.c_str(), &end, 10);
    if (item.empty() || *end != '\0' || value == 0 || value > (1u << 20)) return false;
    out->push_back(static_cast<uint32_t>(value));
    pos = comma + 1;
  }
  return !out->empty();
}

}  // namespace hornbeam::tools
