// Accepting side of the Erlang distribution handshake, OTP 23+ ("N") format,
// as a pure state machine: packets in, packets out, no sockets, no clocks.
// The ERTS user's guide chapter "Distribution Protocol" and dist_util.erl are
// the references; connection.cc drives this over a libuv stream.
//
// Packets given to OnPacket and returned in Step::out are handshake packets
// *without* their 2-byte length prefix.
//
// Thread: whichever thread owns the connection (the loop thread).
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "base/status.h"

namespace hb {

// MD5(cookie ++ decimal(challenge)), as dist_util:gen_digest/2.
std::string HandshakeDigest(uint32_t challenge, std::string_view cookie);

struct HandshakeConfig {
  std::string node_name;   // our full name, "gpu@host"
  std::string cookie;
  uint64_t flags = 0;      // what we advertise
  uint32_t creation = 0;
  // Decides whether a peer may connect at all (allowlist); empty = everyone.
  std::function<bool(std::string_view peer)> admit;
  // Whether we already have a live connection to this node; the handshake
  // then asks the peer (status "alive") whether that one is stale.
  std::function<bool(std::string_view peer)> is_connected;
};

class HandshakeAcceptor {
 public:
  enum class State { kAwaitName, kAwaitAliveAnswer, kAwaitChallengeReply, kDone, kFailed };

  struct Step {
    std::vector<std::string> out;  // packets to send, in order
    bool done = false;             // handshake complete after sending `out`
    bool replace_existing = false; // peer said the old connection is stale
    // Set when the peer is refused politely (status "not_allowed"): send
    // `out`, then close; `refusal` is the log line.
    bool close_after_send = false;
    std::string refusal;
  };

  // `challenge` is our random challenge (injected so tests are deterministic).
  HandshakeAcceptor(HandshakeConfig config, uint32_t challenge);

  // Feeds one packet. An error means: send nothing more, close the socket,
  // log the message (it names the peer when known).
  Result<Step> OnPacket(std::string_view packet);

  State state() const { return state_; }
  const std::string& peer_name() const { return peer_name_; }
  uint64_t peer_flags() const { return peer_flags_; }
  uint32_t peer_creation() const { return peer_creation_; }

 private:
  Result<Step> OnName(std::string_view p);
  Result<Step> OnAliveAnswer(std::string_view p);
  Result<Step> OnChallengeReply(std::string_view p);
  Step SendOkAndChallenge(std::string status);
  Status Fail(Status s) {
    state_ = State::kFailed;
    return s;
  }

  HandshakeConfig config_;
  uint32_t challenge_;
  State state_ = State::kAwaitName;
  std::string peer_name_;
  uint64_t peer_flags_ = 0;
  uint32_t peer_creation_ = 0;
  bool replace_existing_ = false;
};

}  // namespace hb
