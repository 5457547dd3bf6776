// Helpers shared by the use_lite tests (use_lite_test.cc, use_lite_cuda_test.cc):
// where the model files are, and how close two embeddings are.
#pragma once

#include <cstdlib>
#include <string>

#include "bench/cosine.h"

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

// The same comparison gpu_check makes.
using hornbeam::tools::Cosine;

}  // namespace hb::testing
