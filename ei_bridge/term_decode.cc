// Decoding the external term format with ei, over bytes ValidateTerm has
// already accepted (ei's decoders do not bound-check).
#include "ei_bridge/term.h"

#include <ei.h>

#include <cstring>

#include "base/byte_order.h"
#include "ei_bridge/ei_buffer.h"
#include "ei_bridge/ext_tags.h"
#include "ei_bridge/term_validator.h"

namespace hb {
namespace {

uint32_t ReadU32(std::string_view d, size_t at) {
  return static_cast<uint32_t>(ReadBigEndian(d, at, 4));
}

// Decoder over bytes already accepted by ValidateTerm: every length it reads
// has been checked, so ei's unchecked reads stay in bounds.
class Decoder {
 public:
  explicit Decoder(std::string_view data) : data_(data) {}

  Result<Term> Decode(int* idx) {
    switch (static_cast<uint8_t>(data_[*idx])) {
      case kSmallIntegerExt:
      case kIntegerExt:
      case kSmallBigExt:
      case kLargeBigExt:
        return Integer(idx);
      case kFloatExt:
      case kNewFloatExt: {
        double v = 0;
        if (ei_decode_double(data_.data(), idx, &v) != 0) return Internal("bad float");
        return Term::Float(v);
      }
      case kAtomExt:
      case kSmallAtomExt:
      case kAtomUtf8Ext:
      case kSmallAtomUtf8Ext:
        return Atom(idx);
      case kBinaryExt:
        return Binary(idx);
      case kPidExt:
      case kNewPidExt:
      case kPortExt:
      case kNewPortExt:
      case kV4PortExt:
      case kReferenceExt:
      case kNewReferenceExt:
      case kNewerReferenceExt:
        return Identifier(idx);
      case kSmallTupleExt:
      case kLargeTupleExt:
        return Tuple(idx);
      case kNilExt:
        ++*idx;
        return Term::Nil();
      case kStringExt:
        return String(idx);
      case kListExt:
        return List(idx);
      case kMapExt:
        return Map(idx);
      default:  // bit strings, funs, exports: carried, never inspected
        return OpaqueAt(idx);
    }
  }

 private:
  // Integers that fit 64 bits; larger bignums are carried opaque.
  Result<Term> Integer(int* idx) {
    int probe = *idx;
    long long v = 0;
    if (ei_decode_longlong(data_.data(), &probe, &v) == 0) {
      *idx = probe;
      return Term::Int(v);
    }
    uint8_t tag = static_cast<uint8_t>(data_[*idx]);
    if (tag == kSmallIntegerExt || tag == kIntegerExt) return Internal("bad integer");
    return OpaqueAt(idx);
  }

  Result<Term> Atom(int* idx) {
    char name[MAXATOMLEN_UTF8];
    if (ei_decode_atom_as(data_.data(), idx, name, sizeof(name), ERLANG_UTF8, nullptr, nullptr) !=
        0) {
      return InvalidArgument("atom is not valid text");
    }
    return Term::Atom(name);
  }

  Result<Term> Binary(int* idx) {
    uint32_t len = ReadU32(data_, *idx + 1);
    std::string bytes(len, '\0');
    long got = 0;
    if (ei_decode_binary(data_.data(), idx, bytes.data(), &got) != 0) return Internal("bad binary");
    return Term::Binary(bytes);
  }

  // Pids, ports and references.
  Result<Term> Identifier(int* idx) {
    const char* buf = data_.data();
    switch (static_cast<uint8_t>(data_[*idx])) {
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
      default: {
        erlang_ref r;
        if (ei_decode_ref(buf, idx, &r) != 0 || r.len < 1 || r.len > 5) {
          return InvalidArgument("bad reference");
        }
        return Term::MakeRef({r.node, r.creation, std::vector<uint32_t>(r.n, r.n + r.len)});
      }
    }
  }

  // `n` terms in a row.
  Status Elements(int* idx, size_t n, std::vector<Term>* out) {
    out->reserve(n);
    for (size_t i = 0; i < n; ++i) {
      Result<Term> e = Decode(idx);
      if (!e.ok()) return e.status();
      out->push_back(std::move(e).value());
    }
    return Status::Ok();
  }

  Result<Term> Tuple(int* idx) {
    int arity = 0;
    if (ei_decode_tuple_header(data_.data(), idx, &arity) != 0) return Internal("bad tuple");
    std::vector<Term> elems;
    HB_RETURN_IF_ERROR(Elements(idx, static_cast<size_t>(arity), &elems));
    return Term::Tuple(std::move(elems));
  }

  // STRING_EXT is a compact list of small integers.
  Result<Term> String(int* idx) {
    uint32_t len = static_cast<uint32_t>(ReadBigEndian(data_, *idx + 1, 2));
    std::vector<Term> elems;
    elems.reserve(len);
    for (uint32_t i = 0; i < len; ++i) {
      elems.push_back(Term::Int(static_cast<uint8_t>(data_[*idx + 3 + i])));
    }
    *idx += 3 + static_cast<int>(len);
    return Term::List(std::move(elems));
  }

  Result<Term> List(int* idx) {
    uint32_t len = ReadU32(data_, *idx + 1);
    *idx += 5;
    std::vector<Term> elems;
    HB_RETURN_IF_ERROR(Elements(idx, len, &elems));
    if (static_cast<uint8_t>(data_[*idx]) == kNilExt) {
      ++*idx;
      return Term::List(std::move(elems));
    }
    Result<Term> tail = Decode(idx);
    if (!tail.ok()) return tail.status();
    return Term::ImproperList(std::move(elems), std::move(tail).value());
  }

  Result<Term> Map(int* idx) {
    int arity = 0;
    if (ei_decode_map_header(data_.data(), idx, &arity) != 0) return Internal("bad map");
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
