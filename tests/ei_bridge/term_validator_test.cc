// Unit tests for ei_bridge/term_validator.h: the gate in front of ei.
//
// Every buffer handed to the validator here is an exact-size heap allocation
// (ExactBuffer), so a sanitizer build catches any read one byte past the end.
// Fixtures are term_to_binary/1 output from a real OTP 25 node.
#include <catch2/catch.hpp>

#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ei_bridge/ext_tags.h"
#include "ei_bridge/term.h"
#include "tests/ei_bridge/bytes_util.h"
#include "ei_bridge/term_validator.h"

namespace {

using hb::testing::Bytes;
using hb::testing::Hex;



// A heap buffer of exactly the bytes given: no slack, no NUL terminator.
class ExactBuffer {
 public:
  explicit ExactBuffer(std::string_view s) : size_(s.size()), p_(new char[s.size() ? s.size() : 1]) {
    if (!s.empty()) std::memcpy(p_.get(), s.data(), s.size());
  }
  std::string_view view() const { return {p_.get(), size_}; }

 private:
  size_t size_;
  std::unique_ptr<char[]> p_;
};

hb::Result<size_t> Validate(std::string_view s, const hb::TermLimits& l = hb::TermLimits{}) {
  ExactBuffer b(s);
  return hb::ValidateVersionedTerm(b.view(), 0, l);
}

void PutU16(std::string* s, uint32_t v) {
  s->push_back(static_cast<char>(v >> 8));
  s->push_back(static_cast<char>(v));
}
void PutU32(std::string* s, uint32_t v) {
  for (int i = 3; i >= 0; --i) s->push_back(static_cast<char>(v >> (8 * i)));
}

// --- Fixtures ---------------------------------------------------------------
struct Fixture {
  const char* name;
  std::string bytes;
};

const std::vector<Fixture>& Fixtures() {
  static const std::vector<Fixture> f = {
      {"pid", Bytes({131, 88, 100, 0, 17, 102, 105, 120, 116, 117, 114, 101, 64, 49, 50, 55, 46, 48,
                     46, 48, 46, 49, 0, 0, 0, 9, 0, 0, 0, 0, 107, 7, 118, 4})},
      {"ref", Bytes({131, 90, 0, 3, 100, 0, 17, 102, 105, 120, 116, 117, 114, 101, 64, 49, 50, 55,
                     46, 48, 46, 48, 46, 49, 107, 7, 118, 4, 0, 0, 179, 64, 40, 84, 0, 1, 185, 56,
                     69, 141})},
      {"port", Bytes({131, 89, 100, 0, 17, 102, 105, 120, 116, 117, 114, 101, 64, 49, 50, 55, 46,
                      48, 46, 48, 46, 49, 0, 0, 0, 0, 107, 7, 118, 4})},
      {"spawn_request",
       Bytes({131, 104, 6,   97,  29,  90,  0,   3,   100, 0,   17,  102, 105, 120, 116, 117, 114,
              101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  107, 7,   118, 4,   0,   0,
              179, 64,  40,  84,  0,   1,   185, 56,  69,  141, 88,  100, 0,   17,  102, 105, 120,
              116, 117, 114, 101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,
              9,   0,   0,   0,   0,   107, 7,   118, 4,   88,  100, 0,   17,  102, 105, 120, 116,
              117, 114, 101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   71,
              0,   0,   0,   0,   107, 7,   118, 4,   104, 3,   100, 0,   5,   108, 105, 115, 116,
              115, 100, 0,   7,   114, 101, 118, 101, 114, 115, 101, 97,  1,   108, 0,   0,   0,
              3,   100, 0,   4,   108, 105, 110, 107, 100, 0,   7,   109, 111, 110, 105, 116, 111,
              114, 104, 2,   100, 0,   8,   112, 114, 105, 111, 114, 105, 116, 121, 100, 0,   4,
              104, 105, 103, 104, 106})},
      {"spawn_request_args", Bytes({131, 108, 0, 0, 0, 1, 107, 0, 3, 1, 2, 3, 106})},
      {"map", Bytes({131, 116, 0, 0, 0, 3, 97, 3, 70, 64, 18, 0, 0, 0, 0, 0, 0, 100, 0, 1, 97, 97,
                     1, 109, 0, 0, 0, 1, 107, 116, 0, 0, 0, 1, 100, 0, 1, 120, 107, 0, 2, 1, 2})},
      {"improper", Bytes({131, 108, 0, 0, 0, 2, 97, 1, 100, 0, 1, 97, 100, 0, 1, 98})},
      {"utf8_atom",
       Bytes({131, 119, 13, 104, 195, 169, 108, 108, 111, 95, 228, 184, 150, 231, 149, 140})},
      {"latin1_atom", Bytes({131, 100, 0, 5, 104, 233, 108, 108, 111})},
      {"elixir_bin", Bytes({131, 109, 0, 0, 0, 16, 69, 108, 105, 120, 105, 114, 46, 70, 111, 111,
                            46, 66, 97, 114, 0, 255})},
      {"elixir_struct",
       Bytes({131, 116, 0, 0, 0, 2, 100, 0, 10, 95, 95, 115, 116, 114, 117, 99, 116, 95, 95, 100,
              0, 10, 69, 108, 105, 120, 105, 114, 46, 70, 111, 111, 100, 0, 4, 110, 97, 109, 101,
              109, 0, 0, 0, 1, 120})},
      {"big_pos", Bytes({131, 110, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16})},
      {"big_neg", Bytes({131, 110, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 64})},
      {"string", Bytes({131, 107, 0, 5, 104, 101, 108, 108, 111})},
      {"float", Bytes({131, 70, 64, 9, 30, 184, 81, 235, 133, 31})},
      {"neg_int", Bytes({131, 98, 248, 164, 50, 235})},
      {"int_max", Bytes({131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 127})},
      {"int_min", Bytes({131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128})},
      {"fun_export",
       Bytes({131, 113, 100, 0, 5, 108, 105, 115, 116, 115, 100, 0, 3, 109, 97, 112, 97, 2})},
      {"bits", Bytes({131, 77, 0, 0, 0, 1, 3, 32})},
      {"tuple_mixed",
       Bytes({131, 104, 7, 100, 0, 2, 111, 107, 70, 63, 248, 0, 0, 0, 0, 0, 0, 109, 0, 0, 0, 0,
              106, 107, 0, 2, 97, 98, 98, 255, 255, 255, 255, 98, 0, 0, 1, 0})},
      {"minor2_tuple", Bytes({131, 104, 2, 119, 6, 97, 116, 111, 109, 95, 97, 119, 6, 104, 195, 169,
                              108, 108, 111})},
      // {13, Self, Init, {0, 42, 7, Self, 3}, killed}: an EXIT_TT control tuple
      {"exit_tt",
       Bytes({131, 104, 5,   97,  13,  88,  100, 0,   17,  102, 105, 120, 116, 117, 114, 101,
              64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,   0,   0,
              0,   0,   107, 7,   118, 5,   88,  100, 0,   17,  102, 105, 120, 116, 117, 114,
              101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   0,   0,
              0,   0,   0,   107, 7,   118, 5,   104, 5,   97,  0,   97,  42,  97,  7,   88,
              100, 0,   17,  102, 105, 120, 116, 117, 114, 101, 64,  49,  50,  55,  46,  48,
              46,  48,  46,  49,  0,   0,   0,   9,   0,   0,   0,   0,   107, 7,   118, 5,
              97,  3,   100, 0,   6,   107, 105, 108, 108, 101, 100})},
      // {shutdown, #{why => <<"bye">>}}
      {"exit_reason", Bytes({131, 104, 2, 100, 0, 8, 115, 104, 117, 116, 100, 111, 119, 110, 116, 0,
                             0, 0, 1, 100, 0, 3, 119, 104, 121, 109, 0, 0, 0, 3, 98, 121, 101})},
      {"v4_port", Bytes({131, 120, 119, 3, 97, 64, 98, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3})},
  };
  return f;
}

// Funs from a real node: NEW_FUN_EXT whose Size field counts from itself
// (not the tag) to the end of the fun, per the ERTS external format spec.
const std::string kFunLocal = Bytes(
    {131, 112, 0,   0,   0,   77,  1,   144, 11,  141, 123, 70,  165, 193, 108, 23,  161,
     189, 237, 177, 15,  150, 189, 0,   0,   0,   0,   0,   0,   0,   0,   100, 0,   5,
     104, 98,  102, 105, 120, 97,  0,   98,  4,   128, 92,  107, 88,  100, 0,   17,  102,
     105, 120, 116, 117, 114, 101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,
     0,   0,   9,   0,   0,   0,   0,   107, 7,   118, 4});
const std::string kFunFree = Bytes(
    {131, 112, 0,   0,   0,   113, 1,   5,   191, 230, 167, 80,  181, 108, 12,  19,  190, 76,
     76,  162, 248, 188, 187, 0,   0,   0,   0,   0,   0,   0,   2,   100, 0,   6,   104, 98,
     102, 105, 120, 50,  97,  0,   98,  0,   45,  255, 53,  88,  100, 0,   17,  102, 105, 120,
     116, 117, 114, 101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,
     0,   0,   0,   0,   107, 7,   118, 5,   97,  17,  88,  100, 0,   17,  102, 105, 120, 116,
     117, 114, 101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,   0,
     0,   0,   0,   107, 7,   118, 5});

std::string WithFunSize(std::string fun, uint32_t size) {
  fun[2] = static_cast<char>(size >> 24);
  fun[3] = static_cast<char>(size >> 16);
  fun[4] = static_cast<char>(size >> 8);
  fun[5] = static_cast<char>(size);
  return fun;
}

// N nested 1-tuples around [] : {{{...{[]}...}}}
std::string NestedTuples(size_t n) {
  std::string s(1, static_cast<char>(131));
  for (size_t i = 0; i < n; ++i) s += Bytes({104, 1});
  s += Bytes({106});
  return s;
}

// [{[{ ... }]}] : a list of 1-tuples of lists of 1-tuples..., `n` containers deep.
std::string NestedListOfTuples(size_t n) {
  std::string s(1, static_cast<char>(131));
  for (size_t i = 0; i < n; ++i) {
    if (i % 2 == 0) {
      s += Bytes({108, 0, 0, 0, 1});
    } else {
      s += Bytes({104, 1});
    }
  }
  s += Bytes({106});
  // Close the lists: each LIST_EXT needs a tail after its one element.
  for (size_t i = 0; i < n; i += 2) s += Bytes({106});
  return s;
}

}  // namespace

