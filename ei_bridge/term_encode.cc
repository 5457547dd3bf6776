// Encoding terms to the external term format with ei, and their sizes.
#include "ei_bridge/term.h"

#include <ei.h>

#include <cstring>

#include "base/byte_order.h"
#include "ei_bridge/ei_buffer.h"
#include "ei_bridge/ext_tags.h"
#include "ei_bridge/term_validator.h"

namespace hb {
namespace {

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

}  // namespace hb
