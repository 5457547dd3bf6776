// CUDA forward pass of USE Lite; mirrors Model::EncodeChunk in model.cc.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <string>
#include <type_traits>

#include "plugins/use_lite/cuda/cuda_encoder.h"

namespace hornbeam::use_lite {
namespace {

// Tokens per device pass: bounds the workspace (~110 MB) for any batch.
constexpr int kChunkTokens = 8192;
constexpr int kThreads = 256;
constexpr int kAttentionThreads = 128;

#define HB_CUDA_CHECK(call, what)                                              \
  do {                                                                         \
    cudaError_t status_ = (call);                                              \
    if (status_ != cudaSuccess) {                                              \
      *error = std::string(what) + ": " + cudaGetErrorString(status_);         \
      return false;                                                            \
    }                                                                          \
  } while (0)

#define HB_CUBLAS_CHECK(call, what)                                            \
  do {                                                                         \
    cublasStatus_t status_ = (call);                                           \
    if (status_ != CUBLAS_STATUS_SUCCESS) {                                    \
      *error = std::string(what) + ": cuBLAS status " + std::to_string(status_); \
      return false;                                                            \
    }                                                                          \
  } while (0)

// Sum/max over the block; blockDim.x must be a multiple of 32. `scratch`
// holds 33 floats (one per warp + the result); the trailing barrier lets
// callers reuse it at once.
template <bool kMax>
__device__ float BlockReduce(float v, float* scratch) {
  for (int o = 16; o > 0; o >>= 1) {
    float other = __shfl_down_sync(0xffffffffu, v, o);
    v = kMax ? fmaxf(v, other) : v + other;
  }
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    const int warps = blockDim.x >> 5;
    v = lane < warps ? scratch[lane] : (kMax ? -INFINITY : 0.0f);
    for (int o = 16; o > 0; o >>= 1) {
      float other = __shfl_down_sync(0xffffffffu, v, o);
      v = kMax ? fmaxf(v, other) : v + other;
    }
    if (lane == 0) scratch[32] = v;
  }
  __syncthreads();
  v = scratch[32];
  __syncthreads();
  return v;
}

// x0 = 2 * emb[id] + timing[pos] (see model.cc for why twice).
__global__ void EmbedKernel(const int* ids, const int* positions, const float* emb,
                            const float* timing, int width, int vocab_rows, float* x0) {
  const int t = blockIdx.x;
  int id = ids[t];
  if (id < 0 || id >= vocab_rows) id = 0;
  const float* e = emb + static_cast<size_t>(id) * width;
  const float* s = timing + static_cast<size_t>(positions[t]) * width;
  float* x = x0 + static_cast<size_t>(t) * width;
  for (int c = threadIdx.x; c < width; c += blockDim.x) x[c] = 2.0f * e[c] + s[c];
}

__global__ void LayerNormKernel(const float* x, const float* scale, const float* bias,
                                float epsilon, int cols, float* out) {
  __shared__ float scratch[33];
  const float* in = x + static_cast<size_t>(blockIdx.x) * cols;
  float* o = out + static_cast<size_t>(blockIdx.x) * cols;
  float sum = 0;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) sum += in[c];
  const float mean = BlockReduce<false>(sum, scratch) / cols;
  float sq = 0;
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    const float centred = in[c] - mean;
    sq += centred * centred;
  }
  const float inv = rsqrtf(BlockReduce<false>(sq, scratch) / cols + epsilon);
  for (int c = threadIdx.x; c < cols; c += blockDim.x) {
    o[c] = scale[c] * inv * (in[c] - mean) + bias[c];
  }
}

__global__ void AddBiasKernel(float* x, const float* bias, size_t total, int cols, bool relu) {
  for (size_t i = blockIdx.x * static_cast<size_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<size_t>(gridDim.x) * blockDim.x) {
    const float v = x[i] + bias[i % cols];
    x[i] = relu ? fmaxf(v, 0.0f) : v;
  }
}