TEST_CASE("validator: accepts every real-node fixture and reports its end", "[validator]") {
  for (const Fixture& f : Fixtures()) {
    INFO(f.name << ": " << Hex(f.bytes));
    auto r = Validate(f.bytes);
    INFO("status: " << r.status().message());
    REQUIRE(r.ok());
    CHECK(*r == f.bytes.size());

    // ValidateTerm without the version byte agrees.
    ExactBuffer b(f.bytes);
    auto r2 = hb::ValidateTerm(b.view(), 1, hb::TermLimits{});
    REQUIRE(r2.ok());
    CHECK(*r2 == f.bytes.size());

    // Trailing bytes are not part of the term.
    std::string more = f.bytes + Bytes({131, 106, 0xff});
    auto r3 = Validate(more);
    REQUIRE(r3.ok());
    CHECK(*r3 == f.bytes.size());

    // At a non-zero offset.
    std::string shifted = "xyz" + f.bytes;
    ExactBuffer sb(shifted);
    auto r4 = hb::ValidateVersionedTerm(sb.view(), 3, hb::TermLimits{});
    REQUIRE(r4.ok());
    CHECK(*r4 == shifted.size());
  }
}

TEST_CASE("validator: accepts NEW_FUN_EXT funs from a real node", "[validator]") {
  for (const std::string* f : {&kFunLocal, &kFunFree}) {
    auto r = Validate(*f);
    INFO(Hex(*f) << " status: " << r.status().message());
    REQUIRE(r.ok());
    CHECK(*r == f->size());
  }
}

