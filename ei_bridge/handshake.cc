#include "ei_bridge/handshake.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>

#include <cstring>

#include "base/byte_order.h"
#include "ei_bridge/dist_flags.h"

namespace hb {
namespace {

// Node names are atoms: at most 255 characters; we also insist on the
// name@host shape, which every BEAM node has.
bool PlausibleNodeName(std::string_view n) {
  if (n.empty() || n.size() > 255 * 4) return false;
  size_t at = n.find('@');
  if (at == 0 || at == std::string_view::npos || at + 1 == n.size()) return false;
  for (char c : n) {
    if (c == '\0' || c == '\n' || c == '\r') return false;
  }
  return true;
}

std::string Quoted(std::string_view peer) {
  // Peer names go into log lines; keep them printable.
  std::string out;
  for (char c : peer.substr(0, 300)) out += (c >= 0x20 && c < 0x7f) ? c : '?';
  return "'" + out + "'";
}

}  // namespace

std::string HandshakeDigest(uint32_t challenge, std::string_view cookie) {
  std::string input(cookie);
  input += std::to_string(challenge);
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(input.data(), input.size(), md, &len, EVP_md5(), nullptr);
  return std::string(reinterpret_cast<char*>(md), len);
}

HandshakeAcceptor::HandshakeAcceptor(HandshakeConfig config, uint32_t challenge)
    : config_(std::move(config)), challenge_(challenge) {}

Result<HandshakeAcceptor::Step> HandshakeAcceptor::OnPacket(std::string_view p) {
  switch (state_) {
    case State::kAwaitName:
      return OnName(p);
    case State::kAwaitAliveAnswer:
      return OnAliveAnswer(p);
    case State::kAwaitChallengeReply:
      return OnChallengeReply(p);
    case State::kDone:
      return Fail(InvalidArgument("handshake packet after the handshake finished"));
    case State::kFailed:
      break;
  }
  return Fail(InvalidArgument("handshake already failed"));
}

Result<HandshakeAcceptor::Step> HandshakeAcceptor::OnName(std::string_view p) {
  if (p.empty()) return Fail(InvalidArgument("empty handshake packet"));
  if (p[0] == 'n') {
    return Fail(InvalidArgument(
        "peer uses the pre-OTP-23 handshake ('n'); hornbeamd needs OTP 23 or later"));
  }
  if (p[0] != 'N' || p.size() < 15) return Fail(InvalidArgument("malformed send_name packet"));
  peer_flags_ = ReadBigEndian(p, 1, 8);
  peer_creation_ = static_cast<uint32_t>(ReadBigEndian(p, 9, 4));
  size_t nlen = ReadBigEndian(p, 13, 2);
  if (p.size() != 15 + nlen) return Fail(InvalidArgument("send_name length mismatch"));
  std::string_view name = p.substr(15, nlen);
  if (!PlausibleNodeName(name)) return Fail(InvalidArgument("peer sent an invalid node name"));
  peer_name_ = std::string(name);
  if (!dflag::PeerMeetsMandatory(peer_flags_)) {
    return Fail(InvalidArgument("peer " + Quoted(peer_name_) +
                                " lacks the distribution flags OTP 25 makes mandatory"));
  }
  if (config_.admit && !config_.admit(peer_name_)) {
    state_ = State::kFailed;
    Step s;
    s.out.push_back("snot_allowed");
    s.close_after_send = true;
    s.refusal = "peer " + Quoted(peer_name_) + " is not in the allowlist";
    return s;
  }
  if (config_.is_connected && config_.is_connected(peer_name_)) {
    // The peer thinks it has no connection to us, so ours is stale (the peer
    // restarted) -- unless this is a duplicate; the peer decides.
    state_ = State::kAwaitAliveAnswer;
    Step s;
    s.out.push_back("salive");
    return s;
  }
  return SendOkAndChallenge("sok");
}

Result<HandshakeAcceptor::Step> HandshakeAcceptor::OnAliveAnswer(std::string_view p) {
  if (p == "strue") {
    replace_existing_ = true;
    Step s = SendOkAndChallenge("");
    return s;
  }
  if (p == "sfalse") {
    return Fail(Unavailable("peer " + Quoted(peer_name_) + " keeps its existing connection"));
  }
  return Fail(InvalidArgument("malformed answer to status 'alive'"));
}

HandshakeAcceptor::Step HandshakeAcceptor::SendOkAndChallenge(std::string status) {
  Step s;
  if (!status.empty()) s.out.push_back(std::move(status));
  std::string c;
  c.push_back('N');
  AppendBigEndian(&c, config_.flags, 8);
  AppendBigEndian(&c, challenge_, 4);
  AppendBigEndian(&c, config_.creation, 4);
  AppendBigEndian(&c, config_.node_name.size(), 2);
  c += config_.node_name;
  s.out.push_back(std::move(c));
  state_ = State::kAwaitChallengeReply;
  return s;
}

Result<HandshakeAcceptor::Step> HandshakeAcceptor::OnChallengeReply(std::string_view p) {
  if (p.size() != 21 || p[0] != 'r') return Fail(InvalidArgument("malformed challenge reply"));
  uint32_t peer_challenge = static_cast<uint32_t>(ReadBigEndian(p, 1, 4));
  std::string expected = HandshakeDigest(challenge_, config_.cookie);
  if (CRYPTO_memcmp(expected.data(), p.data() + 5, 16) != 0) {
    return Fail(PermissionDenied("connection attempt from " + Quoted(peer_name_) +
                                 " refused: wrong cookie"));
  }
  Step s;
  s.out.push_back("a" + HandshakeDigest(peer_challenge, config_.cookie));
  s.done = true;
  s.replace_existing = replace_existing_;
  state_ = State::kDone;
  return s;
}

}  // namespace hb
