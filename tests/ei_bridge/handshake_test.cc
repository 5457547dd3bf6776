// Unit tests for ei_bridge/handshake.h: the accepting side of the OTP 23+
// distribution handshake, driven packet by packet.
//
// Expected digests were computed by Erlang itself:
//   erl -noshell -eval 'io:format("~w~n",
//       [binary_to_list(erlang:md5([Cookie, integer_to_list(Challenge)]))]), halt().'
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "base/byte_order.h"
#include "ei_bridge/dist_flags.h"
#include "ei_bridge/handshake.h"
#include "tests/ei_bridge/bytes_util.h"
#include "tests/ei_bridge/handshake_util.h"

using hb::HandshakeAcceptor;
using State = hb::HandshakeAcceptor::State;

namespace {

using hb::testing::Bytes;
using hb::testing::kPeerFlags;
using hb::testing::NamePacket;
using hb::testing::ReplyPacket;


const std::string kCookie = "secretcookie";
const std::string kOurName = "gpu@host";
const std::string kPeerName = "peer@host";
const uint32_t kOurChallenge = 12345;
const uint32_t kPeerChallenge = 4294967295u;
const uint32_t kOurCreation = 0x11223344u;
const uint32_t kPeerCreation = 0x6b077604u;

// erlang:md5(["secretcookie", integer_to_list(12345)])
const std::string kDigestOurChallenge =
    Bytes({102, 34, 236, 41, 93, 58, 227, 87, 208, 245, 229, 252, 133, 52, 197, 245});
// erlang:md5(["secretcookie", integer_to_list(4294967295)])
const std::string kDigestPeerChallenge =
    Bytes({251, 244, 153, 109, 29, 103, 61, 24, 21, 42, 141, 100, 119, 153, 108, 177});

// 'N' | Flags:64 | Challenge:32 | Creation:32 | NameLen:16 | Name
std::string ExpectedChallengePacket() {
  std::string p = "N";
  hb::AppendBigEndian(&p, hb::dflag::kOurs, 8);
  hb::AppendBigEndian(&p, kOurChallenge, 4);
  hb::AppendBigEndian(&p, kOurCreation, 4);
  hb::AppendBigEndian(&p, kOurName.size(), 2);
  p += kOurName;
  return p;
}

hb::HandshakeConfig Config() {
  hb::HandshakeConfig c;
  c.node_name = kOurName;
  c.cookie = kCookie;
  c.flags = hb::dflag::kOurs;
  c.creation = kOurCreation;
  return c;
}

// An acceptor that has consumed a good name packet (status "ok").
HandshakeAcceptor AtChallengeReply() {
  HandshakeAcceptor a(Config(), kOurChallenge);
  auto s = a.OnPacket(NamePacket(kPeerFlags, kPeerCreation, kPeerName));
  REQUIRE(s.ok());
  REQUIRE(a.state() == State::kAwaitChallengeReply);
  return a;
}

// An acceptor waiting for the answer to status "alive".
HandshakeAcceptor AtAliveAnswer() {
  hb::HandshakeConfig c = Config();
  c.is_connected = [](std::string_view) { return true; };
  HandshakeAcceptor a(c, kOurChallenge);
  auto s = a.OnPacket(NamePacket(kPeerFlags, kPeerCreation, kPeerName));
  REQUIRE(s.ok());
  REQUIRE(a.state() == State::kAwaitAliveAnswer);
  return a;
}

void ExpectFailed(HandshakeAcceptor& a, const hb::Result<HandshakeAcceptor::Step>& r) {
  REQUIRE_FALSE(r.ok());
  CHECK_FALSE(r.status().message().empty());
  CHECK(a.state() == State::kFailed);
  // Nothing more is accepted afterwards, not even a good reply.
  auto again = a.OnPacket(ReplyPacket(kPeerChallenge, kDigestOurChallenge));
  CHECK_FALSE(again.ok());
  CHECK(a.state() == State::kFailed);
}

}  // namespace

// ---------------------------------------------------------------------------
// Digest
// ---------------------------------------------------------------------------

