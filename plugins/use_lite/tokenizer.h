// SentencePiece unigram tokenizer for Universal Sentence Encoder Lite.
//
// This is a port of the Tokenizer in @tensorflow-models/universal-sentence-
// encoder 1.3.3 (itself a port of SentencePiece's EncodeAsIds), including
// its quirks, because the model was evaluated with exactly those ids:
//   * input is NFKC-normalised, then "\u2581" is prepended and every U+0020
//     becomes "\u2581" (other whitespace is left alone);
//   * the lattice runs over UTF-16 code units, not code points, so an astral
//     character (emoji) is two symbols, each an unknown piece;
//   * a position with no matching piece becomes the unknown piece (id 0,
//     score 0), and runs of consecutive unknown ids collapse into one;
//   * Viterbi keeps a candidate when `best == 0 || score >= best`, i.e. a
//     best score of exactly 0 counts as "unset" and later ties win;
//   * a null score in vocab.json counts as 0 (JS `null + x === x`);
//   * the reserved pieces (ids 0..5: <unk>, <s>, </s>, extra_token_id_*) are
//     never matched, and a duplicated piece resolves to its last id.
#ifndef HORNBEAM_PLUGINS_USE_LITE_TOKENIZER_H_
#define HORNBEAM_PLUGINS_USE_LITE_TOKENIZER_H_

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace hornbeam::use_lite {

class Tokenizer {
 public:
  // The JS Tokenizer's RESERVED_SYMBOLS_COUNT.
  static constexpr int kReservedSymbols = 6;
  static constexpr int32_t kUnknownId = 0;

  Tokenizer() = default;

  // Loads vocab.json: an array of [piece, score] pairs whose index is the id.
  // Returns false and sets *error on failure.
  bool LoadFile(const std::string& path, std::string* error);
  bool LoadJson(std::string_view json, std::string* error);

  // Appends the ids of `utf8` to *ids (cleared first). Returns false, with
  // *error set, when `utf8` is not well-formed UTF-8. Thread-safe (const).
  bool Encode(std::string_view utf8, std::vector<int32_t>* ids, std::string* error) const;

  // Same, on text that is already NFKC-normalised UTF-16 (exposed for tests).
  void EncodeNormalized(std::u16string_view normalized, std::vector<int32_t>* ids) const;

  size_t vocab_size() const { return piece_lengths_.size(); }

 private:
  struct Match {
    int32_t id;
    double score;
    int32_t length;  // in UTF-16 code units
  };

  // Trie over UTF-16 code units: edge (node << 16 | unit) -> child node.
  int32_t Child(int32_t node, char16_t unit) const;
  void Insert(std::u16string_view piece, double score, int32_t id);

  std::unordered_map<uint64_t, int32_t> edges_;
  // Per trie node: the piece ending there (id < 0: none) and its score.
  std::vector<int32_t> node_id_;
  std::vector<double> node_score_;
  // UTF-16 length of every vocabulary piece, indexed by id; the backward pass
  // steps by these (as the JS does with `vocabulary[id][0].length`).
  std::vector<int32_t> piece_lengths_;
};

}  // namespace hornbeam::use_lite

#endif  // HORNBEAM_PLUGINS_USE_LITE_TOKENIZER_H_
