// Replays every seed of fuzz/corpus/<target>/ through that fuzz target's
// body (fuzz/fuzz_bodies.h), so every build -- including the normal,
// sanitizer and g++ builds that never link libFuzzer -- runs the fuzzers'
// invariants over real control packets, handshakes, requests and configs.
#include <catch2/catch.hpp>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "fuzz/fuzz_bodies.h"
#include "tests/regression/regression_util.h"

namespace hb {
namespace {

using Body = void (*)(const uint8_t*, size_t);

std::vector<std::filesystem::path> FilesIn(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  if (!std::filesystem::is_directory(dir)) return files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    if (e.is_regular_file()) files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

void Replay(const char* target, Body body) {
  const auto dir = regression::SourceDir() / "fuzz" / "corpus" / target;
  const auto files = FilesIn(dir);
  INFO("corpus " << dir.string());
  REQUIRE_FALSE(files.empty());
  regression::ThrowOnFuzzFailure guard;
  for (const auto& f : files) {
    const std::string bytes = regression::ReadFile(f);
    INFO("seed " << f.filename().string());
    CHECK_NOTHROW(body(regression::Bytes(bytes), bytes.size()));
  }
}

TEST_CASE("seed corpus: control", "[regression][fuzz_corpus]") { Replay("control", fuzz::FuzzControl); }
TEST_CASE("seed corpus: handshake", "[regression][fuzz_corpus]") {
  Replay("handshake", fuzz::FuzzHandshake);
}
TEST_CASE("seed corpus: request", "[regression][fuzz_corpus]") { Replay("request", fuzz::FuzzRequest); }
TEST_CASE("seed corpus: config", "[regression][fuzz_corpus]") { Replay("config", fuzz::FuzzConfig); }
TEST_CASE("seed corpus: tls", "[regression][fuzz_corpus]") { Replay("tls", fuzz::FuzzTls); }

}  // namespace
}  // namespace hb
