// The texts gpu_check embeds on both paths: the use_lite fixture sentences,
// seeded generated texts of 1..N words, and the edge cases the CPU and CUDA
// paths must treat alike. Plain values; any thread.
#ifndef HORNBEAM_BENCH_GPU_CHECK_TEXTS_H_
#define HORNBEAM_BENCH_GPU_CHECK_TEXTS_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace hornbeam::gpu_check {

// tests/plugins/fixtures/use_lite_reference.json: each sentence with the
// TF.js reference vector (512 floats, rounded to 7 digits).
struct FixtureSentence {
  std::string text;
  std::vector<float> vector;
};
bool LoadFixture(const std::string& path, std::vector<FixtureSentence>* out, std::string* error);

// `count` texts, each of a uniformly drawn 1..max_words words (English
// words, numbers, punctuation, accented, CJK, Cyrillic and emoji tokens),
// from std::mt19937_64 seeded with `seed`: the same list on every machine.
struct GeneratedText {
  std::string text;
  uint32_t words = 0;
};
std::vector<GeneratedText> GenerateTexts(uint32_t count, uint32_t max_words, uint64_t seed);

// Inputs at the edges of the contract: longer than the model reads (in
// tokens and in bytes), empty, whitespace only, and malformed UTF-8.
struct EdgeCase {
  std::string name;  // what the table calls it
  std::string text;  // the bytes sent, not necessarily UTF-8
};
std::vector<EdgeCase> EdgeCases();

// Views of `texts` (which must outlive them).
std::vector<std::string_view> Views(const std::vector<std::string>& texts);

}  // namespace hornbeam::gpu_check

#endif  // HORNBEAM_BENCH_GPU_CHECK_TEXTS_H_
