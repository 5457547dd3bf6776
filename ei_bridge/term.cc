#include "ei_bridge/term.h"

#include <ei.h>

#include <cstring>

#include "base/byte_order.h"
#include "ei_bridge/ei_buffer.h"
#include "ei_bridge/ext_tags.h"
#include "ei_bridge/term_validator.h"

namespace hb {

Term Term::Int(int64_t v) {
  Term t;
  t.type_ = Type::kInt;
  t.int_ = v;
  return t;
}
Term Term::Float(double v) {
  Term t;
  t.type_ = Type::kFloat;
  t.float_ = v;
  return t;
}
Term Term::Atom(std::string_view name) {
  Term t;
  t.type_ = Type::kAtom;
  t.text_ = name;
  return t;
}
Term Term::Binary(std::string_view bytes) {
  Term t;
  t.type_ = Type::kBinary;
  t.text_ = bytes;
  return t;
}
Term Term::MakePid(hb::Pid p) {
  Term t;
  t.type_ = Type::kPid;
  t.pid_ = std::make_shared<const hb::Pid>(std::move(p));
  return t;
}
Term Term::MakePort(hb::Port p) {
  Term t;
  t.type_ = Type::kPort;
  t.port_ = std::make_shared<const hb::Port>(std::move(p));
  return t;
}
Term Term::MakeRef(hb::Ref r) {
  Term t;
  t.type_ = Type::kRef;
  t.ref_ = std::make_shared<const hb::Ref>(std::move(r));
  return t;
}
Term Term::Tuple(std::vector<Term> elems) {
  Term t;
  t.type_ = Type::kTuple;
  t.items_ = std::move(elems);
  return t;
}
Term Term::List(std::vector<Term> elems) {
  Term t;
  t.items_ = std::move(elems);
  return t;
}
Term Term::ImproperList(std::vector<Term> elems, Term tail) {
  if (elems.empty()) return tail;  // [ | T] is T, as the BEAM decodes it
  if (tail.is_list()) {  // [a | [b, c]] is just [a, b, c]
    for (const Term& e : tail.items_) elems.push_back(e);
    Term t = List(std::move(elems));
    t.tail_ = tail.tail_;
    return t;
  }
  Term t = List(std::move(elems));
  t.tail_ = std::make_shared<const Term>(std::move(tail));
  return t;
}
Term Term::Map(std::vector<std::pair<Term, Term>> pairs) {
  Term t;
  t.type_ = Type::kMap;
  t.items_.reserve(pairs.size() * 2);
  for (auto& [k, v] : pairs) {
    t.items_.push_back(std::move(k));
    t.items_.push_back(std::move(v));
  }
  return t;
}
Term Term::Opaque(std::string ext_bytes) {
  Term t;
  t.type_ = Type::kOpaque;
  t.text_ = std::move(ext_bytes);
  return t;
}

bool Term::operator==(const Term& o) const {
  if (type_ != o.type_) return false;
  switch (type_) {
    case Type::kInt:
      return int_ == o.int_;
    case Type::kFloat:
      return float_ == o.float_;
    case Type::kAtom:
    case Type::kBinary:
    case Type::kOpaque:
      return text_ == o.text_;
    case Type::kPid:
      return *pid_ == *o.pid_;
    case Type::kPort:
      return *port_ == *o.port_;
    case Type::kRef:
      return *ref_ == *o.ref_;
    case Type::kList:
      if ((tail_ == nullptr) != (o.tail_ == nullptr)) return false;
      if (tail_ && !(*tail_ == *o.tail_)) return false;
      return items_ == o.items_;
    case Type::kTuple:
    case Type::kMap:
      return items_ == o.items_;
  }
  return false;
}

namespace {

void DescribeInto(const Term& t, std::string* out, size_t max) {
  if (out->size() >= max) return;
  switch (t.type()) {
    case Term::Type::kInt:
      *out += std::to_string(t.int_value());
      break;
    case Term::Type::kFloat:
      *out += std::to_string(t.float_value());
      break;
    case Term::Type::kAtom:
      *out += t.text();
      break;
    case Term::Type::kBinary:
      *out += "<<" + std::to_string(t.text().size()) + " bytes>>";
      break;
    case Term::Type::kPid:
      *out += "<" + t.pid().node + "." + std::to_string(t.pid().num) + "." +
              std::to_string(t.pid().serial) + ">";
      break;
    case Term::Type::kPort:
      *out += "#Port<" + t.port().node + ">";
      break;
    case Term::Type::kRef:
      *out += "#Ref<" + t.ref().node + ">";
      break;
    case Term::Type::kOpaque:
      *out += "#Term<" + std::to_string(t.text().size()) + " bytes>";
      break;
    case Term::Type::kTuple:
    case Term::Type::kList:
    case Term::Type::kMap: {
      const char* open = t.is_tuple() ? "{" : t.is_list() ? "[" : "#{";
      const char* close = t.is_tuple() ? "}" : t.is_list() ? "]" : "}";
      *out += open;
      for (size_t i = 0; i < t.size() && out->size() < max; ++i) {
        if (i) *out += (t.is_map() && i % 2) ? " => " : ",";
        DescribeInto(t[i], out, max);
      }
      if (t.tail()) {
        *out += "|";
        DescribeInto(*t.tail(), out, max);
      }
      *out += close;
      break;
    }
  }
}

Status EncodeInto(const Term& t, ei_x_buff* x) {
  int rc = 0;
  switch (t.type()) {
    case Term::Type::kInt:
      rc = ei_x_encode_longlong(x, t.int_value());
      break;
    case Term::Type::kFloat:
      rc = ei_x_encode_double(x, t.float_value());
      break;
    case Term::Type::kAtom:
      if (t.text().size() > 255 * 4) return InvalidArgument("atom too long to encode");
      rc = ei_x_encode_atom_len_as(x, t.text().data(), static_cast<int>(t.text().size()),
                                   ERLANG_UTF8, ERLANG_UTF8);
      break;
    case Term::Type::kBinary:
      if (t.text().size() > 0x7fffffffu) return OutOfRange("binary too large to encode");
      rc = ei_x_encode_binary(x, t.text().data(), static_cast<int>(t.text().size()));
      break;
    case Term::Type::kPid: {
      erlang_pid p{};
      if (t.pid().node.size() >= sizeof(p.node)) return InvalidArgument("node name too long");
      std::memcpy(p.node, t.pid().node.data(), t.pid().node.size());
      p.num = t.pid().num;
      p.serial = t.pid().serial;
      p.creation = t.pid().creation;
      rc = ei_x_encode_pid(x, &p);
      break;
    }
    case Term::Type::kPort: {
      erlang_port p{};
      if (t.port().node.size() >= sizeof(p.node)) return InvalidArgument("node name too long");
      std::memcpy(p.node, t.port().node.data(), t.port().node.size());
      p.id = t.port().id;
      p.creation = t.port().creation;
      rc = ei_x_encode_port(x, &p);
      break;
    }
    case Term::Type::kRef: {
      erlang_ref r{};
      if (t.ref().node.size() >= sizeof(r.node)) return InvalidArgument("node name too long");
      if (t.ref().ids.empty() || t.ref().ids.size() > 5) return InvalidArgument("bad reference");
      std::memcpy(r.node, t.ref().node.data(), t.ref().node.size());
      r.len = static_cast<int>(t.ref().ids.size());
      for (size_t i = 0; i < t.ref().ids.size(); ++i) r.n[i] = t.ref().ids[i];
      r.creation = t.ref().creation;
      rc = ei_x_encode_ref(x, &r);
      break;
    }
    case Term::Type::kTuple:
      rc = ei_x_encode_tuple_header(x, static_cast<long>(t.size()));
      for (size_t i = 0; rc == 0 && i < t.size(); ++i) HB_RETURN_IF_ERROR(EncodeInto(t[i], x));
      break;
    case Term::Type::kList:
      if (!t.items().empty()) {
        rc = ei_x_encode_list_header(x, static_cast<long>(t.size()));
        for (size_t i = 0; rc == 0 && i < t.size(); ++i) HB_RETURN_IF_ERROR(EncodeInto(t[i], x));
      }
      if (rc == 0) {
        if (t.tail()) return EncodeInto(*t.tail(), x);
        rc = ei_x_encode_empty_list(x);
      }
      break;
    case Term::Type::kMap:
      rc = ei_x_encode_map_header(x, static_cast<long>(t.size() / 2));
      for (size_t i = 0; rc == 0 && i < t.size(); ++i) HB_RETURN_IF_ERROR(EncodeInto(t[i], x));
      break;
    case Term::Type::kOpaque:
      rc = ei_x_append_buf(x, t.text().data(), static_cast<int>(t.text().size()));
      break;
  }
  if (rc != 0) return Internal("ei failed to encode a term");
  return Status::Ok();
}

uint32_t ReadU32(std::string_view d, size_t at) {
  return static_cast<uint32_t>(ReadBigEndian(d, at, 4));
}

// Decoder over bytes already accepted by ValidateTerm: every length it reads
// has been checked, so ei's unchecked reads stay in bounds.
class Decoder {
 public:
  explicit Decoder(std::string_view data) : data_(data) {}

