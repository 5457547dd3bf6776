// libFuzzer entry point for the tls target; the body is FuzzTls in
// fuzz/tls_body.cc (also replayed over the seed corpus by
// tests/regression/fuzz_seed_corpus_test.cc).
#include <ei.h>

#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_bodies.h"

extern "C" int LLVMFuzzerInitialize(int*, char***) {
  ei_init();  // as main(): once, before anything else touches ei
  hb::fuzz::QuietLogs();
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  hb::fuzz::FuzzTls(data, size);
  return 0;
}
