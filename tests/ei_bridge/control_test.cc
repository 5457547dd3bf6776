// Unit tests for ei_bridge/control.h: decoding received 'p' packets into
// ControlMessages and encoding what hornbeamd sends.
//
// Packets are 'p' ++ term_to_binary(Control) [++ term_to_binary(Payload)],
// built either from bytes a real OTP 25 node produced, or with the project's
// own EncodeWithVersion.
#include <catch2/catch.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "ei_bridge/control.h"
#include "ei_bridge/term.h"
#include "tests/ei_bridge/bytes_util.h"
#include "ei_bridge/term_validator.h"

using hb::ControlMessage;
using hb::ControlOp;
using hb::Term;

namespace {

using hb::testing::Bytes;
using hb::testing::Hex;



// --- Real-node fixtures ------------------------------------------------------
// Run 1 (creation 0x6b077604):
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
// [[1,2,3]]
const std::string kSpawnReqArgs = Bytes({131, 108, 0, 0, 0, 1, 107, 0, 3, 1, 2, 3, 106});
// {30, Ref, self(), group_leader(), {lists, reverse, 1}, [], tracetoken}
const std::string kSpawnReqTTCtrl = Bytes(
    {131, 104, 7,   97,  30,  90,  0,   3,   100, 0,   17,  102, 105, 120, 116, 117, 114, 101,
     64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  107, 7,   118, 4,   0,   0,   179, 64,
     40,  84,  0,   1,   185, 56,  69,  141, 88,  100, 0,   17,  102, 105, 120, 116, 117, 114,
     101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,   0,   0,   0,
     0,   107, 7,   118, 4,   88,  100, 0,   17,  102, 105, 120, 116, 117, 114, 101, 64,  49,
     50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   71,  0,   0,   0,   0,   107, 7,
     118, 4,   104, 3,   100, 0,   5,   108, 105, 115, 116, 115, 100, 0,   7,   114, 101, 118,
     101, 114, 115, 101, 97,  1,   106, 100, 0,   10,  116, 114, 97,  99,  101, 116, 111, 107,
     101, 110});
const uint32_t kCreation1 = 0x6b077604u;

// Run 2 (creation 0x6b077605): Self = <0.9.0>, Init = <0.0.0>,
// Ref = #Ref<0.1014006236.1212940289.241941>
// {2, '', Init}
const std::string kSendCtrl = Bytes({131, 104, 3, 97, 2, 100, 0, 0, 88, 100, 0, 17, 102, 105, 120, 116,
                                     117, 114, 101, 64, 49, 50, 55, 46, 48, 46, 48, 46, 49, 0, 0, 0,
                                     0, 0, 0, 0, 0, 107, 7, 118, 5});
// {hello, <<"world">>, [1.5 | tail]}
const std::string kSendMsg = Bytes({131, 104, 3, 100, 0, 5, 104, 101, 108, 108, 111, 109, 0, 0, 0, 5,
                                    119, 111, 114, 108, 100, 108, 0, 0, 0, 1, 70, 63, 248, 0, 0, 0,
                                    0, 0, 0, 100, 0, 4, 116, 97, 105, 108});
// {6, Self, '', rex}
const std::string kRegSendCtrl =
    Bytes({131, 104, 4, 97, 6, 88, 100, 0, 17, 102, 105, 120, 116, 117, 114, 101, 64, 49, 50, 55,
           46, 48, 46, 48, 46, 49, 0, 0, 0, 9, 0, 0, 0, 0, 107, 7, 118, 5, 100, 0, 0, 100, 0, 3,
           114, 101, 120});
// {19, Self, rex, Ref}
const std::string kMonitorNameCtrl = Bytes(
    {131, 104, 4,   97,  19,  88,  100, 0,   17,  102, 105, 120, 116, 117, 114, 101, 64,  49,
     50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,   0,   0,   0,   0,   107, 7,
     118, 5,   100, 0,   3,   114, 101, 120, 90,  0,   3,   100, 0,   17,  102, 105, 120, 116,
     117, 114, 101, 64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  107, 7,   118, 5,   0,
     3,   177, 21,  72,  76,  0,   1,   60,  112, 129, 220});
// {24, Self, Init}
const std::string kPayloadExitCtrl = Bytes(
    {131, 104, 3,   97,  24,  88,  100, 0,   17,  102, 105, 120, 116, 117, 114, 101, 64,  49,
     50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,   0,   0,   0,   0,   107, 7,
     118, 5,   88,  100, 0,   17,  102, 105, 120, 116, 117, 114, 101, 64,  49,  50,  55,  46,
     48,  46,  48,  46,  49,  0,   0,   0,   0,   0,   0,   0,   0,   107, 7,   118, 5});
// {shutdown, #{why => <<"bye">>}}
const std::string kExitReason = Bytes({131, 104, 2, 100, 0, 8, 115, 104, 117, 116, 100, 111, 119, 110,
                                       116, 0, 0, 0, 1, 100, 0, 3, 119, 104, 121, 109, 0, 0, 0, 3, 98,
                                       121, 101});
// {33, Self, Ref}
const std::string kAliasSendCtrl = Bytes(
    {131, 104, 3,   97,  33,  88,  100, 0,   17,  102, 105, 120, 116, 117, 114, 101, 64,  49,
     50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,   0,   0,   0,   0,   107, 7,
     118, 5,   90,  0,   3,   100, 0,   17,  102, 105, 120, 116, 117, 114, 101, 64,  49,  50,
     55,  46,  48,  46,  48,  46,  49,  107, 7,   118, 5,   0,   3,   177, 21,  72,  76,  0,
     1,   60,  112, 129, 220});
// {13, Self, Init, {0, 42, 7, Self, 3}, killed}
const std::string kExitTTCtrl = Bytes(
    {131, 104, 5,   97,  13,  88,  100, 0,   17,  102, 105, 120, 116, 117, 114, 101, 64,  49,
     50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,   0,   0,   0,   0,   107, 7,
     118, 5,   88,  100, 0,   17,  102, 105, 120, 116, 117, 114, 101, 64,  49,  50,  55,  46,
     48,  46,  48,  46,  49,  0,   0,   0,   0,   0,   0,   0,   0,   107, 7,   118, 5,   104,
     5,   97,  0,   97,  42,  97,  7,   88,  100, 0,   17,  102, 105, 120, 116, 117, 114, 101,
     64,  49,  50,  55,  46,  48,  46,  48,  46,  49,  0,   0,   0,   9,   0,   0,   0,   0,
     107, 7,   118, 5,   97,  3,   100, 0,   6,   107, 105, 108, 108, 101, 100});
const uint32_t kCreation2 = 0x6b077605u;
const std::string kNode = "fixture@127.0.0.1";

Term Pid1(uint32_t num) { return Term::MakePid({kNode, num, 0, kCreation1}); }
Term Pid2(uint32_t num) { return Term::MakePid({kNode, num, 0, kCreation2}); }
Term Ref1() { return Term::MakeRef({kNode, kCreation1, {45888u, 676593665u, 3107472781u}}); }
Term Ref2() { return Term::MakeRef({kNode, kCreation2, {241941u, 1212940289u, 1014006236u}}); }

// Terms used to build packets with the project's encoder.
Term LocalPid(uint32_t n) { return Term::MakePid({"gpu@host", n, 0, 7}); }
Term RemotePid(uint32_t n) { return Term::MakePid({"caller@host", n, 1, 9}); }
Term SomeRef() { return Term::MakeRef({"caller@host", 9, {1, 2, 3}}); }
Term Token() {
  return Term::Tuple({Term::Int(0), Term::Atom("label"), Term::Int(1), RemotePid(5), Term::Int(0)});
}
Term Msg() {
  return Term::Tuple({Term::Atom("call"), Term::Binary(std::string("x\0y", 3)),
                      Term::Map({{Term::Atom("k"), Term::List({Term::Int(1)})}})});
}

std::string V(const Term& t) {
  auto r = hb::EncodeWithVersion(t);
  REQUIRE(r.ok());
  return std::move(r).value();
}

std::string Packet(const Term& ctrl) { return "p" + V(ctrl); }
std::string Packet(const Term& ctrl, const Term& payload) { return "p" + V(ctrl) + V(payload); }

Term T(std::vector<Term> v) { return Term::Tuple(std::move(v)); }
Term I(int64_t v) { return Term::Int(v); }
Term A(std::string_view a) { return Term::Atom(a); }

ControlMessage Decode(const std::string& packet, const hb::TermLimits& l = hb::TermLimits{}) {
  INFO("packet: " << Hex(packet));
  auto r = hb::DecodeControlPacket(packet, l);
  INFO("status: " << r.status().message());
  REQUIRE(r.ok());
  return std::move(r).value();
}

bool Fails(const std::string& packet, const hb::TermLimits& l = hb::TermLimits{}) {
  auto r = hb::DecodeControlPacket(packet, l);
  return !r.ok();
}

// Decodes an encoded packet's control tuple and optional payload ourselves.
struct Parsed {
  Term ctrl;
  std::optional<Term> payload;
};
Parsed ParsePacket(const std::string& packet) {
  REQUIRE(!packet.empty());
  REQUIRE(packet[0] == 'p');
  hb::TermLimits l;
  size_t off = 1;
  auto c = hb::DecodeVersioned(packet, &off, l);
  REQUIRE(c.ok());
  Parsed p{std::move(c).value(), std::nullopt};
  if (off < packet.size()) {
    auto m = hb::DecodeVersioned(packet, &off, l);
    REQUIRE(m.ok());
    p.payload = std::move(m).value();
  }
  REQUIRE(off == packet.size());
  return p;
}

}  // namespace

