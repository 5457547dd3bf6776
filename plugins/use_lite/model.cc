// The USE Lite forward pass on packed tokens (see model.h for the graph).
#include "plugins/use_lite/model.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>

namespace hornbeam::use_lite {
namespace {

// C[m, n] (+)= A[m, k] . B[k, n], all row-major and contiguous.
void Gemm(int m, int n, int k, const float* a, const float* b, float beta, float* c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, m, n, k, 1.0f, a, k, b, n, beta, c, n);
}

// The elementwise passes below are ~15% of the time next to the GEMMs; the
// `omp simd` pragmas (-fopenmp-simd, no OpenMP runtime) let GCC vectorise
// them, reductions included.
void AddBias(int rows, int cols, const float* __restrict bias, float* __restrict x) {
  for (int r = 0; r < rows; ++r) {
    float* __restrict row = x + static_cast<size_t>(r) * cols;
#pragma omp simd
    for (int c = 0; c < cols; ++c) row[c] += bias[c];
  }
}

void AddBiasRelu(int rows, int cols, const float* __restrict bias, float* __restrict x) {
  for (int r = 0; r < rows; ++r) {
    float* __restrict row = x + static_cast<size_t>(r) * cols;
#pragma omp simd
    for (int c = 0; c < cols; ++c) row[c] = std::max(row[c] + bias[c], 0.0f);
  }
}

// TF's layer_norm: scale * (x - mean) * rsqrt(mean((x - mean)^2) + eps) + bias.
void LayerNorm(int rows, int cols, const float* __restrict x, const float* __restrict scale,
               const float* __restrict bias, float epsilon, float* __restrict out) {
  for (int r = 0; r < rows; ++r) {
    const float* in = x + static_cast<size_t>(r) * cols;
    float* o = out + static_cast<size_t>(r) * cols;
    float sum = 0;
#pragma omp simd reduction(+ : sum)
    for (int c = 0; c < cols; ++c) sum += in[c];
    const float mean = sum / static_cast<float>(cols);
    float sq = 0;
#pragma omp simd reduction(+ : sq)
    for (int c = 0; c < cols; ++c) sq += (in[c] - mean) * (in[c] - mean);
    const float inv = 1.0f / std::sqrt(sq / static_cast<float>(cols) + epsilon);
#pragma omp simd
    for (int c = 0; c < cols; ++c) o[c] = scale[c] * inv * (in[c] - mean) + bias[c];
  }
}

// Multi-head self-attention of one text's `n` rows. qkv rows are
// [Q | K | V], each `dim` wide and split into `heads` slices; the result
// goes to out[n, dim] with the heads side by side (combine_heads).
void Attention(int n, int dim, int heads, float scale, const float* qkv, float* scores,
               float* out) {
  const int depth = dim / heads;
  const int ld = 3 * dim;
  for (int h = 0; h < heads; ++h) {
    const float* q = qkv + h * depth;
    const float* k = qkv + dim + h * depth;
    const float* v = qkv + 2 * dim + h * depth;
    // The graph scales Q before Q.K^T; folding it into alpha differs only in
    // float rounding.
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, n, n, depth, scale, q, ld, k, ld, 0.0f,
                scores, n);
    for (int i = 0; i < n; ++i) {
      float* row = scores + static_cast<size_t>(i) * n;
      const float peak = *std::max_element(row, row + n);
      float sum = 0;
      for (int j = 0; j < n; ++j) {
        row[j] = std::exp(row[j] - peak);
        sum += row[j];
      }
      const float inv = 1.0f / sum;
      for (int j = 0; j < n; ++j) row[j] *= inv;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, depth, n, 1.0f, scores, n, v, ld,
                0.0f, out + h * depth, dim);
  }
}

void Grow(std::vector<float>* v, size_t n) {
  if (v->size() < n) v->resize(n);
}

}  // namespace

