#include "ei_bridge/control.h"

#include <vector>

namespace hb {
namespace {

struct Shape {
  size_t arity;       // of the control tuple
  bool payload;       // a second term follows
  ControlOp base;     // normalised operation
};

// The layouts from the "Distribution Protocol" chapter, by operation.
bool ShapeOf(int op, Shape* s) {
  using O = ControlOp;
  switch (static_cast<O>(op)) {
    case O::kLink: *s = {3, false, O::kLink}; return true;
    case O::kSend: *s = {3, true, O::kSend}; return true;
    case O::kExit: *s = {4, false, O::kExit}; return true;
    case O::kUnlink: *s = {3, false, O::kUnlink}; return true;
    case O::kRegSend: *s = {4, true, O::kRegSend}; return true;
    case O::kGroupLeader: *s = {3, false, O::kGroupLeader}; return true;
    case O::kExit2: *s = {4, false, O::kExit2}; return true;
    case O::kSendTT: *s = {4, true, O::kSend}; return true;
    case O::kExitTT: *s = {5, false, O::kExit}; return true;
    case O::kRegSendTT: *s = {5, true, O::kRegSend}; return true;
    case O::kExit2TT: *s = {5, false, O::kExit2}; return true;
    case O::kMonitorP: *s = {4, false, O::kMonitorP}; return true;
    case O::kDemonitorP: *s = {4, false, O::kDemonitorP}; return true;
    case O::kMonitorPExit: *s = {5, false, O::kMonitorPExit}; return true;
    case O::kSendSender: *s = {3, true, O::kSendSender}; return true;
    case O::kSendSenderTT: *s = {4, true, O::kSendSender}; return true;
    case O::kPayloadExit: *s = {3, true, O::kExit}; return true;
    case O::kPayloadExitTT: *s = {4, true, O::kExit}; return true;
    case O::kPayloadExit2: *s = {3, true, O::kExit2}; return true;
    case O::kPayloadExit2TT: *s = {4, true, O::kExit2}; return true;
    case O::kPayloadMonitorPExit: *s = {4, true, O::kMonitorPExit}; return true;
    case O::kSpawnRequest: *s = {6, true, O::kSpawnRequest}; return true;
    case O::kSpawnRequestTT: *s = {7, true, O::kSpawnRequest}; return true;
    case O::kSpawnReply: *s = {5, false, O::kSpawnReply}; return true;
    case O::kSpawnReplyTT: *s = {6, false, O::kSpawnReply}; return true;
    case O::kAliasSend: *s = {3, true, O::kAliasSend}; return true;
    case O::kAliasSendTT: *s = {4, true, O::kAliasSend}; return true;
    case O::kUnlinkId: *s = {4, false, O::kUnlinkId}; return true;
    case O::kUnlinkIdAck: *s = {4, false, O::kUnlinkIdAck}; return true;
  }
  return false;
}

bool IsPayloadExit(int op) {
  return op >= static_cast<int>(ControlOp::kPayloadExit) &&
         op <= static_cast<int>(ControlOp::kPayloadMonitorPExit);
}

// EXIT and EXIT2: {Op, From, To, Reason} with an optional trace token
// before the reason; the PAYLOAD_ forms carry the reason as the payload.
void FillExit(int op, bool tt, const Term& c, ControlMessage* m) {
  m->from = c[1];
  m->to = c[2];
  if (IsPayloadExit(op)) {
    if (tt) m->trace_token = c[3];
  } else if (tt) {
    m->trace_token = c[3];
    m->reason = c[4];
  } else {
    m->reason = c[3];
  }
}

Status FillSpawn(bool tt, const Term& c, const std::optional<Term>& payload, ControlMessage* m) {
  if (m->op == ControlOp::kSpawnReply) {
    m->ref = c[1];
    m->to = c[2];
    if (!c[3].is_int()) return InvalidArgument("SPAWN_REPLY flags not an integer");
    m->flags = c[3].int_value();
    m->result = c[4];
    if (tt) m->trace_token = c[5];
    return Status::Ok();
  }
  m->ref = c[1];
  m->from = c[2];
  m->group_leader = c[3];
  m->mfa = c[4];
  m->options = c[5];
  if (tt) m->trace_token = c[6];
  if (!m->mfa.is_tuple(3) || !m->mfa[0].is_atom() || !m->mfa[1].is_atom() ||
      !m->mfa[2].is_int()) {
    return InvalidArgument("SPAWN_REQUEST with a malformed {M, F, Arity}");
  }
  if (!m->options.is_proper_list()) return InvalidArgument("SPAWN_REQUEST options not a list");
  if (!payload || !payload->is_proper_list()) {
    return InvalidArgument("SPAWN_REQUEST arguments not a list");
  }
  return Status::Ok();
}

Status Fill(int op, const Term& c, std::optional<Term> payload, ControlMessage* m) {
  using O = ControlOp;
  const bool tt = op == 12 || op == 13 || op == 16 || op == 18 || op == 23 || op == 25 ||
                  op == 27 || op == 30 || op == 32 || op == 34;
  if (IsPayloadExit(op)) {
    m->reason = std::move(*payload);
    payload.reset();
  }
  switch (m->op) {
    case O::kLink:
    case O::kUnlink:
    case O::kGroupLeader:
      m->from = c[1];
      m->to = c[2];
      break;
    case O::kSend:
      m->to = c[2];  // c[1] is "unused" (the cookie slot of old protocols)
      if (tt) m->trace_token = c[3];
      break;
    case O::kSendSender:
    case O::kAliasSend:
      m->from = c[1];
      m->to = c[2];
      if (tt) m->trace_token = c[3];
      break;
    case O::kRegSend:
      m->from = c[1];
      m->to = c[3];
      if (!m->to.is_atom()) return InvalidArgument("REG_SEND to a non-atom name");
      if (tt) m->trace_token = c[4];
      break;
    case O::kExit:
    case O::kExit2:
      FillExit(op, tt, c, m);
      break;
    case O::kMonitorP:
    case O::kDemonitorP:
      m->from = c[1];
      m->to = c[2];
      m->ref = c[3];
      break;
    case O::kMonitorPExit:
      m->from = c[1];
      m->to = c[2];
      m->ref = c[3];
      if (!IsPayloadExit(op)) m->reason = c[4];
      break;
    case O::kSpawnRequest:
    case O::kSpawnReply:
      HB_RETURN_IF_ERROR(FillSpawn(tt, c, payload, m));
      break;
    case O::kUnlinkId:
    case O::kUnlinkIdAck:
      m->ref = c[1];
      m->from = c[2];
      m->to = c[3];
      break;
    default:
      return Internal("unnormalised control op");
  }
  m->message = std::move(payload);
  return Status::Ok();
}

}  // namespace

Result<ControlMessage> DecodeControlPacket(std::string_view packet, const TermLimits& limits) {
  if (packet.empty() || packet[0] != 'p') {
    return InvalidArgument("packet is not a pass-through ('p') message");
  }
  size_t pos = 1;
  Result<Term> control = DecodeVersioned(packet, &pos, limits);
  if (!control.ok()) return Status(control.status().code(), "control term: " + control.status().message());
  const Term& c = *control;
  if (!c.is_tuple() || c.size() == 0 || !c[0].is_int()) {
    return InvalidArgument("control message is not a tuple with an operation number");
  }
  int op = static_cast<int>(c[0].int_value());
  Shape shape;
  if (c[0].int_value() < 0 || c[0].int_value() > 255 || !ShapeOf(op, &shape)) {
    return NotFound("unknown control operation " + std::to_string(c[0].int_value()));
  }
  if (c.size() != shape.arity) {
    return InvalidArgument(std::string(ControlOpName(static_cast<ControlOp>(op))) +
                           " with arity " + std::to_string(c.size()));
  }
  std::optional<Term> payload;
  if (shape.payload) {
    if (pos >= packet.size()) {
      return InvalidArgument(std::string(ControlOpName(static_cast<ControlOp>(op))) +
                             " without its message");
    }
    Result<Term> p = DecodeVersioned(packet, &pos, limits);
    if (!p.ok() && p.status().code() == StatusCode::kOutOfRange &&
        ((static_cast<ControlOp>(op) == ControlOp::kSpawnRequest && c[2].is_pid()) ||
         (static_cast<ControlOp>(op) == ControlOp::kRegSend && c[3].is_atom()))) {
      // A well-formed control with a payload over our limits: the call is
      // refused, the connection (and the peer's other calls) stays.
      ControlMessage m;
      m.op = shape.base;
      m.payload_error = Status(StatusCode::kOutOfRange, "message term: " + p.status().message());
      switch (m.op) {
        case ControlOp::kSpawnRequest:
          m.ref = c[1];
          m.from = c[2];
          break;
        default:
          m.from = c[1];
          m.to = c[3];
          break;
      }
      return m;
    }
    if (!p.ok()) return Status(p.status().code(), "message term: " + p.status().message());
    payload = std::move(p).value();
  }
  if (pos != packet.size()) return InvalidArgument("trailing bytes after control message");
  ControlMessage m;
  m.op = shape.base;
  HB_RETURN_IF_ERROR(Fill(op, c, std::move(payload), &m));
  return m;
}

Result<std::string> EncodeControlPacket(const ControlMessage& m) {
  using O = ControlOp;
  const Term op = Term::Int(static_cast<int>(m.op));
  std::vector<Term> c;
  switch (m.op) {
    case O::kLink:
    case O::kUnlink:
    case O::kGroupLeader:
      c = {op, m.from, m.to};
      break;
    case O::kSend:
      c = {op, Term::Atom(""), m.to};
      break;
    case O::kSendSender:
    case O::kAliasSend:
      c = {op, m.from, m.to};
      break;
    case O::kRegSend:
      c = {op, m.from, Term::Atom(""), m.to};
      break;
    case O::kExit:
    case O::kExit2:
      c = {op, m.from, m.to, m.reason};
      break;
    case O::kMonitorP:
    case O::kDemonitorP:
      c = {op, m.from, m.to, m.ref};
      break;
    case O::kMonitorPExit:
      c = {op, m.from, m.to, m.ref, m.reason};
      break;
    case O::kSpawnRequest:
      c = {op, m.ref, m.from, m.group_leader, m.mfa, m.options};
      break;
    case O::kSpawnReply:
      c = {op, m.ref, m.to, Term::Int(m.flags), m.result};
      break;
    case O::kUnlinkId:
    case O::kUnlinkIdAck:
      c = {op, m.ref, m.from, m.to};
      break;
    default:
      return InvalidArgument("only base control operations are encoded");
  }
  Shape shape;
  ShapeOf(static_cast<int>(m.op), &shape);
  if (shape.payload != m.message.has_value()) {
    return InvalidArgument(std::string(ControlOpName(m.op)) + ": message presence mismatch");
  }
  std::string out = "p";
  out.push_back(static_cast<char>(131));
  HB_RETURN_IF_ERROR(EncodeTerm(Term::Tuple(std::move(c)), &out));
  if (m.message) {
    out.push_back(static_cast<char>(131));
    HB_RETURN_IF_ERROR(EncodeTerm(*m.message, &out));
  }
  return out;
}

ControlMessage MakeSend(Term to, Term message) {
  ControlMessage m;
  m.op = ControlOp::kSend;
  m.to = std::move(to);
  m.message = std::move(message);
  return m;
}

ControlMessage MakeRegSend(Term from, Term name, Term message) {
  ControlMessage m;
  m.op = ControlOp::kRegSend;
  m.from = std::move(from);
  m.to = std::move(name);
  m.message = std::move(message);
  return m;
}

ControlMessage MakeAliasSend(Term from, Term alias, Term message) {
  ControlMessage m;
  m.op = ControlOp::kAliasSend;
  m.from = std::move(from);
  m.to = std::move(alias);
  m.message = std::move(message);
  return m;
}

ControlMessage MakeExit(Term from, Term to, Term reason) {
  ControlMessage m;
  m.op = ControlOp::kExit;
  m.from = std::move(from);
  m.to = std::move(to);
  m.reason = std::move(reason);
  return m;
}

ControlMessage MakeMonitorPExit(Term watched, Term watcher, Term ref, Term reason) {
  ControlMessage m;
  m.op = ControlOp::kMonitorPExit;
  m.from = std::move(watched);
  m.to = std::move(watcher);
  m.ref = std::move(ref);
  m.reason = std::move(reason);
  return m;
}

ControlMessage MakeSpawnReply(Term req_id, Term to, int64_t flags, Term result) {
  ControlMessage m;
  m.op = ControlOp::kSpawnReply;
  m.ref = std::move(req_id);
  m.to = std::move(to);
  m.flags = flags;
  m.result = std::move(result);
  return m;
}

ControlMessage MakeUnlinkIdAck(Term id, Term from, Term to) {
  ControlMessage m;
  m.op = ControlOp::kUnlinkIdAck;
  m.ref = std::move(id);
  m.from = std::move(from);
  m.to = std::move(to);
  return m;
}

const char* ControlOpName(ControlOp op) {
  using O = ControlOp;
  switch (op) {
    case O::kLink: return "LINK";
    case O::kSend: return "SEND";
    case O::kExit: return "EXIT";
    case O::kUnlink: return "UNLINK";
    case O::kRegSend: return "REG_SEND";
    case O::kGroupLeader: return "GROUP_LEADER";
    case O::kExit2: return "EXIT2";
    case O::kSendTT: return "SEND_TT";
    case O::kExitTT: return "EXIT_TT";
    case O::kRegSendTT: return "REG_SEND_TT";
    case O::kExit2TT: return "EXIT2_TT";
    case O::kMonitorP: return "MONITOR_P";
    case O::kDemonitorP: return "DEMONITOR_P";
    case O::kMonitorPExit: return "MONITOR_P_EXIT";
    case O::kSendSender: return "SEND_SENDER";
    case O::kSendSenderTT: return "SEND_SENDER_TT";
    case O::kPayloadExit: return "PAYLOAD_EXIT";
    case O::kPayloadExitTT: return "PAYLOAD_EXIT_TT";
    case O::kPayloadExit2: return "PAYLOAD_EXIT2";
    case O::kPayloadExit2TT: return "PAYLOAD_EXIT2_TT";
    case O::kPayloadMonitorPExit: return "PAYLOAD_MONITOR_P_EXIT";
    case O::kSpawnRequest: return "SPAWN_REQUEST";
    case O::kSpawnRequestTT: return "SPAWN_REQUEST_TT";
    case O::kSpawnReply: return "SPAWN_REPLY";
    case O::kSpawnReplyTT: return "SPAWN_REPLY_TT";
    case O::kAliasSend: return "ALIAS_SEND";
    case O::kAliasSendTT: return "ALIAS_SEND_TT";
    case O::kUnlinkId: return "UNLINK_ID";
    case O::kUnlinkIdAck: return "UNLINK_ID_ACK";
  }
  return "UNKNOWN";
}

}  // namespace hb
