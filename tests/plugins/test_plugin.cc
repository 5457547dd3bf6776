// A plugin that misbehaves on request, for tests of the plugin host.
// Built in several variants (see tests/plugins/CMakeLists.txt):
//   TP_ABI_MAJOR    the major version it claims (default: the host's)
//   TP_NAME         its name
//   TP_ABI_MINOR    the minor it claims; 0 also ends its table before
//                   device_info (as a plugin built against ABI 1.0), while
//                   the field behind the end still points at a function
// Model options steer the plugin-wide device report (ABI 1.1 device_info):
//   "fake_devices": N     report N devices "Test GPU <i>" (cuda:<i>); more
//                         than the host's capacity claims N but fills only
//                         what fits, i.e. lies about the count
//   "device_sleep_ms": M  each device_info call sleeps M ms
// and "max_tokens": N sets caps.max_tokens; count_tokens (ABI 1.2) counts
// words (runs of non-spaces);
// and this model's execute time (the Erlang client's tests and benchmark):
//   "execute_ms": M       each execute_text call (one batch) sleeps M ms
//   "execute_ms_file": "PATH"  when PATH holds a number, it replaces
//                         execute_ms, read at every batch (a test slows a
//                         running daemon down by writing it)
// Each live instance adds 256 MiB to device 0's used memory.
// Texts steer it: "FAIL..." fails that text with HB_ERR_INVALID_ARGUMENT,
// "BOOM..." with HB_ERR_INTERNAL, "NAN..." returns NaN, "SLOW" sleeps 50 ms,
// "HANG" sleeps until the host says the request is cancelled (at most 30 s),
// "STUCK" blocks for 3 s ignoring cancellation, "BATCHFAIL" fails the whole batch. Other texts embed to
// [len, first byte, batch size, executes running on this instance] -- the last is 1.0 unless the host
// overlaps two executes on one instance, which it must never do.
// Texts "crash:segv", "crash:abort", "crash:exit" (_exit(3)), "crash:hang"
// (sleeps forever, ignoring cancellation) and "crash:leak" (allocates and
// touches memory until an allocation fails, then writes through the null
// pointer, as a careless plugin would) kill or wedge the process they run
// in: for isolation "process" tests only.
// Term functions: echo/1 returns its argument list, garbage/0 returns bytes
// that are not a term, fail/1 returns HB_ERR_INVALID_ARGUMENT, liar/0 claims
// a result longer than the buffer it allocated, steps/0 works 20 steps of
// 50 ms, reporting progress "step K of 20" after each (ABI 1.3, only when
// it claims 1.3 and the host offers it), stops when cancelled and returns
// the number of steps done.
#include <hornbeam/plugin.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <unistd.h>

#ifndef TP_ABI_MAJOR
#define TP_ABI_MAJOR HB_PLUGIN_ABI_MAJOR
#endif
#ifndef TP_NAME
#define TP_NAME "testplugin"
#endif
#ifndef TP_ABI_MINOR
#define TP_ABI_MINOR HB_PLUGIN_ABI_MINOR
#endif