// ---------------------------------------------------------------------------
// Real-node packets
// ---------------------------------------------------------------------------

TEST_CASE("control: SPAWN_REQUEST from a real node", "[control]") {
  ControlMessage m = Decode("p" + kSpawnReqCtrl + kSpawnReqArgs);
  CHECK(m.op == ControlOp::kSpawnRequest);
  CHECK(m.ref == Ref1());
  CHECK(m.from == Pid1(9));
  CHECK(m.group_leader == Pid1(71));
  CHECK(m.mfa == T({A("lists"), A("reverse"), I(1)}));
  CHECK(m.options ==
        Term::List({A("link"), A("monitor"), T({A("priority"), A("high")})}));
  REQUIRE(m.message.has_value());
  CHECK(*m.message == Term::List({Term::List({I(1), I(2), I(3)})}));
  CHECK_FALSE(m.trace_token.has_value());
}

TEST_CASE("control: SPAWN_REQUEST_TT from a real node", "[control]") {
  ControlMessage m = Decode("p" + kSpawnReqTTCtrl + kSpawnReqArgs);
  CHECK(m.op == ControlOp::kSpawnRequest);
  CHECK(m.ref == Ref1());
  CHECK(m.from == Pid1(9));
  CHECK(m.group_leader == Pid1(71));
  CHECK(m.mfa == T({A("lists"), A("reverse"), I(1)}));
  CHECK(m.options.is_nil());
  REQUIRE(m.message.has_value());
  CHECK(*m.message == Term::List({Term::List({I(1), I(2), I(3)})}));
  REQUIRE(m.trace_token.has_value());
  CHECK(m.trace_token->is_atom("tracetoken"));
}

TEST_CASE("control: SEND from a real node", "[control]") {
  ControlMessage m = Decode("p" + kSendCtrl + kSendMsg);
  CHECK(m.op == ControlOp::kSend);
  CHECK(m.to == Pid2(0));
  REQUIRE(m.message.has_value());
  CHECK(*m.message == T({A("hello"), Term::Binary("world"),
                         Term::ImproperList({Term::Float(1.5)}, A("tail"))}));
  CHECK_FALSE(m.trace_token.has_value());
}

TEST_CASE("control: REG_SEND from a real node", "[control]") {
  ControlMessage m = Decode("p" + kRegSendCtrl + kSendMsg);
  CHECK(m.op == ControlOp::kRegSend);
  CHECK(m.from == Pid2(9));
  CHECK(m.to.is_atom("rex"));
  REQUIRE(m.message.has_value());
  CHECK((*m.message)[0].is_atom("hello"));
}

