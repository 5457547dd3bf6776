// Control messages of the distribution protocol: decoding a received 'p'
// packet into a ControlMessage, and encoding one to send.
//
// Decoding normalises the variants so that the daemon handles one shape per
// meaning: *_TT forms become their base operation with `trace_token` set, and
// PAYLOAD_EXIT / PAYLOAD_EXIT2 / PAYLOAD_MONITOR_P_EXIT become EXIT / EXIT2 /
// MONITOR_P_EXIT with the reason taken from the payload. Every term is
// validated against the packet and TermLimits before ei sees it.
//
// Pure functions; any thread.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "base/status.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"

namespace hb {

enum class ControlOp : int {
  kLink = 1,
  kSend = 2,
  kExit = 3,
  kUnlink = 4,
  kRegSend = 6,
  kGroupLeader = 7,
  kExit2 = 8,
  kSendTT = 12,
  kExitTT = 13,
  kRegSendTT = 16,
  kExit2TT = 18,
  kMonitorP = 19,
  kDemonitorP = 20,
  kMonitorPExit = 21,
  kSendSender = 22,
  kSendSenderTT = 23,
  kPayloadExit = 24,
  kPayloadExitTT = 25,
  kPayloadExit2 = 26,
  kPayloadExit2TT = 27,
  kPayloadMonitorPExit = 28,
  kSpawnRequest = 29,
  kSpawnRequestTT = 30,
  kSpawnReply = 31,
  kSpawnReplyTT = 32,
  kAliasSend = 33,
  kAliasSendTT = 34,
  kUnlinkId = 35,
  kUnlinkIdAck = 36,
};

// Field use per (normalised) operation:
//   LINK, UNLINK, GROUP_LEADER     from, to
//   SEND, SEND_SENDER              [from], to (pid), message
//   REG_SEND                       from, to (atom name), message
//   ALIAS_SEND                     from, to (the alias, a ref), message
//   EXIT, EXIT2                    from, to, reason
//   MONITOR_P, DEMONITOR_P         from (watcher pid), to (pid or name), ref
//   MONITOR_P_EXIT                 from (watched pid or name), to (watcher), ref, reason
//   SPAWN_REQUEST                  ref (request id), from, group_leader, mfa {M,F,Arity},
//                                  options, message (the argument list)
//   SPAWN_REPLY                    ref, to, flags, result (pid or error atom)
//   UNLINK_ID, UNLINK_ID_ACK       ref (the id), from, to
struct ControlMessage {
  ControlOp op = ControlOp::kSend;
  Term from;
  Term to;
  Term ref;
  Term reason;
  Term group_leader;
  Term mfa;
  Term options;
  Term result;
  int64_t flags = 0;
  std::optional<Term> message;
  std::optional<Term> trace_token;
  // SPAWN_REQUEST and REG_SEND only: the message exceeded TermLimits (depth,
  // elements, size); `message` is empty and only ref/from/to are set, so the
  // daemon can refuse that one call and keep the connection.
  Status payload_error;
};

// Decodes the body of a 4-byte-framed packet that starts with 'p' (112),
// i.e. `p | control | [payload]`. An unknown operation number is kNotFound
// (log and ignore); anything else malformed is kInvalidArgument/kOutOfRange,
// except a SPAWN_REQUEST or REG_SEND whose message is over the limits, which
// decodes with `payload_error` set.
Result<ControlMessage> DecodeControlPacket(std::string_view packet, const TermLimits& limits);

// Encodes `m` (base operations only; never the _TT or PAYLOAD_ forms) as a
// full packet body: 'p', versioned control term, optional versioned message.
// The 4-byte length prefix is not included.
Result<std::string> EncodeControlPacket(const ControlMessage& m);

// Convenience constructors for what hornbeamd sends.
ControlMessage MakeSend(Term to, Term message);
ControlMessage MakeRegSend(Term from, Term name, Term message);
ControlMessage MakeAliasSend(Term from, Term alias, Term message);
ControlMessage MakeExit(Term from, Term to, Term reason);
ControlMessage MakeMonitorPExit(Term watched, Term watcher, Term ref, Term reason);
ControlMessage MakeSpawnReply(Term req_id, Term to, int64_t flags, Term result);
ControlMessage MakeUnlinkIdAck(Term id, Term from, Term to);

const char* ControlOpName(ControlOp op);

}  // namespace hb