namespace {

const hb_host_api* g_host = nullptr;
const char* const kTermFunctions[] = {"echo/1", "garbage/0", "fail/1", "liar/0", "steps/0",
                                     nullptr};
std::atomic<uint32_t> g_fake_devices{0};
std::atomic<uint32_t> g_device_sleep_ms{0};
std::atomic<uint32_t> g_live_instances{0};


// The integer after "key": in a flat JSON object; 0 when absent.
uint32_t OptionInt(const char* config, const char* key) {
  if (config == nullptr) return 0;
  const char* at = strstr(config, key);
  if (at == nullptr) return 0;
  at = strchr(at + strlen(key), ':');
  return at ? static_cast<uint32_t>(strtoul(at + 1, nullptr, 10)) : 0;
}

// The string after "key": in a flat JSON object (no escapes); "" when absent.
std::string OptionString(const char* config, const char* key) {
  if (config == nullptr) return {};
  const char* at = strstr(config, key);
  if (at == nullptr) return {};
  at = strchr(at + strlen(key), ':');
  if (at == nullptr) return {};
  at = strchr(at, '"');
  if (at == nullptr) return {};
  const char* end = strchr(at + 1, '"');
  return end ? std::string(at + 1, end) : std::string();
}

// One loaded model's options; its instances point at it.
struct TestModel {
  uint32_t execute_ms = 0;
  std::string execute_ms_file;
};

struct Instance {
  const TestModel* model;
  std::atomic<uint32_t> executing{0};  // execute_text calls running on this instance
};

uint32_t ExecuteMs(const TestModel& m) {
  if (!m.execute_ms_file.empty()) {
    if (FILE* f = fopen(m.execute_ms_file.c_str(), "r")) {
      unsigned ms = 0;
      int got = fscanf(f, "%u", &ms);
      fclose(f);
      if (got == 1) return ms;
    }
  }
  return m.execute_ms;
}

bool Starts(const hb_text_request& r, const char* p) {
  size_t n = strlen(p);
  return r.length >= n && memcmp(r.text, p, n) == 0;
}

hb_status Init(const hb_host_api* host, void** state, char*, size_t) {
  g_host = host;
  *state = nullptr;
  return HB_OK;
}
void Fini(void*) {}
hb_status ModelLoad(void*, const char*, const char* config, void** model, hb_model_caps* caps,
                    char* err, size_t n) {
  if (config && strstr(config, "\"fail_load\"")) {
    snprintf(err, n, "asked to fail");
    return HB_ERR_UNAVAILABLE;
  }
  if (uint32_t n = OptionInt(config, "\"fake_devices\"")) g_fake_devices = n;
  if (uint32_t ms = OptionInt(config, "\"device_sleep_ms\"")) g_device_sleep_ms = ms;
  auto* m = new TestModel;
  m->execute_ms = OptionInt(config, "\"execute_ms\"");
  m->execute_ms_file = OptionString(config, "\"execute_ms_file\"");
  *model = m;
  caps->output_dim = 4;
  caps->max_batch_size = 64;
  caps->max_tokens = OptionInt(config, "\"max_tokens\"");
  caps->term_functions = kTermFunctions;
  caps->description = "cpu (test)";
  return HB_OK;
}
void ModelUnload(void* model) { delete static_cast<TestModel*>(model); }
hb_status InstanceCreate(void* model, int32_t, void** instance, char*, size_t) {
  *instance = new Instance{static_cast<const TestModel*>(model)};
  ++g_live_instances;
  return HB_OK;
}
void InstanceDestroy(void* instance) {
  delete static_cast<Instance*>(instance);
  --g_live_instances;
}

hb_status DeviceInfo(void*, hb_device_info* devices, uint32_t capacity, uint32_t* count, char*,
                     size_t) {
  if (uint32_t ms = g_device_sleep_ms) std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  uint32_t n = g_fake_devices;
  for (uint32_t i = 0; i < n && i < capacity; ++i) {
    hb_device_info& d = devices[i];
    d.ordinal = static_cast<int32_t>(i);
    snprintf(d.kind, sizeof(d.kind), "cuda");
    snprintf(d.name, sizeof(d.name), "Test GPU %u", i);
    snprintf(d.uuid, sizeof(d.uuid), "GPU-test-%u", i);
    d.memory_total_bytes = 16ull << 30;
    d.memory_used_bytes = (1ull << 30) + (i == 0 ? (256ull << 20) * g_live_instances : 0);
  }
  *count = n;
  return HB_OK;
}

// The "crash:..." texts (see the top of this file).
void MaybeCrash(const hb_text_request& r) {
  if (!Starts(r, "crash:")) return;
  std::string what(r.text + 6, r.length - 6);
  if (what == "segv") {
    volatile int* p = nullptr;
    *p = 1;
  } else if (what == "abort") {
    abort();
  } else if (what == "exit") {
    _exit(3);
  } else if (what == "hang") {
    for (;;) std::this_thread::sleep_for(std::chrono::seconds(1));
  } else if (what == "leak") {
    for (;;) {
      auto* p = static_cast<volatile char*>(malloc(16 << 20));
      for (size_t i = 0; i < (16u << 20); i += 4096) p[i] = 1;  // null: SIGSEGV
    }
  }
}

hb_status ExecuteText(void* instance, const hb_text_request* reqs, hb_text_result* res,
                      uint32_t count, char* err, size_t n) {
  for (uint32_t i = 0; i < count; ++i) MaybeCrash(reqs[i]);
  if (uint32_t ms = ExecuteMs(*static_cast<const Instance*>(instance)->model)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(ms));
  }
  for (uint32_t i = 0; i < count; ++i) {
    if (Starts(reqs[i], "BATCHFAIL")) {
      snprintf(err, n, "batch failed on purpose");
      return HB_ERR_INTERNAL;
    }
  }
  std::atomic<uint32_t>& executing = static_cast<Instance*>(instance)->executing;
  const uint32_t running = ++executing;  // this call included
  struct Leave {
    std::atomic<uint32_t>& n;
    ~Leave() { --n; }
  } leave{executing};
  for (uint32_t i = 0; i < count; ++i) {
    const hb_text_request& r = reqs[i];
    float* e = res[i].embedding;
    e[0] = static_cast<float>(r.length);
    e[1] = r.length ? static_cast<float>(static_cast<unsigned char>(r.text[0])) : 0.0f;
    e[2] = static_cast<float>(count);
    e[3] = static_cast<float>(running);
    res[i].status = HB_OK;
    if (Starts(r, "FAIL")) {
      res[i].status = HB_ERR_INVALID_ARGUMENT;
      snprintf(res[i].message, sizeof(res[i].message), "text refused");
    } else if (Starts(r, "BOOM")) {
      res[i].status = HB_ERR_INTERNAL;
      snprintf(res[i].message, sizeof(res[i].message), "exploded");
    } else if (Starts(r, "NAN")) {
      e[0] = std::nanf("");
    } else if (Starts(r, "SLOW")) {
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    } else if (Starts(r, "STUCK")) {
      // A plugin that ignores cancellation: blocks its instance for 3 s.
      std::this_thread::sleep_for(std::chrono::seconds(3));
    } else if (Starts(r, "HANG")) {
      for (int k = 0; k < 3000 && !g_host->is_cancelled(g_host->host_ctx, r.token); ++k) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      }
    }
  }
  return HB_OK;
}

