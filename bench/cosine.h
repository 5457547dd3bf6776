// Cosine similarity of two embeddings, summed in double: how gpu_check and
// the use_lite tests compare rows. NaN when a row is all zeros or holds NaN
// (and NaN never passes a ">=" threshold). Pure; any thread.
#ifndef HORNBEAM_BENCH_COSINE_H_
#define HORNBEAM_BENCH_COSINE_H_

#include <cmath>
#include <cstddef>

namespace hornbeam::tools {

inline double Cosine(const float* a, const float* b, size_t n) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < n; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

}  // namespace hornbeam::tools

#endif  // HORNBEAM_BENCH_COSINE_H_