// One block per (query token, head). Keys are the rows [start, end) of the
// query's own text, so texts never see each other and need no mask.
__global__ void AttentionKernel(const float* qkv, const int* starts, const int* ends, int dim,
                                int depth, float scale, float* out) {
  extern __shared__ float shared[];
  float* q = shared;              // depth
  float* p = shared + depth;      // up to max_length scores
  float* scratch = p + (ends[blockIdx.x] - starts[blockIdx.x]);  // 33
  const int t = blockIdx.x, h = blockIdx.y;
  const int start = starts[t], n = ends[t] - start;
  const size_t ld = 3 * static_cast<size_t>(dim);
  const float* q_row = qkv + t * ld + h * depth;
  for (int c = threadIdx.x; c < depth; c += blockDim.x) q[c] = q_row[c] * scale;
  __syncthreads();
  float local_max = -INFINITY;
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    const float* k = qkv + (start + j) * ld + dim + h * depth;
    float s = 0;
    for (int c = 0; c < depth; ++c) s += q[c] * k[c];
    p[j] = s;
    local_max = fmaxf(local_max, s);
  }
  const float peak = BlockReduce<true>(local_max, scratch);
  float local_sum = 0;
  for (int j = threadIdx.x; j < n; j += blockDim.x) {
    p[j] = expf(p[j] - peak);
    local_sum += p[j];
  }
  const float inv = 1.0f / BlockReduce<false>(local_sum, scratch);  // also publishes p[]
  for (int c = threadIdx.x; c < depth; c += blockDim.x) {
    const float* v = qkv + start * ld + 2 * dim + h * depth + c;
    float acc = 0;
    for (int j = 0; j < n; ++j) acc += p[j] * v[j * ld];
    out[t * static_cast<size_t>(dim) + h * depth + c] = acc * inv;
  }
}

// Mean of each text's rows; an empty text pools to zeros.
__global__ void PoolKernel(const float* hidden, const int* offsets, int dim, float* pooled) {
  const int i = blockIdx.x;
  const int begin = offsets[i], n = offsets[i + 1] - begin;
  const float inv = 1.0f / static_cast<float>(max(n, 1));
  for (int c = threadIdx.x; c < dim; c += blockDim.x) {
    float acc = 0;
    for (int r = 0; r < n; ++r) acc += hidden[(begin + r) * static_cast<size_t>(dim) + c];
    pooled[i * static_cast<size_t>(dim) + c] = acc * inv;
  }
}

__global__ void TanhL2Kernel(float* y, const float* bias, int dim, float epsilon) {
  __shared__ float scratch[33];
  float* row = y + static_cast<size_t>(blockIdx.x) * dim;
  float sq = 0;
  for (int c = threadIdx.x; c < dim; c += blockDim.x) {
    row[c] = tanhf(row[c] + bias[c]);
    sq += row[c] * row[c];
  }
  const float inv = rsqrtf(fmaxf(BlockReduce<false>(sq, scratch), epsilon));
  for (int c = threadIdx.x; c < dim; c += blockDim.x) row[c] *= inv;
}

int Blocks(size_t total) {
  return static_cast<int>(std::min<size_t>((total + kThreads - 1) / kThreads, 65535));
}

}  // namespace

struct CudaEncoder::DeviceLayer {
  const float *ln_attn_scale, *ln_attn_bias, *qkv_kernel, *qkv_bias, *out_kernel, *out_bias;
  const float *residual_kernel = nullptr, *residual_bias = nullptr;
  const float *ln_ffn_scale, *ln_ffn_bias, *ffn1_kernel, *ffn1_bias, *ffn2_kernel, *ffn2_bias;
};

struct CudaEncoder::Buffers {
  int token_capacity = 0, text_capacity = 0;
  int* ints = nullptr;  // ids | positions | starts | ends | offsets
  float *x0 = nullptr, *hidden = nullptr, *normed = nullptr, *attn = nullptr, *wide = nullptr;
  float *pooled = nullptr, *out = nullptr;
};

std::string DescribeCudaDevices() {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess || count == 0) {
    return std::string("cuda (cuBLAS; no usable device: ") +
           (status != cudaSuccess ? cudaGetErrorString(status) : "none visible") + ")";
  }
  std::string text;
  for (int d = 0; d < count; ++d) {
    cudaDeviceProp prop;
    if (cudaGetDeviceProperties(&prop, d) != cudaSuccess) continue;
    text += (text.empty() ? "" : ", ") + std::string("cuda:") + std::to_string(d) + " " + prop.name;
  }
  return text + " (cuBLAS)";
}