bool HostReportsProgress() {
  return TP_ABI_MINOR >= 3 && g_host->abi_minor >= 3 &&
         g_host->struct_size >= offsetof(hb_host_api, report_progress) + sizeof(void*) &&
         g_host->report_progress != nullptr;
}

hb_status Steps(const hb_term_request* req, hb_term_result* out) {
  int k = 0;
  while (k < 20 && !g_host->is_cancelled(g_host->host_ctx, req->token)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    ++k;
    if (HostReportsProgress()) {
      char msg[64];
      snprintf(msg, sizeof(msg), "step %d of 20", k);
      g_host->report_progress(g_host->host_ctx, req->token, k / 20.0, msg);
    }
  }
  // term_to_binary(K): 131, SMALL_INTEGER_EXT (97), K.
  out->data = static_cast<uint8_t*>(g_host->alloc(g_host->host_ctx, 3));
  out->data[0] = 131;
  out->data[1] = 97;
  out->data[2] = static_cast<uint8_t>(k);
  out->length = 3;
  return HB_OK;
}

hb_status ExecuteTerm(void*, const hb_term_request* req, hb_term_result* out) {
  if (strcmp(req->function, "steps") == 0) return Steps(req, out);
  if (strcmp(req->function, "fail") == 0) {
    snprintf(out->message, sizeof(out->message), "refused");
    return HB_ERR_INVALID_ARGUMENT;
  }
  if (strcmp(req->function, "liar") == 0) {
    // Claims a megabyte from a 4-byte buffer: the host must not read it.
    out->data = static_cast<uint8_t*>(g_host->alloc(g_host->host_ctx, 4));
    memcpy(out->data, "\x83\x6a\x00\x00", 4);
    out->length = 1 << 20;
    return HB_OK;
  }
  if (strcmp(req->function, "garbage") == 0) {
    out->data = static_cast<uint8_t*>(g_host->alloc(g_host->host_ctx, 3));
    memcpy(out->data, "\x83\x6c\xff", 3);  // a list header promising 4 billion elements
    out->length = 3;
    return HB_OK;
  }
  out->data = static_cast<uint8_t*>(g_host->alloc(g_host->host_ctx, req->args_length));
  memcpy(out->data, req->args, req->args_length);
  out->length = req->args_length;
  return HB_OK;
}

hb_status CountTokens(void*, const char* text, size_t length, uint32_t* tokens) {
  uint32_t n = 0;
  for (size_t i = 0; i < length; ++i) {
    if (text[i] != ' ' && (i == 0 || text[i - 1] == ' ')) ++n;
  }
  *tokens = n;
  return HB_OK;
}

const hb_plugin_api kApi = {
    TP_ABI_MINOR >= 1 ? sizeof(hb_plugin_api) : offsetof(hb_plugin_api, device_info),
    TP_ABI_MAJOR,
    TP_ABI_MINOR,
    TP_NAME,
    "0.0.1",
    Init,
    Fini,
    ModelLoad,
    ModelUnload,
    InstanceCreate,
    InstanceDestroy,
    ExecuteText,
    ExecuteTerm,
    DeviceInfo,
    CountTokens,
};

}  // namespace

extern "C" HB_PLUGIN_EXPORT const hb_plugin_api* hb_plugin_get_api(uint32_t, uint32_t) {
  return &kApi;  // even when mismatched: the host must check
}
