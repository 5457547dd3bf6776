// Unit tests for ei_bridge/term.h's codec entry points and bounds:
// DecodeVersioned (offsets, refusals, TermLimits), EncodeTerm without a version
// byte, Describe's bounded output, and EncodedSize against the real encoding.
#include <catch2/catch.hpp>
#include <cstdint>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "tests/ei_bridge/otp_fixtures.h"
#include "tests/ei_bridge/term_fixtures.h"

using hb::Term;
using hb::testing::Bytes;
using hb::testing::kMap;
using hb::testing::kPid;
using hb::testing::kSpawnReqCtrl;
using hb::testing::kStr;

// ---------------------------------------------------------------------------
// Decoding API details
// ---------------------------------------------------------------------------

TEST_CASE("term: DecodeVersioned advances the offset term by term", "[term]") {
  std::string two = kPid + kMap + kStr;
  hb::TermLimits limits;
  size_t off = 0;
  auto a = hb::DecodeVersioned(two, &off, limits);
  REQUIRE(a.ok());
  CHECK(a->is_pid());
  CHECK(off == kPid.size());
  auto b = hb::DecodeVersioned(two, &off, limits);
  REQUIRE(b.ok());
  CHECK(b->is_map());
  CHECK(off == kPid.size() + kMap.size());
  auto c = hb::DecodeVersioned(two, &off, limits);
  REQUIRE(c.ok());
  CHECK(c->is_list());
  CHECK(off == two.size());
  // Nothing left.
  CHECK_FALSE(hb::DecodeVersioned(two, &off, limits).ok());
}

TEST_CASE("term: DecodeVersioned refuses bad input", "[term]") {
  hb::TermLimits limits;
  size_t off = 0;
  CHECK_FALSE(hb::DecodeVersioned("", &off, limits).ok());
  off = 0;
  // Missing version byte.
  CHECK_FALSE(hb::DecodeVersioned(kPid.substr(1), &off, limits).ok());
  off = 0;
  // Wrong version byte.
  std::string wrong = kPid;
  wrong[0] = static_cast<char>(130);
  CHECK_FALSE(hb::DecodeVersioned(wrong, &off, limits).ok());
  // Offset beyond the end.
  off = kPid.size() + 10;
  CHECK_FALSE(hb::DecodeVersioned(kPid, &off, limits).ok());
  // Truncated.
  off = 0;
  CHECK_FALSE(hb::DecodeVersioned(kPid.substr(0, kPid.size() - 1), &off, limits).ok());
  // Compressed terms (tag 80) are not accepted.
  off = 0;
  CHECK_FALSE(hb::DecodeVersioned(Bytes({131, 80, 0,   0, 0, 103, 120, 156, 203, 102,
                                         72,  97, 167, 3, 0, 0,   220, 254, 3,   140}),
                                  &off, limits)
                  .ok());
}

TEST_CASE("term: DecodeVersioned enforces limits", "[term]") {
  // 100 nested 1-tuples around nil.
  std::string deep(1, static_cast<char>(131));
  for (int i = 0; i < 100; ++i) deep += Bytes({104, 1});
  deep += Bytes({106});
  hb::TermLimits tight;
  tight.max_depth = 10;
  size_t off = 0;
  CHECK_FALSE(hb::DecodeVersioned(deep, &off, tight).ok());
  hb::TermLimits roomy;
  roomy.max_depth = 200;
  off = 0;
  CHECK(hb::DecodeVersioned(deep, &off, roomy).ok());
  CHECK(off == deep.size());

  hb::TermLimits few;
  few.max_elements = 4;
  off = 0;
  CHECK_FALSE(hb::DecodeVersioned(kSpawnReqCtrl, &off, few).ok());
}

TEST_CASE("term: EncodeTerm appends without a version byte", "[term]") {
  std::string out = "xy";
  REQUIRE(hb::EncodeTerm(Term::Int(5), &out).ok());
  CHECK(out == Bytes({'x', 'y', 97, 5}));
  REQUIRE(hb::EncodeTerm(Term::Atom("ok"), &out).ok());
  size_t off = 2;
  auto a = hb::DecodeValidated(out, &off);
  REQUIRE(a.ok());
  CHECK(a->int_value() == 5);
  CHECK(off == 4);
  auto b = hb::DecodeValidated(out, &off);
  REQUIRE(b.ok());
  CHECK(b->is_atom("ok"));
  CHECK(off == out.size());
}

// ---------------------------------------------------------------------------
// Describe
// ---------------------------------------------------------------------------