TEST_CASE("control: MONITOR_P by registered name from a real node", "[control]") {
  ControlMessage m = Decode("p" + kMonitorNameCtrl);
  CHECK(m.op == ControlOp::kMonitorP);
  CHECK(m.from == Pid2(9));
  CHECK(m.to.is_atom("rex"));
  CHECK(m.ref == Ref2());
}

TEST_CASE("control: PAYLOAD_EXIT from a real node becomes EXIT", "[control]") {
  ControlMessage m = Decode("p" + kPayloadExitCtrl + kExitReason);
  CHECK(m.op == ControlOp::kExit);
  CHECK(m.from == Pid2(9));
  CHECK(m.to == Pid2(0));
  CHECK(m.reason ==
        T({A("shutdown"), Term::Map({{A("why"), Term::Binary("bye")}})}));
  CHECK_FALSE(m.trace_token.has_value());
}

TEST_CASE("control: ALIAS_SEND from a real node", "[control]") {
  ControlMessage m = Decode("p" + kAliasSendCtrl + kSendMsg);
  CHECK(m.op == ControlOp::kAliasSend);
  CHECK(m.from == Pid2(9));
  CHECK(m.to == Ref2());
  REQUIRE(m.message.has_value());
  CHECK((*m.message)[1] == Term::Binary("world"));
}

TEST_CASE("control: EXIT_TT from a real node", "[control]") {
  ControlMessage m = Decode("p" + kExitTTCtrl);
  CHECK(m.op == ControlOp::kExit);
  CHECK(m.from == Pid2(9));
  CHECK(m.to == Pid2(0));
  CHECK(m.reason.is_atom("killed"));
  REQUIRE(m.trace_token.has_value());
  CHECK(*m.trace_token == T({I(0), I(42), I(7), Pid2(9), I(3)}));
}

// ---------------------------------------------------------------------------
// Every operation, built with the project's encoder
// ---------------------------------------------------------------------------

TEST_CASE("control: LINK, UNLINK, GROUP_LEADER", "[control]") {
  struct {
    int num;
    ControlOp op;
  } cases[] = {{1, ControlOp::kLink}, {4, ControlOp::kUnlink}, {7, ControlOp::kGroupLeader}};
  for (auto& c : cases) {
    INFO("op " << c.num);
    ControlMessage m = Decode(Packet(T({I(c.num), RemotePid(1), LocalPid(2)})));
    CHECK(m.op == c.op);
    CHECK(m.from == RemotePid(1));
    CHECK(m.to == LocalPid(2));
    CHECK_FALSE(m.message.has_value());
    CHECK_FALSE(m.trace_token.has_value());
  }
}

TEST_CASE("control: SEND and SEND_TT", "[control]") {
  ControlMessage m = Decode(Packet(T({I(2), A(""), LocalPid(3)}), Msg()));
  CHECK(m.op == ControlOp::kSend);
  CHECK(m.to == LocalPid(3));
  REQUIRE(m.message.has_value());
  CHECK(*m.message == Msg());
  CHECK_FALSE(m.trace_token.has_value());

  ControlMessage tt = Decode(Packet(T({I(12), A(""), LocalPid(3), Token()}), Msg()));
  CHECK(tt.op == ControlOp::kSend);
  CHECK(tt.to == LocalPid(3));
  REQUIRE(tt.message.has_value());
  CHECK(*tt.message == Msg());
  REQUIRE(tt.trace_token.has_value());
  CHECK(*tt.trace_token == Token());
}

TEST_CASE("control: REG_SEND and REG_SEND_TT", "[control]") {
  ControlMessage m = Decode(Packet(T({I(6), RemotePid(1), A(""), A("hornbeam")}), Msg()));
  CHECK(m.op == ControlOp::kRegSend);
  CHECK(m.from == RemotePid(1));
  CHECK(m.to.is_atom("hornbeam"));
  REQUIRE(m.message.has_value());
  CHECK(*m.message == Msg());

  ControlMessage tt =
      Decode(Packet(T({I(16), RemotePid(1), A(""), A("hornbeam"), Token()}), Msg()));
  CHECK(tt.op == ControlOp::kRegSend);
  CHECK(tt.from == RemotePid(1));
  CHECK(tt.to.is_atom("hornbeam"));
  REQUIRE(tt.message.has_value());
  CHECK(*tt.message == Msg());
  REQUIRE(tt.trace_token.has_value());
  CHECK(*tt.trace_token == Token());
}

TEST_CASE("control: EXIT, EXIT2 and their _TT forms", "[control]") {
  Term reason = T({A("badarg"), Term::List({I(1)})});
  ControlMessage e = Decode(Packet(T({I(3), RemotePid(1), LocalPid(2), reason})));
  CHECK(e.op == ControlOp::kExit);
  CHECK(e.from == RemotePid(1));
  CHECK(e.to == LocalPid(2));
  CHECK(e.reason == reason);
  CHECK_FALSE(e.trace_token.has_value());

  ControlMessage e2 = Decode(Packet(T({I(8), RemotePid(1), LocalPid(2), A("kill")})));
  CHECK(e2.op == ControlOp::kExit2);
  CHECK(e2.from == RemotePid(1));
  CHECK(e2.to == LocalPid(2));
  CHECK(e2.reason.is_atom("kill"));

  ControlMessage ett = Decode(Packet(T({I(13), RemotePid(1), LocalPid(2), Token(), reason})));
  CHECK(ett.op == ControlOp::kExit);
  CHECK(ett.reason == reason);
  REQUIRE(ett.trace_token.has_value());
  CHECK(*ett.trace_token == Token());

  ControlMessage e2tt =
      Decode(Packet(T({I(18), RemotePid(1), LocalPid(2), Token(), A("normal")})));
  CHECK(e2tt.op == ControlOp::kExit2);
  CHECK(e2tt.from == RemotePid(1));
  CHECK(e2tt.to == LocalPid(2));
  CHECK(e2tt.reason.is_atom("normal"));
  REQUIRE(e2tt.trace_token.has_value());
  CHECK(*e2tt.trace_token == Token());
}

