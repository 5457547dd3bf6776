#include "daemon/plugin.h"

#include <dlfcn.h>
#include <fcntl.h>
#include <sys/sendfile.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <unordered_map>

#include "base/log.h"
#include "base/mutex.h"
#include "base/utf8.h"

namespace hb {
namespace {

void HostLog(void*, hb_log_level level, const char* msg) {
  if (msg == nullptr) return;
  std::string line = std::string("plugin: ") + std::string(msg, strnlen(msg, 4096));
  switch (level) {
    case HB_LOG_DEBUG: HB_LOG_DEBUG(line); break;
    case HB_LOG_INFO: HB_LOG_INFO(line); break;
    case HB_LOG_WARNING: HB_LOG_WARN(line); break;
    default: HB_LOG_ERROR(line); break;
  }
}

int HostIsCancelled(void*, uint64_t token) {
  if (token == 0) return 0;
  return reinterpret_cast<const std::atomic<bool>*>(static_cast<uintptr_t>(token))
                 ->load(std::memory_order_acquire)
             ? 1
             : 0;
}

// Progress sinks of the term requests executing now, by token. Few entries
// (one per running job); a report copies its sink out of the lock.
struct ProgressSinks {
  Mutex mu;
  std::unordered_map<uint64_t, ProgressFn> by_token GUARDED_BY(mu);
};
ProgressSinks& Sinks() {
  static ProgressSinks* sinks = new ProgressSinks();  // never destroyed: plugin threads
  return *sinks;
}

void HostReportProgress(void*, uint64_t token, double fraction, const char* message) {
  if (token == 0 || std::isnan(fraction)) return;
  ProgressFn fn;
  {
    ProgressSinks& s = Sinks();
    MutexLock lock(&s.mu);
    auto it = s.by_token.find(token);
    if (it == s.by_token.end()) return;
    fn = it->second;
  }
  std::string_view text = message ? std::string_view(message, strnlen(message, 1023)) : "";
  // Plugin text is untrusted: only valid UTF-8 reaches Erlang as a binary message.
  std::string safe = IsValidUtf8(text) ? std::string(text) : std::string();
  fn(std::min(1.0, std::max(0.0, fraction)), safe);
}

// Host allocations carry a header with a magic word and their size, so a
// plugin that returns a length larger than what it allocated (or a pointer
// it did not get from us) is caught instead of read past.
constexpr uint64_t kAllocMagic = 0x68626d656d6f7279ull;  // "hbmemory"
struct AllocHeader {
  uint64_t magic;
  uint64_t size;
};

void* HostAlloc(void*, size_t size) {
  if (size > (1ull << 32)) return nullptr;
  auto* h = static_cast<AllocHeader*>(malloc(sizeof(AllocHeader) + (size == 0 ? 1 : size)));
  if (h == nullptr) return nullptr;
  h->magic = kAllocMagic;
  h->size = size;
  return h + 1;
}

AllocHeader* HeaderOf(void* p) { return static_cast<AllocHeader*>(p) - 1; }

const hb_host_api kHostApi = {
    sizeof(hb_host_api), HB_PLUGIN_ABI_MAJOR, HB_PLUGIN_ABI_MINOR, nullptr,
    HostLog,             HostIsCancelled,     HostAlloc,         HostReportProgress,
};

}  // namespace

void RegisterProgress(uint64_t token, ProgressFn fn) {
  ProgressSinks& s = Sinks();
  MutexLock lock(&s.mu);
  s.by_token[token] = std::move(fn);
}

void UnregisterProgress(uint64_t token) {
  ProgressSinks& s = Sinks();
  MutexLock lock(&s.mu);
  s.by_token.erase(token);
}

namespace {

template <size_t N>
std::string ErrText(const char (&buf)[N]) {
  return std::string(buf, strnlen(buf, N));
}

// Copies `src` to a fresh private file so the dynamic loader maps a file
// nobody else writes to.
Result<std::string> PrivateCopy(const std::string& src) {
  const char* tmp = getenv("TMPDIR");
  std::string tmpl = std::string(tmp && *tmp ? tmp : "/tmp") + "/hornbeamd-plugin-XXXXXX";
  std::vector<char> name(tmpl.begin(), tmpl.end());
  name.push_back('\0');
  int out = mkstemp(name.data());
  if (out < 0) return Internal("cannot create a private copy of " + src + ": " + strerror(errno));
  int in = open(src.c_str(), O_RDONLY);
  if (in < 0) {
    close(out);
    unlink(name.data());
    return NotFound("cannot open plugin " + src + ": " + strerror(errno));
  }
  struct stat st;
  fstat(in, &st);
  off_t off = 0;
  bool ok = true;
  while (off < st.st_size) {
    ssize_t n = sendfile(out, in, &off, static_cast<size_t>(st.st_size - off));
    if (n <= 0) {
      ok = false;
      break;
    }
  }
  close(in);
  close(out);
  if (!ok) {
    unlink(name.data());
    return Internal("cannot copy plugin " + src);
  }
  return std::string(name.data());
}

}  // namespace

const hb_host_api* HostApi() { return &kHostApi; }

Result<std::shared_ptr<Plugin>> Plugin::Load(const std::string& path) {
  Result<std::string> copy = PrivateCopy(path);
  if (!copy.ok()) return copy.status();
  std::shared_ptr<Plugin> p(new Plugin());
  p->path_ = path;
  p->private_copy_ = *copy;
  p->dl_ = dlopen(p->private_copy_.c_str(), RTLD_NOW | RTLD_LOCAL);
  // The mapping stays valid after unlink; the name is never needed again.
  unlink(p->private_copy_.c_str());
  if (p->dl_ == nullptr) {
    const char* e = dlerror();
    return InvalidArgument("plugin " + path + ": dlopen failed: " + (e ? e : "unknown error"));
  }
  auto get = reinterpret_cast<hb_plugin_get_api_fn>(dlsym(p->dl_, "hb_plugin_get_api"));
  if (get == nullptr) {
    return InvalidArgument("plugin " + path + ": no hb_plugin_get_api symbol (not a hornbeamd plugin)");
  }
  const hb_plugin_api* api = get(HB_PLUGIN_ABI_MAJOR, HB_PLUGIN_ABI_MINOR);
  if (api == nullptr) return InvalidArgument("plugin " + path + ": refused this host's ABI");
  if (api->struct_size < offsetof(hb_plugin_api, execute_term) + sizeof(api->execute_term)) {
    return InvalidArgument("plugin " + path + ": api table too small (" +
                           std::to_string(api->struct_size) + " bytes)");
  }
  if (api->abi_major != HB_PLUGIN_ABI_MAJOR || api->abi_minor > HB_PLUGIN_ABI_MINOR) {
    return InvalidArgument("plugin " + path + ": ABI " + std::to_string(api->abi_major) + "." +
                           std::to_string(api->abi_minor) + " is incompatible with host ABI " +
                           std::to_string(HB_PLUGIN_ABI_MAJOR) + "." +
                           std::to_string(HB_PLUGIN_ABI_MINOR) +
                           " (major must match, plugin minor must not exceed host minor)");
  }
  if (!api->init || !api->fini || !api->model_load || !api->model_unload ||
      !api->instance_create || !api->instance_destroy ||
      (!api->execute_text && !api->execute_term)) {
    return InvalidArgument("plugin " + path + ": api table has missing entry points");
  }
  p->name_ = api->name ? std::string(api->name, strnlen(api->name, 128)) : "unnamed";
  p->version_ = api->version ? std::string(api->version, strnlen(api->version, 64)) : "?";
  char err[512] = {0};
  hb_status rc = api->init(&kHostApi, &p->state_, err, sizeof(err));
  if (rc != HB_OK) {
    return Unavailable("plugin " + path + ": init failed: " + ErrText(err));
  }
  p->api_ = api;
  return p;
}

std::shared_ptr<Plugin> Plugin::Remote(std::string name, std::string version,
                                       DeviceQuery devices) {
  std::shared_ptr<Plugin> p(new Plugin());
  p->name_ = std::move(name);
  p->version_ = std::move(version);
  p->remote_devices_ = std::move(devices);
  return p;
}

bool Plugin::reports_devices() const {
  if (remote_devices_) return true;
  // A 1.0 plugin's table may end before device_info: never read past it.
  return api_ != nullptr && api_->abi_minor >= 1 &&
         api_->struct_size >= offsetof(hb_plugin_api, device_info) + sizeof(api_->device_info) &&
         api_->device_info != nullptr;
}

Result<std::vector<DeviceInfo>> Plugin::QueryDevices() const {
  if (remote_devices_) return remote_devices_();
  std::vector<DeviceInfo> out;
  if (!reports_devices()) return out;
  hb_device_info raw[kMaxDevices];
  memset(raw, 0, sizeof(raw));
  for (hb_device_info& d : raw) d.struct_size = sizeof(hb_device_info);
  uint32_t count = 0;
  char err[512] = {0};
  hb_status rc = api_->device_info(state_, raw, kMaxDevices, &count, err, sizeof(err));
  if (rc != HB_OK) return Unavailable("plugin " + name_ + ": device_info failed: " + ErrText(err));
  if (count > kMaxDevices) {
    return Internal("plugin " + name_ + ": device_info claims " + std::to_string(count) +
                    " devices in a " + std::to_string(kMaxDevices) + "-entry array");
  }
  for (uint32_t i = 0; i < count; ++i) {
    DeviceInfo d;
    d.kind = ErrText(raw[i].kind);
    d.ordinal = raw[i].ordinal;
    d.name = ErrText(raw[i].name);
    d.uuid = ErrText(raw[i].uuid);
    d.memory_total_bytes = raw[i].memory_total_bytes;
    d.memory_used_bytes = raw[i].memory_used_bytes;
    out.push_back(std::move(d));
  }
  return out;
}

Plugin::~Plugin() {
  if (api_ != nullptr) api_->fini(state_);
  if (dl_ != nullptr) dlclose(dl_);
}

Result<std::shared_ptr<ModelHandle>> ModelHandle::Load(std::shared_ptr<Plugin> plugin,
                                                       const std::string& model_name,
                                                       const std::string& options_json) {
  std::shared_ptr<ModelHandle> m(new ModelHandle());
  hb_model_caps caps;
  memset(&caps, 0, sizeof(caps));
  caps.struct_size = sizeof(caps);
  char err[512] = {0};
  hb_status rc = plugin->api()->model_load(plugin->state(), model_name.c_str(),
                                           options_json.c_str(), &m->model_, &caps, err,
                                           sizeof(err));
  if (rc != HB_OK) {
    return Unavailable("model '" + model_name + "' (" + plugin->name() + "): load failed: " +
                       ErrText(err));
  }
  m->plugin_ = std::move(plugin);
  m->caps_.output_dim = caps.output_dim;
  m->caps_.max_batch_size = caps.max_batch_size ? caps.max_batch_size : 1;
  m->caps_.max_tokens = caps.max_tokens;
  m->caps_.needs_gpu = caps.needs_gpu != 0;
  if (caps.term_functions) {
    for (size_t i = 0; i < 256 && caps.term_functions[i]; ++i) {
      m->caps_.term_functions.emplace_back(caps.term_functions[i]);
    }
  }
  if (caps.description) m->caps_.description = std::string(caps.description, strnlen(caps.description, 256));
  if (m->caps_.output_dim > (1u << 20)) {
    return InvalidArgument("model '" + model_name + "': absurd output_dim " +
                           std::to_string(m->caps_.output_dim));
  }
  if (m->caps_.output_dim > 0 && m->plugin_->api()->execute_text == nullptr) {
    return InvalidArgument("model '" + model_name + "': output_dim set but no execute_text");
  }
  return m;
}

std::shared_ptr<ModelHandle> ModelHandle::Detached(ModelCaps caps,
                                                   std::shared_ptr<Plugin> plugin) {
  std::shared_ptr<ModelHandle> m(new ModelHandle());
  m->caps_ = std::move(caps);
  m->plugin_ = std::move(plugin);
  return m;
}

ModelHandle::~ModelHandle() {
  if (model_ != nullptr) plugin_->api()->model_unload(model_);
}

Result<std::unique_ptr<InstanceHandle>> InstanceHandle::Create(std::shared_ptr<ModelHandle> model,
                                                               int device) {
  std::unique_ptr<InstanceHandle> inst(new InstanceHandle());
  char err[512] = {0};
  hb_status rc =
      model->plugin()->api()->instance_create(model->raw(), device, &inst->instance_, err, sizeof(err));
  if (rc != HB_OK) {
    return Unavailable("instance on device " + std::to_string(device) + " failed: " + ErrText(err));
  }
  inst->model_ = std::move(model);
  inst->device_ = device;
  return inst;
}

std::unique_ptr<InstanceHandle> InstanceHandle::Remote(std::shared_ptr<ModelHandle> model,
                                                       std::unique_ptr<InstanceBackend> backend,
                                                       int device) {
  std::unique_ptr<InstanceHandle> inst(new InstanceHandle());
  inst->model_ = std::move(model);
  inst->remote_ = std::move(backend);
  inst->device_ = device;
  return inst;
}

InstanceHandle::~InstanceHandle() {
  if (instance_ != nullptr) model_->plugin()->api()->instance_destroy(instance_);
}

Status InstanceHandle::ExecuteText(const hb_text_request* requests, hb_text_result* results,
                                   uint32_t count) {
  if (remote_) return remote_->ExecuteText(requests, results, count);
  char err[512] = {0};
  hb_status rc = model_->plugin()->api()->execute_text(instance_, requests, results, count, err,
                                                       sizeof(err));
  if (rc != HB_OK) return Internal(ErrText(err).empty() ? "execute failed" : ErrText(err));
  // "crashed" is the host's word for a dead worker, never a plugin's.
  for (uint32_t i = 0; i < count; ++i) {
    if (results[i].status == kStatusCrashed) results[i].status = HB_ERR_INTERNAL;
  }
  return Status::Ok();
}

bool InstanceHandle::CountTokens(std::string_view text, uint32_t* tokens) const {
  if (remote_) return remote_->CountTokens(text, tokens);
  const hb_plugin_api* api = model_->plugin()->api();
  if (api->abi_minor < 2 ||
      api->struct_size < offsetof(hb_plugin_api, count_tokens) + sizeof(api->count_tokens) ||
      api->count_tokens == nullptr) {
    return false;
  }
  return api->count_tokens(model_->raw(), text.data(), text.size(), tokens) == HB_OK;
}

Status InstanceHandle::ExecuteTerm(const hb_term_request& request, std::string* out,
                                   hb_status* code) {
  if (remote_) return remote_->ExecuteTerm(request, out, code);
  hb_term_result result;
  memset(&result, 0, sizeof(result));
  *code = model_->plugin()->api()->execute_term(instance_, &request, &result);
  if (*code == kStatusCrashed) *code = HB_ERR_INTERNAL;
  if (result.data != nullptr) {
    AllocHeader* h = HeaderOf(result.data);
    if (h->magic != kAllocMagic) {
      // Not ours: we cannot know its size or how to free it.
      *code = HB_ERR_INTERNAL;
      return Internal("plugin returned memory not allocated through host->alloc");
    }
    if (result.length > h->size) {
      *code = HB_ERR_INTERNAL;
      Status s = Internal("plugin returned a result of " + std::to_string(result.length) +
                          " bytes in a " + std::to_string(h->size) + "-byte buffer");
      h->magic = 0;
      free(h);
      return s;
    }
    if (*code == HB_OK) out->assign(reinterpret_cast<char*>(result.data), result.length);
    h->magic = 0;
    free(h);
  }
  if (*code != HB_OK) {
    return Status(StatusCode::kInvalidArgument,
                  std::string(result.message, strnlen(result.message, sizeof(result.message))));
  }
  return Status::Ok();
}

const char* PluginStatusName(hb_status s) {
  switch (s) {
    case HB_OK: return "ok";
    case HB_ERR_INVALID_ARGUMENT: return "invalid_argument";
    case HB_ERR_UNSUPPORTED: return "unsupported";
    case HB_ERR_RESOURCE: return "resource_exhausted";
    case HB_ERR_INTERNAL: return "internal";
    case HB_ERR_UNAVAILABLE: return "unavailable";
    case HB_ERR_CANCELLED: return "cancelled";
    case kStatusCrashed: return "crashed";
    default: return "other";
  }
}

}  // namespace hb