void Model::Embed(std::span<const std::span<const int32_t>> texts, float* out,
                  Workspace* ws) const {
  // Chunks of whole texts, so the workspace is bounded by chunk_tokens_
  // (plus one text) whatever the batch. Chunks are balanced: 4400 tokens
  // run as 2 x 2200, not 4096 + 304, whose small GEMMs would run slowly.
  int64_t total = 0;
  for (const auto& t : texts) total += std::min<int64_t>(t.size(), dims_.max_length);
  const int64_t chunks = std::max<int64_t>(1, (total + chunk_tokens_ - 1) / chunk_tokens_);
  const int64_t target = (total + chunks - 1) / chunks;
  size_t begin = 0;
  while (begin < texts.size()) {
    size_t end = begin;
    int tokens = 0;
    while (end < texts.size()) {
      int n = std::min<int>(static_cast<int>(texts[end].size()), dims_.max_length);
      if (end > begin && tokens + n > target) break;
      tokens += n;
      ++end;
    }
    EncodeChunk(texts.subspan(begin, end - begin), out + begin * dims_.model_dim, ws);
    begin = end;
  }
}

void Model::EncodeChunk(std::span<const std::span<const int32_t>> texts, float* out,
                        Workspace* ws) const {
  const int count = static_cast<int>(texts.size());
  const int e = dims_.embed_dim, d = dims_.model_dim;
  // offsets[i] is the first packed row of text i; texts keep their own
  // position numbering (the graph's timing signal uses the sparse column).
  ws->offsets.assign(count + 1, 0);
  for (int i = 0; i < count; ++i) {
    ws->offsets[i + 1] =
        ws->offsets[i] + std::min<int>(static_cast<int>(texts[i].size()), dims_.max_length);
  }
  const int tokens = ws->offsets[count];
  const int widest = std::max({3 * layers_[0].attn_dim, 3 * layers_[1].attn_dim, dims_.ffn_dim});
  Grow(&ws->x0, static_cast<size_t>(tokens) * e);
  Grow(&ws->hidden, static_cast<size_t>(tokens) * d);
  Grow(&ws->normed, static_cast<size_t>(tokens) * d);
  Grow(&ws->attn, static_cast<size_t>(tokens) * d);
  // Q|K|V and the FFN's inner activations are never live together.
  Grow(&ws->wide, static_cast<size_t>(tokens) * widest);
  Grow(&ws->scores, static_cast<size_t>(dims_.max_length) * dims_.max_length);
  Grow(&ws->pooled, static_cast<size_t>(count) * d);

  if (tokens > 0) {
    // Embedding lookup + timing signal. The graph adds the embeddings twice:
    // AddTimingSignal returns embedding + timing, and TransformerStack adds
    // that to the embedding again (Layer_0/add), so x0 = 2 emb + timing.
    // Ids outside the table cannot come from the tokenizer; map them to the
    // unknown row rather than read out of bounds.
    for (int i = 0; i < count; ++i) {
      for (int p = 0; p < ws->offsets[i + 1] - ws->offsets[i]; ++p) {
        int32_t id = texts[i][p];
        if (id < 0 || id >= dims_.vocab_rows) id = 0;
        const float* emb = embeddings_.data() + static_cast<size_t>(id) * e;
        const float* timing = timing_.data() + static_cast<size_t>(p) * e;
        float* x = ws->x0.data() + static_cast<size_t>(ws->offsets[i] + p) * e;
        for (int c = 0; c < e; ++c) x[c] = 2.0f * emb[c] + timing[c];
      }
    }
    Layer(layers_[0], tokens, ws->offsets.data(), count, ws);
    Layer(layers_[1], tokens, ws->offsets.data(), count, ws);
  }

  // Mean over each text's positions; an empty text pools to zeros (the
  // graph divides by max(length, 1)).
  for (int i = 0; i < count; ++i) {
    float* pooled = ws->pooled.data() + static_cast<size_t>(i) * d;
    const int n = ws->offsets[i + 1] - ws->offsets[i];
    std::fill(pooled, pooled + d, 0.0f);
    for (int p = 0; p < n; ++p) {
      const float* h = ws->hidden.data() + static_cast<size_t>(ws->offsets[i] + p) * d;
      for (int c = 0; c < d; ++c) pooled[c] += h[c];
    }
    const float inv = 1.0f / static_cast<float>(std::max(n, 1));
    for (int c = 0; c < d; ++c) pooled[c] *= inv;
  }
  Gemm(count, d, d, ws->pooled.data(), tanh_kernel_.data(), 0.0f, out);
  for (int i = 0; i < count; ++i) {
    float* y = out + static_cast<size_t>(i) * d;
    double norm = 0;
    for (int c = 0; c < d; ++c) {
      y[c] = std::tanh(y[c] + tanh_bias_[c]);
      norm += static_cast<double>(y[c]) * y[c];
    }
    const float inv = static_cast<float>(1.0 / std::sqrt(std::max<double>(norm, dims_.l2_epsilon)));
    for (int c = 0; c < d; ++c) y[c] *= inv;
  }
}