TEST_CASE("control: MONITOR_P with a pid and with a name; DEMONITOR_P", "[control]") {
  ControlMessage p = Decode(Packet(T({I(19), RemotePid(1), LocalPid(2), SomeRef()})));
  CHECK(p.op == ControlOp::kMonitorP);
  CHECK(p.from == RemotePid(1));
  CHECK(p.to == LocalPid(2));
  CHECK(p.ref == SomeRef());

  ControlMessage n = Decode(Packet(T({I(19), RemotePid(1), A("worker"), SomeRef()})));
  CHECK(n.op == ControlOp::kMonitorP);
  CHECK(n.to.is_atom("worker"));
  CHECK(n.ref == SomeRef());

  ControlMessage d = Decode(Packet(T({I(20), RemotePid(1), LocalPid(2), SomeRef()})));
  CHECK(d.op == ControlOp::kDemonitorP);
  CHECK(d.from == RemotePid(1));
  CHECK(d.to == LocalPid(2));
  CHECK(d.ref == SomeRef());

  ControlMessage dn = Decode(Packet(T({I(20), RemotePid(1), A("worker"), SomeRef()})));
  CHECK(dn.op == ControlOp::kDemonitorP);
  CHECK(dn.to.is_atom("worker"));
}

TEST_CASE("control: MONITOR_P_EXIT and PAYLOAD_MONITOR_P_EXIT", "[control]") {
  ControlMessage m =
      Decode(Packet(T({I(21), RemotePid(1), LocalPid(2), SomeRef(), A("noproc")})));
  CHECK(m.op == ControlOp::kMonitorPExit);
  CHECK(m.from == RemotePid(1));
  CHECK(m.to == LocalPid(2));
  CHECK(m.ref == SomeRef());
  CHECK(m.reason.is_atom("noproc"));

  // Watched process by name.
  ControlMessage n =
      Decode(Packet(T({I(21), A("worker"), LocalPid(2), SomeRef(), A("noconnection")})));
  CHECK(n.from.is_atom("worker"));
  CHECK(n.reason.is_atom("noconnection"));

  Term big_reason = T({A("error"), Term::Binary(std::string(5000, 'r'))});
  ControlMessage p =
      Decode(Packet(T({I(28), RemotePid(1), LocalPid(2), SomeRef()}), big_reason));
  CHECK(p.op == ControlOp::kMonitorPExit);
  CHECK(p.from == RemotePid(1));
  CHECK(p.to == LocalPid(2));
  CHECK(p.ref == SomeRef());
  CHECK(p.reason == big_reason);
}

TEST_CASE("control: SEND_SENDER and SEND_SENDER_TT", "[control]") {
  ControlMessage m = Decode(Packet(T({I(22), RemotePid(1), LocalPid(2)}), Msg()));
  CHECK(m.op == ControlOp::kSendSender);
  CHECK(m.from == RemotePid(1));
  CHECK(m.to == LocalPid(2));
  REQUIRE(m.message.has_value());
  CHECK(*m.message == Msg());
  CHECK_FALSE(m.trace_token.has_value());

  ControlMessage tt = Decode(Packet(T({I(23), RemotePid(1), LocalPid(2), Token()}), Msg()));
  CHECK(tt.op == ControlOp::kSendSender);
  CHECK(tt.from == RemotePid(1));
  CHECK(tt.to == LocalPid(2));
  REQUIRE(tt.message.has_value());
  CHECK(*tt.message == Msg());
  REQUIRE(tt.trace_token.has_value());
  CHECK(*tt.trace_token == Token());
}

TEST_CASE("control: PAYLOAD_EXIT / PAYLOAD_EXIT2 and their _TT forms", "[control]") {
  Term reason = T({A("shutdown"), Term::Binary("why")});
  struct {
    int num;
    ControlOp op;
    bool tt;
  } cases[] = {{24, ControlOp::kExit, false},
               {25, ControlOp::kExit, true},
               {26, ControlOp::kExit2, false},
               {27, ControlOp::kExit2, true}};
  for (auto& c : cases) {
    INFO("op " << c.num);
    std::vector<Term> ctrl = {I(c.num), RemotePid(1), LocalPid(2)};
    if (c.tt) ctrl.push_back(Token());
    ControlMessage m = Decode(Packet(T(ctrl), reason));
    CHECK(m.op == c.op);
    CHECK(m.from == RemotePid(1));
    CHECK(m.to == LocalPid(2));
    CHECK(m.reason == reason);
    CHECK(m.trace_token.has_value() == c.tt);
    if (c.tt && m.trace_token) CHECK(*m.trace_token == Token());
  }
}

TEST_CASE("control: SPAWN_REQUEST and SPAWN_REQUEST_TT built locally", "[control]") {
  Term mfa = T({A("Elixir.Worker"), A("run"), I(2)});
  Term opts = Term::List({A("monitor"), T({A("reply"), A("yes")})});
  Term args = Term::List({Term::Binary("in"), Term::Map({})});
  ControlMessage m =
      Decode(Packet(T({I(29), SomeRef(), RemotePid(1), RemotePid(2), mfa, opts}), args));
  CHECK(m.op == ControlOp::kSpawnRequest);
  CHECK(m.ref == SomeRef());
  CHECK(m.from == RemotePid(1));
  CHECK(m.group_leader == RemotePid(2));
  CHECK(m.mfa == mfa);
  CHECK(m.options == opts);
  REQUIRE(m.message.has_value());
  CHECK(*m.message == args);
  CHECK_FALSE(m.trace_token.has_value());

  ControlMessage tt = Decode(
      Packet(T({I(30), SomeRef(), RemotePid(1), RemotePid(2), mfa, opts, Token()}), args));
  CHECK(tt.op == ControlOp::kSpawnRequest);
  CHECK(tt.ref == SomeRef());
  CHECK(tt.mfa == mfa);
  REQUIRE(tt.message.has_value());
  CHECK(*tt.message == args);
  REQUIRE(tt.trace_token.has_value());
  CHECK(*tt.trace_token == Token());

  // Zero-arity call: empty argument list.
  ControlMessage z = Decode(Packet(
      T({I(29), SomeRef(), RemotePid(1), RemotePid(2), T({A("m"), A("f"), I(0)}), Term::Nil()}),
      Term::Nil()));
  REQUIRE(z.message.has_value());
  CHECK(z.message->is_nil());
}

