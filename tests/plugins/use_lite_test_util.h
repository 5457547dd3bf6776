// Helpers shared by the use_lite tests (use_lite_test.cc, use_lite_cuda_test.cc):
// where the model files are, and how close two embeddings are.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdlib>
#include <string>

#ifndef HB_USE_LITE_DEFAULT_MODEL_DIR
#error "HB_USE_LITE_DEFAULT_MODEL_DIR must be defined (see plugins/use_lite/CMakeLists.txt)"
#endif

namespace hb::testing {

// $HB_USE_LITE_DIR, else the build's default (scripts/fetch-use-lite puts
// the files there).
inline std::string UseLiteModelDir() {
  const char* env = std::getenv("HB_USE_LITE_DIR");
  return env != nullptr && *env != '\0' ? env : HB_USE_LITE_DEFAULT_MODEL_DIR;
}

inline double Cosine(const float* a, const float* b, size_t n) {
  double dot = 0, na = 0, nb = 0;
  for (size_t i = 0; i < n; ++i) {
    dot += static_cast<double>(a[i]) * b[i];
    na += static_cast<double>(a[i]) * a[i];
    nb += static_cast<double>(b[i]) * b[i];
  }
  return dot / std::sqrt(na * nb);
}

}  // namespace hb::testing