// One pre-norm transformer layer over ws->hidden (layer 0 reads ws->x0 and
// writes ws->hidden).
void Model::Layer(const LayerWeights& w, int tokens, const int32_t* offsets, int count,
                  Workspace* ws) const {
  const int d = dims_.model_dim, a = w.attn_dim, f = dims_.ffn_dim;
  const bool first = !w.residual_kernel.empty();
  const float* input = first ? ws->x0.data() : ws->hidden.data();
  float* hidden = ws->hidden.data();

  // Attention block: hidden = residual + out(MHA(LN(input))) + out_bias.
  LayerNorm(tokens, w.in_dim, input, w.ln_attn_scale.data(), w.ln_attn_bias.data(),
            dims_.ln_epsilon, ws->normed.data());
  Gemm(tokens, 3 * a, w.in_dim, ws->normed.data(), w.qkv_kernel.data(), 0.0f, ws->wide.data());
  AddBias(tokens, 3 * a, w.qkv_bias.data(), ws->wide.data());
  for (int i = 0; i < count; ++i) {
    Attention(offsets[i + 1] - offsets[i], a, dims_.heads, w.query_scale,
              ws->wide.data() + static_cast<size_t>(offsets[i]) * 3 * a, ws->scores.data(),
              ws->attn.data() + static_cast<size_t>(offsets[i]) * a);
  }
  if (first) {
    Gemm(tokens, d, w.in_dim, input, w.residual_kernel.data(), 0.0f, hidden);
    AddBias(tokens, d, w.residual_bias.data(), hidden);
  }
  Gemm(tokens, d, a, ws->attn.data(), w.out_kernel.data(), 1.0f, hidden);
  AddBias(tokens, d, w.out_bias.data(), hidden);

  // FFN block: hidden += W2 relu(W1 LN(hidden) + b1) + b2.
  LayerNorm(tokens, d, hidden, w.ln_ffn_scale.data(), w.ln_ffn_bias.data(), dims_.ln_epsilon,
            ws->normed.data());
  Gemm(tokens, f, d, ws->normed.data(), w.ffn1_kernel.data(), 0.0f, ws->wide.data());
  AddBiasRelu(tokens, f, w.ffn1_bias.data(), ws->wide.data());
  Gemm(tokens, d, f, ws->wide.data(), w.ffn2_kernel.data(), 1.0f, hidden);
  AddBias(tokens, d, w.ffn2_bias.data(), hidden);
}

double Model::FlopsPerText(int tokens) const {
  const double n = std::min(tokens, dims_.max_length);
  const double d = dims_.model_dim, f = dims_.ffn_dim;
  double flops = 2.0 * d * d;  // tanh layer, once per text
  for (const LayerWeights& w : layers_) {
    const double in = w.in_dim, a = w.attn_dim;
    double per_token = in * 3 * a + a * d + 2 * d * f;  // qkv, out, FFN
    if (!w.residual_kernel.empty()) per_token += in * d;
    flops += 2.0 * n * per_token;
    flops += 2.0 * 2.0 * n * n * a;  // Q.K^T and P.V over all heads
  }
  return flops;
}

}  // namespace hornbeam::use_lite