TEST_CASE("control: SPAWN_REPLY and SPAWN_REPLY_TT", "[control]") {
  ControlMessage ok = Decode(Packet(T({I(31), SomeRef(), RemotePid(1), I(3), LocalPid(9)})));
  CHECK(ok.op == ControlOp::kSpawnReply);
  CHECK(ok.ref == SomeRef());
  CHECK(ok.to == RemotePid(1));
  CHECK(ok.flags == 3);
  CHECK(ok.result == LocalPid(9));

  ControlMessage err = Decode(Packet(T({I(31), SomeRef(), RemotePid(1), I(0), A("badarg")})));
  CHECK(err.op == ControlOp::kSpawnReply);
  CHECK(err.flags == 0);
  CHECK(err.result.is_atom("badarg"));

  ControlMessage tt =
      Decode(Packet(T({I(32), SomeRef(), RemotePid(1), I(1), LocalPid(9), Token()})));
  CHECK(tt.op == ControlOp::kSpawnReply);
  CHECK(tt.flags == 1);
  CHECK(tt.result == LocalPid(9));
  REQUIRE(tt.trace_token.has_value());
  CHECK(*tt.trace_token == Token());
}

TEST_CASE("control: ALIAS_SEND and ALIAS_SEND_TT", "[control]") {
  ControlMessage m = Decode(Packet(T({I(33), RemotePid(1), SomeRef()}), Msg()));
  CHECK(m.op == ControlOp::kAliasSend);
  CHECK(m.from == RemotePid(1));
  CHECK(m.to == SomeRef());
  REQUIRE(m.message.has_value());
  CHECK(*m.message == Msg());

  ControlMessage tt = Decode(Packet(T({I(34), RemotePid(1), SomeRef(), Token()}), Msg()));
  CHECK(tt.op == ControlOp::kAliasSend);
  CHECK(tt.to == SomeRef());
  REQUIRE(tt.trace_token.has_value());
  CHECK(*tt.trace_token == Token());
}

TEST_CASE("control: UNLINK_ID and UNLINK_ID_ACK", "[control]") {
  // Unlink ids are integers, possibly beyond 32 bits.
  Term id = I(12345678901LL);
  ControlMessage u = Decode(Packet(T({I(35), id, RemotePid(1), LocalPid(2)})));
  CHECK(u.op == ControlOp::kUnlinkId);
  CHECK(u.ref == id);
  CHECK(u.from == RemotePid(1));
  CHECK(u.to == LocalPid(2));

  ControlMessage a = Decode(Packet(T({I(36), I(7), RemotePid(1), LocalPid(2)})));
  CHECK(a.op == ControlOp::kUnlinkIdAck);
  CHECK(a.ref == I(7));
  CHECK(a.from == RemotePid(1));
  CHECK(a.to == LocalPid(2));
}

// ---------------------------------------------------------------------------
// Malformed packets
// ---------------------------------------------------------------------------

TEST_CASE("control: not a 'p' packet", "[control]") {
  CHECK(Fails(""));
  CHECK(Fails("p"));
  CHECK(Fails("x" + V(T({I(1), RemotePid(1), LocalPid(2)}))));
  CHECK(Fails(V(T({I(1), RemotePid(1), LocalPid(2)}))));  // no 'p'
  CHECK(Fails(std::string(1, '\0')));
  // 'p' followed by a term without its version byte.
  std::string raw;
  REQUIRE(hb::EncodeTerm(T({I(1), RemotePid(1), LocalPid(2)}), &raw).ok());
  CHECK(Fails("p" + raw));
}

TEST_CASE("control: control must be a tuple led by a known small integer", "[control]") {
  CHECK(Fails(Packet(I(1))));
  CHECK(Fails(Packet(A("link"))));
  CHECK(Fails(Packet(Term::List({I(1), RemotePid(1), LocalPid(2)}))));
  CHECK(Fails(Packet(Term::Map({{I(1), RemotePid(1)}}))));
  CHECK(Fails(Packet(T({}))));
  CHECK(Fails(Packet(T({A("link"), RemotePid(1), LocalPid(2)}))));
  CHECK(Fails(Packet(T({Term::Float(1.0), RemotePid(1), LocalPid(2)}))));
  for (int64_t op : {0LL, -1LL, 5LL, 9LL, 10LL, 11LL, 14LL, 15LL, 17LL, 37LL, 38LL, 100LL, 255LL,
                     256LL, 1LL << 40}) {
    INFO("op " << op);
    CHECK(Fails(Packet(T({I(op), RemotePid(1), LocalPid(2)}))));
    CHECK(Fails(Packet(T({I(op), RemotePid(1), LocalPid(2)}), Msg())));
  }
}

