#include "daemon/rpc_server.h"

#include <algorithm>

#include "base/log.h"
#include "ei_bridge/dist_flags.h"

namespace hb {
namespace {

constexpr int64_t kSpawnFlagLink = 1;
constexpr int64_t kSpawnFlagMonitor = 2;

Term Atom(const char* a) { return Term::Atom(a); }

// A proper list of terms -> vector view helper.
bool ListElems(const Term& t, std::vector<Term>* out) {
  if (!t.is_proper_list()) return false;
  *out = t.items();
  return true;
}

}  // namespace

RpcServer::RpcServer(std::string node_name, uint32_t creation, Dispatcher* dispatcher, SendFn send)
    : node_name_(node_name), dispatcher_(dispatcher), send_(std::move(send)),
      procs_(std::move(node_name), creation) {}

std::string RpcServer::NodeOf(const Term& pid) {
  if (pid.is_pid()) return pid.pid().node;
  if (pid.is_ref()) return pid.ref().node;
  return std::string();
}

bool RpcServer::Send(const std::string& node, const ControlMessage& m) {
  if (!send_(node, m)) {
    HB_LOG_DEBUG(std::string("dropped ") + ControlOpName(m.op) + " to '" + node +
                 "': not connected");
    return false;
  }
  return true;
}

void RpcServer::OnPeerUp(const PeerInfo& peer) {
  if ((peer.flags & dflag::kSpawn) == 0) {
    HB_LOG_INFO("peer '" + peer.node +
                "' lacks DFLAG_SPAWN: only the legacy rex protocol will work from it");
  }
  ServersPeerUp(peer.node);
}

void RpcServer::OnPeerDown(const std::string& node) {
  ServersPeerDown(node);
  // Rex calls from that node: nobody is left to read the reply.
  for (auto it = rex_calls_.begin(); it != rex_calls_.end();) {
    if (it->second.node == node) {
      CancelCall(it->first);
      it = rex_calls_.erase(it);
    } else {
      ++it;
    }
  }
  // Processes: monitors from that node vanish; links to it deliver
  // `noconnection`, which kills the process as on a BEAM node.
  std::vector<uint64_t> killed;
  std::vector<uint64_t> orphaned;
  for (auto& [key, p] : procs_.all()) {
    auto from_node = [&](const Term& t) { return NodeOf(t) == node; };
    size_t links_before = p.links.size();
    p.links.erase(std::remove_if(p.links.begin(), p.links.end(), from_node), p.links.end());
    p.monitors.erase(std::remove_if(p.monitors.begin(), p.monitors.end(),
                                    [&](const VirtualProcess::Monitor& m) {
                                      return from_node(m.watcher);
                                    }),
                     p.monitors.end());
    if (p.links.size() != links_before) {
      killed.push_back(key);
    } else {
      orphaned.push_back(key);
    }
  }
  for (uint64_t key : killed) {
    auto it = procs_.all().find(key);
    if (it == procs_.all().end()) continue;
    CancelCall(it->second.call_id);
    Terminate(&it->second, Atom("noconnection"));
  }
  for (uint64_t key : orphaned) {
    auto it = procs_.all().find(key);
    if (it != procs_.all().end()) MaybeAbandon(&it->second);
  }
}

void RpcServer::OnControl(const std::string& node, ControlMessage m) {
  HB_LOG_DEBUG("from '" + node + "': " + ControlOpName(m.op) + " to " + m.to.Describe(60) +
               (m.reason.is_nil() ? "" : " reason " + m.reason.Describe(60)));
  switch (m.op) {
    case ControlOp::kSpawnRequest:
      OnSpawnRequest(node, m);
      break;
    case ControlOp::kRegSend:
      OnRegSend(node, m);
      break;
    case ControlOp::kMonitorP:
      OnMonitor(node, m);
      break;
    case ControlOp::kDemonitorP:
      OnDemonitor(m);
      break;
    case ControlOp::kExit:
      OnExitSignal(m, /*via_link=*/true);
      break;
    case ControlOp::kExit2:
      OnExitSignal(m, /*via_link=*/false);
      break;
    case ControlOp::kLink:
      OnLink(node, m);
      break;
    case ControlOp::kUnlink:
    case ControlOp::kUnlinkId:
      OnUnlink(node, m);
      break;
    case ControlOp::kSend:
    case ControlOp::kSendSender:
    case ControlOp::kAliasSend:
      // Call processes have no mailbox to read; a BEAM process that never
      // receives would keep the message, we drop it. Servers read theirs.
      if (!ToServerByPid(node, m)) {
        HB_LOG_DEBUG("dropped a message from '" + node + "' to " + m.to.Describe());
      }
      break;
    case ControlOp::kMonitorPExit:
      OnServerMonitorExit(m);
      break;
    case ControlOp::kUnlinkIdAck:
    case ControlOp::kSpawnReply:
    case ControlOp::kGroupLeader:
      break;  // we never ask for these; nothing to do
    default:
      HB_LOG_WARN(std::string("ignoring ") + ControlOpName(m.op) + " from '" + node + "'");
  }
}

void RpcServer::OnSpawnRequest(const std::string& node, const ControlMessage& m) {
  const Term& from = m.from;
  if (!from.is_pid() || from.pid().node != node) {
    HB_LOG_WARN("SPAWN_REQUEST from '" + node + "' with a foreign or bad caller pid; ignored");
    return;
  }
  if (!m.payload_error.ok()) {
    // Arguments over the term limits: refuse this spawn only, as a node that
    // cannot take it (system_limit); the caller's other calls go on.
    if (metrics_) metrics_->RecordRejected("term_limit");
    HB_LOG_WARN("refusing a call from '" + node + "': " + m.payload_error.message());
    Send(node, MakeSpawnReply(m.ref, from, 0, Atom("system_limit")));
    return;
  }
  Admission::Verdict verdict = admission_.Check(node);
  if (verdict == Admission::Verdict::kOverLimit) {
    // What a BEAM node at its process limit answers: the spawn fails.
    Send(node, MakeSpawnReply(m.ref, from, 0, Atom("system_limit")));
    return;
  }
  int64_t flags = 0;
  for (const Term& opt : m.options.items()) {
    if (opt.is_atom("link")) flags |= kSpawnFlagLink;
    if (opt.is_atom("monitor")) flags |= kSpawnFlagMonitor;
    if (opt.is_tuple(2) && opt[0].is_atom("monitor")) flags |= kSpawnFlagMonitor;
    // Other options (priority, fullsweep_after, ...) concern a BEAM heap we
    // do not have; accepting them keeps callers' code unchanged.
  }
  VirtualProcess* p = procs_.Spawn();
  p->origin_node = node;
  if (flags & kSpawnFlagLink) p->links.push_back(from);
  if (flags & kSpawnFlagMonitor) p->monitors.push_back({from, m.ref});
  Send(node, MakeSpawnReply(m.ref, from, flags, p->pid));

  const std::string mod = m.mfa[0].text();
  const std::string fun = m.mfa[1].text();
  std::vector<Term> args;
  ListElems(*m.message, &args);
  CallRequest req;
  req.caller_node = node;
  req.caller_pid = from;
  if (mod == "erpc" && fun == "execute_call" && args.size() == 4) {
    p->kind = VirtualProcess::Kind::kErpcCall;
    p->erpc_ref = args[0];
    if (!args[1].is_atom() || !args[2].is_atom() || !args[3].is_proper_list()) {
      // apply/3 itself fails; erpc reports it as an error of the call.
      Terminate(p, ErpcExitReason(p->erpc_ref,
                                  CallOutcome::ErrorAt("badarg", "erlang", "apply",
                                                       Term::List({args[1], args[2], args[3]}))));
      return;
    }
    req.module = args[1].text();
    req.function = args[2].text();
    req.args = args[3];
  } else if (mod == "erpc" && fun == "execute_cast" && args.size() == 3 && args[0].is_atom() &&
             args[1].is_atom() && args[2].is_proper_list()) {
    p->kind = VirtualProcess::Kind::kErpcCast;
    req.module = args[0].text();
    req.function = args[1].text();
    req.args = args[2];
  } else {
    // A plain spawn(Node, M, F, A): runs M:F(A...) if routed, else dies with
    // undef exactly as a BEAM process would.
    p->kind = VirtualProcess::Kind::kSpawn;
    req.module = mod;
    req.function = fun;
    req.args = *m.message;
  }
  if (verdict == Admission::Verdict::kDraining) {
    // The process exists (its pid was sent) and exits at once, as a BEAM
    // process whose function exits would.
    CallOutcome o = Admission::Refusal(verdict);
    Terminate(p, p->kind == VirtualProcess::Kind::kErpcCall ? ErpcExitReason(p->erpc_ref, o)
                                                            : o.value);
    return;
  }
  StartCall(p, std::move(req));
}

void RpcServer::StartCall(VirtualProcess* p, CallRequest req) {
  uint64_t key = p->key;
  Term pid = p->pid;
  std::string node = p->origin_node;
  // `done` may run inside Launch (inline routes); the process is looked up
  // again by pid each time because the table may have changed.
  uint64_t id = Launch(node, std::move(req), [this, pid](const CallOutcome& o) {
    VirtualProcess* q = procs_.Find(pid);
    if (q == nullptr) return;
    q->call_id = 0;
    Term reason;
    switch (q->kind) {
      case VirtualProcess::Kind::kErpcCall:
        reason = ErpcExitReason(q->erpc_ref, o);
        break;
      case VirtualProcess::Kind::kErpcCast:
      case VirtualProcess::Kind::kSpawn:
        if (!o.is_error()) {
          reason = Atom("normal");
        } else if (o.kind == CallOutcome::Kind::kError) {
          reason = Term::Tuple({o.value, o.stack});
          HB_LOG_WARN("cast/spawned call from '" + q->origin_node + "' failed: " +
                      o.value.Describe());
        } else {
          reason = o.value;
        }
        break;
    }
    Terminate(q, reason);
  });
  auto it = procs_.all().find(key);
  if (it != procs_.all().end() && it->second.pid == pid) it->second.call_id = id;
}

void RpcServer::Terminate(VirtualProcess* p, const Term& reason) {
  for (const VirtualProcess::Monitor& mon : p->monitors) {
    Send(NodeOf(mon.watcher), MakeMonitorPExit(p->pid, mon.watcher, mon.ref, reason));
  }
  for (const Term& linked : p->links) {
    Send(NodeOf(linked), MakeExit(p->pid, linked, reason));
  }
  ForgetProcess(p);
}

void RpcServer::ForgetProcess(VirtualProcess* p) { procs_.Remove(p->key); }

uint64_t RpcServer::Launch(const std::string& node, CallRequest req, Dispatcher::DoneFn done) {
  // `state` tells whether done already ran inside Dispatch (inline routes),
  // in which case there is nothing left in flight to track.
  struct State {
    uint64_t id = 0;
    bool finished = false;
  };
  auto state = std::make_shared<State>();
  admission_.Enter(node);
  req.caller_node = node;
  uint64_t id = dispatcher_->Dispatch(
      std::move(req), [this, node, state, done = std::move(done)](const CallOutcome& o) {
        state->finished = true;
        if (state->id != 0) launched_.erase(state->id);
        admission_.Leave(node);
        done(o);
      });
  if (state->finished) return 0;
  state->id = id;
  launched_[id] = node;
  return id;
}

void RpcServer::CancelCall(uint64_t call_id) {
  auto it = launched_.find(call_id);
  if (it == launched_.end()) return;
  dispatcher_->Cancel(call_id);
  admission_.Leave(it->second);
  launched_.erase(it);
}

void RpcServer::MaybeAbandon(VirtualProcess* p) {
  if (p->kind != VirtualProcess::Kind::kErpcCall) return;  // casts run for their effect
  if (!p->monitors.empty() || !p->links.empty()) return;
  CancelCall(p->call_id);
  ForgetProcess(p);
}

void RpcServer::OnExitSignal(const ControlMessage& m, bool via_link) {
  VirtualProcess* p = procs_.Find(m.to);
  if (p == nullptr) return;
  if (via_link) {
    p->links.erase(std::remove(p->links.begin(), p->links.end(), m.from), p->links.end());
  }
  // Our processes do not trap exits: `normal` is ignored, `kill` kills with
  // reason `killed`, anything else kills with that reason.
  if (m.reason.is_atom("normal")) {
    MaybeAbandon(p);
    return;
  }
  Term reason = (!via_link && m.reason.is_atom("kill")) ? Atom("killed") : m.reason;
  CancelCall(p->call_id);
  Terminate(p, reason);
}

void RpcServer::OnMonitor(const std::string& node, const ControlMessage& m) {
  if (MonitorServer(node, m)) return;
  if (m.to.is_atom()) {
    // Name monitors (gen_server:call({rex, Node}, ...) sets one up): the
    // registered servers live as long as the node, so there is nothing to
    // record; an unknown name is reported gone at once.
    if (!m.to.is_atom("rex") && !m.to.is_atom("net_kernel")) {
      Send(node, MakeMonitorPExit(m.to, m.from, m.ref, Atom("noproc")));
    }
    return;
  }
  VirtualProcess* p = procs_.Find(m.to);
  if (p == nullptr) {
    Send(node, MakeMonitorPExit(m.to, m.from, m.ref, Atom("noproc")));
    return;
  }
  p->monitors.push_back({m.from, m.ref});
}

void RpcServer::OnDemonitor(const ControlMessage& m) {
  if (DemonitorServer(m)) return;
  if (m.to.is_atom("rex")) {
    // gen:call gave up (timeout or caller died): its monitor ref is the
    // reply tag's ref.
    for (auto it = rex_calls_.begin(); it != rex_calls_.end(); ++it) {
      if (it->second.tag_ref == m.ref) {
        CancelCall(it->first);
        rex_calls_.erase(it);
        break;
      }
    }
    return;
  }
  VirtualProcess* p = procs_.Find(m.to);
  if (p == nullptr) return;
  p->monitors.erase(std::remove_if(p->monitors.begin(), p->monitors.end(),
                                   [&](const VirtualProcess::Monitor& mon) {
                                     return mon.ref == m.ref && mon.watcher == m.from;
                                   }),
                    p->monitors.end());
  MaybeAbandon(p);
}

void RpcServer::OnLink(const std::string& node, const ControlMessage& m) {
  VirtualProcess* p = procs_.Find(m.to);
  if (p == nullptr) {
    // Servers trap exits and outlive their callers: a link to one is kept
    // by nobody and never fires, which is what a caller can observe of a
    // server that does not exit.
    if (servers_.FindByPid(m.to) == nullptr) Send(node, MakeExit(m.to, m.from, Atom("noproc")));
    return;
  }
  if (std::find(p->links.begin(), p->links.end(), m.from) == p->links.end()) {
    p->links.push_back(m.from);
  }
}

void RpcServer::OnUnlink(const std::string& node, const ControlMessage& m) {
  if (VirtualProcess* p = procs_.Find(m.to)) {
    p->links.erase(std::remove(p->links.begin(), p->links.end(), m.from), p->links.end());
    MaybeAbandon(p);
  }
  if (m.op == ControlOp::kUnlinkId) Send(node, MakeUnlinkIdAck(m.ref, m.to, m.from));
}

void RpcServer::Reply(const std::string& node, const Term& to, const Term& tag, Term value) {
  // gen:reply/2 sends {Tag, Reply} to the caller's pid; with an alias tag
  // the caller receives it either way.
  Send(node, MakeSend(to, Term::Tuple({tag, std::move(value)})));
}

}  // namespace hb
