// Unit tests for ei_bridge/control.h, what the decoder refuses: packets that
// are not 'p', unknown operations, wrong arities, missing or extra payloads,
// truncations, bad bytes, TermLimits, and control fields of the wrong type.
#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "ei_bridge/control.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "tests/ei_bridge/control_fixtures.h"
#include "tests/ei_bridge/otp_fixtures.h"

using hb::ControlMessage;
using hb::ControlOp;
using hb::Term;
using hb::testing::A;
using hb::testing::Bytes;
using hb::testing::Decode;
using hb::testing::Fails;
using hb::testing::I;
using hb::testing::kAliasSendCtrl;
using hb::testing::kExitReason;
using hb::testing::kExitTTCtrl;
using hb::testing::kMonitorNameCtrl;
using hb::testing::kPayloadExitCtrl;
using hb::testing::kSendCtrl;
using hb::testing::kSendMsg;
using hb::testing::kSpawnReqArgs;
using hb::testing::kSpawnReqCtrl;
using hb::testing::LocalPid;
using hb::testing::Msg;
using hb::testing::Packet;
using hb::testing::RemotePid;
using hb::testing::SomeRef;
using hb::testing::T;
using hb::testing::Token;
using hb::testing::V;

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
       {"p" + kSpawnReqCtrl + kSpawnReqArgs, "p" + kSendCtrl + kSendMsg, "p" + kMonitorNameCtrl,
        "p" + kPayloadExitCtrl + kExitReason, "p" + kExitTTCtrl, "p" + kAliasSendCtrl + kSendMsg}) {
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