TEST_CASE("control: wrong arity for the operation", "[control]") {
  Term f = RemotePid(1), t = LocalPid(2), r = SomeRef();
  Term mfa = T({A("m"), A("f"), I(0)});
  // LINK
  CHECK(Fails(Packet(T({I(1), f}))));
  CHECK(Fails(Packet(T({I(1), f, t, A("extra")}))));
  // SEND
  CHECK(Fails(Packet(T({I(2), t}), Msg())));
  CHECK(Fails(Packet(T({I(2), A(""), t, A("extra")}), Msg())));
  // EXIT
  CHECK(Fails(Packet(T({I(3), f, t}))));
  CHECK(Fails(Packet(T({I(3), f, t, A("r"), A("extra")}))));
  // UNLINK, GROUP_LEADER
  CHECK(Fails(Packet(T({I(4), f, t, t}))));
  CHECK(Fails(Packet(T({I(7), f}))));
  // REG_SEND
  CHECK(Fails(Packet(T({I(6), f, A("name")}), Msg())));
  // EXIT2
  CHECK(Fails(Packet(T({I(8), f, t}))));
  // _TT forms without their token
  CHECK(Fails(Packet(T({I(12), A(""), t}), Msg())));
  CHECK(Fails(Packet(T({I(13), f, t, A("r")}))));
  CHECK(Fails(Packet(T({I(16), f, A(""), A("name")}), Msg())));
  CHECK(Fails(Packet(T({I(18), f, t, A("r")}))));
  // MONITOR_P, DEMONITOR_P, MONITOR_P_EXIT
  CHECK(Fails(Packet(T({I(19), f, t}))));
  CHECK(Fails(Packet(T({I(20), f, t, r, r}))));
  CHECK(Fails(Packet(T({I(21), f, t, r}))));
  // SEND_SENDER
  CHECK(Fails(Packet(T({I(22), f}), Msg())));
  // PAYLOAD_EXIT, PAYLOAD_MONITOR_P_EXIT
  CHECK(Fails(Packet(T({I(24), f, t, A("r")}), A("r"))));
  CHECK(Fails(Packet(T({I(28), f, t}), A("r"))));
  // SPAWN_REQUEST(_TT)
  CHECK(Fails(Packet(T({I(29), r, f, f, mfa}), Term::Nil())));
  CHECK(Fails(Packet(T({I(29), r, f, f, mfa, Term::Nil(), A("extra")}), Term::Nil())));
  CHECK(Fails(Packet(T({I(30), r, f, f, mfa, Term::Nil()}), Term::Nil())));
  // SPAWN_REPLY
  CHECK(Fails(Packet(T({I(31), r, f, I(0)}))));
  // ALIAS_SEND
  CHECK(Fails(Packet(T({I(33), f}), Msg())));
  // UNLINK_ID(_ACK)
  CHECK(Fails(Packet(T({I(35), I(1), f}))));
  CHECK(Fails(Packet(T({I(36), I(1), f, t, t}))));
}

TEST_CASE("control: missing required payload", "[control]") {
  Term f = RemotePid(1), t = LocalPid(2), r = SomeRef();
  CHECK(Fails(Packet(T({I(2), A(""), t}))));
  CHECK(Fails(Packet(T({I(6), f, A(""), A("name")}))));
  CHECK(Fails(Packet(T({I(12), A(""), t, Token()}))));
  CHECK(Fails(Packet(T({I(22), f, t}))));
  CHECK(Fails(Packet(T({I(24), f, t}))));
  CHECK(Fails(Packet(T({I(26), f, t}))));
  CHECK(Fails(Packet(T({I(28), f, t, r}))));
  CHECK(Fails(Packet(T({I(29), r, f, f, T({A("m"), A("f"), I(0)}), Term::Nil()}))));
  CHECK(Fails(Packet(T({I(33), f, r}))));
  CHECK(Fails("p" + kSpawnReqCtrl));
  CHECK(Fails("p" + kSendCtrl));
  CHECK(Fails("p" + kPayloadExitCtrl));
}

TEST_CASE("control: trailing garbage", "[control]") {
  Term f = RemotePid(1), t = LocalPid(2);
  // A payload where none belongs.
  CHECK(Fails(Packet(T({I(1), f, t}), Msg())));
  CHECK(Fails(Packet(T({I(3), f, t, A("r")}), A("r"))));
  CHECK(Fails(Packet(T({I(19), f, t, SomeRef()}), A("x"))));
  // Raw bytes after the control or payload.
  CHECK(Fails(Packet(T({I(1), f, t})) + std::string(1, '\0')));
  CHECK(Fails(Packet(T({I(1), f, t})) + "\x83"));
  CHECK(Fails(Packet(T({I(2), A(""), t}), Msg()) + "x"));
  CHECK(Fails("p" + kSendCtrl + kSendMsg + kSendMsg));
  CHECK(Fails("p" + kSpawnReqCtrl + kSpawnReqArgs + Bytes({131})));
  CHECK(Fails("p" + kMonitorNameCtrl + Bytes({0, 0, 0, 0})));
}

TEST_CASE("control: every truncation of real packets fails", "[control]") {
  for (const std::string& full :
       {"p" + kSpawnReqCtrl + kSpawnReqArgs, "p" + kSendCtrl + kSendMsg,
        "p" + kMonitorNameCtrl, "p" + kPayloadExitCtrl + kExitReason, "p" + kExitTTCtrl,
        "p" + kAliasSendCtrl + kSendMsg}) {
    REQUIRE_FALSE(Fails(full));
    for (size_t len = 0; len < full.size(); ++len) {
      INFO("prefix " << len << "/" << full.size());
      CHECK(Fails(full.substr(0, len)));
    }
  }
}

TEST_CASE("control: bad payload bytes are rejected, not decoded", "[control]") {
  // Atom cache reference in the control.
  CHECK(Fails("p" + Bytes({131, 104, 3, 97, 1, 82, 0, 82, 1})));
  // Payload is a bare tag.
  CHECK(Fails("p" + kSendCtrl + Bytes({131, 255})));
  // Truncated payload.
  CHECK(Fails("p" + kSendCtrl + kSendMsg.substr(0, kSendMsg.size() - 1)));
}

TEST_CASE("control: TermLimits apply to control and payload", "[control]") {
  Term deep = Term::Nil();
  for (int i = 0; i < 100; ++i) deep = T({deep});
  std::string send_deep = Packet(T({I(2), A(""), LocalPid(1)}), deep);
  hb::TermLimits tight;
  tight.max_depth = 20;
  CHECK(Fails(send_deep, tight));
  hb::TermLimits roomy;
  roomy.max_depth = 200;
  ControlMessage m = Decode(send_deep, roomy);
  REQUIRE(m.message.has_value());
  CHECK(*m.message == deep);

  std::string deep_ctrl = Packet(T({I(3), RemotePid(1), LocalPid(2), deep}));
  CHECK(Fails(deep_ctrl, tight));

  std::vector<Term> many(5000, I(1));
  std::string wide = Packet(T({I(2), A(""), LocalPid(1)}), Term::List(many));
  hb::TermLimits few;
  few.max_elements = 1000;
  CHECK(Fails(wide, few));
  CHECK_FALSE(Fails(wide, hb::TermLimits{}));
}

