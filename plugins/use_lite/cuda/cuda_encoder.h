// The USE Lite forward pass on one CUDA device: cuBLAS for the GEMMs, small
// kernels for the rest (embedding gather, layer norm, bias/ReLU, attention,
// pooling, tanh + l2 norm). Same packed-token layout as the CPU Model (see
// plugins/use_lite/model.h), so both give the same numbers up to rounding.
//
// C++17 on purpose: nvcc compiles this header, and CMake 3.25 cannot ask
// nvcc for C++20, so it cannot include model.h (std::span). The plugin
// describes the model with a CudaModelSpec of host pointers instead.
#ifndef HORNBEAM_PLUGINS_USE_LITE_CUDA_CUDA_ENCODER_H_
#define HORNBEAM_PLUGINS_USE_LITE_CUDA_CUDA_ENCODER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace hornbeam::use_lite {

struct HostTensor {
  const float* data = nullptr;
  size_t count = 0;
};

// Dimensions and host-side weights of a loaded Model (see model.h for the
// meaning of each); only read during CudaEncoder::Create.
struct CudaModelSpec {
  int vocab_rows = 0, embed_dim = 0, model_dim = 0, ffn_dim = 0, heads = 0, max_length = 0;
  float ln_epsilon = 0, l2_epsilon = 0;
  struct Layer {
    int in_dim = 0, attn_dim = 0;
    float query_scale = 0;
    HostTensor ln_attn_scale, ln_attn_bias, qkv_kernel, qkv_bias, out_kernel, out_bias;
    HostTensor residual_kernel, residual_bias;  // layer 0 only; else empty
    HostTensor ln_ffn_scale, ln_ffn_bias, ffn1_kernel, ffn1_bias, ffn2_kernel, ffn2_bias;
  } layers[2];
  HostTensor embeddings, timing, tanh_kernel, tanh_bias;
};

// Lists visible devices for hb_model_caps.description, e.g.
// "cuda:0 NVIDIA H100 80GB HBM3 (cuBLAS)"; says so when none is visible.
std::string DescribeCudaDevices();

// Name, uuid and memory of one device as of now (hb_device_info).
struct CudaDeviceStatus {
  std::string name;
  std::string uuid;  // "GPU-xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"
  uint64_t memory_total_bytes = 0;
  uint64_t memory_used_bytes = 0;  // by every process: total - free
};
// Call only for a device that already has an encoder: cudaMemGetInfo makes
// the calling thread current on the device's primary context, and would
// create that context (hundreds of MB of device memory) if none existed.
// Thread-safe; does not synchronise the device.
bool QueryCudaDevice(int device, CudaDeviceStatus* out, std::string* error);

class CudaEncoder {
 public:
  // Uploads the weights to `device` and creates a stream and cuBLAS handle
  // there. Returns null with *error set (no driver, no such device, ...).
  static std::unique_ptr<CudaEncoder> Create(const CudaModelSpec& spec, int device,
                                             std::string* error);
  ~CudaEncoder();
  CudaEncoder(const CudaEncoder&) = delete;
  CudaEncoder& operator=(const CudaEncoder&) = delete;

  // Embeds texts[0..count) (token ids; only the first max_length of each
  // are used) into out[i * model_dim ...] in host memory. Returns false with
  // *error set on a CUDA/cuBLAS failure. One caller at a time (the ABI
  // guarantees that per instance).
  bool Embed(const std::vector<int32_t>* texts, size_t count, float* out, std::string* error);

  int device() const { return device_; }

 private:
  struct DeviceLayer;
  struct Buffers;
  CudaEncoder(const CudaModelSpec& spec, int device);
  bool Upload(const CudaModelSpec& spec, std::string* error);
  bool EnsureCapacity(int tokens, int texts, std::string* error);
  bool RunChunk(const std::vector<int32_t>* texts, int count, float* out, std::string* error);
  // Token ids, positions, attention spans and text offsets to the device.
  bool UploadIndices(const std::vector<int32_t>* texts, int count, int tokens,
                     std::string* error);

  // Scalars copied from the spec (its pointers are not kept).
  int vocab_rows_, embed_dim_, model_dim_, ffn_dim_, heads_, max_length_;
  float ln_epsilon_, l2_epsilon_;
  int in_dim_[2], attn_dim_[2];
  float query_scale_[2];

  int device_;
  void* stream_ = nullptr;  // cudaStream_t
  void* cublas_ = nullptr;  // cublasHandle_t
  std::vector<void*> allocations_;
  std::unique_ptr<DeviceLayer[]> layers_;
  std::unique_ptr<Buffers> buffers_;
  const float* embeddings_ = nullptr;
  const float* timing_ = nullptr;
  const float* tanh_kernel_ = nullptr;
  const float* tanh_bias_ = nullptr;
  // Host staging for the per-chunk index arrays.
  std::vector<int32_t> host_ints_;
};

}  // namespace hornbeam::use_lite

#endif  // HORNBEAM_PLUGINS_USE_LITE_CUDA_CUDA_ENCODER_H_