TEST_CASE("validator: rejects every truncation of every fixture", "[validator]") {
  std::vector<const std::string*> all;
  for (const Fixture& f : Fixtures()) all.push_back(&f.bytes);
  all.push_back(&kFunLocal);
  all.push_back(&kFunFree);
  for (const std::string* f : all) {
    for (size_t len = 0; len < f->size(); ++len) {
      std::string prefix = f->substr(0, len);
      INFO("prefix of " << len << "/" << f->size() << ": " << Hex(prefix));
      auto r = Validate(prefix);
      REQUIRE_FALSE(r.ok());
      CHECK(r.status().code() != hb::StatusCode::kOk);
      if (len >= 1) {
        ExactBuffer b(prefix);
        REQUIRE_FALSE(hb::ValidateTerm(b.view(), 1, hb::TermLimits{}).ok());
      }
    }
  }
}

TEST_CASE("validator: version byte and offsets", "[validator]") {
  CHECK_FALSE(Validate("").ok());
  CHECK_FALSE(Validate(Bytes({131})).ok());
  CHECK_FALSE(Validate(Bytes({130, 106})).ok());
  CHECK_FALSE(Validate(Bytes({106})).ok());
  CHECK(Validate(Bytes({131, 106})).ok());
  ExactBuffer b(Bytes({131, 106}));
  CHECK_FALSE(hb::ValidateTerm(b.view(), 2, hb::TermLimits{}).ok());
  CHECK_FALSE(hb::ValidateTerm(b.view(), 100, hb::TermLimits{}).ok());
  CHECK_FALSE(hb::ValidateVersionedTerm(b.view(), 2, hb::TermLimits{}).ok());
  CHECK_FALSE(hb::ValidateVersionedTerm(b.view(), 1000, hb::TermLimits{}).ok());
}

