// The handshake target's body, FuzzHandshake (format in fuzz_bodies.h; the
// kHs* mode bits of byte 0 are below): a HandshakeAcceptor driven as
// Connection drives it, then optionally control packets.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>

#include "base/byte_order.h"
#include "base/status.h"
#include "ei_bridge/dist_flags.h"
#include "ei_bridge/handshake.h"
#include "ei_bridge/packet_reader.h"
#include "ei_bridge/term_validator.h"
#include "fuzz/fuzz_bodies.h"
#include "fuzz/fuzz_support.h"

namespace hb::fuzz {
namespace {

using internal::CheckControlPacket;
using internal::Guarded;
using internal::Hex;

constexpr uint8_t kHsPrependName = 1;    // harness sends a well-formed 'N' first
constexpr uint8_t kHsDenyAll = 2;        // the allowlist refuses every peer
constexpr uint8_t kHsConnected = 4;      // we already have a connection to the peer
constexpr uint8_t kHsFixDigest = 8;      // harness puts the right digest in an 'r'
constexpr uint8_t kHsThenControl = 16;   // after the handshake: control packets
constexpr uint8_t kHsNoCallbacks = 128;  // admit / is_connected left empty
// bits 5-6: how the stream is cut into reads (1, 7 or 64 bytes, or whole)

constexpr char kHsPeer[] = "client@host";
constexpr char kHsOurName[] = "gpu@host";
constexpr char kHsCookie[] = "FUZZCOOKIE";
constexpr uint32_t kHsChallenge = 0x5eed1234;

int Rank(HandshakeAcceptor::State s) {
  switch (s) {
    case HandshakeAcceptor::State::kAwaitName:
      return 0;
    case HandshakeAcceptor::State::kAwaitAliveAnswer:
      return 1;
    case HandshakeAcceptor::State::kAwaitChallengeReply:
      return 2;
    case HandshakeAcceptor::State::kDone:
      return 3;
    case HandshakeAcceptor::State::kFailed:
      return 4;
  }
  return -1;
}

// Our challenge packet as the peer's dist_util parses it.
void CheckOurChallenge(const std::string& c) {
  const size_t nlen = sizeof(kHsOurName) - 1;
  FUZZ_CHECK(c.size() == 19 + nlen && c[0] == 'N', "malformed challenge packet: " + Hex(c));
  FUZZ_CHECK(ReadBigEndian(c, 1, 8) == dflag::kOurs, "challenge advertises the wrong flags");
  FUZZ_CHECK(ReadBigEndian(c, 9, 4) == kHsChallenge, "challenge packet carries the wrong challenge");
  FUZZ_CHECK(ReadBigEndian(c, 17, 2) == nlen && c.compare(19, nlen, kHsOurName) == 0,
             "challenge packet carries the wrong node name");
}

struct HandshakeRun {
  uint8_t mode;
  bool admit_called = false;
  std::unique_ptr<HandshakeAcceptor> hs;
  bool refused = false;  // an error or a polite refusal happened
  bool done = false;

  explicit HandshakeRun(uint8_t m) : mode(m) {
    HandshakeConfig cfg;
    cfg.node_name = kHsOurName;
    cfg.cookie = kHsCookie;
    cfg.flags = dflag::kOurs;
    cfg.creation = 42;
    if (!(mode & kHsNoCallbacks)) {
      const bool deny = mode & kHsDenyAll;
      const bool connected = mode & kHsConnected;
      cfg.admit = [this, deny](std::string_view) {
        admit_called = true;
        return !deny;
      };
      cfg.is_connected = [connected](std::string_view) { return connected; };
    }
    hs = std::make_unique<HandshakeAcceptor>(std::move(cfg), kHsChallenge);
  }

  bool Denies() const { return !(mode & kHsNoCallbacks) && (mode & kHsDenyAll); }
  bool Connected() const { return !(mode & kHsNoCallbacks) && (mode & kHsConnected); }

