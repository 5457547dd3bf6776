// Real sockets on 127.0.0.1 for the Connection and DistNode tests: a peer
// node that performs the distribution handshake as the connecting side, a
// DistHandler that records what it is told, and a DistNode on a TestLoop
// registered with a FakeEpmd. The peer uses a plain socket read between loop
// steps, so everything runs on the test thread.
#pragma once

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/byte_order.h"
#include "ei_bridge/dist_node.h"
#include "ei_bridge/handshake.h"
#include "tests/ei_bridge/fake_epmd.h"
#include "tests/ei_bridge/handshake_util.h"
#include "tests/ei_bridge/loop_util.h"

namespace hb::testing {

// `packet` behind its `header`-byte big-endian length.
inline std::string Framed(std::string_view packet, size_t header = 4) {
  std::string out;
  AppendBigEndian(&out, packet.size(), header);
  out.append(packet.data(), packet.size());
  return out;
}

// What the connecting side learnt from a handshake.
struct HandshakeOutcome {
  std::string status;    // "ok", "not_allowed", "alive", ... ("" when none came)
  bool up = false;       // the node acknowledged with the right digest
  std::string node;      // the name in the node's challenge
  uint64_t node_flags = 0;
  uint32_t node_creation = 0;
};

// A peer node connected to the DistNode on `port`, with a blocking connect
// and non-blocking reads that step the loop until the bytes are there.
class TestPeer {
 public:
  TestPeer(TestLoop* loop, uint16_t port, std::string name = "peer@127.0.0.1")
      : loop_(loop), name_(std::move(name)) {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ = connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof(a)) == 0;
  }
  ~TestPeer() { Close(); }
  TestPeer(const TestPeer&) = delete;
  TestPeer& operator=(const TestPeer&) = delete;

  const std::string& name() const { return name_; }
  bool connected() const { return connected_; }
  void Close() {
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }

  void SendRaw(std::string_view bytes) {
    CHECK(send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL) ==
          static_cast<ssize_t>(bytes.size()));
  }
  // A packet with a 2-byte (handshake) or 4-byte length.
  void Send(std::string_view packet, size_t header = 4) { SendRaw(Framed(packet, header)); }
  void Tick() { Send(""); }

  // The next packet with a `header`-byte length; nullopt when the node
  // closed first or nothing came in time.
  std::optional<std::string> Read(size_t header = 4, milliseconds timeout = kPatience) {
    if (!Fill(header, timeout)) return std::nullopt;
    size_t len = ReadBigEndian(in_, 0, header);
    if (!Fill(header + len, timeout)) return std::nullopt;
    std::string p = in_.substr(header, len);
    in_.erase(0, header + len);
    return p;
  }
  // The next 4-byte packet that is not a tick; ticks are counted.
  std::optional<std::string> ReadMessage(milliseconds timeout = kPatience) {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      auto left = std::chrono::duration_cast<milliseconds>(deadline -
                                                           std::chrono::steady_clock::now());
      if (left.count() <= 0) return std::nullopt;
      std::optional<std::string> p = Read(4, left);
      if (!p || !p->empty()) return p;
      ++ticks_;
    }
  }
  size_t ticks() const { return ticks_; }

  // True once the node has closed the connection (what came before is
  // read and dropped).
  bool WaitClosed(milliseconds timeout = kPatience) {
    return loop_->RunUntil([this] {
      Drain();
      in_.clear();
      return eof_;
    }, timeout);
  }

  // The connecting side of the handshake, to the end or to the first
  // refusal. `alive_answer` answers a status "alive".
  HandshakeOutcome Handshake(const std::string& cookie, uint64_t flags = kPeerFlags,
                             uint32_t creation = 0x0c0ffee0, const char* alive_answer = "true") {
    HandshakeOutcome h;
    Send(NamePacket(flags, creation, name_), 2);
    std::optional<std::string> status = Read(2);
    if (!status || status->empty() || (*status)[0] != 's') return h;
    h.status = status->substr(1);
    if (h.status == "alive") {
      Send(std::string("s") + alive_answer, 2);
    } else if (h.status != "ok") {
      return h;
    }
    std::optional<std::string> challenge = Read(2);
    if (!challenge || challenge->size() < 19 || (*challenge)[0] != 'N') return h;
    h.node_flags = ReadBigEndian(*challenge, 1, 8);
    uint32_t node_challenge = static_cast<uint32_t>(ReadBigEndian(*challenge, 9, 4));
    h.node_creation = static_cast<uint32_t>(ReadBigEndian(*challenge, 13, 4));
    h.node = challenge->substr(19);
    const uint32_t ours = 0x600dcafe;
    Send(ReplyPacket(ours, HandshakeDigest(node_challenge, cookie)), 2);
    std::optional<std::string> ack = Read(2);
    h.up = ack && *ack == "a" + HandshakeDigest(ours, cookie);
    return h;
  }

 private:
  // Reads what has arrived without blocking; notes EOF or a reset.
  void Drain() {
    char buf[64 * 1024];
    while (fd_ >= 0 && !eof_) {
      ssize_t n = recv(fd_, buf, sizeof(buf), MSG_DONTWAIT);
      if (n > 0) {
        in_.append(buf, static_cast<size_t>(n));
      } else if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
        eof_ = true;
      } else {
        break;
      }
    }
  }
  bool Fill(size_t n, milliseconds timeout) {
    loop_->RunUntil([&] {
      Drain();
      return in_.size() >= n || eof_;
    }, timeout);
    return in_.size() >= n;
  }

  TestLoop* loop_;
  std::string name_;
  int fd_ = -1;
  bool connected_ = false;
  bool eof_ = false;
  std::string in_;
  size_t ticks_ = 0;
};

