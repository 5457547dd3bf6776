// Unit tests for ei_bridge/term.h: construction, encoding, decoding, and
// interoperability with bytes produced by a real Erlang/OTP 25 node.
//
// Fixture byte arrays below were produced with
//   erl -name fixture@127.0.0.1 -noshell -eval
//     'io:format("~w~n", [binary_to_list(term_to_binary(T))]), halt().'
// so they are exactly what a peer node would put on the wire (no atom cache).
#include <catch2/catch.hpp>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "ei_bridge/ext_tags.h"
#include "ei_bridge/term.h"
#include "tests/ei_bridge/bytes_util.h"
#include "ei_bridge/term_validator.h"

using hb::Term;

namespace {

using hb::testing::Bytes;
using hb::testing::Hex;



// --- Fixtures from a real node (run 1: creation 0x6b077604) ---------------
const std::string kFixNode = "fixture@127.0.0.1";
const uint32_t kFixCreation = 0x6b077604u;

// self() = <0.9.0>
const std::string kPid = Bytes({131, 88, 100, 0, 17, 102, 105, 120, 116, 117, 114, 101, 64, 49, 50, 55,
                                46, 48, 46, 48, 46, 49, 0, 0, 0, 9, 0, 0, 0, 0, 107, 7, 118, 4});
// make_ref() = #Ref<0.3107472781.676593665.45888>
const std::string kRef =
    Bytes({131, 90, 0, 3, 100, 0, 17, 102, 105, 120, 116, 117, 114, 101, 64, 49, 50, 55, 46, 48,
           46, 48, 46, 49, 107, 7, 118, 4, 0, 0, 179, 64, 40, 84, 0, 1, 185, 56, 69, 141});
// #Port<0.0>
const std::string kPort = Bytes({131, 89, 100, 0, 17, 102, 105, 120, 116, 117, 114, 101, 64, 49, 50,
                                 55, 46, 48, 46, 48, 46, 49, 0, 0, 0, 0, 107, 7, 118, 4});
// {29, Ref, self(), group_leader(), {lists, reverse, 1}, [link, monitor, {priority, high}]}
const std::string kSpawnReqCtrl = Bytes(
    {131, 104, 6,   97,  29,  90,  0,   3,   100, 0,   17,  102, 105, 120, 116, 117, 114, 101,
     64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  107, 7,   118, 4,   0,   0,   179, 64,
     40,  84,  0,   1,   185, 56,  69,  141, 88,  100, 0,   17,  102, 105, 120, 116, 117, 114,
     101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,   0,   0,   0,
     0,   107, 7,   118, 4,   88,  100, 0,   17,  102, 105, 120, 116, 117, 114, 101, 64,  49,
     50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   71,  0,   0,   0,   0,   107, 7,
     118, 4,   104, 3,   100, 0,   5,   108, 105, 115, 116, 115, 100, 0,   7,   114, 101, 118,
     101, 114, 115, 101, 97,  1,   108, 0,   0,   0,   3,   100, 0,   4,   108, 105, 110, 107,
     100, 0,   7,   109, 111, 110, 105, 116, 111, 114, 104, 2,   100, 0,   8,   112, 114, 105,
     111, 114, 105, 116, 121, 100, 0,   4,   104, 105, 103, 104, 106});
// #{a => 1, <<"k">> => #{x => [1,2]}, 3 => 4.5}
const std::string kMap = Bytes({131, 116, 0, 0, 0, 3, 97, 3, 70, 64, 18, 0, 0, 0, 0, 0, 0, 100, 0,
                                1, 97, 97, 1, 109, 0, 0, 0, 1, 107, 116, 0, 0, 0, 1, 100, 0, 1,
                                120, 107, 0, 2, 1, 2});
// [1, a | b]
const std::string kImproper = Bytes({131, 108, 0, 0, 0, 2, 97, 1, 100, 0, 1, 97, 100, 0, 1, 98});
// 'héllo_世界' (SMALL_ATOM_UTF8_EXT)
const std::string kUtf8Atom =
    Bytes({131, 119, 13, 104, 195, 169, 108, 108, 111, 95, 228, 184, 150, 231, 149, 140});
const std::string kUtf8AtomText = "h\xC3\xA9llo_\xE4\xB8\x96\xE7\x95\x8C";
// 'héllo' as OTP 25 encodes it by default: latin-1 ATOM_EXT
const std::string kLatin1Atom = Bytes({131, 100, 0, 5, 104, 233, 108, 108, 111});
// {atom_a, 'héllo'} with [{minor_version, 2}]: SMALL_ATOM_UTF8_EXT
const std::string kMinor2Tuple = Bytes({131, 104, 2, 119, 6, 97, 116, 111, 109, 95, 97, 119, 6, 104,
                                        195, 169, 108, 108, 111});
// <<"Elixir.Foo.Bar", 0, 255>>
const std::string kElixirBin = Bytes({131, 109, 0, 0, 0, 16, 69, 108, 105, 120, 105, 114, 46, 70, 111,
                                      111, 46, 66, 97, 114, 0, 255});
// #{'__struct__' => 'Elixir.Foo', name => <<"x">>}
const std::string kElixirStruct =
    Bytes({131, 116, 0, 0, 0, 2, 100, 0, 10, 95, 95, 115, 116, 114, 117, 99, 116, 95, 95, 100, 0,
           10, 69, 108, 105, 120, 105, 114, 46, 70, 111, 111, 100, 0, 4, 110, 97, 109, 101, 109, 0,
           0, 0, 1, 120});
// 1 bsl 100
const std::string kBigPos = Bytes({131, 110, 13, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 16});
// -(1 bsl 70)
const std::string kBigNeg = Bytes({131, 110, 9, 1, 0, 0, 0, 0, 0, 0, 0, 0, 64});
// "hello" (STRING_EXT)
const std::string kStr = Bytes({131, 107, 0, 5, 104, 101, 108, 108, 111});
// 3.14 (NEW_FLOAT_EXT)
const std::string kFloat = Bytes({131, 70, 64, 9, 30, 184, 81, 235, 133, 31});
// 3.14 with [{minor_version, 0}] (FLOAT_EXT, NUL padded)
const std::string kFloatOld =
    Bytes({131, 99, 51, 46, 49, 52, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 48, 49, 50, 52,
           51, 52, 101, 43, 48, 48, 0, 0, 0, 0, 0});
// -123456789
const std::string kNeg = Bytes({131, 98, 248, 164, 50, 235});
// 9223372036854775807 and -9223372036854775808
const std::string kIntMax = Bytes({131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 127});
const std::string kIntMin = Bytes({131, 110, 8, 1, 0, 0, 0, 0, 0, 0, 0, 128});
// X = 42, fun(Y) -> X + Y end  (compiled; NEW_FUN_EXT, no free variables)
const std::string kFunLocal = Bytes(
    {131, 112, 0,   0,   0,   77,  1,   144, 11,  141, 123, 70,  165, 193, 108, 23,  161,
     189, 237, 177, 15,  150, 189, 0,   0,   0,   0,   0,   0,   0,   0,   100, 0,   5,
     104, 98,  102, 105, 120, 97,  0,   98,  4,   128, 92,  107, 88,  100, 0,   17,  102,
     105, 120, 116, 117, 114, 101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,
     0,   0,   9,   0,   0,   0,   0,   107, 7,   118, 4});
// fun(Y) -> {Y, N, Self} end  (NEW_FUN_EXT with two free variables; run 2)
const std::string kFunFree = Bytes(
    {131, 112, 0,   0,   0,   113, 1,   5,   191, 230, 167, 80,  181, 108, 12,  19,  190, 76,
     76,  162, 248, 188, 187, 0,   0,   0,   0,   0,   0,   0,   2,   100, 0,   6,   104, 98,
     102, 105, 120, 50,  97,  0,   98,  0,   45,  255, 53,  88,  100, 0,   17,  102, 105, 120,
     116, 117, 114, 101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,
     0,   0,   0,   0,   107, 7,   118, 5,   97,  17,  88,  100, 0,   17,  102, 105, 120, 116,
     117, 114, 101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,   0,
     0,   0,   0,   107, 7,   118, 5});
// fun lists:map/2 (EXPORT_EXT)
const std::string kFunExport =
    Bytes({131, 113, 100, 0, 5, 108, 105, 115, 116, 115, 100, 0, 3, 109, 97, 112, 97, 2});
// <<1:3>> (BIT_BINARY_EXT)
const std::string kBits = Bytes({131, 77, 0, 0, 0, 1, 3, 32});
// {ok, 1.5, <<>>, [], "ab", -1, 256}
const std::string kTupleMixed =
    Bytes({131, 104, 7, 100, 0, 2, 111, 107, 70, 63, 248, 0, 0, 0, 0, 0, 0, 109, 0, 0, 0, 0, 106,
           107, 0, 2, 97, 98, 98, 255, 255, 255, 255, 98, 0, 0, 1, 0});

hb::Pid FixPid(uint32_t num) { return hb::Pid{kFixNode, num, 0, kFixCreation}; }

// Decodes a whole versioned buffer, requiring that the term spans all of it.
Term DecodeAll(const std::string& bytes, const hb::TermLimits& limits = hb::TermLimits{}) {
  INFO("bytes: " << Hex(bytes));
  size_t off = 0;
  hb::Result<Term> r = hb::DecodeVersioned(bytes, &off, limits);
  INFO("status: " << r.status().message());
  REQUIRE(r.ok());
  REQUIRE(off == bytes.size());
  return std::move(r).value();
}

std::string Encode(const Term& t) {
  hb::Result<std::string> r = hb::EncodeWithVersion(t);
  INFO("status: " << r.status().message());
  REQUIRE(r.ok());
  return std::move(r).value();
}

Term RoundTrip(const Term& t) {
  std::string enc = Encode(t);
  REQUIRE(!enc.empty());
  REQUIRE(static_cast<uint8_t>(enc[0]) == hb::kVersionMagic);
  Term back = DecodeAll(enc);
  REQUIRE(back == t);
  // Re-encoding what we decoded is stable.
  REQUIRE(Encode(back) == enc);
  return back;
}

const Term* MapGet(const Term& m, const Term& key) {
  REQUIRE(m.is_map());
  REQUIRE(m.size() % 2 == 0);
  for (size_t i = 0; i + 1 < m.size(); i += 2) {
    if (m[i] == key) return &m[i + 1];
  }
  return nullptr;
}

}  // namespace

