#include "bench/gpu_check/texts.h"

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

namespace hornbeam::gpu_check {
namespace {

// Word pool of the generated texts. Mostly English so that most words are
// whole vocabulary pieces (as real traffic is), plus the kinds of token that
// exercise the tokenizer's other paths: numbers, punctuation, NFKC-changed
// forms, scripts the vocabulary barely covers, emoji.
const std::vector<std::string>& WordPool() {
  // clang-format off
  static const std::vector<std::string> pool = {
      "the", "a", "of", "and", "to", "in", "is", "was", "for", "on", "with", "as", "by",
      "at", "from", "that", "this", "it", "not", "or", "be", "are", "have", "has", "but",
      "model", "server", "request", "train", "station", "weather", "market", "guitar",
      "language", "quickly", "learning", "distributed", "system", "partition", "network",
      "customer", "service", "product", "battery", "processor", "screen", "museum",
      "photosynthesis", "chromodynamics", "reconciled", "availability", "Erlang",
      "processes", "message", "passing", "Tuesday", "budget", "committee", "proposal",
      "Europe", "revenue", "quarterly", "headaches", "dizziness", "umbrella", "soaked",
      "recommend", "history", "Roman", "Empire", "delayed", "signal", "failure",
      "42", "3.14159", "1,249.99", "2024-01-01", "10:00", "555-0199", "v2.4.1", "0x7fff",
      ",", ".", "!", "?", ";", ":", "--", "(", ")", "\"", "'s", "...",
      "Café", "naïve", "façade", "crème", "brûlée", "Zürich", "schöne", "niño", "jamón",
      "ﬁne", "ＡＢＣ", "x²", "①", "Привет", "дела", "Γειά", "κόσμε", "مرحبا", "नमस्ते",
      "我爱", "自然语言处理", "日本語", "한국어", "😀", "👍🏽", "🚀", "🔥",
      "iPhone", "McDonald's", "O'Reilly", "NASA", "HeLLo", "<p>", "</b>", "\t", "  "};
  // clang-format on
  return pool;
}

}  // namespace

bool LoadFixture(const std::string& path, std::vector<FixtureSentence>* out, std::string* error) {
  std::ifstream in(path);
  if (!in) {
    *error = "cannot read the fixture " + path;
    return false;
  }
  const nlohmann::json j = nlohmann::json::parse(in, nullptr, /*allow_exceptions=*/false);
  if (!j.is_object() || !j.contains("sentences") || !j["sentences"].is_array()) {
    *error = path + " is not a use_lite fixture (no \"sentences\" array)";
    return false;
  }
  out->clear();
  for (const nlohmann::json& s : j["sentences"]) {
    if (!s.is_object() || !s.contains("text") || !s["text"].is_string() || !s.contains("vector") ||
        !s["vector"].is_array()) {
      *error = path + ": a sentence without \"text\" and \"vector\"";
      return false;
    }
    FixtureSentence sentence;
    sentence.text = s["text"].get<std::string>();
    for (const nlohmann::json& x : s["vector"]) {
      if (!x.is_number()) {
        *error = path + ": a vector element that is not a number";
        return false;
      }
      sentence.vector.push_back(x.get<float>());
    }
    out->push_back(std::move(sentence));
  }
  return true;
}

std::vector<GeneratedText> GenerateTexts(uint32_t count, uint32_t max_words, uint64_t seed) {
  // Distributions are implementation-defined in the standard library; draw
  // with modulo from the engine's raw output, which is fully specified.
  std::mt19937_64 engine(seed);
  const std::vector<std::string>& pool = WordPool();
  std::vector<GeneratedText> texts(count);
  for (GeneratedText& t : texts) {
    t.words = 1 + static_cast<uint32_t>(engine() % max_words);
    for (uint32_t w = 0; w < t.words; ++w) {
      if (w > 0) t.text += ' ';
      t.text += pool[engine() % pool.size()];
    }
  }
  return texts;
}

std::vector<EdgeCase> EdgeCases() {
  std::string long_words;
  for (int i = 0; i < 200; ++i) long_words += (i ? " model" : "model") + std::to_string(i);
  // Past the 16 KiB the plugins tokenize at most (plugin_support.cc), padded
  // so that the cut lands inside a three-byte character, which must not make
  // the kept prefix invalid.
  constexpr size_t kTokenizedBytes = 16 * 1024;
  std::string long_bytes;
  for (size_t pad = 0; pad < 64; ++pad) {
    long_bytes.assign(pad, 'x');
    while (long_bytes.size() < 20 * 1024) long_bytes += "自然语言处理 and more words ";
    if ((static_cast<unsigned char>(long_bytes[kTokenizedBytes]) & 0xC0) == 0x80) break;
  }
  return {
      {"longer than max_tokens (200 words, 1.6 KB)", long_words},
      {"longer than the 16 KiB read (20 KB, cut mid-character)", long_bytes},
      {"empty text", ""},
      {"whitespace only", " \t\r\n "},
      {"invalid UTF-8: lone 0xFF byte", "caf\xff au lait"},
      {"invalid UTF-8: truncated sequence at the end", "euro \xe2\x82"},
      {"invalid UTF-8: overlong '/' (C0 AF)", "path \xc0\xaf etc"},
      {"invalid UTF-8: UTF-16 surrogate (ED A0 80)", "half \xed\xa0\x80 pair"},
      {"NUL bytes inside the text", std::string("before\0after", 12)},
  };
}

std::vector<std::string_view> Views(const std::vector<std::string>& texts) {
  return std::vector<std::string_view>(texts.begin(), texts.end());
}

}  // namespace hornbeam::gpu_check