bool QueryCudaDevice(int device, CudaDeviceStatus* out, std::string* error) {
  cudaDeviceProp prop;
  HB_CUDA_CHECK(cudaGetDeviceProperties(&prop, device), "cudaGetDeviceProperties");
  HB_CUDA_CHECK(cudaSetDevice(device), "cudaSetDevice");
  size_t free_bytes = 0, total_bytes = 0;
  HB_CUDA_CHECK(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
  out->name = prop.name;
  // nvidia-smi's form of the 16 uuid bytes: GPU-8-4-4-4-12 hex digits.
  static const char kHex[] = "0123456789abcdef";
  std::string uuid = "GPU-";
  for (int i = 0; i < 16; ++i) {
    if (i == 4 || i == 6 || i == 8 || i == 10) uuid += '-';
    unsigned char b = static_cast<unsigned char>(prop.uuid.bytes[i]);
    uuid += kHex[b >> 4];
    uuid += kHex[b & 15];
  }
  out->uuid = uuid;
  out->memory_total_bytes = total_bytes;
  out->memory_used_bytes = total_bytes >= free_bytes ? total_bytes - free_bytes : 0;
  return true;
}

CudaEncoder::CudaEncoder(const CudaModelSpec& spec, int device)
    : vocab_rows_(spec.vocab_rows),
      embed_dim_(spec.embed_dim),
      model_dim_(spec.model_dim),
      ffn_dim_(spec.ffn_dim),
      heads_(spec.heads),
      max_length_(spec.max_length),
      ln_epsilon_(spec.ln_epsilon),
      l2_epsilon_(spec.l2_epsilon),
      in_dim_{spec.layers[0].in_dim, spec.layers[1].in_dim},
      attn_dim_{spec.layers[0].attn_dim, spec.layers[1].attn_dim},
      query_scale_{spec.layers[0].query_scale, spec.layers[1].query_scale},
      device_(device),
      buffers_(std::make_unique<Buffers>()) {}

CudaEncoder::~CudaEncoder() {
  cudaSetDevice(device_);
  for (void* p : allocations_) cudaFree(p);
  if (cublas_ != nullptr) cublasDestroy(static_cast<cublasHandle_t>(cublas_));
  if (stream_ != nullptr) cudaStreamDestroy(static_cast<cudaStream_t>(stream_));
}

std::unique_ptr<CudaEncoder> CudaEncoder::Create(const CudaModelSpec& spec, int device,
                                                 std::string* error) {
  int count = 0;
  cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    *error = std::string("no usable CUDA device: ") + cudaGetErrorString(status);
    return nullptr;
  }
  if (device < 0 || device >= count) {
    *error = "CUDA device " + std::to_string(device) + " does not exist (" +
             std::to_string(count) + " visible)";
    return nullptr;
  }
  std::unique_ptr<CudaEncoder> encoder(new CudaEncoder(spec, device));
  if (!encoder->Upload(spec, error)) return nullptr;
  return encoder;
}

