#include "ei_bridge/term_validator.h"

#include <algorithm>
#include <string>

#include "base/byte_order.h"
#include "base/utf8.h"
#include "ei_bridge/ext_tags.h"

namespace hb {
namespace {

// A cursor that refuses to move past the end. Every read is checked, so the
// walk below can never touch a byte outside `data`.
class Walker {
 public:
  Walker(std::string_view data, size_t pos, const TermLimits& limits)
      : data_(data), pos_(pos), limits_(limits) {}

  Status Term(size_t depth);
  size_t pos() const { return pos_; }

 private:
  size_t Remaining() const { return data_.size() - pos_; }
  Status Need(size_t n, const char* what) {
    if (n > Remaining()) return InvalidArgument(std::string("truncated term: ") + what);
    return Status::Ok();
  }
  Status Skip(size_t n, const char* what) {
    HB_RETURN_IF_ERROR(Need(n, what));
    pos_ += n;
    return Status::Ok();
  }
  Status U8(uint32_t* v, const char* what) {
    HB_RETURN_IF_ERROR(Need(1, what));
    *v = static_cast<uint8_t>(data_[pos_++]);
    return Status::Ok();
  }
  Status U16(uint32_t* v, const char* what) {
    HB_RETURN_IF_ERROR(Need(2, what));
    *v = static_cast<uint32_t>(ReadBigEndian(data_, pos_, 2));
    pos_ += 2;
    return Status::Ok();
  }
  Status U32(uint32_t* v, const char* what) {
    HB_RETURN_IF_ERROR(Need(4, what));
    *v = static_cast<uint32_t>(ReadBigEndian(data_, pos_, 4));
    pos_ += 4;
    return Status::Ok();
  }
  Status Count(size_t n) {
    elements_ += n;
    if (elements_ > limits_.max_elements) return OutOfRange("term has too many elements");
    return Status::Ok();
  }
  // A container of `n` children needs at least n bytes; refusing early keeps
  // a 4-byte arity from making us loop four billion times.
  // Each child counts itself when it is walked; here we only refuse early.
  Status Arity(size_t n, size_t min_bytes_each, const char* what) {
    if (n > Remaining() / min_bytes_each) return InvalidArgument(std::string("truncated term: ") + what);
    if (n > limits_.max_elements - std::min(elements_, limits_.max_elements)) {
      return OutOfRange("term has too many elements");
    }
    return Status::Ok();
  }
  Status Atom();
  Status AtomBody(uint32_t tag);
  Status Scalar(uint32_t tag);
  Status Identifier(uint32_t tag);
  Status Compound(uint32_t tag, size_t depth);
  Status Fun(size_t depth);
  Status Children(size_t n, size_t depth) {
    for (size_t i = 0; i < n; ++i) HB_RETURN_IF_ERROR(Term(depth + 1));
    return Status::Ok();
  }