TEST_CASE("validator: rejects atom cache references anywhere", "[validator]") {
  CHECK_FALSE(Validate(Bytes({131, hb::kAtomCacheRef, 0})).ok());
  CHECK_FALSE(Validate(Bytes({131, 104, 2, 97, 1, hb::kAtomCacheRef, 3})).ok());
  CHECK_FALSE(Validate(Bytes({131, 108, 0, 0, 0, 1, hb::kAtomCacheRef, 0, 106})).ok());
  // As the node of a pid.
  CHECK_FALSE(
      Validate(Bytes({131, 88, hb::kAtomCacheRef, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1})).ok());
  // As the node of a reference.
  CHECK_FALSE(Validate(Bytes({131, 90, 0, 1, hb::kAtomCacheRef, 0, 0, 0, 0, 1, 0, 0, 0, 1})).ok());
  // As a map key.
  CHECK_FALSE(Validate(Bytes({131, 116, 0, 0, 0, 1, hb::kAtomCacheRef, 0, 97, 1})).ok());
}

TEST_CASE("validator: references need 1..5 id words", "[validator]") {
  auto newer_ref = [](uint32_t n) {
    std::string s = Bytes({131, 90});
    PutU16(&s, n);
    s += Bytes({119, 3, 'a', '@', 'b'});
    PutU32(&s, 1);  // creation
    for (uint32_t i = 0; i < n; ++i) PutU32(&s, i + 1);
    return s;
  };
  auto new_ref = [](uint32_t n) {
    std::string s = Bytes({131, 114});
    PutU16(&s, n);
    s += Bytes({119, 3, 'a', '@', 'b'});
    s.push_back(1);  // creation (1 byte)
    for (uint32_t i = 0; i < n; ++i) PutU32(&s, i + 1);
    return s;
  };
  for (uint32_t n = 1; n <= 5; ++n) {
    INFO(n << " words");
    auto a = Validate(newer_ref(n));
    REQUIRE(a.ok());
    CHECK(*a == newer_ref(n).size());
    auto b = Validate(new_ref(n));
    REQUIRE(b.ok());
    CHECK(*b == new_ref(n).size());
  }
  for (uint32_t n : {0u, 6u, 7u, 100u, 0xffffu}) {
    INFO(n << " words");
    CHECK_FALSE(Validate(newer_ref(n)).ok());
    CHECK_FALSE(Validate(new_ref(n)).ok());
    // Even when claimed inside a container.
    std::string in_tuple = Bytes({131, 104, 1}) + newer_ref(n).substr(1);
    CHECK_FALSE(Validate(in_tuple).ok());
  }
}