// ---------------------------------------------------------------------------
// Integers
// ---------------------------------------------------------------------------

TEST_CASE("term: integers round-trip, including 64-bit extremes", "[term]") {
  const int64_t values[] = {0,
                            1,
                            -1,
                            42,
                            255,
                            256,
                            -255,
                            -256,
                            65535,
                            -65536,
                            std::numeric_limits<int32_t>::max(),
                            std::numeric_limits<int32_t>::min(),
                            int64_t{1} << 31,
                            -(int64_t{1} << 31) - 1,
                            int64_t{1} << 32,
                            int64_t{1} << 40,
                            -(int64_t{1} << 40),
                            int64_t{1} << 62,
                            std::numeric_limits<int64_t>::max(),
                            std::numeric_limits<int64_t>::max() - 1,
                            std::numeric_limits<int64_t>::min(),
                            std::numeric_limits<int64_t>::min() + 1};
  for (int64_t v : values) {
    INFO("value " << v);
    Term t = Term::Int(v);
    CHECK(t.is_int());
    CHECK(t.type() == Term::Type::kInt);
    CHECK(t.int_value() == v);
    Term back = RoundTrip(t);
    CHECK(back.is_int());
    CHECK(back.int_value() == v);
  }
}

TEST_CASE("term: integer encodings match Erlang's bytes", "[term]") {
  CHECK(Encode(Term::Int(5)) == Bytes({131, 97, 5}));
  CHECK(Encode(Term::Int(255)) == Bytes({131, 97, 255}));
  CHECK(Encode(Term::Int(256)) == Bytes({131, 98, 0, 0, 1, 0}));
  CHECK(Encode(Term::Int(-1)) == Bytes({131, 98, 255, 255, 255, 255}));
  CHECK(Encode(Term::Int(-123456789)) == kNeg);
  // term_to_binary(2147483648)
  CHECK(Encode(Term::Int(int64_t{1} << 31)) == Bytes({131, 110, 4, 0, 0, 0, 0, 128}));
  CHECK(Encode(Term::Int(std::numeric_limits<int64_t>::max())) == kIntMax);
  CHECK(Encode(Term::Int(std::numeric_limits<int64_t>::min())) == kIntMin);
}