TEST_CASE("handshake: HandshakeDigest matches erlang:md5([Cookie, integer_to_list(C)])",
          "[handshake]") {
  CHECK(hb::HandshakeDigest(0, "secretcookie") ==
        Bytes({184, 78, 82, 239, 217, 210, 239, 82, 109, 178, 252, 204, 35, 232, 119, 232}));
  CHECK(hb::HandshakeDigest(1, "secretcookie") ==
        Bytes({146, 25, 8, 48, 79, 250, 211, 170, 218, 40, 7, 114, 92, 193, 0, 113}));
  CHECK(hb::HandshakeDigest(12345, "secretcookie") == kDigestOurChallenge);
  CHECK(hb::HandshakeDigest(4294967295u, "secretcookie") == kDigestPeerChallenge);
  CHECK(hb::HandshakeDigest(2863311530u, "ABCDEFGH") ==
        Bytes({84, 123, 97, 29, 92, 200, 18, 226, 211, 57, 200, 2, 137, 25, 14, 14}));
  CHECK(hb::HandshakeDigest(7, "") ==
        Bytes({143, 20, 228, 95, 206, 234, 22, 122, 90, 54, 222, 221, 75, 234, 37, 67}));
  CHECK(hb::HandshakeDigest(7, "secretcookie").size() == 16);
  CHECK(hb::HandshakeDigest(7, "a") != hb::HandshakeDigest(7, "b"));
}

// ---------------------------------------------------------------------------
// The happy path
// ---------------------------------------------------------------------------

TEST_CASE("handshake: full accept flow", "[handshake]") {
  HandshakeAcceptor a(Config(), kOurChallenge);
  CHECK(a.state() == State::kAwaitName);

  auto s1 = a.OnPacket(NamePacket(kPeerFlags, kPeerCreation, kPeerName));
  INFO(s1.status().message());
  REQUIRE(s1.ok());
  REQUIRE(s1->out.size() == 2);
  CHECK(s1->out[0] == "sok");
  const std::string& ch = s1->out[1];
  CHECK(ch == ExpectedChallengePacket());
  // Field by field too, for a readable failure.
  REQUIRE(ch.size() == 1 + 8 + 4 + 4 + 2 + kOurName.size());
  CHECK(ch[0] == 'N');
  CHECK(hb::ReadBigEndian(ch, 1, 8) == hb::dflag::kOurs);
  CHECK(hb::ReadBigEndian(ch, 9, 4) == kOurChallenge);
  CHECK(hb::ReadBigEndian(ch, 13, 4) == kOurCreation);
  CHECK(hb::ReadBigEndian(ch, 17, 2) == kOurName.size());
  CHECK(ch.substr(19) == kOurName);
  CHECK_FALSE(s1->done);
  CHECK_FALSE(s1->close_after_send);
  CHECK(a.state() == State::kAwaitChallengeReply);
  CHECK(a.peer_name() == kPeerName);
  CHECK(a.peer_flags() == kPeerFlags);
  CHECK(a.peer_creation() == kPeerCreation);

  auto s2 = a.OnPacket(ReplyPacket(kPeerChallenge, kDigestOurChallenge));
  INFO(s2.status().message());
  REQUIRE(s2.ok());
  REQUIRE(s2->out.size() == 1);
  CHECK(s2->out[0] == "a" + kDigestPeerChallenge);
  CHECK(s2->done);
  CHECK_FALSE(s2->replace_existing);
  CHECK_FALSE(s2->close_after_send);
  CHECK(a.state() == State::kDone);
  CHECK(a.peer_name() == kPeerName);
}

TEST_CASE("handshake: OTP 25 shorthand digest flag alone satisfies the mandatory set",
          "[handshake]") {
  HandshakeAcceptor a(Config(), kOurChallenge);
  auto s = a.OnPacket(NamePacket(hb::dflag::kMandatory25Digest | hb::dflag::kHandshake23,
                                 kPeerCreation, kPeerName));
  INFO(s.status().message());
  REQUIRE(s.ok());
  CHECK(a.state() == State::kAwaitChallengeReply);
}

TEST_CASE("handshake: all mandatory bits spelled out (OTP 23/24 peer) are accepted",
          "[handshake]") {
  HandshakeAcceptor a(Config(), kOurChallenge);
  auto s = a.OnPacket(NamePacket(hb::dflag::kMandatory25, kPeerCreation, kPeerName));
  INFO(s.status().message());
  REQUIRE(s.ok());
  auto r = a.OnPacket(ReplyPacket(kPeerChallenge, kDigestOurChallenge));
  REQUIRE(r.ok());
  CHECK(r->done);
}