  Result<Term> Decode(int* idx) {
    const char* buf = data_.data();
    uint8_t tag = static_cast<uint8_t>(data_[*idx]);
    switch (tag) {
      case kSmallIntegerExt:
      case kIntegerExt: {
        long long v = 0;
        if (ei_decode_longlong(buf, idx, &v) != 0) return Internal("bad integer");
        return Term::Int(v);
      }
      case kSmallBigExt:
      case kLargeBigExt: {
        int probe = *idx;
        long long v = 0;
        if (ei_decode_longlong(buf, &probe, &v) == 0) {
          *idx = probe;
          return Term::Int(v);
        }
        return OpaqueAt(idx);
      }
      case kFloatExt:
      case kNewFloatExt: {
        double v = 0;
        if (ei_decode_double(buf, idx, &v) != 0) return Internal("bad float");
        return Term::Float(v);
      }
      case kAtomExt:
      case kSmallAtomExt:
      case kAtomUtf8Ext:
      case kSmallAtomUtf8Ext: {
        char name[MAXATOMLEN_UTF8];
        if (ei_decode_atom_as(buf, idx, name, sizeof(name), ERLANG_UTF8, nullptr, nullptr) != 0) {
          return InvalidArgument("atom is not valid text");
        }
        return Term::Atom(name);
      }
      case kBinaryExt: {
        uint32_t len = ReadU32(data_, *idx + 1);
        std::string bytes(len, '\0');
        long got = 0;
        if (ei_decode_binary(buf, idx, bytes.data(), &got) != 0) return Internal("bad binary");
        return Term::Binary(bytes);
      }
      case kPidExt:
      case kNewPidExt: {
        erlang_pid p;
        if (ei_decode_pid(buf, idx, &p) != 0) return InvalidArgument("bad pid");
        return Term::MakePid({p.node, p.num, p.serial, p.creation});
      }
      case kPortExt:
      case kNewPortExt:
      case kV4PortExt: {
        erlang_port p;
        if (ei_decode_port(buf, idx, &p) != 0) return InvalidArgument("bad port");
        return Term::MakePort({p.node, p.id, p.creation});
      }
      case kReferenceExt:
      case kNewReferenceExt:
      case kNewerReferenceExt: {
        erlang_ref r;
        if (ei_decode_ref(buf, idx, &r) != 0 || r.len < 1 || r.len > 5) {
          return InvalidArgument("bad reference");
        }
        return Term::MakeRef({r.node, r.creation, std::vector<uint32_t>(r.n, r.n + r.len)});
      }
      case kSmallTupleExt:
      case kLargeTupleExt: {
        int arity = 0;
        if (ei_decode_tuple_header(buf, idx, &arity) != 0) return Internal("bad tuple");
        std::vector<Term> elems;
        elems.reserve(arity);
        for (int i = 0; i < arity; ++i) {
          Result<Term> e = Decode(idx);
          if (!e.ok()) return e.status();
          elems.push_back(std::move(e).value());
        }
        return Term::Tuple(std::move(elems));
      }
      case kNilExt:
        ++*idx;
        return Term::Nil();
      case kStringExt: {
        // STRING_EXT is a compact list of small integers.
        uint32_t len = static_cast<uint32_t>(ReadBigEndian(data_, *idx + 1, 2));
        std::vector<Term> elems;
        elems.reserve(len);
        for (uint32_t i = 0; i < len; ++i) {
          elems.push_back(Term::Int(static_cast<uint8_t>(data_[*idx + 3 + i])));
        }
        *idx += 3 + static_cast<int>(len);
        return Term::List(std::move(elems));
      }
      case kListExt: {
        uint32_t len = ReadU32(data_, *idx + 1);
        *idx += 5;
        std::vector<Term> elems;
        elems.reserve(len);
        for (uint32_t i = 0; i < len; ++i) {
          Result<Term> e = Decode(idx);
          if (!e.ok()) return e.status();
          elems.push_back(std::move(e).value());
        }
        if (static_cast<uint8_t>(data_[*idx]) == kNilExt) {
          ++*idx;
          return Term::List(std::move(elems));
        }
        Result<Term> tail = Decode(idx);
        if (!tail.ok()) return tail.status();
        return Term::ImproperList(std::move(elems), std::move(tail).value());
      }
      case kMapExt: {
        int arity = 0;
        if (ei_decode_map_header(buf, idx, &arity) != 0) return Internal("bad map");
        std::vector<std::pair<Term, Term>> pairs;
        pairs.reserve(arity);
        for (int i = 0; i < arity; ++i) {
          Result<Term> k = Decode(idx);
          if (!k.ok()) return k.status();
          Result<Term> v = Decode(idx);
          if (!v.ok()) return v.status();
          pairs.emplace_back(std::move(k).value(), std::move(v).value());
        }
        return Term::Map(std::move(pairs));
      }
      default:  // bit strings, funs, exports: carried, never inspected
        return OpaqueAt(idx);
    }
  }

