// Term: an owned, immutable-by-convention Erlang term.
//
// The wire layer decodes every control message and payload into a Term after
// term_validator.h has proven the bytes are well formed and within limits, so
// nothing in this file ever reads past a buffer. Encoding goes through ei.
//
// Kinds the daemon never inspects (funs, bit strings, integers beyond 64 bits,
// exports) are kept as Opaque: their exact external-format bytes, re-emitted
// verbatim, so a term survives a round trip unchanged.
//
// Thread safety: a Term is a plain value; distinct Terms may be used from
// distinct threads, and a const Term may be shared.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace hb {

struct TermLimits;

struct Pid {
  std::string node;
  uint32_t num = 0;
  uint32_t serial = 0;
  uint32_t creation = 0;
  bool operator==(const Pid& o) const {
    return num == o.num && serial == o.serial && creation == o.creation && node == o.node;
  }
};

struct Ref {
  std::string node;
  uint32_t creation = 0;
  std::vector<uint32_t> ids;  // 1..5 words
  bool operator==(const Ref& o) const {
    return creation == o.creation && ids == o.ids && node == o.node;
  }
};

struct Port {
  std::string node;
  uint64_t id = 0;
  uint32_t creation = 0;
  bool operator==(const Port& o) const {
    return id == o.id && creation == o.creation && node == o.node;
  }
};

class Term {
 public:
  enum class Type { kInt, kFloat, kAtom, kBinary, kPid, kPort, kRef, kTuple, kList, kMap, kOpaque };

  Term() : type_(Type::kList) {}  // [] (nil)

  static Term Int(int64_t v);
  static Term Float(double v);
  static Term Atom(std::string_view name);
  static Term Binary(std::string_view bytes);
  static Term MakePid(Pid p);
  static Term MakePort(Port p);
  static Term MakeRef(Ref r);
  static Term Tuple(std::vector<Term> elems);
  static Term List(std::vector<Term> elems);
  static Term ImproperList(std::vector<Term> elems, Term tail);
  static Term Map(std::vector<std::pair<Term, Term>> pairs);
  // Bytes of one encoded term without the version byte.
  static Term Opaque(std::string ext_bytes);
  static Term Nil() { return Term(); }

  Type type() const { return type_; }
  bool is_int() const { return type_ == Type::kInt; }
  bool is_atom() const { return type_ == Type::kAtom; }
  bool is_atom(std::string_view name) const { return type_ == Type::kAtom && text_ == name; }
  bool is_binary() const { return type_ == Type::kBinary; }
  bool is_pid() const { return type_ == Type::kPid; }
  bool is_ref() const { return type_ == Type::kRef; }
  bool is_tuple() const { return type_ == Type::kTuple; }
  bool is_tuple(size_t arity) const { return type_ == Type::kTuple && items_.size() == arity; }
  bool is_list() const { return type_ == Type::kList; }
  bool is_proper_list() const { return type_ == Type::kList && !tail_; }
  bool is_nil() const { return type_ == Type::kList && items_.empty() && !tail_; }
  bool is_map() const { return type_ == Type::kMap; }

  int64_t int_value() const { return int_; }
  double float_value() const { return float_; }
  // Atom name, binary bytes or opaque encoding.
  const std::string& text() const { return text_; }
  const hb::Pid& pid() const { return *pid_; }
  const hb::Port& port() const { return *port_; }
  const hb::Ref& ref() const { return *ref_; }
  // Tuple elements, list elements (before the tail), or map keys and values
  // interleaved (k0, v0, k1, v1, ...).
  const std::vector<Term>& items() const { return items_; }
  const Term& operator[](size_t i) const { return items_[i]; }
  size_t size() const { return items_.size(); }
  // Tail of an improper list; nullptr for proper lists.
  const Term* tail() const { return tail_.get(); }

  bool operator==(const Term& o) const;
  bool operator!=(const Term& o) const { return !(*this == o); }

  // A short, bounded, human description for logs (never the whole term).
  std::string Describe(size_t max_chars = 120) const;

 private:
  Type type_;
  int64_t int_ = 0;
  double float_ = 0;
  std::string text_;
  std::vector<Term> items_;
  std::shared_ptr<const Term> tail_;
  std::shared_ptr<const hb::Pid> pid_;
  std::shared_ptr<const hb::Port> port_;
  std::shared_ptr<const hb::Ref> ref_;
};

// The number of bytes EncodeTerm would append for `t`, computed without
// encoding (metrics count call sizes with it). 0 for a term EncodeTerm
// refuses.
size_t EncodedSize(const Term& t);

// Appends the external format of `t` (no version byte) to `out`.
Status EncodeTerm(const Term& t, std::string* out);
// Version byte (131) followed by the term.
Result<std::string> EncodeWithVersion(const Term& t);

// A list of floats in external format (no version byte), for Term::Opaque:
// embeddings are the bulk of what hornbeamd sends, and encoding them
// directly avoids one Term per float.
std::string EncodeFloatList(const float* values, size_t n);

// Decodes one term at `data[*offset]` (no version byte) that has already
// been validated; advances *offset. `data` must outlive nothing: the Term owns
// copies of everything.
Result<Term> DecodeValidated(std::string_view data, size_t* offset);

// Validates, then decodes, one versioned term starting at data[*offset].
Result<Term> DecodeVersioned(std::string_view data, size_t* offset, const TermLimits& limits);

}  // namespace hb
