// Unit tests for ei_bridge/term.h, node-bound and container terms: pids,
// references and ports; tuples, lists (proper, improper, STRING_EXT) and maps;
// and a whole SPAWN_REQUEST control tuple from a real OTP 25 node
// (tests/ei_bridge/otp_fixtures.h).
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "ei_bridge/ext_tags.h"
#include "ei_bridge/term.h"
#include "tests/ei_bridge/otp_fixtures.h"
#include "tests/ei_bridge/term_fixtures.h"

using hb::Term;
using hb::testing::Bytes;
using hb::testing::DecodeAll;
using hb::testing::Encode;
using hb::testing::kFixCreation;
using hb::testing::kFixNode;
using hb::testing::kImproper;
using hb::testing::kMap;
using hb::testing::kPid;
using hb::testing::kPort;
using hb::testing::kRef;
using hb::testing::kSpawnReqCtrl;
using hb::testing::kStr;
using hb::testing::kTupleMixed;
using hb::testing::kUtf8AtomText;
using hb::testing::MapGet;
using hb::testing::RoundTrip;

namespace {

hb::Pid FixPid(uint32_t num) { return hb::Pid{kFixNode, num, 0, kFixCreation}; }

}  // namespace

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

TEST_CASE("term: refs with 0 or 6+ id words and over-long node names are not encoded", "[term]") {
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

  Term t = RoundTrip(Term::Tuple(
      {Term::Atom("ok"), Term::Int(-7), Term::Binary("b"), Term::Float(2.5), Term::Nil()}));
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
  CHECK(s == Term::List(
                 {Term::Int('h'), Term::Int('e'), Term::Int('l'), Term::Int('l'), Term::Int('o')}));

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