TEST_CASE("validator: atom length limits", "[validator]") {
  auto atom_ext = [](uint8_t tag, size_t len, char fill) {
    std::string s = Bytes({131, tag});
    if (tag == hb::kAtomExt || tag == hb::kAtomUtf8Ext) {
      PutU16(&s, static_cast<uint32_t>(len));
    } else {
      s.push_back(static_cast<char>(len));
    }
    s += std::string(len, fill);
    return s;
  };
  // 255 characters are fine in every form.
  CHECK(Validate(atom_ext(hb::kAtomExt, 255, 'a')).ok());
  CHECK(Validate(atom_ext(hb::kSmallAtomExt, 255, 'a')).ok());
  CHECK(Validate(atom_ext(hb::kAtomUtf8Ext, 255, 'a')).ok());
  CHECK(Validate(atom_ext(hb::kSmallAtomUtf8Ext, 255, 'a')).ok());
  // 255 four-byte characters (1020 bytes) is the longest UTF-8 atom.
  std::string emoji = Bytes({131, hb::kAtomUtf8Ext});
  PutU16(&emoji, 1020);
  for (int i = 0; i < 255; ++i) emoji += "\xF0\x9F\x98\x80";
  CHECK(Validate(emoji).ok());

  // Longer than any Erlang atom.
  CHECK_FALSE(Validate(atom_ext(hb::kAtomExt, 256, 'a')).ok());
  CHECK_FALSE(Validate(atom_ext(hb::kAtomExt, 1000, 'a')).ok());
  CHECK_FALSE(Validate(atom_ext(hb::kAtomUtf8Ext, 1021, 'a')).ok());
  CHECK_FALSE(Validate(atom_ext(hb::kAtomUtf8Ext, 4000, 'a')).ok());
  CHECK_FALSE(Validate(atom_ext(hb::kAtomUtf8Ext, 65535, 'a')).ok());
  // 256 one-byte characters in UTF-8 form: 256 characters, too many for Erlang.
  CHECK_FALSE(Validate(atom_ext(hb::kAtomUtf8Ext, 256, 'a')).ok());
  // Too long as a pid's node name.
  std::string pid = Bytes({131, 88});
  pid += atom_ext(hb::kAtomExt, 300, 'n').substr(1);
  pid += std::string(12, '\0');
  CHECK_FALSE(Validate(pid).ok());
  // Declared length beyond the buffer.
  CHECK_FALSE(Validate(Bytes({131, 100, 0, 10, 'a', 'b'})).ok());
  CHECK_FALSE(Validate(Bytes({131, 119, 200, 'a'})).ok());
}

TEST_CASE("validator: nesting deeper than max_depth is refused", "[validator]") {
  hb::TermLimits l;
  l.max_depth = 16;
  // Up to max_depth containers are fine; one more is not.
  {
    auto ok = Validate(NestedTuples(16), l);
    INFO(ok.status().message());
    CHECK(ok.ok());
  }
  CHECK_FALSE(Validate(NestedTuples(17), l).ok());
  CHECK_FALSE(Validate(NestedTuples(100), l).ok());
  CHECK(Validate(NestedListOfTuples(16), l).ok());
  CHECK_FALSE(Validate(NestedListOfTuples(17), l).ok());
  auto deep = Validate(NestedTuples(40), l);
  REQUIRE_FALSE(deep.ok());
  CHECK(deep.status().code() == hb::StatusCode::kOutOfRange);

  // Defaults: 64.
  hb::TermLimits d;
  CHECK(Validate(NestedTuples(50), d).ok());
  CHECK_FALSE(Validate(NestedTuples(65), d).ok());

  // Absurdly deep input fails fast without exhausting the stack.
  CHECK_FALSE(Validate(NestedTuples(200000), d).ok());
  CHECK_FALSE(Validate(NestedListOfTuples(200000), d).ok());
  // Nesting through improper-list tails counts too: [1|[1|[1|...]]]
  std::string tails(1, static_cast<char>(131));
  for (int i = 0; i < 100000; ++i) tails += Bytes({108, 0, 0, 0, 1, 97, 1});
  tails += Bytes({106});
  CHECK_FALSE(Validate(tails, d).ok());
  // Maps nest too.
  std::string maps(1, static_cast<char>(131));
  for (int i = 0; i < 100; ++i) maps += Bytes({116, 0, 0, 0, 1, 97, 1});
  maps += Bytes({106});
  CHECK_FALSE(Validate(maps, d).ok());
}

