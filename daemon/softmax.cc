#include "daemon/softmax.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

namespace hb {

void SoftmaxModel::Scores(const float* x, float* out) const {
  float top = -INFINITY;
  for (uint32_t c = 0; c < classes; ++c) {
    const float* w = &weights[static_cast<size_t>(c) * dim];
    float z = bias[c];
    for (uint32_t d = 0; d < dim; ++d) z += w[d] * x[d];
    out[c] = z;
    top = std::max(top, z);
  }
  // Shifted by the largest logit: exp never overflows.
  float sum = 0;
  for (uint32_t c = 0; c < classes; ++c) sum += (out[c] = std::exp(out[c] - top));
  for (uint32_t c = 0; c < classes; ++c) out[c] /= sum;
}

uint32_t SoftmaxModel::Predict(const float* x) const {
  std::vector<float> p(classes);
  Scores(x, p.data());
  return static_cast<uint32_t>(std::max_element(p.begin(), p.end()) - p.begin());
}

bool TrainSoftmax(const float* x, const uint32_t* y, size_t n, uint32_t dim, uint32_t classes,
                  const SoftmaxOptions& o, const std::function<bool(uint32_t, double)>& on_epoch,
                  SoftmaxModel* out) {
  SoftmaxModel m;
  m.dim = dim;
  m.classes = classes;
  m.weights.assign(static_cast<size_t>(classes) * dim, 0.0f);
  m.bias.assign(classes, 0.0f);
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(o.seed);
  std::vector<float> p(classes);
  std::vector<float> grad_w(m.weights.size());
  std::vector<float> grad_b(classes);
  const size_t batch = std::max<uint32_t>(1, o.batch_size);
  for (uint32_t epoch = 1; epoch <= o.epochs; ++epoch) {
    std::shuffle(order.begin(), order.end(), rng);
    double loss = 0;
    for (size_t start = 0; start < n; start += batch) {
      size_t end = std::min(n, start + batch);
      std::fill(grad_w.begin(), grad_w.end(), 0.0f);
      std::fill(grad_b.begin(), grad_b.end(), 0.0f);
      for (size_t k = start; k < end; ++k) {
        const float* xi = x + order[k] * dim;
        uint32_t yi = y[order[k]];
        m.Scores(xi, p.data());
        loss -= std::log(std::max(p[yi], 1e-12f));
        // d(cross-entropy)/d(logit c) = p_c - [c == y].
        for (uint32_t c = 0; c < classes; ++c) {
          float g = p[c] - (c == yi ? 1.0f : 0.0f);
          grad_b[c] += g;
          float* gw = &grad_w[static_cast<size_t>(c) * dim];
          for (uint32_t d = 0; d < dim; ++d) gw[d] += g * xi[d];
        }
      }
      float step = static_cast<float>(o.learning_rate / static_cast<double>(end - start));
      float decay = static_cast<float>(1.0 - o.learning_rate * o.l2);
      for (size_t i = 0; i < m.weights.size(); ++i) {
        m.weights[i] = m.weights[i] * decay - step * grad_w[i];
      }
      for (uint32_t c = 0; c < classes; ++c) m.bias[c] -= step * grad_b[c];
    }
    if (!on_epoch(epoch, n ? loss / static_cast<double>(n) : 0.0)) return false;
  }
  *out = std::move(m);
  return true;
}

}  // namespace hb
