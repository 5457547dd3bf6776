// Unit tests for ei_bridge/control.h, decoding well-formed 'p' packets into
// ControlMessages: packets a real OTP 25 node sent (tests/ei_bridge/otp_fixtures.h),
// then every operation built with the project's own EncodeWithVersion.
//
// Packets are 'p' ++ term_to_binary(Control) [++ term_to_binary(Payload)].
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "ei_bridge/control.h"
#include "ei_bridge/term.h"
#include "tests/ei_bridge/control_fixtures.h"
#include "tests/ei_bridge/otp_fixtures.h"

using hb::ControlMessage;
using hb::ControlOp;
using hb::Term;
using hb::testing::A;
using hb::testing::Decode;
using hb::testing::I;
using hb::testing::kAliasSendCtrl;
using hb::testing::kExitReason;
using hb::testing::kExitTTCtrl;
using hb::testing::kFixCreation;
using hb::testing::kFixCreation2;
using hb::testing::kFixNode;
using hb::testing::kMonitorNameCtrl;
using hb::testing::kPayloadExitCtrl;
using hb::testing::kRegSendCtrl;
using hb::testing::kSendCtrl;
using hb::testing::kSendMsg;
using hb::testing::kSpawnReqArgs;
using hb::testing::kSpawnReqCtrl;
using hb::testing::kSpawnReqTTCtrl;
using hb::testing::LocalPid;
using hb::testing::Msg;
using hb::testing::Packet;
using hb::testing::RemotePid;
using hb::testing::SomeRef;
using hb::testing::T;
using hb::testing::Token;

namespace {

// The real node's pids and refs, by run.
Term Pid1(uint32_t num) { return Term::MakePid({kFixNode, num, 0, kFixCreation}); }
Term Pid2(uint32_t num) { return Term::MakePid({kFixNode, num, 0, kFixCreation2}); }
Term Ref1() { return Term::MakeRef({kFixNode, kFixCreation, {45888u, 676593665u, 3107472781u}}); }
Term Ref2() {
  return Term::MakeRef({kFixNode, kFixCreation2, {241941u, 1212940289u, 1014006236u}});
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
  CHECK(m.options == Term::List({A("link"), A("monitor"), T({A("priority"), A("high")})}));
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
  CHECK(*m.message ==
        T({A("hello"), Term::Binary("world"), Term::ImproperList({Term::Float(1.5)}, A("tail"))}));
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
  CHECK(m.reason == T({A("shutdown"), Term::Map({{A("why"), Term::Binary("bye")}})}));
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

  ControlMessage e2tt = Decode(Packet(T({I(18), RemotePid(1), LocalPid(2), Token(), A("normal")})));
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
  ControlMessage m = Decode(Packet(T({I(21), RemotePid(1), LocalPid(2), SomeRef(), A("noproc")})));
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
  ControlMessage p = Decode(Packet(T({I(28), RemotePid(1), LocalPid(2), SomeRef()}), big_reason));
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

  ControlMessage tt =
      Decode(Packet(T({I(30), SomeRef(), RemotePid(1), RemotePid(2), mfa, opts, Token()}), args));
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