// Records what a DistNode tells its handler, in order.
struct RecordingHandler : DistHandler {
  std::vector<PeerInfo> ups;
  std::vector<std::string> downs;
  std::vector<std::pair<std::string, ControlMessage>> controls;
  std::vector<std::string> events;  // "up:node", "down:node"

  void OnPeerUp(const PeerInfo& peer) override {
    ups.push_back(peer);
    events.push_back("up:" + peer.node);
  }
  void OnPeerDown(const std::string& node) override {
    downs.push_back(node);
    events.push_back("down:" + node);
  }
  void OnControl(const std::string& node, ControlMessage msg) override {
    controls.emplace_back(node, std::move(msg));
  }
};

inline constexpr char kCookie[] = "unit-test-cookie";

// A DistNode on a TestLoop, registered with a FakeEpmd (through
// $ERL_EPMD_PORT, as the daemon finds epmd), stopped at the end.
struct NodeFixture {
  TestLoop loop;
  FakeEpmd epmd{&loop};
  ScopedEnv epmd_port{"ERL_EPMD_PORT", std::to_string(epmd.port())};
  RecordingHandler handler;
  std::unique_ptr<DistNode> node;
  bool stop_called = false;
  bool stopped = false;  // Stop's `done` ran

  // Small limits, so that the tests of them are quick.
  static DistConfig Config() {
    DistConfig c;
    c.alive = "gpu";
    c.host = "127.0.0.1";
    c.cookie = kCookie;
    c.bind_address = "127.0.0.1";
    c.handshake_timeout_ms = 5000;
    return c;
  }

  ~NodeFixture() {
    if (!node) return;
    if (!stop_called) BeginStop();
    loop.AwaitClose(node, stopped);
  }

  // Starts the node; the outcome `ready` reported.
  Status TryStart(DistConfig c = Config()) {
    node = std::make_unique<DistNode>(loop.get(), std::move(c), &handler);
    std::optional<Status> ready;
    node->Start([&](Status s) { ready = std::move(s); });
    REQUIRE(loop.RunUntil([&] { return ready.has_value(); }));
    return *ready;
  }
  void Start(DistConfig c = Config()) {
    Status s = TryStart(std::move(c));
    INFO(s.message());
    REQUIRE(s.ok());
  }
  // Calls Stop; `stopped` is set when its `done` runs.
  void BeginStop() {
    stop_called = true;
    node->Stop([this] { stopped = true; });
  }

  // A peer connected to the node's port (the handshake not begun).
  std::unique_ptr<TestPeer> Connect(const std::string& name = "peer@127.0.0.1") {
    auto p = std::make_unique<TestPeer>(&loop, node->port(), name);
    REQUIRE(p->connected());
    return p;
  }
  // A peer past the handshake, reported up to the handler.
  std::unique_ptr<TestPeer> ConnectUp(const std::string& name = "peer@127.0.0.1") {
    auto p = Connect(name);
    HandshakeOutcome h = p->Handshake(kCookie);
    REQUIRE(h.up);
    REQUIRE(loop.RunUntil([&] { return node->IsConnected(name); }));
    return p;
  }
};

}  // namespace hb::testing