TEST_CASE("handshake: UTF-8 and long peer names", "[handshake]") {
  std::string utf8 = "n\xC3\xB6" "de@h\xC3\xB6st";
  HandshakeAcceptor a(Config(), kOurChallenge);
  auto s = a.OnPacket(NamePacket(kPeerFlags, 1, utf8));
  REQUIRE(s.ok());
  CHECK(a.peer_name() == utf8);

  std::string long_name = std::string(200, 'x') + "@" + std::string(54, 'h');  // 255 chars
  HandshakeAcceptor b(Config(), kOurChallenge);
  auto t = b.OnPacket(NamePacket(kPeerFlags, 1, long_name));
  REQUIRE(t.ok());
  CHECK(b.peer_name() == long_name);
}

TEST_CASE("handshake: admit sees the peer's name", "[handshake]") {
  hb::HandshakeConfig c = Config();
  std::string seen;
  c.admit = [&seen](std::string_view peer) {
    seen = std::string(peer);
    return true;
  };
  HandshakeAcceptor a(c, kOurChallenge);
  auto s = a.OnPacket(NamePacket(kPeerFlags, kPeerCreation, kPeerName));
  REQUIRE(s.ok());
  CHECK(seen == kPeerName);
  REQUIRE(s->out.size() == 2);
  CHECK(s->out[0] == "sok");
}

// ---------------------------------------------------------------------------
// Refusals
// ---------------------------------------------------------------------------

TEST_CASE("handshake: wrong digest fails", "[handshake]") {
  SECTION("one bit off") {
    HandshakeAcceptor a = AtChallengeReply();
    std::string bad = kDigestOurChallenge;
    bad[7] ^= 0x01;
    auto r = a.OnPacket(ReplyPacket(kPeerChallenge, bad));
    ExpectFailed(a, r);
    CHECK(r.status().code() == hb::StatusCode::kPermissionDenied);
  }
  SECTION("digest of another challenge") {
    HandshakeAcceptor a = AtChallengeReply();
    auto r = a.OnPacket(ReplyPacket(kPeerChallenge, hb::HandshakeDigest(kOurChallenge + 1, kCookie)));
    ExpectFailed(a, r);
  }
  SECTION("digest with another cookie") {
    HandshakeAcceptor a = AtChallengeReply();
    auto r = a.OnPacket(ReplyPacket(kPeerChallenge, hb::HandshakeDigest(kOurChallenge, "other")));
    ExpectFailed(a, r);
  }
  SECTION("all zero digest") {
    HandshakeAcceptor a = AtChallengeReply();
    auto r = a.OnPacket(ReplyPacket(kPeerChallenge, std::string(16, '\0')));
    ExpectFailed(a, r);
  }
}

TEST_CASE("handshake: peer missing mandatory flags is refused", "[handshake]") {
  for (uint64_t flags :
       {uint64_t{0}, hb::dflag::kHandshake23,
        hb::dflag::kMandatory25 & ~hb::dflag::kBigCreation,
        hb::dflag::kMandatory25 & ~hb::dflag::kUtf8Atoms,
        hb::dflag::kMandatory25 & ~hb::dflag::kMapTag,
        hb::dflag::kMandatory25 & ~hb::dflag::kExtendedReferences,
        hb::dflag::kPublished | hb::dflag::kDistMonitor}) {
    INFO("flags " << flags);
    HandshakeAcceptor a(Config(), kOurChallenge);
    auto r = a.OnPacket(NamePacket(flags, kPeerCreation, kPeerName));
    ExpectFailed(a, r);
  }
}

TEST_CASE("handshake: old 'n' send_name format is refused", "[handshake]") {
  // 'n' | Version:16 | Flags:32 | Name
  std::string old = "n";
  hb::AppendBigEndian(&old, 5, 2);
  hb::AppendBigEndian(&old, static_cast<uint32_t>(hb::dflag::kMandatory25 & 0xffffffffu), 4);
  old += kPeerName;
  HandshakeAcceptor a(Config(), kOurChallenge);
  auto r = a.OnPacket(old);
  ExpectFailed(a, r);
}