// ---------------------------------------------------------------------------
// Encoding what hornbeamd sends
// ---------------------------------------------------------------------------

namespace {

ControlMessage EncodeDecode(const ControlMessage& m, Parsed* parsed) {
  auto enc = hb::EncodeControlPacket(m);
  INFO("status: " << enc.status().message());
  REQUIRE(enc.ok());
  *parsed = ParsePacket(*enc);
  return Decode(*enc);
}

}  // namespace

TEST_CASE("control: MakeSend round-trips and has Erlang's SEND layout", "[control]") {
  Parsed p;
  ControlMessage m = EncodeDecode(hb::MakeSend(RemotePid(4), Msg()), &p);
  CHECK(m.op == ControlOp::kSend);
  CHECK(m.to == RemotePid(4));
  REQUIRE(m.message.has_value());
  CHECK(*m.message == Msg());
  CHECK_FALSE(m.trace_token.has_value());
  // {2, Unused, ToPid} + Message
  REQUIRE(p.ctrl.is_tuple(3));
  CHECK(p.ctrl[0] == I(2));
  CHECK(p.ctrl[2] == RemotePid(4));
  REQUIRE(p.payload.has_value());
  CHECK(*p.payload == Msg());
}

TEST_CASE("control: MakeAliasSend round-trips", "[control]") {
  Parsed p;
  ControlMessage m = EncodeDecode(hb::MakeAliasSend(LocalPid(1), SomeRef(), Msg()), &p);
  CHECK(m.op == ControlOp::kAliasSend);
  CHECK(m.from == LocalPid(1));
  CHECK(m.to == SomeRef());
  REQUIRE(m.message.has_value());
  CHECK(*m.message == Msg());
  // {33, FromPid, Alias} + Message
  CHECK(p.ctrl == T({I(33), LocalPid(1), SomeRef()}));
  REQUIRE(p.payload.has_value());
  CHECK(*p.payload == Msg());
}

TEST_CASE("control: MakeExit round-trips", "[control]") {
  Parsed p;
  Term reason = T({A("error"), Term::Binary("boom")});
  ControlMessage m = EncodeDecode(hb::MakeExit(LocalPid(1), RemotePid(2), reason), &p);
  CHECK(m.op == ControlOp::kExit);
  CHECK(m.from == LocalPid(1));
  CHECK(m.to == RemotePid(2));
  CHECK(m.reason == reason);
  // {3, FromPid, ToPid, Reason}, no payload (we do not advertise EXIT_PAYLOAD).
  CHECK(p.ctrl == T({I(3), LocalPid(1), RemotePid(2), reason}));
  CHECK_FALSE(p.payload.has_value());
}

TEST_CASE("control: MakeMonitorPExit round-trips", "[control]") {
  Parsed p;
  ControlMessage m =
      EncodeDecode(hb::MakeMonitorPExit(LocalPid(1), RemotePid(2), SomeRef(), A("noproc")), &p);
  CHECK(m.op == ControlOp::kMonitorPExit);
  CHECK(m.from == LocalPid(1));
  CHECK(m.to == RemotePid(2));
  CHECK(m.ref == SomeRef());
  CHECK(m.reason.is_atom("noproc"));
  // {21, FromProc, ToPid, Ref, Reason}
  CHECK(p.ctrl == T({I(21), LocalPid(1), RemotePid(2), SomeRef(), A("noproc")}));
  CHECK_FALSE(p.payload.has_value());

  // The watched process may be a registered name.
  Parsed q;
  ControlMessage n = EncodeDecode(
      hb::MakeMonitorPExit(A("worker"), RemotePid(2), SomeRef(), A("noproc")), &q);
  CHECK(n.from.is_atom("worker"));
  CHECK(q.ctrl[1].is_atom("worker"));
}

TEST_CASE("control: MakeSpawnReply round-trips", "[control]") {
  Parsed p;
  ControlMessage m = EncodeDecode(hb::MakeSpawnReply(SomeRef(), RemotePid(2), 1, LocalPid(77)), &p);
  CHECK(m.op == ControlOp::kSpawnReply);
  CHECK(m.ref == SomeRef());
  CHECK(m.to == RemotePid(2));
  CHECK(m.flags == 1);
  CHECK(m.result == LocalPid(77));
  // {31, ReqId, To, Flags, Result}
  CHECK(p.ctrl == T({I(31), SomeRef(), RemotePid(2), I(1), LocalPid(77)}));
  CHECK_FALSE(p.payload.has_value());

  Parsed q;
  ControlMessage e = EncodeDecode(hb::MakeSpawnReply(SomeRef(), RemotePid(2), 0, A("badarg")), &q);
  CHECK(e.flags == 0);
  CHECK(e.result.is_atom("badarg"));
  CHECK(q.ctrl == T({I(31), SomeRef(), RemotePid(2), I(0), A("badarg")}));
}

TEST_CASE("control: MakeUnlinkIdAck round-trips", "[control]") {
  Parsed p;
  ControlMessage m =
      EncodeDecode(hb::MakeUnlinkIdAck(I(12345678901LL), LocalPid(1), RemotePid(2)), &p);
  CHECK(m.op == ControlOp::kUnlinkIdAck);
  CHECK(m.ref == I(12345678901LL));
  CHECK(m.from == LocalPid(1));
  CHECK(m.to == RemotePid(2));
  // {36, Id, FromPid, ToPid}
  CHECK(p.ctrl == T({I(36), I(12345678901LL), LocalPid(1), RemotePid(2)}));
  CHECK_FALSE(p.payload.has_value());
}