TEST_CASE("term: Describe is short and bounded", "[term]") {
  CHECK(Term::Int(42).Describe() == "42");
  CHECK(Term::Atom("ok").Describe().find("ok") != std::string::npos);
  std::string d = Term::Tuple({Term::Atom("ok"), Term::Int(7)}).Describe();
  CHECK(d.find("ok") != std::string::npos);
  CHECK(d.find('7') != std::string::npos);

  std::vector<Term> many;
  for (int i = 0; i < 100000; ++i) many.push_back(Term::Int(1000000 + i));
  Term big_list = Term::List(many);
  for (size_t max : {size_t{10}, size_t{50}, size_t{120}, size_t{500}}) {
    INFO("max_chars " << max);
    std::string s = big_list.Describe(max);
    CHECK(s.size() <= max + 3);
    CHECK(!s.empty());
  }
  CHECK(big_list.Describe().size() <= 123);

  // A huge binary is never dumped.
  Term blob = Term::Binary(std::string(1 << 20, 'Z'));
  CHECK(blob.Describe().size() <= 123);
  CHECK(blob.Describe().find("ZZZZZZZZZZ") == std::string::npos);

  // A huge atom, map and deep nesting stay bounded too.
  CHECK(Term::Atom(std::string(1020, 'q')).Describe(40).size() <= 43);
  std::vector<std::pair<Term, Term>> pairs;
  for (int i = 0; i < 10000; ++i) pairs.emplace_back(Term::Int(i), Term::Binary("v"));
  CHECK(Term::Map(pairs).Describe(60).size() <= 63);
  Term deep = Term::Nil();
  for (int i = 0; i < 5000; ++i) {
    std::vector<Term> one;
    one.push_back(std::move(deep));
    deep = Term::Tuple(std::move(one));
  }
  CHECK(deep.Describe(80).size() <= 83);
  Term improper = Term::ImproperList(many, Term::Binary(std::string(5000, 'x')));
  CHECK(improper.Describe(70).size() <= 73);
}

// ---------------------------------------------------------------------------
// EncodedSize
// ---------------------------------------------------------------------------

TEST_CASE("term: EncodedSize equals the encoded length for every kind of term", "[term]") {
  std::vector<Term> terms;
  for (int64_t v : {int64_t{0}, int64_t{255}, int64_t{256}, int64_t{-1}, int64_t{1} << 31,
                    -(int64_t{1} << 31) - 1, std::numeric_limits<int64_t>::max(),
                    std::numeric_limits<int64_t>::min()}) {
    terms.push_back(Term::Int(v));
  }
  terms.push_back(Term::Float(0.1));
  terms.push_back(Term::Atom("ok"));
  terms.push_back(Term::Atom("h\xc3\xa9llo"));
  terms.push_back(Term::Atom(std::string(255, 'a')));
  terms.push_back(Term::Binary(""));
  terms.push_back(Term::Binary(std::string(70000, 'x')));
  terms.push_back(Term::MakePid(hb::Pid{"a@b", 7, 1, 3}));
  terms.push_back(Term::MakePid(hb::Pid{std::string(200, 'n') + "@h", 7, 1, 0x12345678}));
  terms.push_back(Term::MakePort(hb::Port{"a@b", 1ull << 40, 3}));
  terms.push_back(Term::MakeRef(hb::Ref{"gpu@host", 5, {1, 2, 3}}));
  terms.push_back(Term::Nil());
  terms.push_back(Term::List({Term::Int(1), Term::Atom("a")}));
  terms.push_back(Term::ImproperList({Term::Int(1)}, Term::Atom("tail")));
  std::vector<Term> wide(300, Term::Int(1));
  terms.push_back(Term::Tuple(wide));
  terms.push_back(Term::Tuple({Term::Atom("x"), Term::Tuple({})}));
  terms.push_back(Term::Map({{Term::Atom("k"), Term::List(wide)}, {Term::Int(2), Term::Nil()}}));
  terms.push_back(Term::Opaque(std::string("\x6e\x09\x00", 3) + std::string(9, '\x01')));
  terms.push_back(Term::Tuple(terms));  // all of the above, nested
  for (const Term& t : terms) {
    INFO(t.Describe());
    std::string out;
    REQUIRE(hb::EncodeTerm(t, &out).ok());
    CHECK(hb::EncodedSize(t) == out.size());
  }
  CHECK(hb::EncodedSize(Term::Atom(std::string(2000, 'a'))) == 0);  // EncodeTerm refuses it
}