TEST_CASE("term: Erlang's integer bytes decode to ints", "[term]") {
  Term neg = DecodeAll(kNeg);
  REQUIRE(neg.is_int());
  CHECK(neg.int_value() == -123456789);

  // SMALL_BIG_EXT values that fit in 64 bits are plain ints, not opaque.
  Term mx = DecodeAll(kIntMax);
  REQUIRE(mx.is_int());
  CHECK(mx.int_value() == std::numeric_limits<int64_t>::max());
  Term mn = DecodeAll(kIntMin);
  REQUIRE(mn.is_int());
  CHECK(mn.int_value() == std::numeric_limits<int64_t>::min());

  // 2^40 as a 6-digit SMALL_BIG.
  Term b40 = DecodeAll(Bytes({131, 110, 6, 0, 0, 0, 0, 0, 0, 1}));
  REQUIRE(b40.is_int());
  CHECK(b40.int_value() == (int64_t{1} << 40));
  // -(2^40)
  Term nb40 = DecodeAll(Bytes({131, 110, 6, 1, 0, 0, 0, 0, 0, 1}));
  REQUIRE(nb40.is_int());
  CHECK(nb40.int_value() == -(int64_t{1} << 40));
}

// ---------------------------------------------------------------------------
// Big integers beyond 64 bits: opaque, re-emitted verbatim
// ---------------------------------------------------------------------------