TEST_CASE("handshake: admit() returning false refuses the peer", "[handshake]") {
  hb::HandshakeConfig c = Config();
  c.admit = [](std::string_view peer) { return peer != "peer@host"; };
  HandshakeAcceptor a(c, kOurChallenge);
  auto r = a.OnPacket(NamePacket(kPeerFlags, kPeerCreation, kPeerName));
  if (r.ok()) {
    // The polite refusal: status "not_allowed", then close.
    REQUIRE(r->out.size() == 1);
    CHECK(r->out[0] == "snot_allowed");
    CHECK(r->close_after_send);
    CHECK_FALSE(r->done);
    CHECK_FALSE(r->refusal.empty());
    CHECK(r->refusal.find("peer@host") != std::string::npos);
  }
  // Either way no challenge was sent and the handshake cannot go on.
  CHECK(a.state() == State::kFailed);
  auto again = a.OnPacket(ReplyPacket(kPeerChallenge, kDigestOurChallenge));
  CHECK_FALSE(again.ok());

  // The same acceptor config admits other peers.
  HandshakeAcceptor b(c, kOurChallenge);
  auto ok = b.OnPacket(NamePacket(kPeerFlags, kPeerCreation, "other@host"));
  REQUIRE(ok.ok());
  CHECK_FALSE(ok->close_after_send);
  CHECK(b.state() == State::kAwaitChallengeReply);
}

TEST_CASE("handshake: peer names without name@host shape are refused", "[handshake]") {
  for (std::string name : {std::string("peerhost"), std::string(""), std::string("@host"),
                           std::string("peer@"), std::string("pe\0er@host", 10)}) {
    INFO("name '" << name << "'");
    HandshakeAcceptor a(Config(), kOurChallenge);
    auto r = a.OnPacket(NamePacket(kPeerFlags, kPeerCreation, name));
    ExpectFailed(a, r);
  }
}

// ---------------------------------------------------------------------------
// Status "alive"
// ---------------------------------------------------------------------------

TEST_CASE("handshake: existing connection -> alive; peer says true", "[handshake]") {
  hb::HandshakeConfig c = Config();
  std::string asked;
  c.is_connected = [&asked](std::string_view peer) {
    asked = std::string(peer);
    return true;
  };
  HandshakeAcceptor a(c, kOurChallenge);
  auto s1 = a.OnPacket(NamePacket(kPeerFlags, kPeerCreation, kPeerName));
  REQUIRE(s1.ok());
  CHECK(asked == kPeerName);
  REQUIRE(s1->out.size() == 1);
  CHECK(s1->out[0] == "salive");
  CHECK_FALSE(s1->done);
  CHECK(a.state() == State::kAwaitAliveAnswer);

  auto s2 = a.OnPacket("strue");
  INFO(s2.status().message());
  REQUIRE(s2.ok());
  // As dist_util: no second status, straight to the challenge.
  REQUIRE(s2->out.size() == 1);
  CHECK(s2->out[0] == ExpectedChallengePacket());
  CHECK_FALSE(s2->done);
  CHECK(a.state() == State::kAwaitChallengeReply);

  auto s3 = a.OnPacket(ReplyPacket(kPeerChallenge, kDigestOurChallenge));
  REQUIRE(s3.ok());
  REQUIRE(s3->out.size() == 1);
  CHECK(s3->out[0] == "a" + kDigestPeerChallenge);
  CHECK(s3->done);
  CHECK(s3->replace_existing);
  CHECK(a.state() == State::kDone);
}

TEST_CASE("handshake: existing connection -> alive; peer says false", "[handshake]") {
  HandshakeAcceptor a = AtAliveAnswer();
  auto r = a.OnPacket("sfalse");
  ExpectFailed(a, r);
}

TEST_CASE("handshake: garbage answers to alive", "[handshake]") {
  for (std::string p : {std::string(""), std::string("s"), std::string("strue!"), std::string("sok"),
                        std::string("true"), std::string("Strue"), std::string("stru"),
                        std::string("strue\0", 6), NamePacket(kPeerFlags, 1, kPeerName),
                        ReplyPacket(kPeerChallenge, kDigestOurChallenge)}) {
    INFO("answer '" << p << "'");
    HandshakeAcceptor a = AtAliveAnswer();
    auto r = a.OnPacket(p);
    ExpectFailed(a, r);
  }
}