 private:
  Result<Term> OpaqueAt(int* idx) {
    TermLimits generous;
    generous.max_depth = 1u << 16;
    generous.max_elements = ~size_t{0};
    generous.max_bignum_bytes = ~size_t{0};
    Result<size_t> end = ValidateTerm(data_, *idx, generous);
    if (!end.ok()) return end.status();
    Term t = Term::Opaque(std::string(data_.substr(*idx, *end - *idx)));
    *idx = static_cast<int>(*end);
    return t;
  }

  std::string_view data_;
};

}  // namespace

std::string Term::Describe(size_t max_chars) const {
  std::string out;
  DescribeInto(*this, &out, max_chars);
  if (out.size() > max_chars) {
    out.resize(max_chars);
    out += "...";
  }
  return out;
}

std::string EncodeFloatList(const float* values, size_t n) {
  if (n == 0) return std::string(1, static_cast<char>(kNilExt));
  std::string out;
  out.resize(5 + 9 * n + 1);
  char* p = out.data();
  *p++ = static_cast<char>(kListExt);
  p = WriteBigEndian(p, n, 4);
  for (size_t k = 0; k < n; ++k) {
    double d = values[k];
    uint64_t bits;
    std::memcpy(&bits, &d, sizeof(bits));
    *p++ = static_cast<char>(kNewFloatExt);
    p = WriteBigEndian(p, bits, 8);
  }
  *p++ = static_cast<char>(kNilExt);
  return out;
}

namespace {

// Mirrors EncodeInto, asking ei for the size of each scalar (ei_encode_* with
// a NULL buffer only advances the index), so the two can never disagree on
// which external tag a value takes.
bool SizeInto(const Term& t, int* idx) {
  switch (t.type()) {
    case Term::Type::kInt:
      return ei_encode_longlong(nullptr, idx, t.int_value()) == 0;
    case Term::Type::kFloat:
      return ei_encode_double(nullptr, idx, t.float_value()) == 0;
    case Term::Type::kAtom:
      if (t.text().size() > 255 * 4) return false;
      return ei_encode_atom_len_as(nullptr, idx, t.text().data(), static_cast<int>(t.text().size()),
                                   ERLANG_UTF8, ERLANG_UTF8) == 0;
    case Term::Type::kBinary:
      if (t.text().size() > 0x7fffffffu) return false;
      *idx += 5 + static_cast<int>(t.text().size());
      return true;
    case Term::Type::kPid: {
      erlang_pid p{};
      if (t.pid().node.size() >= sizeof(p.node)) return false;
      std::memcpy(p.node, t.pid().node.data(), t.pid().node.size());
      p.creation = t.pid().creation;
      return ei_encode_pid(nullptr, idx, &p) == 0;
    }
    case Term::Type::kPort: {
      erlang_port p{};
      if (t.port().node.size() >= sizeof(p.node)) return false;
      std::memcpy(p.node, t.port().node.data(), t.port().node.size());
      p.id = t.port().id;
      p.creation = t.port().creation;
      return ei_encode_port(nullptr, idx, &p) == 0;
    }
    case Term::Type::kRef: {
      erlang_ref r{};
      if (t.ref().node.size() >= sizeof(r.node)) return false;
      if (t.ref().ids.empty() || t.ref().ids.size() > 5) return false;
      std::memcpy(r.node, t.ref().node.data(), t.ref().node.size());
      r.len = static_cast<int>(t.ref().ids.size());
      r.creation = t.ref().creation;
      return ei_encode_ref(nullptr, idx, &r) == 0;
    }
    case Term::Type::kTuple:
      if (ei_encode_tuple_header(nullptr, idx, static_cast<long>(t.size())) != 0) return false;
      for (const Term& e : t.items()) {
        if (!SizeInto(e, idx)) return false;
      }
      return true;
    case Term::Type::kList:
      if (!t.items().empty()) {
        if (ei_encode_list_header(nullptr, idx, static_cast<long>(t.size())) != 0) return false;
        for (const Term& e : t.items()) {
          if (!SizeInto(e, idx)) return false;
        }
      }
      if (t.tail()) return SizeInto(*t.tail(), idx);
      return ei_encode_empty_list(nullptr, idx) == 0;
    case Term::Type::kMap:
      if (ei_encode_map_header(nullptr, idx, static_cast<long>(t.size() / 2)) != 0) return false;
      for (const Term& e : t.items()) {
        if (!SizeInto(e, idx)) return false;
      }
      return true;
    case Term::Type::kOpaque:
      *idx += static_cast<int>(t.text().size());
      return true;
  }
  return false;
}

}  // namespace

size_t EncodedSize(const Term& t) {
  int idx = 0;
  return SizeInto(t, &idx) ? static_cast<size_t>(idx) : 0;
}

Status EncodeTerm(const Term& t, std::string* out) {
  EiBuffer x;
  HB_RETURN_IF_ERROR(EncodeInto(t, x.get()));
  out->append(x.data(), x.size());
  return Status::Ok();
}

Result<std::string> EncodeWithVersion(const Term& t) {
  std::string out(1, static_cast<char>(kVersionMagic));
  Status s = EncodeTerm(t, &out);
  if (!s.ok()) return s;
  return out;
}

Result<Term> DecodeValidated(std::string_view data, size_t* offset) {
  if (data.size() > 0x7fffffff) return OutOfRange("buffer too large for ei");
  int idx = static_cast<int>(*offset);
  Decoder d(data);
  Result<Term> t = d.Decode(&idx);
  if (t.ok()) *offset = static_cast<size_t>(idx);
  return t;
}

Result<Term> DecodeVersioned(std::string_view data, size_t* offset, const TermLimits& limits) {
  Result<size_t> end = ValidateVersionedTerm(data, *offset, limits);
  if (!end.ok()) return end.status();
  size_t pos = *offset + 1;
  Result<Term> t = DecodeValidated(data, &pos);
  if (!t.ok()) return t;
  if (pos != *end) return Internal("decoder and validator disagree on a term's length");
  *offset = pos;
  return t;
}

}  // namespace hb