TEST_CASE("control: base operations built by hand round-trip", "[control]") {
  Term f = RemotePid(1), t = LocalPid(2);
  SECTION("LINK") {
    ControlMessage m;
    m.op = ControlOp::kLink;
    m.from = f;
    m.to = t;
    Parsed p;
    ControlMessage back = EncodeDecode(m, &p);
    CHECK(back.op == ControlOp::kLink);
    CHECK(back.from == f);
    CHECK(back.to == t);
    CHECK(p.ctrl == T({I(1), f, t}));
  }
  SECTION("REG_SEND") {
    ControlMessage m;
    m.op = ControlOp::kRegSend;
    m.from = f;
    m.to = A("rex");
    m.message = Msg();
    Parsed p;
    ControlMessage back = EncodeDecode(m, &p);
    CHECK(back.op == ControlOp::kRegSend);
    CHECK(back.from == f);
    CHECK(back.to.is_atom("rex"));
    REQUIRE(back.message.has_value());
    CHECK(*back.message == Msg());
    REQUIRE(p.ctrl.is_tuple(4));
    CHECK(p.ctrl[0] == I(6));
    CHECK(p.ctrl[1] == f);
    CHECK(p.ctrl[3].is_atom("rex"));
  }
  SECTION("MONITOR_P") {
    ControlMessage m;
    m.op = ControlOp::kMonitorP;
    m.from = t;
    m.to = f;
    m.ref = SomeRef();
    Parsed p;
    ControlMessage back = EncodeDecode(m, &p);
    CHECK(back.op == ControlOp::kMonitorP);
    CHECK(back.ref == SomeRef());
    CHECK(p.ctrl == T({I(19), t, f, SomeRef()}));
  }
}

TEST_CASE("control: ControlOpName names every operation", "[control]") {
  const ControlOp ops[] = {
      ControlOp::kLink,         ControlOp::kSend,          ControlOp::kExit,
      ControlOp::kUnlink,       ControlOp::kRegSend,       ControlOp::kGroupLeader,
      ControlOp::kExit2,        ControlOp::kSendTT,        ControlOp::kExitTT,
      ControlOp::kRegSendTT,    ControlOp::kExit2TT,       ControlOp::kMonitorP,
      ControlOp::kDemonitorP,   ControlOp::kMonitorPExit,  ControlOp::kSendSender,
      ControlOp::kSendSenderTT, ControlOp::kPayloadExit,   ControlOp::kPayloadExitTT,
      ControlOp::kPayloadExit2, ControlOp::kPayloadExit2TT, ControlOp::kPayloadMonitorPExit,
      ControlOp::kSpawnRequest, ControlOp::kSpawnRequestTT, ControlOp::kSpawnReply,
      ControlOp::kSpawnReplyTT, ControlOp::kAliasSend,     ControlOp::kAliasSendTT,
      ControlOp::kUnlinkId,     ControlOp::kUnlinkIdAck};
  std::vector<std::string> names;
  for (ControlOp op : ops) {
    const char* n = hb::ControlOpName(op);
    REQUIRE(n != nullptr);
    CHECK(std::string(n).size() > 0);
    names.emplace_back(n);
  }
  // Distinct names.
  for (size_t i = 0; i < names.size(); ++i) {
    for (size_t j = i + 1; j < names.size(); ++j) CHECK(names[i] != names[j]);
  }
  CHECK(hb::ControlOpName(static_cast<ControlOp>(999)) != nullptr);
}

TEST_CASE("control: field types the daemon relies on are checked", "[control]") {
  Term f = RemotePid(1), r = SomeRef();
  Term opts = Term::Nil();
  Term args = Term::List({I(1)});
  // SPAWN_REQUEST needs {Module, Function, Arity} and list options/arguments.
  CHECK(Fails(Packet(T({I(29), r, f, f, T({A("m"), A("f")}), opts}), args)));
  CHECK(Fails(Packet(T({I(29), r, f, f, T({Term::Binary("m"), A("f"), I(1)}), opts}), args)));
  CHECK(Fails(Packet(T({I(29), r, f, f, T({A("m"), I(3), I(1)}), opts}), args)));
  CHECK(Fails(Packet(T({I(29), r, f, f, T({A("m"), A("f"), A("one")}), opts}), args)));
  CHECK(Fails(Packet(T({I(29), r, f, f, A("mfa"), opts}), args)));
  CHECK(Fails(Packet(T({I(29), r, f, f, T({A("m"), A("f"), I(1)}), A("link")}), args)));
  CHECK(Fails(Packet(T({I(29), r, f, f, T({A("m"), A("f"), I(1)}), opts}), A("notalist"))));
  CHECK(Fails(Packet(T({I(29), r, f, f, T({A("m"), A("f"), I(1)}), opts}),
                     Term::ImproperList({I(1)}, I(2)))));
  CHECK_FALSE(Fails(Packet(T({I(29), r, f, f, T({A("m"), A("f"), I(1)}), opts}), args)));
  // REG_SEND names an atom.
  CHECK(Fails(Packet(T({I(6), f, A(""), LocalPid(2)}), Msg())));
  // SPAWN_REPLY flags are an integer.
  CHECK(Fails(Packet(T({I(31), r, f, A("x"), LocalPid(2)}))));
}

TEST_CASE("control: the encoder refuses what it must not send", "[control]") {
  // A message where the operation has none, and none where it needs one.
  ControlMessage link;
  link.op = ControlOp::kLink;
  link.from = RemotePid(1);
  link.to = LocalPid(2);
  link.message = Msg();
  CHECK_FALSE(hb::EncodeControlPacket(link).ok());
  ControlMessage send = hb::MakeSend(RemotePid(1), Msg());
  send.message.reset();
  CHECK_FALSE(hb::EncodeControlPacket(send).ok());
  // _TT and PAYLOAD_ forms are never encoded.
  for (ControlOp op : {ControlOp::kSendTT, ControlOp::kExitTT, ControlOp::kPayloadExit,
                       ControlOp::kPayloadMonitorPExit, ControlOp::kSpawnRequestTT,
                       ControlOp::kAliasSendTT}) {
    ControlMessage m = hb::MakeExit(LocalPid(1), RemotePid(2), A("normal"));
    m.op = op;
    CHECK_FALSE(hb::EncodeControlPacket(m).ok());
  }
  // A term that cannot be encoded is an error, not a malformed packet.
  CHECK_FALSE(hb::EncodeControlPacket(hb::MakeSend(RemotePid(1), A(std::string(2000, 'a')))).ok());
}