// ---------------------------------------------------------------------------
// Malformed packets at every state
// ---------------------------------------------------------------------------

TEST_CASE("handshake: every truncation of the name packet fails", "[handshake]") {
  std::string good = NamePacket(kPeerFlags, kPeerCreation, kPeerName);
  for (size_t len = 0; len < good.size(); ++len) {
    INFO("length " << len);
    HandshakeAcceptor a(Config(), kOurChallenge);
    auto r = a.OnPacket(good.substr(0, len));
    ExpectFailed(a, r);
  }
  // Declared name length beyond the packet.
  std::string lying = good;
  lying[13] = '\x7f';
  lying[14] = '\xff';
  HandshakeAcceptor a(Config(), kOurChallenge);
  ExpectFailed(a, a.OnPacket(lying));
}

TEST_CASE("handshake: every malformed challenge reply fails", "[handshake]") {
  std::string good = ReplyPacket(kPeerChallenge, kDigestOurChallenge);
  for (size_t len = 0; len < good.size(); ++len) {
    INFO("length " << len);
    HandshakeAcceptor a = AtChallengeReply();
    auto r = a.OnPacket(good.substr(0, len));
    ExpectFailed(a, r);
  }
  SECTION("too long") {
    HandshakeAcceptor a = AtChallengeReply();
    ExpectFailed(a, a.OnPacket(good + "x"));
  }
  SECTION("wrong tag") {
    HandshakeAcceptor a = AtChallengeReply();
    std::string bad = good;
    bad[0] = 'R';
    ExpectFailed(a, a.OnPacket(bad));
  }
  SECTION("a name packet again") {
    HandshakeAcceptor a = AtChallengeReply();
    ExpectFailed(a, a.OnPacket(NamePacket(kPeerFlags, kPeerCreation, kPeerName)));
  }
}

TEST_CASE("handshake: random garbage at every state never crashes", "[handshake]") {
  std::mt19937 rng(777);
  for (int it = 0; it < 3000; ++it) {
    std::string p(rng() % 64, '\0');
    for (char& c : p) c = static_cast<char>(rng());
    // Avoid the (astronomically unlikely) valid packet by fixing a bad first byte.
    if (!p.empty() && (p[0] == 'N' || p[0] == 'r' || p[0] == 's')) p[0] = 'x';
    int which = it % 3;
    if (which == 0) {
      HandshakeAcceptor a(Config(), kOurChallenge);
      ExpectFailed(a, a.OnPacket(p));
    } else if (which == 1) {
      HandshakeAcceptor a = AtAliveAnswer();
      ExpectFailed(a, a.OnPacket(p));
    } else {
      HandshakeAcceptor a = AtChallengeReply();
      ExpectFailed(a, a.OnPacket(p));
    }
  }
  // Random bytes behind the right tags, too.
  for (int it = 0; it < 3000; ++it) {
    std::string p(rng() % 40, '\0');
    for (char& c : p) c = static_cast<char>(rng());
    const char tags[] = {'N', 'r', 's', 'n'};
    if (!p.empty()) p[0] = tags[rng() % 4];
    HandshakeAcceptor a(Config(), kOurChallenge);
    (void)a.OnPacket(p);  // anything but a crash
    HandshakeAcceptor b = AtChallengeReply();
    auto r = b.OnPacket(p);
    CHECK_FALSE(r.ok());  // 16 random bytes never match the digest here
    HandshakeAcceptor c = AtAliveAnswer();
    (void)c.OnPacket(p);
  }
}

TEST_CASE("handshake: packets after completion are refused", "[handshake]") {
  HandshakeAcceptor a = AtChallengeReply();
  REQUIRE(a.OnPacket(ReplyPacket(kPeerChallenge, kDigestOurChallenge)).ok());
  REQUIRE(a.state() == State::kDone);
  CHECK_FALSE(a.OnPacket(ReplyPacket(kPeerChallenge, kDigestOurChallenge)).ok());
}