  // One handshake packet, checked.
  void Feed(std::string p) {
    const HandshakeAcceptor::State before = hs->state();
    if ((mode & kHsFixDigest) && before == HandshakeAcceptor::State::kAwaitChallengeReply &&
        p.size() == 21 && p[0] == 'r') {
      p.replace(5, 16, HandshakeDigest(kHsChallenge, kHsCookie));
    }
    Result<HandshakeAcceptor::Step> step = hs->OnPacket(p);
    const HandshakeAcceptor::State after = hs->state();
    const std::string where = "packet " + Hex(p) + " in state " + std::to_string(Rank(before)) +
                              " -> " + std::to_string(Rank(after));

    FUZZ_CHECK(Rank(after) >= Rank(before), "handshake state moved backwards: " + where);
    if (refused) {
      FUZZ_CHECK(!step.ok() && after == HandshakeAcceptor::State::kFailed,
                 "a refused handshake accepted another packet: " + where);
    }
    if (!step.ok()) {
      FUZZ_CHECK(after == HandshakeAcceptor::State::kFailed,
                 "OnPacket failed without entering kFailed: " + where);
      FUZZ_CHECK(!step.status().message().empty(), "handshake error without a message");
      refused = true;
      return;
    }
    for (const std::string& out : step->out) {
      FUZZ_CHECK(!out.empty() && out.size() <= 0xffff, "unframable handshake packet: " + where);
    }
    if (step->close_after_send) {
      FUZZ_CHECK(after == HandshakeAcceptor::State::kFailed && !step->done,
                 "a polite refusal left the handshake open: " + where);
      FUZZ_CHECK(step->out.size() == 1 && step->out[0] == "snot_allowed" && !step->refusal.empty(),
                 "refusal does not send status not_allowed: " + where);
      FUZZ_CHECK(admit_called && Denies(), "refused a peer the allowlist admits: " + where);
      refused = true;
      return;
    }
    FUZZ_CHECK(Rank(after) > Rank(before) && after != HandshakeAcceptor::State::kFailed,
               "successful step did not advance the handshake: " + where);
    FUZZ_CHECK(!hs->peer_name().empty() && hs->peer_name().find('@') != std::string::npos &&
                   hs->peer_name().size() <= 255 * 4,
               "handshake advanced with an implausible peer name: " + Hex(hs->peer_name()));
    FUZZ_CHECK(!Denies(), "the handshake advanced for a peer the allowlist refuses: " + where);
    switch (after) {
      case HandshakeAcceptor::State::kAwaitAliveAnswer:
        FUZZ_CHECK(Connected() && step->out.size() == 1 && step->out[0] == "salive",
                   "alive status without an existing connection: " + where);
        break;
      case HandshakeAcceptor::State::kAwaitChallengeReply:
        if (before == HandshakeAcceptor::State::kAwaitName) {
          FUZZ_CHECK(!Connected() && step->out.size() == 2 && step->out[0] == "sok",
                     "send_name not answered with status ok: " + where);
        } else {
          FUZZ_CHECK(p == "strue" && step->out.size() == 1,
                     "alive answer other than true continued the handshake: " + where);
        }
        CheckOurChallenge(step->out.back());
        break;
      case HandshakeAcceptor::State::kDone: {
        FUZZ_CHECK(step->done && before == HandshakeAcceptor::State::kAwaitChallengeReply,
                   "handshake done out of order: " + where);
        // Only the right cookie gets in.
        FUZZ_CHECK(p.size() == 21 && p[0] == 'r' &&
                       p.compare(5, 16, HandshakeDigest(kHsChallenge, kHsCookie)) == 0,
                   "handshake completed without the right digest: " + where);
        uint32_t peer_challenge = static_cast<uint32_t>(ReadBigEndian(p, 1, 4));
        FUZZ_CHECK(step->out.size() == 1 &&
                       step->out[0] == "a" + HandshakeDigest(peer_challenge, kHsCookie),
                   "challenge ack does not answer the peer's challenge: " + where);
        done = true;
        break;
      }
      default:
        FUZZ_CHECK(false, "unexpected state after a successful step: " + where);
    }
    if (!step->done) FUZZ_CHECK(after != HandshakeAcceptor::State::kDone, "done without done flag");
  }
};

void FuzzHandshakeImpl(const uint8_t* data, size_t size) {
  if (size == 0) return;
  const uint8_t mode = data[0];
  const std::string_view stream(reinterpret_cast<const char*>(data) + 1, size - 1);
  HandshakeRun run(mode);
  const TermLimits limits;

  if (mode & kHsPrependName) {
    std::string n = "N";
    AppendBigEndian(&n,
          dflag::kMandatory25 | dflag::kMandatory25Digest | dflag::kSpawn | dflag::kDistMonitor |
              dflag::kDistMonitorName,
          8);
    AppendBigEndian(&n, 7, 4);
    AppendBigEndian(&n, sizeof(kHsPeer) - 1, 2);
    n += kHsPeer;
    run.Feed(std::move(n));
  }

  // As Connection: one reader, 2-byte framing until the handshake is done,
  // 4-byte framing (re-reading what is buffered) afterwards.
  PacketReader reader(2, 64u << 20);
  const size_t chunk_sizes[] = {1, 7, 64, stream.size() + 1};
  const size_t chunk = chunk_sizes[(mode >> 5) & 3];
  bool up = false;
  bool closed = false;
  std::string packet;
  size_t handshake_packets = 0;
  for (size_t at = 0; at < stream.size() && !closed;) {
    const size_t n = std::min(chunk, stream.size() - at);
    reader.Append(stream.substr(at, n));
    at += n;
    for (;;) {
      Result<bool> got = reader.Next(&packet);
      if (!got.ok()) {
        closed = true;
        break;
      }
      if (!*got) break;
      if (up) {
        if (!packet.empty()) CheckControlPacket(packet, limits);
        continue;
      }
      if (++handshake_packets > 64) {
        closed = true;
        break;
      }
      run.Feed(packet);
      if (run.done && (mode & kHsThenControl)) {
        up = true;
        reader.set_header_bytes(4);
      }
    }
  }
  if (run.done) FUZZ_CHECK(!run.Denies(), "a refused peer completed the handshake");
}
}  // namespace

void FuzzHandshake(const uint8_t* data, size_t size) {
  Guarded([&] { FuzzHandshakeImpl(data, size); });
}

}  // namespace hb::fuzz
