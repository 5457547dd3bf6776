// DistNode (ei_bridge/dist_node.h) on 127.0.0.1 with a fake epmd and peers
// that speak the protocol: starting (and the reasons it cannot), the peer
// table, Send, the connection limit, duplicate connections, epmd restarts,
// limits reloaded while serving, stats, and Stop.
#include "ei_bridge/dist_node.h"

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "tests/ei_bridge/control_fixtures.h"
#include "tests/ei_bridge/dist_test_util.h"

namespace hb {
namespace {

using testing::FakeEpmd;
using testing::HandshakeOutcome;
using testing::kCookie;
using testing::kPeerFlags;
using testing::NodeFixture;
using testing::TestPeer;

TEST_CASE("dist node: Start listens, registers with epmd, then reports ready", "[dist_node]") {
  NodeFixture fx;
  fx.epmd.next_creation = 0x7e570001;
  DistConfig c = NodeFixture::Config();
  c.port = testing::UnusedPort();
  fx.Start(c);
  CHECK(fx.node->port() == c.port);
  CHECK(fx.node->node_name() == "gpu@127.0.0.1");
  CHECK(fx.node->creation() == 0x7e570001u);
  REQUIRE(fx.epmd.requests.size() == 1);
  CHECK(fx.epmd.requests[0].name == "gpu");
  CHECK(fx.epmd.requests[0].port == c.port);  // where epmd sends peers
  CHECK(fx.node->connection_count() == 0);
  CHECK(fx.node->Peers().empty());
}

TEST_CASE("dist node: an ephemeral port is the one bound and registered", "[dist_node]") {
  NodeFixture fx;
  fx.Start();  // port 0
  CHECK(fx.node->port() != 0);
  REQUIRE(fx.epmd.requests.size() == 1);
  CHECK(fx.epmd.requests[0].port == fx.node->port());
  fx.ConnectUp();  // and peers reach it there
}

TEST_CASE("dist node: Start reports why the node cannot start", "[dist_node]") {
  NodeFixture fx;
  DistConfig c = NodeFixture::Config();
  SECTION("the port is taken") {
    uint16_t port = 0;
    int taken = testing::ListenLocal(0, &port);
    REQUIRE(taken >= 0);
    c.port = port;
    Status s = fx.TryStart(c);
    CHECK(s.code() == StatusCode::kUnavailable);
    CHECK(s.message().find("cannot listen") != std::string::npos);
    close(taken);
  }
  SECTION("the address is not one") {
    c.bind_address = "not-an-address";
    CHECK(fx.TryStart(c).code() == StatusCode::kInvalidArgument);
  }
  SECTION("epmd refuses the name") {
    fx.epmd.reply = FakeEpmd::Reply::kRefuse;
    CHECK(fx.TryStart(c).code() == StatusCode::kUnavailable);
  }
  SECTION("epmd is not there") {
    testing::ScopedEnv env("ERL_EPMD_PORT", std::to_string(testing::UnusedPort()));
    CHECK(fx.TryStart(c).code() == StatusCode::kUnavailable);
  }
}

TEST_CASE("dist node: a connection before epmd registration is closed", "[dist_node]") {
  NodeFixture fx;
  fx.epmd.reply = FakeEpmd::Reply::kHold;
  fx.node = std::make_unique<DistNode>(fx.loop.get(), NodeFixture::Config(), &fx.handler);
  std::optional<Status> ready;
  fx.node->Start([&](Status s) { ready = s; });
  REQUIRE(fx.loop.RunUntil([&] { return fx.epmd.connections() == 1; }));
  auto early = fx.Connect("early@127.0.0.1");
  CHECK(early->WaitClosed());
  CHECK_FALSE(ready.has_value());
  fx.epmd.reply = FakeEpmd::Reply::kAlive2X;
  REQUIRE(fx.loop.RunUntil([&] { return ready.has_value(); }));
  REQUIRE(ready->ok());
  fx.ConnectUp("later@127.0.0.1");
}

TEST_CASE("dist node: the peer table follows peers up and down", "[dist_node]") {
  NodeFixture fx;
  fx.Start();
  auto alice = fx.ConnectUp("alice@127.0.0.1");
  auto bob = fx.ConnectUp("bob@127.0.0.1");
  std::vector<std::string> peers = fx.node->Peers();
  std::sort(peers.begin(), peers.end());
  CHECK(peers == std::vector<std::string>{"alice@127.0.0.1", "bob@127.0.0.1"});
  CHECK(fx.node->connection_count() == 2);
  CHECK(fx.node->PeerFlags("alice@127.0.0.1") == kPeerFlags);
  CHECK(fx.node->PeerFlags("nobody@127.0.0.1") == 0);
  CHECK_FALSE(fx.node->IsConnected("nobody@127.0.0.1"));
  bob->Close();
  REQUIRE(fx.loop.RunUntil([&] { return fx.handler.downs.size() == 1; }));
  CHECK(fx.handler.downs[0] == "bob@127.0.0.1");
  CHECK_FALSE(fx.node->IsConnected("bob@127.0.0.1"));
  CHECK(fx.node->Peers() == std::vector<std::string>{"alice@127.0.0.1"});
  CHECK(fx.node->connection_count() == 1);
}

TEST_CASE("dist node: Send delivers to a connected peer and refuses any other", "[dist_node]") {
  NodeFixture fx;
  fx.Start();
  auto alice = fx.ConnectUp("alice@127.0.0.1");
  Term to = testing::RemotePid(3);
  ControlMessage msg = MakeSend(to, Term::Tuple({Term::Atom("hello"), Term::Int(42)}));
  CHECK(fx.node->Send("alice@127.0.0.1", msg));
  std::optional<std::string> got = alice->ReadMessage();
  REQUIRE(got.has_value());
  ControlMessage back = testing::Decode(*got);
  CHECK(back.op == ControlOp::kSend);
  CHECK(back.to == to);
  REQUIRE(back.message.has_value());
  CHECK(*back.message == *msg.message);
  CHECK(fx.node->stats().packets_out == 1);

  CHECK_FALSE(fx.node->Send("nobody@127.0.0.1", msg));
  alice->Close();
  REQUIRE(fx.loop.RunUntil([&] { return !fx.node->IsConnected("alice@127.0.0.1"); }));
  CHECK_FALSE(fx.node->Send("alice@127.0.0.1", msg));
  CHECK(fx.node->stats().packets_out == 1);
}

TEST_CASE("dist node: connections over max_connections are refused", "[dist_node]") {
  NodeFixture fx;
  DistConfig c = NodeFixture::Config();
  c.max_connections = 2;
  fx.Start(c);
  auto alice = fx.ConnectUp("alice@127.0.0.1");
  auto handshaking = fx.Connect("bob@127.0.0.1");  // counts while it handshakes
  REQUIRE(fx.loop.RunUntil([&] { return fx.node->stats().connections_accepted == 2; }));
  auto third = fx.Connect("carol@127.0.0.1");
  CHECK(third->WaitClosed());
  CHECK(fx.node->stats().refused_connection_limit == 1);
  CHECK(handshaking->Handshake(kCookie).up);  // the ones inside the limit carry on
  CHECK(fx.node->IsConnected("alice@127.0.0.1"));
  // A place freed is a place for the next one.
  alice->Close();
  REQUIRE(fx.loop.RunUntil([&] { return fx.handler.downs.size() == 1; }));
  fx.ConnectUp("dave@127.0.0.1");
  CHECK(fx.node->stats().refused_connection_limit == 1);
  CHECK(fx.node->stats().connections_accepted == 4);
}

TEST_CASE("dist node: a second connection from a connected node: the peer decides",
          "[dist_node]") {
  NodeFixture fx;
  fx.Start();
  auto old_conn = fx.ConnectUp("alice@127.0.0.1");
  auto new_conn = fx.Connect("alice@127.0.0.1");
  SECTION("the old connection was stale: the new one replaces it") {
    HandshakeOutcome h = new_conn->Handshake(kCookie, kPeerFlags, 0xbeef, "true");
    CHECK(h.status == "alive");
    CHECK(h.up);
    CHECK(old_conn->WaitClosed());
    REQUIRE(fx.loop.RunUntil([&] { return fx.handler.ups.size() == 2; }));
    CHECK(fx.handler.events ==
          std::vector<std::string>{"up:alice@127.0.0.1", "down:alice@127.0.0.1",
                                   "up:alice@127.0.0.1"});
    CHECK(fx.handler.ups[1].creation == 0xbeefu);
    CHECK(fx.node->connection_count() == 1);
    new_conn->Tick();
    CHECK(new_conn->Read().has_value());
  }
  SECTION("the old connection is live: the new one is refused") {
    HandshakeOutcome h = new_conn->Handshake(kCookie, kPeerFlags, 0xbeef, "false");
    CHECK(h.status == "alive");
    CHECK_FALSE(h.up);
    CHECK(new_conn->WaitClosed());
    CHECK(fx.handler.events == std::vector<std::string>{"up:alice@127.0.0.1"});
    CHECK(fx.node->stats().handshakes_failed == 1);
    old_conn->Tick();
    CHECK(old_conn->Read().has_value());
  }
}

TEST_CASE("dist node: after an epmd restart it registers again and keeps its creation",
          "[dist_node]") {
  NodeFixture fx;
  fx.epmd.next_creation = 100;
  fx.Start();
  auto alice = fx.ConnectUp("alice@127.0.0.1");
  fx.epmd.DropAll();  // epmd restarted
  REQUIRE(fx.loop.RunUntil([&] { return fx.epmd.requests.size() == 2; }));
  CHECK(fx.epmd.requests[1].port == fx.node->port());
  CHECK(fx.loop.RunUntil([&] { return fx.epmd.connections() == 1; }));
  CHECK(fx.node->creation() == 100u);  // epmd said 101 this time
  CHECK(fx.node->IsConnected("alice@127.0.0.1"));
  fx.ConnectUp("bob@127.0.0.1");
}

TEST_CASE("dist node: UpdateLimits applies to the next connection, not name or cookie",
          "[dist_node]") {
  NodeFixture fx;
  fx.Start();
  auto alice = fx.ConnectUp("alice@127.0.0.1");
  DistConfig limits = NodeFixture::Config();
  limits.cookie = "ignored";
  limits.alive = "ignored";
  limits.admit = [](std::string_view peer) { return peer != "mallory@127.0.0.1"; };
  fx.node->UpdateLimits(limits);
  auto mallory = fx.Connect("mallory@127.0.0.1");
  CHECK(mallory->Handshake(kCookie).status == "not_allowed");
  HandshakeOutcome bob = fx.Connect("bob@127.0.0.1")->Handshake(kCookie);
  CHECK(bob.up);  // still the old cookie
  CHECK(bob.node == "gpu@127.0.0.1");
  REQUIRE(fx.loop.RunUntil([&] { return fx.node->connection_count() == 1; }));  // bob hung up
  limits.max_connections = 1;  // alice holds the one place
  fx.node->UpdateLimits(limits);
  CHECK(fx.Connect("carol@127.0.0.1")->WaitClosed());
  CHECK(fx.node->stats().refused_connection_limit == 1);
  CHECK(fx.node->IsConnected("alice@127.0.0.1"));
}

TEST_CASE("dist node: stats count connections, packets and bytes", "[dist_node]") {
  NodeFixture fx;
  fx.Start();
  const std::string name = "alice@127.0.0.1";
  auto alice = fx.ConnectUp(name);
  std::string packet = testing::Packet(
      testing::T({testing::I(6), testing::RemotePid(1), testing::A(""), testing::A("rex")}),
      Term::Atom("hi"));
  alice->Send(packet);
  REQUIRE(fx.loop.RunUntil([&] { return fx.handler.controls.size() == 1; }));
  ControlMessage msg = MakeSend(testing::RemotePid(2), Term::Atom("back"));
  REQUIRE(fx.node->Send(name, msg));
  std::optional<std::string> reply = alice->ReadMessage();
  REQUIRE(reply.has_value());
  const DistStats& st = fx.node->stats();
  CHECK(st.connections_accepted == 1);
  CHECK(st.packets_in == 1);
  CHECK(st.packets_out == 1);
  // In: name (2 + 15 + name), challenge reply (2 + 21), the packet (4 + n).
  CHECK(st.bytes_in == (2 + 15 + name.size()) + (2 + 21) + (4 + packet.size()));
  // Out: "sok", the challenge (2 + 19 + our name), the ack (2 + 17), the send.
  CHECK(st.bytes_out ==
        (2 + 3) + (2 + 19 + fx.node->node_name().size()) + (2 + 17) + (4 + reply->size()));
  CHECK(st.handshakes_failed == 0);
  CHECK(st.bad_packets == 0);
}

TEST_CASE("dist node: Stop closes the listener, every connection and the registration",
          "[dist_node]") {
  NodeFixture fx;
  fx.Start();
  auto alice = fx.ConnectUp("alice@127.0.0.1");
  auto handshaking = fx.Connect("bob@127.0.0.1");
  REQUIRE(fx.loop.RunUntil([&] { return fx.node->stats().connections_accepted == 2; }));
  uint16_t port = fx.node->port();
  fx.BeginStop();
  CHECK_FALSE(fx.stopped);  // handles close on later loop iterations
  REQUIRE(fx.loop.RunUntil([&] { return fx.stopped; }));
  CHECK(alice->WaitClosed());
  CHECK(handshaking->WaitClosed());
  CHECK(fx.handler.downs == std::vector<std::string>{"alice@127.0.0.1"});
  CHECK(fx.node->connection_count() == 0);
  CHECK(fx.loop.RunUntil([&] { return fx.epmd.connections() == 0; }));  // unregistered
  CHECK_FALSE(TestPeer(&fx.loop, port).connected());                     // not listening
  CHECK_FALSE(fx.node->Send("alice@127.0.0.1", MakeSend(testing::RemotePid(1), Term::Nil())));
  // The TestLoop's end checks that no handle was left open.
}

}  // namespace
}  // namespace hb