TEST_CASE("validator: element count above max_elements is refused", "[validator]") {
  auto tuple_of_ints = [](size_t n) {
    std::string s = Bytes({131, 105});
    PutU32(&s, static_cast<uint32_t>(n));
    for (size_t i = 0; i < n; ++i) s += Bytes({97, 1});
    return s;
  };
  hb::TermLimits l;
  l.max_elements = 100;
  // 61 terms in all.
  {
    auto r = Validate(tuple_of_ints(60), l);
    INFO(r.status().message());
    CHECK(r.ok());
  }
  // 121 and 1001 terms.
  auto r = Validate(tuple_of_ints(120), l);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == hb::StatusCode::kOutOfRange);
  CHECK_FALSE(Validate(tuple_of_ints(1000), l).ok());

  // Counted across the whole term, not per container: 20 lists of 10 ints.
  std::string nested = Bytes({131, 108, 0, 0, 0, 20});
  for (int i = 0; i < 20; ++i) {
    nested += Bytes({108, 0, 0, 0, 10});
    for (int j = 0; j < 10; ++j) nested += Bytes({97, 2});
    nested += Bytes({106});
  }
  nested += Bytes({106});
  CHECK_FALSE(Validate(nested, l).ok());
  hb::TermLimits roomy;
  CHECK(Validate(nested, roomy).ok());
}

TEST_CASE("validator: container arities larger than the bytes present", "[validator]") {
  CHECK_FALSE(Validate(Bytes({131, 108, 255, 255, 255, 255, 97, 1, 106})).ok());
  CHECK_FALSE(Validate(Bytes({131, 108, 255, 255, 255, 255})).ok());
  CHECK_FALSE(Validate(Bytes({131, 105, 255, 255, 255, 255, 97, 1})).ok());
  CHECK_FALSE(Validate(Bytes({131, 116, 255, 255, 255, 255, 97, 1, 97, 2})).ok());
  CHECK_FALSE(Validate(Bytes({131, 104, 255, 97, 1})).ok());
  CHECK_FALSE(Validate(Bytes({131, 109, 255, 255, 255, 255, 'a', 'b'})).ok());
  CHECK_FALSE(Validate(Bytes({131, 107, 255, 255, 'a', 'b'})).ok());
  CHECK_FALSE(Validate(Bytes({131, 77, 255, 255, 255, 255, 3, 1})).ok());
  // A map needs a value for each key.
  CHECK_FALSE(Validate(Bytes({131, 116, 0, 0, 0, 2, 97, 1, 97, 2, 97, 3})).ok());
  // A list needs a tail.
  CHECK_FALSE(Validate(Bytes({131, 108, 0, 0, 0, 1, 97, 1})).ok());
}

TEST_CASE("validator: bignum sizes", "[validator]") {
  // LARGE_BIG with a huge length and almost no bytes.
  CHECK_FALSE(Validate(Bytes({131, 111, 255, 255, 255, 255, 0, 1, 2, 3})).ok());
  CHECK_FALSE(Validate(Bytes({131, 111, 127, 255, 255, 255, 0})).ok());
  // Present, but above max_bignum_bytes.
  std::string large = Bytes({131, 111});
  PutU32(&large, 2000);
  large += std::string(2001, '\x01');
  auto r = Validate(large);
  REQUIRE_FALSE(r.ok());
  CHECK(r.status().code() == hb::StatusCode::kOutOfRange);
  hb::TermLimits roomy;
  roomy.max_bignum_bytes = 4096;
  CHECK(Validate(large, roomy).ok());

  hb::TermLimits small;
  small.max_bignum_bytes = 8;
  CHECK(Validate(Bytes({131, 110, 8, 0, 1, 2, 3, 4, 5, 6, 7, 8}), small).ok());
  CHECK_FALSE(Validate(Bytes({131, 110, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9}), small).ok());
  // SMALL_BIG with fewer digits than declared.
  CHECK_FALSE(Validate(Bytes({131, 110, 9, 0, 1, 2})).ok());
  CHECK_FALSE(Validate(Bytes({131, 110, 1})).ok());
}

