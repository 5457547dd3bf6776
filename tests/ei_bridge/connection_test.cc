// Connection (ei_bridge/connection.h): one peer's stream from accept to
// close, driven end to end through a DistNode on 127.0.0.1 by a peer that
// speaks the protocol itself: the handshake and its deadline, 4-byte framing,
// ticks both ways, the packet size limit, and what closes a connection.
#include "ei_bridge/connection.h"

#include <catch2/catch.hpp>

#include <chrono>
#include <memory>
#include <string>

#include "tests/ei_bridge/control_fixtures.h"
#include "tests/ei_bridge/dist_test_util.h"

namespace hb {
namespace {

using testing::A;
using testing::Framed;
using testing::HandshakeOutcome;
using testing::I;
using testing::kCookie;
using testing::kPeerFlags;
using testing::milliseconds;
using testing::NodeFixture;
using testing::Packet;
using testing::T;
using Clock = std::chrono::steady_clock;

// libuv's clock counts whole milliseconds, cached per loop iteration.
constexpr milliseconds kClockSlack{5};

// A REG_SEND to `rex` carrying `message`, as a 4-byte-framed packet's body.
std::string RegSend(const Term& message) {
  return Packet(T({I(6), testing::RemotePid(1), A(""), A("rex")}), message);
}

TEST_CASE("connection: a peer that completes the handshake is up", "[connection]") {
  NodeFixture fx;
  fx.epmd.next_creation = 0x5eedf00d;
  fx.Start();
  auto peer = fx.Connect("alice@127.0.0.1");
  HandshakeOutcome h = peer->Handshake(kCookie, kPeerFlags, 0x0c0ffee0);
  CHECK(h.status == "ok");
  REQUIRE(h.up);  // the node's digest of our challenge was right
  CHECK(h.node == "gpu@127.0.0.1");
  CHECK(h.node_creation == 0x5eedf00du);  // what epmd handed out
  CHECK(h.node_flags == (dflag::kOurs | dflag::kPublished));  // visible by default
  REQUIRE(fx.loop.RunUntil([&] { return fx.handler.ups.size() == 1; }));
  CHECK(fx.handler.ups[0].node == "alice@127.0.0.1");
  CHECK(fx.handler.ups[0].flags == kPeerFlags);
  CHECK(fx.handler.ups[0].creation == 0x0c0ffee0u);
  CHECK(fx.node->IsConnected("alice@127.0.0.1"));
  CHECK(fx.node->stats().handshakes_failed == 0);
}

TEST_CASE("connection: a hidden node leaves DFLAG_PUBLISHED out, as erl -hidden",
          "[connection]") {
  NodeFixture fx;
  DistConfig c = NodeFixture::Config();
  c.hidden = true;
  fx.Start(c);
  auto peer = fx.Connect("alice@127.0.0.1");
  HandshakeOutcome h = peer->Handshake(kCookie, kPeerFlags, 0x0c0ffee0);
  REQUIRE(h.up);
  CHECK(h.node_flags == dflag::kOurs);
}

TEST_CASE("connection: packets are 4-byte framed, whole, together or in pieces",
          "[connection]") {
  NodeFixture fx;
  fx.Start();
  auto peer = fx.ConnectUp();
  peer->Send(RegSend(I(1)));
  REQUIRE(fx.loop.RunUntil([&] { return fx.handler.controls.size() == 1; }));
  // Two packets in one write.
  peer->SendRaw(Framed(RegSend(I(2))) + Framed(RegSend(I(3))));
  REQUIRE(fx.loop.RunUntil([&] { return fx.handler.controls.size() == 3; }));
  // One packet a byte at a time, the loop running in between.
  for (char c : Framed(RegSend(I(4)))) {
    peer->SendRaw(std::string(1, c));
    fx.loop.Step();
  }
  REQUIRE(fx.loop.RunUntil([&] { return fx.handler.controls.size() == 4; }));
  for (int i = 0; i < 4; ++i) {
    const auto& [node, msg] = fx.handler.controls[i];
    CHECK(node == peer->name());
    CHECK(msg.op == ControlOp::kRegSend);
    CHECK(msg.to == A("rex"));
    REQUIRE(msg.message.has_value());
    CHECK(*msg.message == I(i + 1));
  }
  CHECK(fx.node->stats().packets_in == 4);
}

TEST_CASE("connection: a peer's tick is answered with a tick", "[connection]") {
  NodeFixture fx;
  fx.Start();  // net_ticktime 60 s: the node's own ticks are 15 s apart
  auto peer = fx.ConnectUp();
  peer->Tick();
  std::optional<std::string> answer = peer->Read();
  REQUIRE(answer.has_value());
  CHECK(answer->empty());
  CHECK(fx.node->IsConnected(peer->name()));
}

TEST_CASE("connection: a silent peer is ticked, then dropped after net_ticktime",
          "[connection]") {
  NodeFixture fx;
  DistConfig c = NodeFixture::Config();
  c.net_ticktime_ms = 400;
  fx.Start(c);
  auto t0 = Clock::now();  // before the peer's last packet, the challenge reply
  auto peer = fx.ConnectUp();
  CHECK_FALSE(peer->ReadMessage().has_value());  // nothing but ticks, then the end
  CHECK(Clock::now() - t0 >= milliseconds(c.net_ticktime_ms) - kClockSlack);
  CHECK(peer->ticks() >= 1);  // every net_ticktime / 4 while quiet
  REQUIRE(fx.loop.RunUntil([&] { return fx.handler.downs.size() == 1; }));
  CHECK(fx.handler.downs[0] == peer->name());
  CHECK_FALSE(fx.node->IsConnected(peer->name()));
}

TEST_CASE("connection: a peer that ticks stays connected past net_ticktime", "[connection]") {
  NodeFixture fx;
  DistConfig c = NodeFixture::Config();
  c.net_ticktime_ms = 1000;  // twenty ticks' worth: a loaded machine's stalls fit
  fx.Start(c);
  auto peer = fx.ConnectUp();
  auto end = Clock::now() + milliseconds(2 * c.net_ticktime_ms);
  auto next_tick = Clock::now();
  fx.loop.RunUntil([&] {
    if (Clock::now() >= next_tick) {
      peer->Tick();
      next_tick += milliseconds(50);
    }
    return Clock::now() >= end;
  });
  CHECK(fx.node->IsConnected(peer->name()));
  CHECK(fx.handler.downs.empty());
}

TEST_CASE("connection: a packet over max_packet_bytes closes that connection only",
          "[connection]") {
  NodeFixture fx;
  DistConfig c = NodeFixture::Config();
  c.max_packet_bytes = 1024;
  fx.Start(c);
  auto alice = fx.ConnectUp("alice@127.0.0.1");
  auto bob = fx.ConnectUp("bob@127.0.0.1");
  // Exactly the limit is fine.
  std::string at_limit = RegSend(Term::Binary(""));
  at_limit = RegSend(Term::Binary(std::string(1024 - at_limit.size(), 'x')));
  REQUIRE(at_limit.size() == 1024);
  alice->Send(at_limit);
  REQUIRE(fx.loop.RunUntil([&] { return fx.handler.controls.size() == 1; }));
  // One byte more, declared: refused before it is read.
  std::string header;
  AppendBigEndian(&header, 1025, 4);
  alice->SendRaw(header);
  CHECK(alice->WaitClosed());
  CHECK(fx.node->stats().bad_packets == 1);
  CHECK(fx.handler.downs == std::vector<std::string>{"alice@127.0.0.1"});
  bob->Tick();
  CHECK(bob->Read().has_value());
  CHECK(fx.node->IsConnected("bob@127.0.0.1"));
}

TEST_CASE("connection: the packet limit holds during the handshake too", "[connection]") {
  NodeFixture fx;
  DistConfig c = NodeFixture::Config();
  c.max_packet_bytes = 1024;
  fx.Start(c);
  auto peer = fx.Connect();
  std::string header;
  AppendBigEndian(&header, 2000, 2);
  peer->SendRaw(header);
  CHECK(peer->WaitClosed());
  CHECK(fx.node->stats().bad_packets == 1);
  CHECK(fx.handler.ups.empty());
}

TEST_CASE("connection: a peer that does not read is dropped past max_write_queue_bytes",
          "[connection]") {
  NodeFixture fx;
  DistConfig c = NodeFixture::Config();
  c.max_write_queue_bytes = 64 << 10;
  fx.Start(c);
  auto reader = fx.ConnectUp("reader@127.0.0.1");
  auto sleeper = fx.ConnectUp("sleeper@127.0.0.1");  // never reads from here on
  ControlMessage big = MakeSend(testing::RemotePid(1), Term::Binary(std::string(1 << 20, 'x')));
  int sent = 0;
  // The kernel's buffers take some megabytes first; a bound keeps a broken
  // node from queueing without end.
  fx.loop.RunUntil([&] {
    if (sent < 256 && fx.node->Send(sleeper->name(), big)) ++sent;
    return !fx.node->IsConnected(sleeper->name());
  });
  CHECK_FALSE(fx.node->IsConnected(sleeper->name()));
  CHECK(fx.handler.downs == std::vector<std::string>{"sleeper@127.0.0.1"});
  reader->Tick();
  CHECK(reader->Read().has_value());  // the others are served as before
}

TEST_CASE("connection: a malformed control message closes the connection, an unknown one "
          "is ignored",
          "[connection]") {
  NodeFixture fx;
  fx.Start();
  auto alice = fx.ConnectUp("alice@127.0.0.1");
  auto bob = fx.ConnectUp("bob@127.0.0.1");
  bob->Send(Packet(T({I(99), A("from_the_future")})));  // an operation we do not know
  bob->Tick();
  CHECK(bob->Read().has_value());  // still served
  alice->Send("p\x83\x68\x02garbage");
  CHECK(alice->WaitClosed());
  CHECK(fx.node->IsConnected("bob@127.0.0.1"));
  CHECK_FALSE(fx.node->IsConnected("alice@127.0.0.1"));
  CHECK(fx.handler.controls.empty());
}

TEST_CASE("connection: a handshake not finished within handshake_timeout_ms is closed",
          "[connection]") {
  NodeFixture fx;
  DistConfig c = NodeFixture::Config();
  c.handshake_timeout_ms = 300;
  fx.Start(c);
  auto t0 = Clock::now();  // the node accepts (and starts the deadline) later
  auto mute = fx.Connect();  // says nothing at all
  auto stalled = fx.Connect("stalled@127.0.0.1");
  stalled->Send(testing::NamePacket(kPeerFlags, 1, stalled->name()), 2);  // then nothing
  CHECK(mute->WaitClosed());
  CHECK(stalled->WaitClosed());
  CHECK(Clock::now() - t0 >= milliseconds(c.handshake_timeout_ms) - kClockSlack);
  CHECK(fx.node->stats().handshakes_failed == 2);
  CHECK(fx.handler.ups.empty());
}

TEST_CASE("connection: a peer the allowlist refuses is told not_allowed and closed",
          "[connection]") {
  NodeFixture fx;
  DistConfig c = NodeFixture::Config();
  c.admit = [](std::string_view peer) { return peer == "friend@127.0.0.1"; };
  fx.Start(c);
  auto stranger = fx.Connect("stranger@127.0.0.1");
  HandshakeOutcome h = stranger->Handshake(kCookie);
  CHECK(h.status == "not_allowed");
  CHECK_FALSE(h.up);
  CHECK(stranger->WaitClosed());
  fx.ConnectUp("friend@127.0.0.1");
  CHECK(fx.node->stats().handshakes_failed == 1);
  REQUIRE(fx.handler.ups.size() == 1);
  CHECK(fx.handler.ups[0].node == "friend@127.0.0.1");
}

TEST_CASE("connection: a wrong cookie or missing mandatory flags end the handshake",
          "[connection]") {
  NodeFixture fx;
  fx.Start();
  auto wrong_cookie = fx.Connect("a@127.0.0.1");
  HandshakeOutcome h = wrong_cookie->Handshake("not-the-cookie");
  CHECK(h.status == "ok");
  CHECK_FALSE(h.up);  // no acknowledgement
  CHECK(wrong_cookie->WaitClosed());
  auto old_node = fx.Connect("b@127.0.0.1");
  CHECK(old_node->Handshake(kCookie, dflag::kExtendedReferences).status.empty());
  CHECK(old_node->WaitClosed());
  CHECK(fx.node->stats().handshakes_failed == 2);
  CHECK(fx.handler.ups.empty());
}

}  // namespace
}  // namespace hb