bool CudaEncoder::Upload(const CudaModelSpec& spec, std::string* error) {
  HB_CUDA_CHECK(cudaSetDevice(device_), "cudaSetDevice");
  cudaStream_t stream;
  HB_CUDA_CHECK(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreate");
  stream_ = stream;
  cublasHandle_t handle;
  HB_CUBLAS_CHECK(cublasCreate(&handle), "cublasCreate");
  cublas_ = handle;
  HB_CUBLAS_CHECK(cublasSetStream(handle, stream), "cublasSetStream");
  // Plain FP32 (no TF32) so the GPU agrees with the CPU plugin to ~1e-6.
  HB_CUBLAS_CHECK(cublasSetMathMode(handle, CUBLAS_DEFAULT_MATH), "cublasSetMathMode");

  auto put = [&](const HostTensor& host, const float** out) -> bool {
    void* p = nullptr;
    HB_CUDA_CHECK(cudaMalloc(&p, host.count * sizeof(float)), "cudaMalloc (weights)");
    allocations_.push_back(p);
    HB_CUDA_CHECK(cudaMemcpy(p, host.data, host.count * sizeof(float), cudaMemcpyHostToDevice),
                  "cudaMemcpy (weights)");
    *out = static_cast<const float*>(p);
    return true;
  };
  layers_ = std::make_unique<DeviceLayer[]>(2);
  for (int l = 0; l < 2; ++l) {
    const CudaModelSpec::Layer& w = spec.layers[l];
    DeviceLayer& d = layers_[l];
    if (!put(w.ln_attn_scale, &d.ln_attn_scale) || !put(w.ln_attn_bias, &d.ln_attn_bias) ||
        !put(w.qkv_kernel, &d.qkv_kernel) || !put(w.qkv_bias, &d.qkv_bias) ||
        !put(w.out_kernel, &d.out_kernel) || !put(w.out_bias, &d.out_bias) ||
        !put(w.ln_ffn_scale, &d.ln_ffn_scale) || !put(w.ln_ffn_bias, &d.ln_ffn_bias) ||
        !put(w.ffn1_kernel, &d.ffn1_kernel) || !put(w.ffn1_bias, &d.ffn1_bias) ||
        !put(w.ffn2_kernel, &d.ffn2_kernel) || !put(w.ffn2_bias, &d.ffn2_bias)) {
      return false;
    }
    if (w.residual_kernel.count > 0 &&
        (!put(w.residual_kernel, &d.residual_kernel) || !put(w.residual_bias, &d.residual_bias))) {
      return false;
    }
  }
  return put(spec.embeddings, &embeddings_) && put(spec.timing, &timing_) &&
         put(spec.tanh_kernel, &tanh_kernel_) && put(spec.tanh_bias, &tanh_bias_);
}

bool CudaEncoder::EnsureCapacity(int tokens, int texts, std::string* error) {
  Buffers& b = *buffers_;
  if (tokens <= b.token_capacity && texts <= b.text_capacity) return true;
  for (void* p : {static_cast<void*>(b.ints), static_cast<void*>(b.x0),
                  static_cast<void*>(b.hidden), static_cast<void*>(b.normed),
                  static_cast<void*>(b.attn), static_cast<void*>(b.wide),
                  static_cast<void*>(b.pooled), static_cast<void*>(b.out)}) {
    if (p != nullptr) {
      cudaFree(p);
      allocations_.erase(std::find(allocations_.begin(), allocations_.end(), p));
    }
  }
  b = Buffers();
  const size_t m = std::max(tokens, 1), n = std::max(texts, 1);
  const size_t wide = std::max({3 * attn_dim_[0], 3 * attn_dim_[1], ffn_dim_});
  auto alloc = [&](size_t bytes, auto** out) -> bool {
    void* p = nullptr;
    HB_CUDA_CHECK(cudaMalloc(&p, bytes), "cudaMalloc (workspace)");
    allocations_.push_back(p);
    *out = static_cast<std::remove_reference_t<decltype(*out)>>(p);
    return true;
  };
  if (!alloc((4 * m + n + 1) * sizeof(int), &b.ints) ||
      !alloc(m * embed_dim_ * sizeof(float), &b.x0) ||
      !alloc(m * model_dim_ * sizeof(float), &b.hidden) ||
      !alloc(m * model_dim_ * sizeof(float), &b.normed) ||
      !alloc(m * model_dim_ * sizeof(float), &b.attn) ||
      !alloc(m * wide * sizeof(float), &b.wide) ||
      !alloc(n * model_dim_ * sizeof(float), &b.pooled) ||
      !alloc(n * model_dim_ * sizeof(float), &b.out)) {
    return false;
  }
  b.token_capacity = static_cast<int>(m);
  b.text_capacity = static_cast<int>(n);
  return true;
}

bool CudaEncoder::Embed(const std::vector<int32_t>* texts, size_t count, float* out,
                        std::string* error) {
  // Host threads may change; the current device is per thread.
  HB_CUDA_CHECK(cudaSetDevice(device_), "cudaSetDevice");
  size_t begin = 0;
  while (begin < count) {
    size_t end = begin;
    int tokens = 0;
    while (end < count) {
      int n = std::min<int>(static_cast<int>(texts[end].size()), max_length_);
      if (end > begin && tokens + n > kChunkTokens) break;
      tokens += n;
      ++end;
    }
    if (!RunChunk(texts + begin, static_cast<int>(end - begin), out + begin * model_dim_, error)) {
      return false;
    }
    begin = end;
  }
  return true;
}

bool CudaEncoder::UploadIndices(const std::vector<int32_t>* texts, int count, int tokens,
                                std::string* error) {
  // ids | positions | starts | ends | offsets, one upload.
  host_ints_.assign(4 * static_cast<size_t>(tokens) + count + 1, 0);
  int32_t* ids = host_ints_.data();
  int32_t *positions = ids + tokens, *starts = positions + tokens, *ends = starts + tokens;
  int32_t* offsets = ends + tokens;
  for (int i = 0, row = 0; i < count; ++i) {
    const int n = std::min<int>(static_cast<int>(texts[i].size()), max_length_);
    offsets[i] = row;
    for (int p = 0; p < n; ++p, ++row) {
      ids[row] = texts[i][p];
      positions[row] = p;
      starts[row] = offsets[i];
      ends[row] = offsets[i] + n;
    }
  }
  offsets[count] = tokens;
  HB_CUDA_CHECK(cudaMemcpyAsync(buffers_->ints, host_ints_.data(),
                                host_ints_.size() * sizeof(int32_t), cudaMemcpyHostToDevice,
                                static_cast<cudaStream_t>(stream_)),
                "cudaMemcpyAsync (ids)");
  return true;
}

bool CudaEncoder::RunChunk(const std::vector<int32_t>* texts, int count, float* out,
                           std::string* error) {
  const int e = embed_dim_, d = model_dim_, f = ffn_dim_;
  int tokens = 0;
  for (int i = 0; i < count; ++i) {
    tokens += std::min<int>(static_cast<int>(texts[i].size()), max_length_);
  }
  if (!EnsureCapacity(tokens, count, error)) return false;
  Buffers& b = *buffers_;
  auto stream = static_cast<cudaStream_t>(stream_);
  auto handle = static_cast<cublasHandle_t>(cublas_);

  if (!UploadIndices(texts, count, tokens, error)) return false;
  const int* d_ids = b.ints;
  const int *d_positions = d_ids + tokens, *d_starts = d_positions + tokens;
  const int *d_ends = d_starts + tokens, *d_offsets = d_ends + tokens;

  // Row-major C[m,n] = A[m,k] B[k,n] is column-major C^T = B^T A^T.
  auto gemm = [&](int m, int n, int k, const float* a, const float* w, float beta,
                  float* c) -> bool {
    const float one = 1.0f;
    HB_CUBLAS_CHECK(cublasSgemm(handle, CUBLAS_OP_N, CUBLAS_OP_N, n, m, k, &one, w, n, a, k, &beta,
                                c, n),
                    "cublasSgemm");
    return true;
  };
  auto bias = [&](float* x, const float* v, int rows, int cols, bool relu) {
    const size_t total = static_cast<size_t>(rows) * cols;
    AddBiasKernel<<<Blocks(total), kThreads, 0, stream>>>(x, v, total, cols, relu);
  };

  if (tokens > 0) {
    EmbedKernel<<<tokens, kThreads, 0, stream>>>(d_ids, d_positions, embeddings_, timing_, e,
                                                 vocab_rows_, b.x0);
    for (int l = 0; l < 2; ++l) {
      const DeviceLayer& dl = layers_[l];
      const int a = attn_dim_[l], in = in_dim_[l];
      const float* input = l == 0 ? b.x0 : b.hidden;
      LayerNormKernel<<<tokens, kThreads, 0, stream>>>(input, dl.ln_attn_scale, dl.ln_attn_bias,
                                                       ln_epsilon_, in, b.normed);
      if (!gemm(tokens, 3 * a, in, b.normed, dl.qkv_kernel, 0.0f, b.wide)) return false;
      bias(b.wide, dl.qkv_bias, tokens, 3 * a, false);
      const int depth = a / heads_;
      const size_t shared = (depth + max_length_ + 33) * sizeof(float);
      AttentionKernel<<<dim3(tokens, heads_), kAttentionThreads, shared, stream>>>(
          b.wide, d_starts, d_ends, a, depth, query_scale_[l], b.attn);
      if (dl.residual_kernel != nullptr) {
        if (!gemm(tokens, d, in, b.x0, dl.residual_kernel, 0.0f, b.hidden)) return false;
        bias(b.hidden, dl.residual_bias, tokens, d, false);
      }
      if (!gemm(tokens, d, a, b.attn, dl.out_kernel, 1.0f, b.hidden)) return false;
      bias(b.hidden, dl.out_bias, tokens, d, false);
      LayerNormKernel<<<tokens, kThreads, 0, stream>>>(b.hidden, dl.ln_ffn_scale, dl.ln_ffn_bias,
                                                       ln_epsilon_, d, b.normed);
      if (!gemm(tokens, f, d, b.normed, dl.ffn1_kernel, 0.0f, b.wide)) return false;
      bias(b.wide, dl.ffn1_bias, tokens, f, true);
      if (!gemm(tokens, d, f, b.wide, dl.ffn2_kernel, 1.0f, b.hidden)) return false;
      bias(b.hidden, dl.ffn2_bias, tokens, d, false);
    }
  }
  PoolKernel<<<count, kThreads, 0, stream>>>(b.hidden, d_offsets, d, b.pooled);
  if (!gemm(count, d, d, b.pooled, tanh_kernel_, 0.0f, b.out)) return false;
  TanhL2Kernel<<<count, kThreads, 0, stream>>>(b.out, tanh_bias_, d, l2_epsilon_);
  HB_CUDA_CHECK(cudaGetLastError(), "kernel launch");
  HB_CUDA_CHECK(cudaMemcpyAsync(out, b.out, static_cast<size_t>(count) * d * sizeof(float),
                                cudaMemcpyDeviceToHost, stream),
                "cudaMemcpyAsync (embeddings)");
  HB_CUDA_CHECK(cudaStreamSynchronize(stream), "cudaStreamSynchronize");
  return true;
}

}  // namespace hornbeam::use_lite