TEST_CASE("validator: bad NEW_FUN_EXT sizes", "[validator]") {
  const uint32_t real = 77;
  REQUIRE(static_cast<uint8_t>(kFunLocal[5]) == real);
  for (uint32_t bad : {0u, 1u, 4u, 20u, real - 1, real + 1, real + 1000, 0x7fffffffu, 0xffffffffu}) {
    INFO("size " << bad);
    CHECK_FALSE(Validate(WithFunSize(kFunLocal, bad)).ok());
  }
  // Trailing bytes after a fun are not taken into it.
  std::string padded = WithFunSize(kFunLocal, real + 3) + Bytes({97, 1, 106});
  // Either rejected, or if accepted, the reported end must be inside the data.
  auto r = Validate(padded);
  if (r.ok()) CHECK(*r <= padded.size());
  // A free-variable count far beyond the bytes present.
  std::string many_free = kFunFree;
  many_free[27] = many_free[28] = many_free[29] = many_free[30] = '\xff';
  CHECK_FALSE(Validate(many_free).ok());
  // The fun's module must be an atom.
  std::string bad_module = kFunLocal;
  bad_module[31] = static_cast<char>(97);  // SMALL_INTEGER where the module atom is
  CHECK_FALSE(Validate(bad_module).ok());
}

TEST_CASE("validator: unknown and unsupported tags", "[validator]") {
  for (int tag : {0, 1, 50, 69, 71, 75, 78, 80, 81, 83, 87, 91, 96, 117, 121, 122, 200, 255}) {
    INFO("tag " << tag);
    CHECK_FALSE(Validate(Bytes({131, tag, 0, 0, 0, 0, 0, 0, 0, 0})).ok());
    CHECK_FALSE(Validate(Bytes({131, 104, 2, 97, 1, tag, 0, 0, 0, 0, 0, 0, 0, 0})).ok());
  }
  // Compressed term (tag 80) from term_to_binary(lists:duplicate(100, 7), [compressed]).
  CHECK_FALSE(Validate(Bytes({131, 80, 0, 0, 0, 103, 120, 156, 203, 102, 72, 97, 167, 3, 0, 0, 220,
                              254, 3, 140}))
                  .ok());
  // EXPORT_EXT arity must be a small integer.
  CHECK_FALSE(Validate(Bytes({131, 113, 100, 0, 1, 'm', 100, 0, 1, 'f', 98, 0, 0, 0, 2})).ok());
  // Bit binaries with a bad bit count.
  CHECK_FALSE(Validate(Bytes({131, 77, 0, 0, 0, 1, 0, 32})).ok());
  CHECK_FALSE(Validate(Bytes({131, 77, 0, 0, 0, 1, 9, 32})).ok());
}

TEST_CASE("validator: FLOAT_EXT without a NUL never makes the decoder read past the buffer",
          "[validator]") {
  // 31 digits and no terminator, ending exactly at an unreadable page. ei
  // parses FLOAT_EXT with sscanf, which scans to a NUL: if the validator lets
  // this through, the decoder reads past the packet. Run in a child process
  // so that a fault is reported as a failure rather than ending the run.
  std::string f = Bytes({131, 99}) + std::string(31, '1');
  long page = sysconf(_SC_PAGESIZE);
  REQUIRE(page > 0);
  void* mem = mmap(nullptr, 2 * page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  REQUIRE(mem != MAP_FAILED);
  char* guard = static_cast<char*>(mem) + page;
  REQUIRE(mprotect(guard, page, PROT_NONE) == 0);
  char* start = guard - f.size();
  std::memcpy(start, f.data(), f.size());
  std::string_view view(start, f.size());

  pid_t child = fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    // Die by the signal itself, not through the test framework's handler.
    signal(SIGSEGV, SIG_DFL);
    signal(SIGBUS, SIG_DFL);
    size_t off = 0;
    auto r = hb::DecodeVersioned(view, &off, hb::TermLimits{});
    _exit(r.ok() ? 10 : 11);  // distinct from a sanitizer's exit code
  }
  int status = 0;
  REQUIRE(waitpid(child, &status, 0) == child);
  munmap(mem, 2 * page);
  bool killed_by_signal = WIFSIGNALED(status);
  int signal_number = killed_by_signal ? WTERMSIG(status) : 0;
  int exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  INFO("decoding 131,99,'1'x31 at the end of a readable page: signal " << signal_number
                                                                          << ", exit " << exit_code);
  CHECK_FALSE(killed_by_signal);
  CHECK((exit_code == 10 || exit_code == 11));
}

