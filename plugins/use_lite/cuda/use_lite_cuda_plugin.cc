// use_lite_cuda: Universal Sentence Encoder Lite on an NVIDIA GPU (cuBLAS +
// small kernels), behind the hornbeamd plugin C ABI. Same config, answers
// and per-request errors as the CPU use_lite plugin; caps.needs_gpu is 1 and
// instance_create(device) binds the instance to that GPU. Without a usable
// GPU (no driver, no device, bad ordinal) instance_create fails cleanly with
// HB_ERR_UNAVAILABLE; model_load itself only reads files.
//
// ABI 1.1: device_info reports the GPUs that have live instances (name,
// uuid, memory used/total from cudaMemGetInfo), for health:check and the
// Prometheus device gauges.
#include <cstring>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <new>
#include <string>
#include <vector>

#include "hornbeam/plugin.h"
#include "plugins/use_lite/cuda/cuda_encoder.h"
#include "plugins/use_lite/plugin_support.h"

namespace hornbeam::use_lite {
namespace {

struct PluginState {
  Host host;
  std::mutex mu;
  std::map<int, int> live_instances;  // by device ordinal; guarded by mu
};

struct ModelState {
  PluginState* plugin = nullptr;
  LoadedModel loaded;
};

struct InstanceState {
  ModelState* model = nullptr;
  std::unique_ptr<CudaEncoder> encoder;
  std::vector<uint32_t> runnable;
  std::vector<std::vector<int32_t>> ids;
  std::vector<float> output;
};

HostTensor Tensor(const std::vector<float>& v) { return HostTensor{v.data(), v.size()}; }

CudaModelSpec SpecOf(const Model& model) {
  const ModelDims& dims = model.dims();
  CudaModelSpec spec;
  spec.vocab_rows = dims.vocab_rows;
  spec.embed_dim = dims.embed_dim;
  spec.model_dim = dims.model_dim;
  spec.ffn_dim = dims.ffn_dim;
  spec.heads = dims.heads;
  spec.max_length = dims.max_length;
  spec.ln_epsilon = dims.ln_epsilon;
  spec.l2_epsilon = dims.l2_epsilon;
  for (int l = 0; l < 2; ++l) {
    const LayerWeights& w = model.layer(l);
    CudaModelSpec::Layer& s = spec.layers[l];
    s.in_dim = w.in_dim;
    s.attn_dim = w.attn_dim;
    s.query_scale = w.query_scale;
    s.ln_attn_scale = Tensor(w.ln_attn_scale);
    s.ln_attn_bias = Tensor(w.ln_attn_bias);
    s.qkv_kernel = Tensor(w.qkv_kernel);
    s.qkv_bias = Tensor(w.qkv_bias);
    s.out_kernel = Tensor(w.out_kernel);
    s.out_bias = Tensor(w.out_bias);
    s.residual_kernel = Tensor(w.residual_kernel);
    s.residual_bias = Tensor(w.residual_bias);
    s.ln_ffn_scale = Tensor(w.ln_ffn_scale);
    s.ln_ffn_bias = Tensor(w.ln_ffn_bias);
    s.ffn1_kernel = Tensor(w.ffn1_kernel);
    s.ffn1_bias = Tensor(w.ffn1_bias);
    s.ffn2_kernel = Tensor(w.ffn2_kernel);
    s.ffn2_bias = Tensor(w.ffn2_bias);
  }
  spec.embeddings = Tensor(model.embeddings());
  spec.timing = Tensor(model.timing_table());
  spec.tanh_kernel = Tensor(model.tanh_kernel());
  spec.tanh_bias = Tensor(model.tanh_bias());
  return spec;
}

constexpr char kName[] = "use_lite_cuda";

hb_status Init(const hb_host_api* host, void** plugin_state, char* err, size_t err_size) {
  return InitState<PluginState>(kName, host, plugin_state, err, err_size);
}

void Fini(void* plugin_state) { delete static_cast<PluginState*>(plugin_state); }

hb_status ModelLoad(void* plugin_state, const char* model_name, const char* config_json,
                    void** model, hb_model_caps* caps, char* err, size_t err_size) {
  return LoadModelState<ModelState, PluginState>(kName, plugin_state, model_name, config_json,
                                                 /*needs_gpu=*/1, DescribeCudaDevices, model,
                                                 caps, err, err_size);
}

hb_status CountTokens(void* model, const char* text, size_t length, uint32_t* tokens) {
  if (model == nullptr) return HB_ERR_INVALID_ARGUMENT;
  return CountTextTokens(static_cast<ModelState*>(model)->loaded.tokenizer, text, length, tokens);
}

void ModelUnload(void* model) { delete static_cast<ModelState*>(model); }

hb_status InstanceCreate(void* model, int32_t device, void** instance, char* err,
                         size_t err_size) {
  return Guarded(kName, "", err, err_size, [&] {
    if (device < 0) {
      WriteMessage(err, err_size, "use_lite_cuda: needs a GPU ordinal (device >= 0), got " +
                                      std::to_string(device));
      return HB_ERR_INVALID_ARGUMENT;
    }
    auto state = std::make_unique<InstanceState>();
    state->model = static_cast<ModelState*>(model);
    std::string error;
    state->encoder = CudaEncoder::Create(SpecOf(state->model->loaded.model), device, &error);
    if (state->encoder == nullptr) {
      WriteMessage(err, err_size, "use_lite_cuda: " + error);
      return HB_ERR_UNAVAILABLE;
    }
    {
      PluginState* plugin = state->model->plugin;
      std::lock_guard<std::mutex> lock(plugin->mu);
      ++plugin->live_instances[device];
    }
    *instance = state.release();
    return HB_OK;
  });
}

void InstanceDestroy(void* instance) {
  auto* state = static_cast<InstanceState*>(instance);
  if (state == nullptr) return;
  {
    PluginState* plugin = state->model->plugin;
    std::lock_guard<std::mutex> lock(plugin->mu);
    auto it = plugin->live_instances.find(state->encoder->device());
    if (it != plugin->live_instances.end() && --it->second == 0) plugin->live_instances.erase(it);
  }
  delete state;
}

void CopyText(const std::string& from, char* to, size_t size) {
  size_t n = from.size() < size - 1 ? from.size() : size - 1;
  std::memcpy(to, from.data(), n);
  to[n] = '\0';
}

// Only devices with a live instance: their primary context exists, so the
// query costs no device memory (see QueryCudaDevice).
hb_status DeviceInfo(void* plugin_state, hb_device_info* devices, uint32_t capacity,
                     uint32_t* count, char* err, size_t err_size) {
  return Guarded(kName, "", err, err_size, [&] {
    auto* plugin = static_cast<PluginState*>(plugin_state);
    std::vector<int> ordinals;
    {
      std::lock_guard<std::mutex> lock(plugin->mu);
      for (const auto& [ordinal, n] : plugin->live_instances) ordinals.push_back(ordinal);
    }
    uint32_t filled = 0;
    for (int ordinal : ordinals) {
      if (filled == capacity) break;
      hb_device_info& d = devices[filled];
      if (d.struct_size < offsetof(hb_device_info, memory_used_bytes) + sizeof(d.memory_used_bytes)) {
        WriteMessage(err, err_size, "use_lite_cuda: hb_device_info too small");
        return HB_ERR_INVALID_ARGUMENT;
      }
      CudaDeviceStatus status;
      std::string error;
      if (!QueryCudaDevice(ordinal, &status, &error)) {
        WriteMessage(err, err_size, "use_lite_cuda: cuda:" + std::to_string(ordinal) + ": " + error);
        return HB_ERR_UNAVAILABLE;
      }
      d.ordinal = ordinal;
      CopyText("cuda", d.kind, sizeof(d.kind));
      CopyText(status.name, d.name, sizeof(d.name));
      CopyText(status.uuid, d.uuid, sizeof(d.uuid));
      d.memory_total_bytes = status.memory_total_bytes;
      d.memory_used_bytes = status.memory_used_bytes;
      ++filled;
    }
    *count = filled;
    return HB_OK;
  });
}

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
    const size_t dim = loaded.model.output_dim();
    state->output.resize(state->runnable.size() * dim);
    std::string error;
    if (!state->encoder->Embed(state->ids.data(), state->ids.size(), state->output.data(),
                               &error)) {
      WriteMessage(err, err_size, "use_lite_cuda: cuda:" +
                                      std::to_string(state->encoder->device()) + ": " + error);
      return HB_ERR_UNAVAILABLE;
    }
    for (size_t k = 0; k < state->runnable.size(); ++k) {
      std::memcpy(results[state->runnable[k]].embedding, state->output.data() + k * dim,
                  dim * sizeof(float));
    }
    return HB_OK;
  });
}

constexpr hb_plugin_api kApi = {
    .struct_size = sizeof(hb_plugin_api),
    .abi_major = HB_PLUGIN_ABI_MAJOR,
    .abi_minor = HB_PLUGIN_ABI_MINOR,
    .name = "use_lite_cuda",
    .version = "1.0.0",
    .init = Init,
    .fini = Fini,
    .model_load = ModelLoad,
    .model_unload = ModelUnload,
    .instance_create = InstanceCreate,
    .instance_destroy = InstanceDestroy,
    .execute_text = ExecuteText,
    .execute_term = nullptr,
    .device_info = DeviceInfo,
    .count_tokens = CountTokens,
};

}  // namespace
}  // namespace hornbeam::use_lite

extern "C" HB_PLUGIN_EXPORT const hb_plugin_api* hb_plugin_get_api(uint32_t host_abi_major,
                                                                   uint32_t host_abi_minor) {
  // We use device_info (1.1): a 1.0 host would refuse our table anyway (the
  // host checks api->abi_minor <= its own); say no first.
  if (host_abi_major != HB_PLUGIN_ABI_MAJOR || host_abi_minor < 1) return nullptr;
  return &hornbeam::use_lite::kApi;
}
