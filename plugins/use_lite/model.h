// Universal Sentence Encoder Lite: weights and a fixed CPU forward pass.
//
// The TF.js graph in model.json (317 nodes) is a two-layer pre-norm
// transformer ("KonaTransformer") over sparse token input:
//
//   x0  = 2 Embeddings[id] + timing(pos)               [n, 256]  (sin | cos)
//   L0: h  = dense(x0) + out0(MHA0(LN(x0)))            [n, 512]  4 heads x 64
//       h += FFN0(LN(h))                                         512-1536-512
//   L1: h += out1(MHA1(LN(h)))                                   4 heads x 128
//       h += FFN1(LN(h))
//   y   = l2_normalize(tanh(mean_pos(h) W + b))        [512]
//
// with LN eps 1e-6, ReLU FFNs, padding masked out of attention (bias -1e9)
// and out of the mean, and positions >= 128 dropped (ClipToMaxLength). The
// graph spends most of its nodes gathering non-padding rows and scattering
// them back; because padding never reaches a real position, this pass keeps
// the texts of a batch packed back to back (no padding at all) and runs
// every dense layer as one GEMM over all tokens of the batch.
#ifndef HORNBEAM_PLUGINS_USE_LITE_MODEL_H_
#define HORNBEAM_PLUGINS_USE_LITE_MODEL_H_

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace hornbeam::use_lite {

// Dimensions and constants read from the model files (checked at load).
struct ModelDims {
  int vocab_rows = 0;     // 8002 embedding rows
  int embed_dim = 0;      // 256
  int model_dim = 0;      // 512
  int ffn_dim = 0;        // 1536
  int heads = 0;          // 4
  int max_length = 0;     // 128: tokens past this are ignored by the graph
  float ln_epsilon = 0;   // 1e-6
  float l2_epsilon = 0;   // 1e-12
};

// One transformer layer's weights; matrices are row-major [in, out].
struct LayerWeights {
  int in_dim = 0;    // 256 for layer 0, 512 for layer 1
  int attn_dim = 0;  // width of each of Q, K, V
  float query_scale = 0;
  std::vector<float> ln_attn_scale, ln_attn_bias;
  std::vector<float> qkv_kernel, qkv_bias;  // [in, 3 * attn_dim]
  std::vector<float> out_kernel, out_bias;  // [attn_dim, model_dim]
  std::vector<float> residual_kernel, residual_bias;  // layer 0 only: [in, model_dim]
  std::vector<float> ln_ffn_scale, ln_ffn_bias;
  std::vector<float> ffn1_kernel, ffn1_bias;  // [model_dim, ffn_dim]
  std::vector<float> ffn2_kernel, ffn2_bias;  // [ffn_dim, model_dim]
};

// Per-caller scratch; one per plugin instance, so instances never share.
struct Workspace {
  std::vector<float> x0, hidden, normed, wide, attn, scores, pooled;
  std::vector<int32_t> offsets;
};

class Model {
 public:
  // Upper bound on tokens per internal chunk: big enough that the GEMMs run
  // near peak, small enough that the workspace stays ~55 MB.
  static constexpr int kDefaultChunkTokens = 4096;

  // Reads model.json and its weight shards from `dir`. Returns false with
  // *error set (naming the missing or malformed file) on failure.
  bool Load(const std::string& dir, std::string* error);

  // Embeds `texts` (token ids; only the first max_length of each are used)
  // into out[i * output_dim() ...]. An empty id list yields the embedding of
  // the empty sequence (see empty_embedding()). Thread-safe for distinct
  // workspaces. May throw std::bad_alloc.
  void Embed(std::span<const std::span<const int32_t>> texts, float* out, Workspace* ws) const;

  int output_dim() const { return dims_.model_dim; }
  const ModelDims& dims() const { return dims_; }
  const LayerWeights& layer(int i) const { return layers_[i]; }
  const std::vector<float>& embeddings() const { return embeddings_; }
  const std::vector<float>& timing_table() const { return timing_; }
  const std::vector<float>& tanh_kernel() const { return tanh_kernel_; }
  const std::vector<float>& tanh_bias() const { return tanh_bias_; }
  // What the graph gives an all-padding row: mean 0, so l2n(tanh(bias)).
  const std::vector<float>& empty_embedding() const { return empty_; }

  // Multiply-adds x2 of one text of `tokens` tokens (after truncation),
  // counting GEMMs and attention products; for GFLOP/s reporting.
  double FlopsPerText(int tokens) const;

  void set_chunk_tokens(int n) { chunk_tokens_ = n; }

 private:
  void EncodeChunk(std::span<const std::span<const int32_t>> texts, float* out,
                   Workspace* ws) const;
  void Layer(const LayerWeights& w, int tokens, const int32_t* offsets, int count,
             Workspace* ws) const;

  ModelDims dims_;
  LayerWeights layers_[2];
  std::vector<float> embeddings_;  // [vocab_rows, embed_dim]
  std::vector<float> timing_;      // [max_length, embed_dim]: sin | cos
  std::vector<float> tanh_kernel_, tanh_bias_;
  std::vector<float> empty_;
  int chunk_tokens_ = kDefaultChunkTokens;
};

}  // namespace hornbeam::use_lite

#endif  // HORNBEAM_PLUGINS_USE_LITE_MODEL_H_