TEST_CASE("validator: random mutations never crash; accepted terms decode consistently",
          "[validator]") {
  std::vector<std::string> seeds;
  for (const Fixture& f : Fixtures()) seeds.push_back(f.bytes);
  seeds.push_back(kFunLocal);
  seeds.push_back(kFunFree);

  const uint8_t interesting[] = {0,   1,   2,   3,   5,   0x7f, 0x80, 0xfe, 0xff, 70,  77,
                                 82,  88,  89,  90,  97,  98,   99,   100,  101, 102, 103,
                                 104, 105, 106, 107, 108, 109,  110,  111,  112, 113, 114,
                                 115, 116, 118, 119, 120, 131};
  std::mt19937 rng(0x5eed1234u);
  hb::TermLimits limits;
  limits.max_depth = 32;
  limits.max_elements = 4096;
  limits.max_bignum_bytes = 64;

  int accepted = 0;
  int failures = 0;
  std::string first_failure;
  const int kIterations = 6000;
  for (int it = 0; it < kIterations; ++it) {
    std::string s = seeds[rng() % seeds.size()];
    int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && s.size() > 1; ++e) {
      size_t pos = 1 + rng() % (s.size() - 1);  // keep the version byte
      switch (rng() % 6) {
        case 0:
          s[pos] = static_cast<char>(rng());
          break;
        case 1:
          s[pos] = static_cast<char>(interesting[rng() % sizeof interesting]);
          break;
        case 2:
          s[pos] ^= static_cast<char>(1u << (rng() % 8));
          break;
        case 3:
          s.erase(pos, 1);
          break;
        case 4:
          s.insert(s.begin() + static_cast<long>(pos),
                   static_cast<char>(interesting[rng() % sizeof interesting]));
          break;
        case 5:
          s.resize(pos);
          break;
      }
    }
    ExactBuffer b(s);
    auto v = hb::ValidateVersionedTerm(b.view(), 0, limits);
    if (!v.ok()) continue;
    ++accepted;
    bool bad = false;
    if (*v > s.size()) {
      bad = true;
    } else {
      size_t off = 1;
      auto d = hb::DecodeValidated(b.view(), &off);
      if (!d.ok() || off != *v) bad = true;
      size_t off2 = 0;
      auto d2 = hb::DecodeVersioned(b.view(), &off2, limits);
      if (!d2.ok() || off2 != *v) bad = true;
      if (d.ok() && d2.ok() && !(d.value() == d2.value())) bad = true;
      if (d.ok()) (void)d->Describe();
    }
    if (bad) {
      if (getenv("HB_DUMP_MUTANTS")) fprintf(stderr, "MUTANT %s\n", Hex(s).c_str());
      if (failures == 0) first_failure = Hex(s);
      ++failures;
    }
  }
  INFO("first failing input: " << first_failure);
  CHECK(failures == 0);
  // The loop must have exercised the accept path, not just rejections.
  CHECK(accepted > kIterations / 50);
}

TEST_CASE("validator: refuses FLOAT_EXT, which ei would parse past the packet", "[validator]") {
  std::string old = Bytes({131, 99, 51, 46, 49, 52, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48,
                           48, 48, 49, 50, 52, 51, 52, 101, 43, 48, 48, 0, 0, 0, 0, 0});
  CHECK(!hb::ValidateVersionedTerm(old, 0, hb::TermLimits()).ok());
}