  std::string_view data_;
  size_t pos_;
  const TermLimits& limits_;
  size_t elements_ = 0;
};

Status Walker::AtomBody(uint32_t tag) {
  uint32_t len = 0;
  switch (tag) {
    case kAtomExt:
    case kAtomUtf8Ext:
      HB_RETURN_IF_ERROR(U16(&len, "atom length"));
      break;
    case kSmallAtomExt:
    case kSmallAtomUtf8Ext:
      HB_RETURN_IF_ERROR(U8(&len, "atom length"));
      break;
    default:
      return InvalidArgument("expected an atom");
  }
  // ei copies atoms into MAXATOMLEN_UTF8 (1021) byte buffers; Erlang itself
  // allows 255 characters, at most 4 bytes each.
  if (len > 255 * 4) return OutOfRange("atom too long");
  if ((tag == kAtomExt || tag == kSmallAtomExt) && len > 255) return OutOfRange("atom too long");
  HB_RETURN_IF_ERROR(Need(len, "atom text"));
  // ei hands atoms back NUL-terminated: an embedded NUL would silently cut
  // the name ('rex\0x' read as rex, a node name shortened to match ours).
  if (data_.substr(pos_, len).find('\0') != std::string_view::npos) {
    return InvalidArgument("atom contains a NUL byte");
  }
  if (tag == kAtomUtf8Ext || tag == kSmallAtomUtf8Ext) {
    // The BEAM refuses UTF-8 atoms that are not UTF-8 or longer than 255
    // characters, and ei could decode them but never encode them back.
    std::string_view text = data_.substr(pos_, len);
    if (!IsValidUtf8(text)) return InvalidArgument("atom is not valid UTF-8");
    size_t chars = 0;
    for (char c : text) chars += (static_cast<uint8_t>(c) & 0xC0) != 0x80;
    if (chars > 255) return OutOfRange("atom too long");
  }
  return Skip(len, "atom text");
}

Status Walker::Atom() {
  uint32_t tag = 0;
  HB_RETURN_IF_ERROR(U8(&tag, "atom tag"));
  if (tag == kAtomCacheRef) return InvalidArgument("atom cache reference without atom cache");
  HB_RETURN_IF_ERROR(Count(1));
  return AtomBody(tag);
}

Status Walker::Term(size_t depth) {
  if (depth > limits_.max_depth) return OutOfRange("term nested too deeply");
  uint32_t tag = 0;
  HB_RETURN_IF_ERROR(U8(&tag, "tag"));
  HB_RETURN_IF_ERROR(Count(1));
  switch (tag) {
    case kAtomExt:
    case kSmallAtomExt:
    case kAtomUtf8Ext:
    case kSmallAtomUtf8Ext:
      return AtomBody(tag);
    case kReferenceExt:
    case kNewReferenceExt:
    case kNewerReferenceExt:
    case kPortExt:
    case kNewPortExt:
    case kV4PortExt:
    case kPidExt:
    case kNewPidExt:
      return Identifier(tag);
    case kSmallTupleExt:
    case kLargeTupleExt:
    case kMapExt:
    case kNilExt:
    case kListExt:
      return Compound(tag, depth);
    case kExportExt:
      HB_RETURN_IF_ERROR(Atom());
      HB_RETURN_IF_ERROR(Atom());
      HB_RETURN_IF_ERROR(U8(&tag, "export arity tag"));
      if (tag != kSmallIntegerExt) return InvalidArgument("export arity is not a small integer");
      return Skip(1, "export arity");
    case kNewFunExt:
      return Fun(depth);
    case kAtomCacheRef:
      return InvalidArgument("atom cache reference without atom cache");
    default:
      return Scalar(tag);
  }
}

Status Walker::Scalar(uint32_t tag) {
  uint32_t n = 0;
  uint32_t bits = 0;
  switch (tag) {
    case kSmallIntegerExt:
      return Skip(1, "small integer");
    case kIntegerExt:
      return Skip(4, "integer");
    case kFloatExt:
      // The pre-R11 text float. Peers that accept NEW_FLOATS (all of ours)
      // never send it, and ei parses it with sscanf, which reads until a NUL
      // -- possibly past the packet. Refuse it.
      return InvalidArgument("FLOAT_EXT (old text float) is not accepted");
    case kNewFloatExt: {
      // NaN and infinities: the BEAM never sends them and ei cannot encode
      // them back (a reply echoing one would be lost).
      HB_RETURN_IF_ERROR(Need(8, "float"));
      uint64_t hi = ReadBigEndian(data_, pos_, 2);
      if ((hi & 0x7FF0) == 0x7FF0) return InvalidArgument("float is not finite");
      return Skip(8, "float");
    }
    case kStringExt:
      // Decoded as a list of one integer per byte: count them all.
      HB_RETURN_IF_ERROR(U16(&n, "string length"));
      HB_RETURN_IF_ERROR(Need(n, "string"));
      HB_RETURN_IF_ERROR(Count(n));
      return Skip(n, "string");
    case kBinaryExt:
      HB_RETURN_IF_ERROR(U32(&n, "binary length"));
      return Skip(n, "binary");
    case kBitBinaryExt:
      HB_RETURN_IF_ERROR(U32(&n, "bitstring length"));
      HB_RETURN_IF_ERROR(U8(&bits, "bitstring bits"));
      if (bits < 1 || bits > 8 || n == 0) return InvalidArgument("bitstring with bad tail bits");
      return Skip(n, "bitstring");
    case kSmallBigExt:
    case kLargeBigExt:
      HB_RETURN_IF_ERROR(tag == kSmallBigExt ? U8(&n, "bignum length") : U32(&n, "bignum length"));
      if (n > limits_.max_bignum_bytes) return OutOfRange("integer too large");
      return Skip(1 + static_cast<size_t>(n), "bignum");
    default:
      return InvalidArgument("unknown or unsupported term tag " + std::to_string(tag));
  }
}

// References, ports and pids: a node name atom, then fixed-size fields.
Status Walker::Identifier(uint32_t tag) {
  uint32_t n = 0;
  switch (tag) {
    case kNewReferenceExt:
    case kNewerReferenceExt:
      HB_RETURN_IF_ERROR(U16(&n, "reference length"));
      // erlang_ref holds at most 5 id words.
      if (n == 0 || n > 5) return InvalidArgument("reference with bad id count");
      HB_RETURN_IF_ERROR(Atom());
      return Skip((tag == kNewReferenceExt ? 1 : 4) + 4 * n, "reference");
    case kReferenceExt:
      HB_RETURN_IF_ERROR(Atom());
      return Skip(5, "reference");
    case kPortExt:
      HB_RETURN_IF_ERROR(Atom());
      return Skip(5, "port");
    case kNewPortExt:
      HB_RETURN_IF_ERROR(Atom());
      return Skip(8, "port");
    case kV4PortExt:
      HB_RETURN_IF_ERROR(Atom());
      return Skip(12, "port");
    case kPidExt:
      HB_RETURN_IF_ERROR(Atom());
      return Skip(9, "pid");
    default:  // kNewPidExt
      HB_RETURN_IF_ERROR(Atom());
      return Skip(12, "pid");
  }
}

Status Walker::Compound(uint32_t tag, size_t depth) {
  uint32_t n = 0;
  switch (tag) {
    case kSmallTupleExt:
    case kLargeTupleExt:
      HB_RETURN_IF_ERROR(tag == kSmallTupleExt ? U8(&n, "tuple arity") : U32(&n, "tuple arity"));
      HB_RETURN_IF_ERROR(Arity(n, 1, "tuple"));
      return Children(n, depth);
    case kMapExt:
      HB_RETURN_IF_ERROR(U32(&n, "map arity"));
      HB_RETURN_IF_ERROR(Arity(n, 2, "map"));
      return Children(2 * static_cast<size_t>(n), depth);
    case kListExt:
      HB_RETURN_IF_ERROR(U32(&n, "list length"));
      HB_RETURN_IF_ERROR(Arity(n, 1, "list"));
      HB_RETURN_IF_ERROR(Children(n, depth));
      return Term(depth + 1);  // tail
    default:  // kNilExt
      return Status::Ok();
  }
}

Status Walker::Fun(size_t depth) {
  size_t start = pos_;  // Size counts from its own first byte to the fun's end.
  uint32_t size = 0;
  uint32_t num_free = 0;
  HB_RETURN_IF_ERROR(U32(&size, "fun size"));
  if (size < 4 + 1 + 16 + 4 + 4 || size - 4 > Remaining()) {
    return InvalidArgument("fun with bad size");
  }
  HB_RETURN_IF_ERROR(Skip(1 + 16 + 4, "fun header"));
  HB_RETURN_IF_ERROR(U32(&num_free, "fun free count"));
  HB_RETURN_IF_ERROR(Arity(num_free, 1, "fun free variables"));
  HB_RETURN_IF_ERROR(Atom());           // module
  HB_RETURN_IF_ERROR(Term(depth + 1));  // old index
  HB_RETURN_IF_ERROR(Term(depth + 1));  // old uniq
  HB_RETURN_IF_ERROR(Term(depth + 1));  // pid
  HB_RETURN_IF_ERROR(Children(num_free, depth));
  if (pos_ - start != size) return InvalidArgument("fun size does not match its contents");
  return Status::Ok();
}

}  // namespace

Result<size_t> ValidateTerm(std::string_view data, size_t offset, const TermLimits& limits) {
  if (offset > data.size()) return InvalidArgument("offset past end of data");
  Walker w(data, offset, limits);
  Status s = w.Term(0);
  if (!s.ok()) return s;
  return w.pos();
}

Result<size_t> ValidateVersionedTerm(std::string_view data, size_t offset,
                                     const TermLimits& limits) {
  if (offset >= data.size()) return InvalidArgument("truncated term: version byte");
  if (static_cast<uint8_t>(data[offset]) != kVersionMagic) {
    return InvalidArgument("term does not start with version byte 131");
  }
  return ValidateTerm(data, offset + 1, limits);
}

}  // namespace hb
