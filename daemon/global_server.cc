#include "daemon/global_server.h"

#include "base/log.h"

namespace hb {
namespace {

Term Atom(const char* a) { return Term::Atom(a); }

// global's protocol version in OTP 25 through 29 (global.erl ?vsn).
constexpr int64_t kGlobalVsn = 8;

bool IsLockId(const Term& id) { return id.is_tuple(2); }

}  // namespace

void GlobalServer::OnMessage(const std::string& node, const Term& msg) {
  if (msg.is_tuple(2) && msg[0].is_atom("$gen_cast")) {
    const Term& c = msg[1];
    if (c.is_tuple(4) && c[0].is_atom("init_connect")) {
      // gen_server:cast({global_name_server, Node}, {in_sync, Us, true}):
      // the peer's sync() now counts us synced, and we stay out of its
      // known set (README).
      Term in_sync = Term::Tuple({Atom("in_sync"), Term::Atom(ctx_->node_name()), Atom("true")});
      ctx_->Send(node, MakeRegSend(pid_, Atom("global_name_server"),
                                   Term::Tuple({Atom("$gen_cast"), in_sync})));
      ++syncs_answered_;
    }
    // Everything else global casts (exchange, resolved, lock_is_set,
    // new_nodes, ...) belongs to the full protocol, which only nodes in
    // the known set receive: dropped.
    return;
  }
  if (msg.is_tuple(3) && msg[0].is_atom("$gen_call") && msg[1].is_tuple(2) && msg[1][0].is_pid()) {
    OnCall(node, msg[1], msg[2]);
  }
  // Plain messages (remove_connection, lost_connection, whereis, ...)
  // concern known nodes only: dropped.
}

void GlobalServer::OnCall(const std::string& node, const Term& from, const Term& request) {
  const Term& caller = from[0];
  Term reply;
  if (request.is_tuple(2) && request[0].is_atom("set_lock") && IsLockId(request[1])) {
    reply = SetLock(request[1], caller);
  } else if (request.is_tuple(2) && request[0].is_atom("del_lock") && IsLockId(request[1])) {
    reply = DelLock(request[1], caller);
  } else if (request.is_atom("get_known") || request.is_atom("get_synced")) {
    reply = Term::Nil();  // passive: nobody is known through us
  } else if (request.is_atom("get_protocol_version")) {
    reply = Term::Int(kGlobalVsn);
  } else if (request.is_tuple() && request.size() >= 1 &&
             (request[0].is_atom("register") || request[0].is_atom("register_ext"))) {
    reply = Atom("yes");  // what global answers; names live on the known nodes
  } else if (request.is_tuple(2) && request[0].is_atom("unregister")) {
    reply = Atom("ok");
  } else {
    // global logs "illegal call" and never answers; we answer, so that no
    // caller waits forever on a node that does not keep global's state.
    reply = Term::Tuple({Atom("error"), Term::Tuple({Atom("not_supported"), request})});
  }
  ctx_->Send(node, MakeSend(caller, Term::Tuple({from[1], reply})));
}

Term GlobalServer::SetLock(const Term& id, const Term& pid) {
  switch (locks_.Set(id[0], id[1], pid)) {
    case GlobalLocks::SetResult::kRefused:
      return Atom("false");
    case GlobalLocks::SetResult::kAlreadyHeld:
      return Atom("true");
    case GlobalLocks::SetResult::kAdded: {
      // global monitors every holder: the lock goes when it exits.
      Term ref = ctx_->Monitor(pid_, pid);
      if (!ref.is_ref()) {
        locks_.Delete(id[0], id[1], pid);  // its node is gone already
        return Atom("false");
      }
      locks_.SetMonitor(id[0], pid, ref);
      return Atom("true");
    }
  }
  return Atom("false");
}

Term GlobalServer::DelLock(const Term& id, const Term& pid) {
  Term ref = locks_.Delete(id[0], id[1], pid);
  if (ref.is_ref()) ctx_->Demonitor(pid_, pid, ref);
  return Atom("true");
}

void GlobalServer::OnDown(const Term& ref, const Term& reason) {
  (void)reason;
  locks_.HolderDown(ref);
}

void GlobalServer::OnPeerDown(const std::string& node) { locks_.NodeDown(node); }

}  // namespace hb
