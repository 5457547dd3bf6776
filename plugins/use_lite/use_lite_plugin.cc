// use_lite: Universal Sentence Encoder Lite on the CPU (OpenBLAS), behind the
// hornbeamd plugin C ABI (plugins/include/hornbeam/plugin.h).
//
// Config (the model's "options"): {"model_dir": "<dir from scripts/fetch-use-lite>"}
// Caps: output_dim 512, max_batch_size 256, max_tokens 128 (the graph's own
// ClipToMaxLength; later tokens are ignored), needs_gpu 0.
// Answers: the l2-normalised 512-d embedding. A text with no tokens (empty)
// gets the embedding of the empty sequence -- what the graph computes for an
// all-padding row -- which is finite and the same for every empty text.
// Errors per request: invalid UTF-8, NULL buffers, cancellation. Texts over
// 16 KiB are tokenized from their first 16 KiB (see plugin_support.cc).
// Threads: GEMMs run on OpenBLAS's process-wide pool (OPENBLAS_NUM_THREADS,
// default all cores); with several CPU instances, lower it to share cores.
#include <cstring>
#include <exception>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "hornbeam/plugin.h"
#include "plugins/use_lite/plugin_support.h"

namespace hornbeam::use_lite {
namespace {

struct PluginState {
  Host host;
};

struct ModelState {
  PluginState* plugin = nullptr;
  LoadedModel loaded;
};

// One per host worker; execute_text never runs concurrently on one instance,
// so the scratch buffers need no lock.
struct InstanceState {
  ModelState* model = nullptr;
  Workspace workspace;
  std::vector<uint32_t> runnable;
  std::vector<std::vector<int32_t>> ids;
  std::vector<std::span<const int32_t>> spans;
  std::vector<float> output;
};

constexpr char kName[] = "use_lite";

hb_status Init(const hb_host_api* host, void** plugin_state, char* err, size_t err_size) {
  return InitState<PluginState>(kName, host, plugin_state, err, err_size);
}

void Fini(void* plugin_state) { delete static_cast<PluginState*>(plugin_state); }

hb_status ModelLoad(void* plugin_state, const char* model_name, const char* config_json,
                    void** model, hb_model_caps* caps, char* err, size_t err_size) {
  return LoadModelState<ModelState, PluginState>(
      kName, plugin_state, model_name, config_json, /*needs_gpu=*/0,
      [] { return std::string("cpu (OpenBLAS)"); }, model, caps, err, err_size);
}

hb_status CountTokens(void* model, const char* text, size_t length, uint32_t* tokens) {
  if (model == nullptr) return HB_ERR_INVALID_ARGUMENT;
  return CountTextTokens(static_cast<ModelState*>(model)->loaded.tokenizer, text, length, tokens);
}

void ModelUnload(void* model) { delete static_cast<ModelState*>(model); }

hb_status InstanceCreate(void* model, int32_t device, void** instance, char* err,
                         size_t err_size) {
  return Guarded(kName, "", err, err_size, [&] {
    auto state = std::make_unique<InstanceState>();
    state->model = static_cast<ModelState*>(model);
    if (device >= 0) {
      // needs_gpu is 0, so a GPU ordinal is a host choice we can ignore.
      state->model->plugin->host.Log(
          HB_LOG_WARNING, "use_lite: runs on the CPU; ignoring device " + std::to_string(device));
    }
    *instance = state.release();
    return HB_OK;
  });
}

void InstanceDestroy(void* instance) { delete static_cast<InstanceState*>(instance); }

hb_status ExecuteText(void* instance, const hb_text_request* requests, hb_text_result* results,
                      uint32_t count, char* err, size_t err_size) {
  if (count == 0) return HB_OK;
  if (hb_status rc = CheckBatch(kName, instance, requests, results, count, err, err_size)) {
    return rc;
  }
  auto* state = static_cast<InstanceState*>(instance);
  return Guarded(kName, " running the batch", err, err_size, [&] {
    const LoadedModel& loaded = state->model->loaded;
    PrepareBatch(state->model->plugin->host, loaded.tokenizer, requests, results, count,
                 &state->runnable, &state->ids);
    if (state->runnable.empty()) return HB_OK;
    state->spans.assign(state->ids.begin(), state->ids.end());
    const size_t dim = loaded.model.output_dim();
    state->output.resize(state->runnable.size() * dim);
    loaded.model.Embed(state->spans, state->output.data(), &state->workspace);
    for (size_t k = 0; k < state->runnable.size(); ++k) {
      std::memcpy(results[state->runnable[k]].embedding, state->output.data() + k * dim,
                  dim * sizeof(float));
    }
    return HB_OK;
  });
}

// Minor 2: count_tokens, so callers can refuse texts longer than the model
// reads (truncate => false).
constexpr hb_plugin_api kApi = {
    .struct_size = sizeof(hb_plugin_api),
    .abi_major = HB_PLUGIN_ABI_MAJOR,
    .abi_minor = 2,
    .name = "use_lite",
    .version = "1.0.0",
    .init = Init,
    .fini = Fini,
    .model_load = ModelLoad,
    .model_unload = ModelUnload,
    .instance_create = InstanceCreate,
    .instance_destroy = InstanceDestroy,
    .execute_text = ExecuteText,
    .execute_term = nullptr,
    .device_info = nullptr,
    .count_tokens = CountTokens,
};

}  // namespace
}  // namespace hornbeam::use_lite

extern "C" HB_PLUGIN_EXPORT const hb_plugin_api* hb_plugin_get_api(uint32_t host_abi_major,
                                                                   uint32_t host_abi_minor) {
  // A host of another major speaks another ABI, one of an older minor
  // would refuse our table anyway (the host checks api->abi_minor <= its own).
  if (host_abi_major != HB_PLUGIN_ABI_MAJOR || host_abi_minor < 2) return nullptr;
  return &hornbeam::use_lite::kApi;
}
