// The registered names a peer can send to: net_kernel (net_adm:ping) and
// rex, the rpc server of OTP before erpc, in its three forms:
//   {'$gen_call', {Pid, Tag}, {call | block_call, M, F, A, GL}}  -> {Tag, Reply}
//   {'$gen_cast', {cast, M, F, A, GL}}                            -> nothing
//   {Pid, {call, M, F, A, GL}} (erl_call, ei_rpc)                 -> {rex, Reply}
// Each goes through the same Admission as spawn_request, so limits and
// draining refuse it with the reply its form gives.
#include "base/log.h"
#include "daemon/rpc_server.h"

namespace hb {
namespace {

Term Atom(const char* a) { return Term::Atom(a); }

// {call | block_call | cast, M, F, A, GroupLeader} -> M, F, A.
bool ParseMfa(const Term& req, CallRequest* out) {
  if (!req.is_tuple(5) || !req[1].is_atom() || !req[2].is_atom()) return false;
  out->module = req[1].text();
  out->function = req[2].text();
  out->args = req[3];
  return true;
}

// What apply/3 raises for an improper argument list.
CallOutcome ImproperArgs(const Term& req) {
  return CallOutcome::ErrorAt("badarg", "erlang", "apply", Term::List({req[1], req[2], req[3]}));
}

}  // namespace

void RpcServer::OnRegSend(const std::string& node, const ControlMessage& m) {
  const std::string& name = m.to.text();
  if (!m.payload_error.ok()) {
    // Without the message we do not know whom to answer: drop it, as a
    // BEAM drops what it cannot deliver.
    if (metrics_) metrics_->RecordRejected("term_limit");
    HB_LOG_WARN("dropped a message from '" + node + "' to '" + name + "': " +
                m.payload_error.message());
    return;
  }
  const Term& msg = *m.message;
  if (name == "net_kernel") {
    // net_adm:ping/1: {'$gen_call', {Pid, Tag}, {is_auth, Node}} -> yes.
    if (msg.is_tuple(3) && msg[0].is_atom("$gen_call") && msg[1].is_tuple(2) &&
        msg[1][0].is_pid() && msg[2].is_tuple(2) && msg[2][0].is_atom("is_auth")) {
      Reply(node, msg[1][0], msg[1][1], Atom("yes"));
    }
    return;
  }
  if (name == "rex") {
    OnRex(node, m);
    return;
  }
  if (ToServerByName(node, name, msg)) return;
  if (unknown_names_logged_.size() < 1000 && unknown_names_logged_.insert(name).second) {
    HB_LOG_INFO("message from '" + node + "' to unregistered name '" + name +
                "' dropped (logged once per name)");
  }
}

void RpcServer::OnRex(const std::string& node, const ControlMessage& m) {
  const Term& msg = *m.message;
  if (msg.is_tuple(3) && msg[0].is_atom("$gen_call") && msg[1].is_tuple(2) &&
      msg[1][0].is_pid()) {
    OnRexCall(node, msg);
  } else if (msg.is_tuple(2) && msg[0].is_atom("$gen_cast") && msg[1].is_tuple(5) &&
             msg[1][0].is_atom("cast")) {
    OnRexCast(node, msg[1]);
  } else if (msg.is_tuple(2) && msg[0].is_pid() && msg[1].is_tuple(5) &&
             msg[1][0].is_atom("call")) {
    OnLegacyRexCall(node, msg);
  }
  // rex ignores anything else; so do we (a caller of it times out).
}

void RpcServer::OnRexCall(const std::string& node, const Term& msg) {
  const Term& req = msg[2];
  CallRequest call;
  if (!(req.is_tuple(5) && (req[0].is_atom("call") || req[0].is_atom("block_call"))) ||
      !ParseMfa(req, &call)) {
    return;
  }
  Term to = msg[1][0];
  Term tag = msg[1][1];
  if (to.is_pid()) call.caller_pid = to;
  if (!call.args.is_proper_list()) {
    Reply(node, to, tag, RpcReply(ImproperArgs(req)));
    return;
  }
  if (Admission::Verdict v = admission_.Check(node); v != Admission::Verdict::kAdmit) {
    Reply(node, to, tag, RpcReply(Admission::Refusal(v)));
    return;
  }
  // The tag of gen:call on OTP 24+ is [alias | Ref]; older callers use Ref.
  // DEMONITOR_P names that ref when the caller gives up.
  Term tag_ref = tag.is_ref() ? tag
                 : (tag.is_list() && tag.tail() && tag.tail()->is_ref()) ? *tag.tail()
                                                                         : Term();
  uint64_t id = Launch(node, std::move(call), [this, node, to, tag](const CallOutcome& o) {
    Reply(node, to, tag, RpcReply(o));
  });
  if (id != 0) rex_calls_[id] = RexCall{node, tag_ref};
}

void RpcServer::OnRexCast(const std::string& node, const Term& req) {
  CallRequest call;
  if (!ParseMfa(req, &call) || !call.args.is_proper_list()) return;
  if (admission_.Check(node) != Admission::Verdict::kAdmit) {
    // A cast has nobody to answer: the refusal is counted and, for limits,
    // logged by Admission.
    HB_LOG_DEBUG("dropped a refused rex cast from '" + node + "'");
    return;
  }
  Launch(node, std::move(call), [](const CallOutcome&) {});
}

void RpcServer::OnLegacyRexCall(const std::string& node, const Term& msg) {
  CallRequest call;
  Term to = msg[0];
  auto reply = [this, node, to](const CallOutcome& o) {
    Send(node, MakeSend(to, Term::Tuple({Atom("rex"), RpcReply(o)})));
  };
  if (!ParseMfa(msg[1], &call)) return;
  if (to.is_pid()) call.caller_pid = to;
  if (!call.args.is_proper_list()) {
    reply(ImproperArgs(msg[1]));
    return;
  }
  if (Admission::Verdict v = admission_.Check(node); v != Admission::Verdict::kAdmit) {
    reply(Admission::Refusal(v));
    return;
  }
  Launch(node, std::move(call), reply);
}

}  // namespace hb
