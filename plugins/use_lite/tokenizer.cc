#include "plugins/use_lite/tokenizer.h"

#include <unicode/normalizer2.h>
#include <unicode/unistr.h>

#include <algorithm>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

namespace hornbeam::use_lite {
namespace {

constexpr char16_t kSeparator = u'\u2581';  // "lower one eighth block"

// Strict UTF-8 -> UTF-16 (rejects overlong forms, surrogates, > U+10FFFF and
// truncated sequences); the host hands us bytes that may be anything.
bool Utf8ToUtf16(std::string_view in, std::u16string* out) {
  out->clear();
  out->reserve(in.size());
  const auto* s = reinterpret_cast<const unsigned char*>(in.data());
  size_t n = in.size();
  size_t i = 0;
  while (i < n) {
    unsigned char c = s[i];
    if (c < 0x80) {
      out->push_back(c);
      ++i;
      continue;
    }
    int extra;
    uint32_t cp;
    uint32_t min;
    if ((c & 0xE0) == 0xC0) {
      extra = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      extra = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      extra = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (n - i <= static_cast<size_t>(extra)) return false;
    for (int k = 1; k <= extra; ++k) {
      unsigned char cc = s[i + k];
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    if (cp >= 0x10000) {
      cp -= 0x10000;
      out->push_back(static_cast<char16_t>(0xD800 + (cp >> 10)));
      out->push_back(static_cast<char16_t>(0xDC00 + (cp & 0x3FF)));
    } else {
      out->push_back(static_cast<char16_t>(cp));
    }
    i += extra + 1;
  }
  return true;
}

}  // namespace

bool Tokenizer::LoadFile(const std::string& path, std::string* error) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    *error = "cannot open " + path;
    return false;
  }
  std::stringstream buffer;
  buffer << in.rdbuf();
  if (!LoadJson(buffer.str(), error)) {
    *error = path + ": " + *error;
    return false;
  }
  return true;
}

bool Tokenizer::LoadJson(std::string_view json, std::string* error) {
  nlohmann::json vocab = nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (!vocab.is_array() || vocab.size() <= static_cast<size_t>(kReservedSymbols)) {
    *error = "vocabulary must be a JSON array of [piece, score] pairs";
    return false;
  }
  edges_.clear();
  node_id_.assign(1, -1);
  node_score_.assign(1, 0.0);
  piece_lengths_.clear();
  piece_lengths_.reserve(vocab.size());
  std::u16string piece;
  for (size_t id = 0; id < vocab.size(); ++id) {
    const nlohmann::json& entry = vocab[id];
    // Some shipped scores are null (e.g. ":"); JS arithmetic reads null as 0.
    if (!entry.is_array() || entry.size() < 2 || !entry[0].is_string() ||
        !(entry[1].is_number() || entry[1].is_null())) {
      *error = "vocabulary entry " + std::to_string(id) + " is not a [piece, score] pair";
      return false;
    }
    if (!Utf8ToUtf16(entry[0].get_ref<const std::string&>(), &piece) || piece.empty()) {
      *error = "vocabulary entry " + std::to_string(id) + " has an empty or malformed piece";
      return false;
    }
    piece_lengths_.push_back(static_cast<int32_t>(piece.size()));
    if (id >= static_cast<size_t>(kReservedSymbols)) {
      double score = entry[1].is_null() ? 0.0 : entry[1].get<double>();
      Insert(piece, score, static_cast<int32_t>(id));
    }
  }
  return true;
}

int32_t Tokenizer::Child(int32_t node, char16_t unit) const {
  auto it = edges_.find((static_cast<uint64_t>(node) << 16) | unit);
  return it == edges_.end() ? -1 : it->second;
}

void Tokenizer::Insert(std::u16string_view piece, double score, int32_t id) {
  int32_t node = 0;
  for (char16_t unit : piece) {
    int32_t next = Child(node, unit);
    if (next < 0) {
      next = static_cast<int32_t>(node_id_.size());
      node_id_.push_back(-1);
      node_score_.push_back(0.0);
      edges_.emplace((static_cast<uint64_t>(node) << 16) | unit, next);
    }
    node = next;
  }
  // A later duplicate overwrites, as in the JS Trie.insert.
  node_id_[node] = id;
  node_score_[node] = score;
}

bool Tokenizer::Encode(std::string_view utf8, std::vector<int32_t>* ids,
                       std::string* error) const {
  ids->clear();
  std::u16string text;
  if (!Utf8ToUtf16(utf8, &text)) {
    *error = "text is not valid UTF-8";
    return false;
  }
  // ASCII is NFKC-stable, so most inputs skip ICU entirely.
  bool ascii = std::all_of(utf8.begin(), utf8.end(),
                           [](char c) { return static_cast<unsigned char>(c) < 0x80; });
  if (!ascii) {
    UErrorCode status = U_ZERO_ERROR;
    const icu::Normalizer2* nfkc = icu::Normalizer2::getNFKCInstance(status);
    if (U_FAILURE(status)) {
      *error = std::string("ICU NFKC unavailable: ") + u_errorName(status);
      return false;
    }
    icu::UnicodeString source(false, text.data(), static_cast<int32_t>(text.size()));
    icu::UnicodeString normalized = nfkc->normalize(source, status);
    if (U_FAILURE(status)) {
      *error = std::string("NFKC normalisation failed: ") + u_errorName(status);
      return false;
    }
    text.assign(normalized.getBuffer(), normalized.length());
  }
  EncodeNormalized(text, ids);
  return true;
}

void Tokenizer::EncodeNormalized(std::u16string_view normalized,
                                 std::vector<int32_t>* ids) const {
  ids->clear();
  if (normalized.empty()) return;
  std::u16string symbols;
  symbols.reserve(normalized.size() + 1);
  symbols.push_back(kSeparator);
  for (char16_t c : normalized) symbols.push_back(c == u' ' ? kSeparator : c);

  const size_t n = symbols.size();
  std::vector<double> best(n + 1, 0.0);
  std::vector<int32_t> words(n + 1, 0);
  // The JS visits lattice edges by end position, then start position, in
  // ascending order. Relaxing edges by ascending start visits each end's
  // candidates in that same order, and best[start] is final by then (every
  // edge into `start` starts earlier), so the updates are identical.
  for (size_t start = 0; start < n; ++start) {
    bool matched = false;
    int32_t node = Child(0, symbols[start]);
    for (size_t i = start; i < n && node >= 0;) {
      if (node_id_[node] >= 0) {
        matched = true;
        size_t end = i + 1;
        double score = node_score_[node] + best[start];
        if (best[end] == 0 || score >= best[end]) {
          best[end] = score;
          words[end] = node_id_[node];
        }
      }
      ++i;
      node = i < n ? Child(node, symbols[i]) : -1;
    }
    if (!matched) {
      // Unknown single symbol: id 0 with score 0 (commonPrefixSearch's
      // fallback), which beats every real piece's negative score.
      size_t end = start + 1;
      double score = best[start];
      if (best[end] == 0 || score >= best[end]) {
        best[end] = score;
        words[end] = kUnknownId;
      }
    }
  }

  // Backward pass, stepping by each piece's UTF-16 length.
  std::vector<int32_t> reversed;
  for (int64_t iter = static_cast<int64_t>(n); iter > 0;) {
    int32_t id = words[iter];
    reversed.push_back(id);
    iter -= std::max<int32_t>(1, piece_lengths_[id]);
  }
  // Merge consecutive unknowns (in backward order, as the JS does).
  ids->reserve(reversed.size());
  bool previous_unknown = false;
  for (int32_t id : reversed) {
    if (!(previous_unknown && id == kUnknownId)) ids->push_back(id);
    previous_unknown = id == kUnknownId;
  }
  std::reverse(ids->begin(), ids->end());
}

}  // namespace hornbeam::use_lite
