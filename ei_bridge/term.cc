#include "ei_bridge/term.h"

#include <ei.h>

#include <cstring>


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

}  // namespace hb