TEST_CASE("term: integers beyond 64 bits are opaque and round-trip byte-exact", "[term]") {
  SECTION("Erlang's 1 bsl 100") {
    Term t = DecodeAll(kBigPos);
    REQUIRE(t.type() == Term::Type::kOpaque);
    CHECK(t.text() == kBigPos.substr(1));
    CHECK(Encode(t) == kBigPos);
  }
  SECTION("Erlang's -(1 bsl 70)") {
    Term t = DecodeAll(kBigNeg);
    REQUIRE(t.type() == Term::Type::kOpaque);
    CHECK(t.text() == kBigNeg.substr(1));
    CHECK(Encode(t) == kBigNeg);
  }
  SECTION("hand-written 9-digit SMALL_BIG_EXT") {
    std::string b = Bytes({131, 110, 9, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
    Term t = DecodeAll(b);
    REQUIRE(t.type() == Term::Type::kOpaque);
    CHECK(t.text() == b.substr(1));
    CHECK(Encode(t) == b);
  }
  SECTION("2^64 - 1 does not fit int64 and must not become -1") {
    std::string b = Bytes({131, 110, 8, 0, 255, 255, 255, 255, 255, 255, 255, 255});
    Term t = DecodeAll(b);
    CHECK_FALSE(t.is_int());
    REQUIRE(t.type() == Term::Type::kOpaque);
    CHECK(Encode(t) == b);
  }
  SECTION("2^63 (positive) does not fit int64") {
    std::string b = Bytes({131, 110, 8, 0, 0, 0, 0, 0, 0, 0, 0, 128});
    Term t = DecodeAll(b);
    CHECK_FALSE(t.is_int());
    CHECK(Encode(t) == b);
  }
  SECTION("-(2^63) - 1 does not fit int64") {
    std::string b = Bytes({131, 110, 8, 1, 1, 0, 0, 0, 0, 0, 0, 128});
    Term t = DecodeAll(b);
    CHECK_FALSE(t.is_int());
    CHECK(Encode(t) == b);
  }
  SECTION("hand-written LARGE_BIG_EXT with 300 digits") {
    std::string b = Bytes({131, 111, 0, 0, 1, 44, 1});
    for (int i = 0; i < 300; ++i) b.push_back(static_cast<char>(i * 7 + 1));
    Term t = DecodeAll(b);
    REQUIRE(t.type() == Term::Type::kOpaque);
    CHECK(t.text() == b.substr(1));
    CHECK(Encode(t) == b);
  }
  SECTION("opaque nested inside containers survives unchanged") {
    Term big = DecodeAll(kBigPos);
    Term t = Term::Tuple({Term::Atom("ok"), big, Term::List({big, Term::Int(1)})});
    Term back = RoundTrip(t);
    REQUIRE(back.is_tuple(3));
    CHECK(back[1].type() == Term::Type::kOpaque);
    CHECK(back[1].text() == kBigPos.substr(1));
    CHECK(back[2][0] == big);
  }
  SECTION("Term::Opaque built by hand encodes verbatim") {
    Term t = Term::Opaque(kBigNeg.substr(1));
    CHECK(Encode(t) == kBigNeg);
    std::string raw;
    REQUIRE(hb::EncodeTerm(t, &raw).ok());
    CHECK(raw == kBigNeg.substr(1));
  }
}

TEST_CASE("term: funs, exports and bit strings are opaque and byte-exact", "[term]") {
  SECTION("export fun lists:map/2") {
    Term t = DecodeAll(kFunExport);
    REQUIRE(t.type() == Term::Type::kOpaque);
    CHECK(Encode(t) == kFunExport);
  }
  SECTION("bit string <<1:3>>") {
    Term t = DecodeAll(kBits);
    REQUIRE(t.type() == Term::Type::kOpaque);
    CHECK(Encode(t) == kBits);
  }
  SECTION("local fun from a real node (NEW_FUN_EXT)") {
    Term t = DecodeAll(kFunLocal);
    REQUIRE(t.type() == Term::Type::kOpaque);
    CHECK(Encode(t) == kFunLocal);
  }
  SECTION("local fun with free variables from a real node") {
    Term t = DecodeAll(kFunFree);
    REQUIRE(t.type() == Term::Type::kOpaque);
    CHECK(Encode(t) == kFunFree);
  }
}

// ---------------------------------------------------------------------------
// Floats
// ---------------------------------------------------------------------------

TEST_CASE("term: floats round-trip bit-exactly", "[term]") {
  const double values[] = {0.0,
                           1.0,
                           -1.5,
                           3.14,
                           0.1,
                           1e300,
                           -1e-300,
                           std::numeric_limits<double>::max(),
                           std::numeric_limits<double>::lowest(),
                           std::numeric_limits<double>::min(),
                           std::numeric_limits<double>::denorm_min()};
  for (double v : values) {
    INFO("value " << v);
    Term t = Term::Float(v);
    CHECK(t.type() == Term::Type::kFloat);
    Term back = RoundTrip(t);
    REQUIRE(back.type() == Term::Type::kFloat);
    double bv = back.float_value();
    CHECK(std::memcmp(&v, &bv, sizeof v) == 0);
  }
  // Negative zero keeps its sign.
  Term nz = RoundTrip(Term::Float(-0.0));
  CHECK(std::signbit(nz.float_value()));
}

TEST_CASE("term: float bytes match Erlang's NEW_FLOAT_EXT; FLOAT_EXT is refused", "[term]") {
  CHECK(Encode(Term::Float(3.14)) == kFloat);
  Term f = DecodeAll(kFloat);
  REQUIRE(f.type() == Term::Type::kFloat);
  CHECK(f.float_value() == 3.14);
  // ei parses the old text float with sscanf, which reads to a NUL, maybe
  // past the packet: hornbeamd refuses it (peers with NEW_FLOATS never send it).
  size_t pos = 0;
  CHECK(!hb::DecodeVersioned(kFloatOld, &pos, hb::TermLimits()).ok());
  CHECK(Term::Int(1) != Term::Float(1.0));
}

// ---------------------------------------------------------------------------
// Atoms
// ---------------------------------------------------------------------------

TEST_CASE("term: atoms round-trip, UTF-8 included", "[term]") {
  for (const std::string& name :
       {std::string("ok"), std::string(""), std::string("Elixir.Foo.Bar"), kUtf8AtomText,
        std::string(255, 'a'),
        // 255 two-byte characters (510 bytes)
        [] {
          std::string s;
          for (int i = 0; i < 255; ++i) s += "\xC3\xA9";
          return s;
        }(),
        // 255 four-byte characters (1020 bytes): the longest legal atom
        [] {
          std::string s;
          for (int i = 0; i < 255; ++i) s += "\xF0\x9F\x98\x80";
          return s;
        }()}) {
    INFO("atom of " << name.size() << " bytes");
    Term t = Term::Atom(name);
    CHECK(t.is_atom());
    CHECK(t.is_atom(name));
    Term back = RoundTrip(t);
    CHECK(back.is_atom(name));
    CHECK(back.text() == name);
  }
}

TEST_CASE("term: atom bytes from Erlang decode to UTF-8 text", "[term]") {
  // UTF-8 atom: our encoding is exactly Erlang's SMALL_ATOM_UTF8_EXT.
  CHECK(Encode(Term::Atom(kUtf8AtomText)) == kUtf8Atom);
  Term u = DecodeAll(kUtf8Atom);
  CHECK(u.is_atom(kUtf8AtomText));

  // Latin-1 ATOM_EXT is converted to UTF-8.
  Term l = DecodeAll(kLatin1Atom);
  CHECK(l.is_atom("h\xC3\xA9llo"));

  Term m2 = DecodeAll(kMinor2Tuple);
  REQUIRE(m2.is_tuple(2));
  CHECK(m2[0].is_atom("atom_a"));
  CHECK(m2[1].is_atom("h\xC3\xA9llo"));
  // Both encodings of 'héllo' are the same term.
  CHECK(m2[1] == l);
}

TEST_CASE("term: atoms too long to be an Erlang atom are not encoded", "[term]") {
  CHECK_FALSE(hb::EncodeWithVersion(Term::Atom(std::string(1021, 'a'))).ok());
  CHECK_FALSE(hb::EncodeWithVersion(Term::Atom(std::string(5000, 'a'))).ok());
  std::string out;
  CHECK_FALSE(hb::EncodeTerm(Term::Tuple({Term::Atom(std::string(2000, 'x'))}), &out).ok());
}

// ---------------------------------------------------------------------------
// Binaries
// ---------------------------------------------------------------------------

TEST_CASE("term: binaries round-trip, empty and with NULs", "[term]") {
  std::string all;
  for (int i = 0; i < 256; ++i) all.push_back(static_cast<char>(i));
  std::string big(1 << 20, '\0');
  for (size_t i = 0; i < big.size(); ++i) big[i] = static_cast<char>((i * 131) & 0xff);
  for (const std::string& b :
       {std::string(), std::string("hello"), std::string("a\0b\0\0", 5), std::string(1, '\0'), all,
        big}) {
    INFO("binary of " << b.size() << " bytes");
    Term t = Term::Binary(b);
    CHECK(t.is_binary());
    Term back = RoundTrip(t);
    REQUIRE(back.is_binary());
    CHECK(back.text().size() == b.size());
    CHECK(back.text() == b);
  }
  CHECK(Encode(Term::Binary("")) == Bytes({131, 109, 0, 0, 0, 0}));
  CHECK(Encode(Term::Binary(std::string("a\0", 2))) == Bytes({131, 109, 0, 0, 0, 2, 97, 0}));
  CHECK(Term::Binary("a") != Term::Atom("a"));
}

TEST_CASE("term: Elixir-style binary from Erlang", "[term]") {
  Term t = DecodeAll(kElixirBin);
  REQUIRE(t.is_binary());
  CHECK(t.text() == std::string("Elixir.Foo.Bar\0\xff", 16));
  CHECK(Encode(t) == kElixirBin);

  Term s = DecodeAll(kElixirStruct);
  REQUIRE(s.is_map());
  CHECK(s.size() == 4);
  const Term* st = MapGet(s, Term::Atom("__struct__"));
  REQUIRE(st != nullptr);
  CHECK(st->is_atom("Elixir.Foo"));
  const Term* name = MapGet(s, Term::Atom("name"));
  REQUIRE(name != nullptr);
  CHECK(*name == Term::Binary("x"));
}

// ---------------------------------------------------------------------------
// Pids, references, ports
// ---------------------------------------------------------------------------

TEST_CASE("term: pid, ref and port from a real node decode field by field", "[term]") {
  Term p = DecodeAll(kPid);
  REQUIRE(p.is_pid());
  CHECK(p.pid().node == kFixNode);
  CHECK(p.pid().num == 9);
  CHECK(p.pid().serial == 0);
  CHECK(p.pid().creation == kFixCreation);
  CHECK(p == Term::MakePid(FixPid(9)));
  CHECK(p != Term::MakePid(FixPid(10)));
  RoundTrip(p);

  Term r = DecodeAll(kRef);
  REQUIRE(r.is_ref());
  CHECK(r.ref().node == kFixNode);
  CHECK(r.ref().creation == kFixCreation);
  CHECK(r.ref().ids == std::vector<uint32_t>{45888u, 676593665u, 3107472781u});
  RoundTrip(r);

  Term port = DecodeAll(kPort);
  REQUIRE(port.type() == Term::Type::kPort);
  CHECK(port.port().node == kFixNode);
  CHECK(port.port().id == 0);
  CHECK(port.port().creation == kFixCreation);
  RoundTrip(port);
}

TEST_CASE("term: constructed pids, refs and ports round-trip", "[term]") {
  RoundTrip(Term::MakePid({"a@b", 0, 0, 0}));
  RoundTrip(Term::MakePid({"gpu@host.example.com", 0x7fff, 0x1fff, 0xffffffffu}));
  RoundTrip(Term::MakePid({"gpu@host", 0xffffffffu, 0xffffffffu, 1}));  // v4 node container
  RoundTrip(Term::MakePid({kUtf8AtomText + "@h", 1, 2, 3}));

  for (size_t n = 1; n <= 5; ++n) {
    hb::Ref ref{"gpu@host", 0xdeadbeefu, {}};
    for (size_t i = 0; i < n; ++i) ref.ids.push_back(static_cast<uint32_t>(0x01020304u * (i + 1)));
    INFO(n << " id words");
    Term back = RoundTrip(Term::MakeRef(ref));
    CHECK(back.ref().ids.size() == n);
  }

  RoundTrip(Term::MakePort({"gpu@host", 7, 1}));
  RoundTrip(Term::MakePort({"gpu@host", 0x0fffffffu, 0xffffffffu}));
  // An id beyond 32 bits needs V4_PORT_EXT.
  Term big_port = RoundTrip(Term::MakePort({"gpu@host", 0x123456789ull, 9}));
  CHECK(big_port.port().id == 0x123456789ull);

  // Hand-written V4_PORT_EXT.
  Term v4 = DecodeAll(Bytes({131, 120, 119, 3, 97, 64, 98, 0, 0, 0, 1, 0, 0, 0, 2, 0, 0, 0, 3}));
  REQUIRE(v4.type() == Term::Type::kPort);
  CHECK(v4.port().node == "a@b");
  CHECK(v4.port().id == 0x100000002ull);
  CHECK(v4.port().creation == 3);
}

TEST_CASE("term: refs with 0 or 6+ id words and over-long node names are not encoded",
          "[term]") {
  CHECK_FALSE(hb::EncodeWithVersion(Term::MakeRef({"a@b", 1, {}})).ok());
  CHECK_FALSE(hb::EncodeWithVersion(Term::MakeRef({"a@b", 1, {1, 2, 3, 4, 5, 6}})).ok());
  CHECK_FALSE(hb::EncodeWithVersion(Term::MakePid({std::string(1100, 'n'), 1, 0, 1})).ok());
  CHECK_FALSE(hb::EncodeWithVersion(Term::MakePort({std::string(1100, 'n'), 1, 1})).ok());
  CHECK_FALSE(hb::EncodeWithVersion(Term::MakeRef({std::string(1100, 'n'), 1, {1}})).ok());
}

// ---------------------------------------------------------------------------
// Tuples and lists
// ---------------------------------------------------------------------------

TEST_CASE("term: tuples round-trip, empty and large", "[term]") {
  Term empty = RoundTrip(Term::Tuple({}));
  CHECK(empty.is_tuple(0));
  CHECK(Encode(Term::Tuple({})) == Bytes({131, 104, 0}));

  Term t = RoundTrip(Term::Tuple({Term::Atom("ok"), Term::Int(-7), Term::Binary("b"),
                                  Term::Float(2.5), Term::Nil()}));
  REQUIRE(t.is_tuple(5));
  CHECK(t[0].is_atom("ok"));
  CHECK(t[1].int_value() == -7);
  CHECK(t[4].is_nil());

  std::vector<Term> many;
  for (int i = 0; i < 300; ++i) many.push_back(Term::Int(i));
  std::string enc = Encode(Term::Tuple(many));
  REQUIRE(enc.size() > 5);
  CHECK(static_cast<uint8_t>(enc[1]) == hb::kLargeTupleExt);
  Term big = RoundTrip(Term::Tuple(many));
  REQUIRE(big.is_tuple(300));
  CHECK(big[299].int_value() == 299);
}

TEST_CASE("term: mixed tuple from Erlang", "[term]") {
  Term t = DecodeAll(kTupleMixed);
  REQUIRE(t.is_tuple(7));
  CHECK(t[0].is_atom("ok"));
  CHECK(t[1].float_value() == 1.5);
  CHECK(t[2] == Term::Binary(""));
  CHECK(t[3].is_nil());
  CHECK(t[4] == Term::List({Term::Int('a'), Term::Int('b')}));
  CHECK(t[5].int_value() == -1);
  CHECK(t[6].int_value() == 256);
}

TEST_CASE("term: nil and proper lists", "[term]") {
  Term nil;
  CHECK(nil.is_nil());
  CHECK(nil.is_list());
  CHECK(nil.is_proper_list());
  CHECK(nil.tail() == nullptr);
  CHECK(Term::Nil() == Term::List({}));
  CHECK(Encode(Term::Nil()) == Bytes({131, 106}));
  CHECK(RoundTrip(Term::Nil()).is_nil());

  Term l = RoundTrip(Term::List({Term::Int(1), Term::Atom("a"), Term::List({Term::Int(2)})}));
  REQUIRE(l.is_proper_list());
  CHECK_FALSE(l.is_nil());
  CHECK(l.size() == 3);
  CHECK(l.tail() == nullptr);
  CHECK(l[2].is_proper_list());
  CHECK(Term::List({Term::Int(1)}) != Term::Tuple({Term::Int(1)}));
}

TEST_CASE("term: improper lists", "[term]") {
  Term erl = DecodeAll(kImproper);
  REQUIRE(erl.is_list());
  CHECK_FALSE(erl.is_proper_list());
  CHECK_FALSE(erl.is_nil());
  REQUIRE(erl.size() == 2);
  CHECK(erl[0].int_value() == 1);
  CHECK(erl[1].is_atom("a"));
  REQUIRE(erl.tail() != nullptr);
  CHECK(erl.tail()->is_atom("b"));
  CHECK(erl == Term::ImproperList({Term::Int(1), Term::Atom("a")}, Term::Atom("b")));
  RoundTrip(erl);

  // [1 | 2]: ints encode exactly as Erlang does.
  Term one_two = Term::ImproperList({Term::Int(1)}, Term::Int(2));
  CHECK(Encode(one_two) == Bytes({131, 108, 0, 0, 0, 1, 97, 1, 97, 2}));
  CHECK(RoundTrip(one_two).tail()->int_value() == 2);

  // Improper and proper lists with the same elements differ.
  CHECK(Term::ImproperList({Term::Int(1)}, Term::Int(2)) !=
        Term::List({Term::Int(1), Term::Int(2)}));
  CHECK(Term::ImproperList({Term::Int(1)}, Term::Int(2)) !=
        Term::ImproperList({Term::Int(1)}, Term::Int(3)));

  // A nil tail makes a proper list.
  Term proper = Term::ImproperList({Term::Int(1)}, Term::Nil());
  CHECK(proper.is_proper_list());
  CHECK(proper == Term::List({Term::Int(1)}));

  // Binary tail, tuple tail.
  RoundTrip(Term::ImproperList({Term::Atom("x")}, Term::Binary("tail")));
  RoundTrip(Term::ImproperList({Term::Atom("x"), Term::Int(2)}, Term::Tuple({})));
}

TEST_CASE("term: STRING_EXT decodes to a list of integers", "[term]") {
  Term s = DecodeAll(kStr);
  REQUIRE(s.is_proper_list());
  REQUIRE(s.size() == 5);
  const char* hello = "hello";
  for (size_t i = 0; i < 5; ++i) {
    REQUIRE(s[i].is_int());
    CHECK(s[i].int_value() == hello[i]);
  }
  CHECK(s == Term::List({Term::Int('h'), Term::Int('e'), Term::Int('l'), Term::Int('l'),
                         Term::Int('o')}));

  // Bytes >= 128 are unsigned small integers.
  Term hi = DecodeAll(Bytes({131, 107, 0, 3, 0, 200, 255}));
  REQUIRE(hi.size() == 3);
  CHECK(hi[0].int_value() == 0);
  CHECK(hi[1].int_value() == 200);
  CHECK(hi[2].int_value() == 255);

  // An empty STRING_EXT is [].
  CHECK(DecodeAll(Bytes({131, 107, 0, 0})).is_nil());

  // A list of small ints that we encode comes back equal, whatever tag ei chose.
  RoundTrip(Term::List({Term::Int(104), Term::Int(105)}));
}

// ---------------------------------------------------------------------------
// Maps
// ---------------------------------------------------------------------------

TEST_CASE("term: nested map from Erlang", "[term]") {
  Term m = DecodeAll(kMap);
  REQUIRE(m.is_map());
  REQUIRE(m.size() == 6);
  const Term* a = MapGet(m, Term::Atom("a"));
  REQUIRE(a != nullptr);
  CHECK(a->int_value() == 1);
  const Term* three = MapGet(m, Term::Int(3));
  REQUIRE(three != nullptr);
  CHECK(three->float_value() == 4.5);
  const Term* k = MapGet(m, Term::Binary("k"));
  REQUIRE(k != nullptr);
  REQUIRE(k->is_map());
  const Term* x = MapGet(*k, Term::Atom("x"));
  REQUIRE(x != nullptr);
  CHECK(*x == Term::List({Term::Int(1), Term::Int(2)}));
  RoundTrip(m);
}

TEST_CASE("term: maps round-trip, empty and nested", "[term]") {
  Term empty = RoundTrip(Term::Map({}));
  CHECK(empty.is_map());
  CHECK(empty.size() == 0);
  CHECK(Encode(Term::Map({})) == Bytes({131, 116, 0, 0, 0, 0}));

  Term inner = Term::Map({{Term::Atom("deep"), Term::Map({{Term::Int(1), Term::Binary("v")}})}});
  Term m = Term::Map({{Term::Atom("a"), Term::Int(1)},
                      {Term::Binary("b"), inner},
                      {Term::Tuple({Term::Int(1), Term::Int(2)}), Term::List({Term::Nil()})},
                      {Term::Atom(kUtf8AtomText), Term::Float(-2.25)}});
  Term back = RoundTrip(m);
  REQUIRE(back.size() == 8);
  const Term* b = MapGet(back, Term::Binary("b"));
  REQUIRE(b != nullptr);
  CHECK(*b == inner);
  const Term* u = MapGet(back, Term::Atom(kUtf8AtomText));
  REQUIRE(u != nullptr);
  CHECK(u->float_value() == -2.25);
}

// ---------------------------------------------------------------------------
// A whole control tuple from a real node
// ---------------------------------------------------------------------------

TEST_CASE("term: SPAWN_REQUEST control tuple from a real node", "[term]") {
  Term t = DecodeAll(kSpawnReqCtrl);
  REQUIRE(t.is_tuple(6));
  CHECK(t[0].int_value() == 29);
  REQUIRE(t[1].is_ref());
  CHECK(t[1] == DecodeAll(kRef));
  REQUIRE(t[2].is_pid());
  CHECK(t[2].pid() == FixPid(9));
  REQUIRE(t[3].is_pid());
  CHECK(t[3].pid() == FixPid(71));
  CHECK(t[4] == Term::Tuple({Term::Atom("lists"), Term::Atom("reverse"), Term::Int(1)}));
  CHECK(t[5] == Term::List({Term::Atom("link"), Term::Atom("monitor"),
                            Term::Tuple({Term::Atom("priority"), Term::Atom("high")})}));
  // Re-encoding and decoding preserves the term.
  RoundTrip(t);
}

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
  CHECK_FALSE(hb::DecodeVersioned(Bytes({131, 80, 0, 0, 0, 103, 120, 156, 203, 102, 72, 97, 167, 3,
                                         0, 0, 220, 254, 3, 140}),
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
