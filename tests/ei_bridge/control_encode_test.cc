// Unit tests for ei_bridge/control.h, encoding what hornbeamd sends: the
// Make* builders and hand-built messages round-trip with Erlang's control-tuple
// layout, ControlOpName names every operation, and the encoder refuses what it
// must not send.
#include <catch2/catch.hpp>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "ei_bridge/control.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "tests/ei_bridge/control_fixtures.h"

using hb::ControlMessage;
using hb::ControlOp;
using hb::Term;
using hb::testing::A;
using hb::testing::Decode;
using hb::testing::I;
using hb::testing::LocalPid;
using hb::testing::Msg;
using hb::testing::RemotePid;
using hb::testing::SomeRef;
using hb::testing::T;

namespace {

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
  ControlMessage n =
      EncodeDecode(hb::MakeMonitorPExit(A("worker"), RemotePid(2), SomeRef(), A("noproc")), &q);
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
      ControlOp::kLink,         ControlOp::kSend,           ControlOp::kExit,
      ControlOp::kUnlink,       ControlOp::kRegSend,        ControlOp::kGroupLeader,
      ControlOp::kExit2,        ControlOp::kSendTT,         ControlOp::kExitTT,
      ControlOp::kRegSendTT,    ControlOp::kExit2TT,        ControlOp::kMonitorP,
      ControlOp::kDemonitorP,   ControlOp::kMonitorPExit,   ControlOp::kSendSender,
      ControlOp::kSendSenderTT, ControlOp::kPayloadExit,    ControlOp::kPayloadExitTT,
      ControlOp::kPayloadExit2, ControlOp::kPayloadExit2TT, ControlOp::kPayloadMonitorPExit,
      ControlOp::kSpawnRequest, ControlOp::kSpawnRequestTT, ControlOp::kSpawnReply,
      ControlOp::kSpawnReplyTT, ControlOp::kAliasSend,      ControlOp::kAliasSendTT,
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
  for (ControlOp op :
       {ControlOp::kSendTT, ControlOp::kExitTT, ControlOp::kPayloadExit,
        ControlOp::kPayloadMonitorPExit, ControlOp::kSpawnRequestTT, ControlOp::kAliasSendTT}) {
    ControlMessage m = hb::MakeExit(LocalPid(1), RemotePid(2), A("normal"));
    m.op = op;
    CHECK_FALSE(hb::EncodeControlPacket(m).ok());
  }
  // A term that cannot be encoded is an error, not a malformed packet.
  CHECK_FALSE(hb::EncodeControlPacket(hb::MakeSend(RemotePid(1), A(std::string(2000, 'a')))).ok());
}
