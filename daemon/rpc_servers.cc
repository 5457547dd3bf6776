// RpcServer's side of the long-lived servers (server_table.h): routing the
// signals peers send them, the monitors on them and by them, and the
// ProcessContext they answer through.
#include "base/log.h"
#include "daemon/rpc_server.h"

namespace hb {

Term RpcServer::StartServer(const std::string& name, std::shared_ptr<ServerProcess> server) {
  Term pid = procs_.ReservePid();
  if (!servers_.Add(pid, name, std::move(server))) {
    procs_.Release(pid);
    return Term();
  }
  return pid;
}

void RpcServer::ExitServer(const Term& pid, const Term& reason) {
  std::unique_ptr<ServerTable::Entry> e = servers_.Remove(pid);
  if (!e) return;
  for (const ServerTable::Entry::Watcher& w : e->watchers) {
    // A monitor set by name reports the name, as the BEAM's DOWN does for
    // monitor(process, {Name, Node}).
    Term what = w.by_name ? Term::Atom(e->name) : e->pid;
    Send(NodeOf(w.watcher), MakeMonitorPExit(what, w.watcher, w.ref, reason));
  }
  procs_.Release(pid);
}

uint64_t RpcServer::Call(const std::string& node, CallRequest req, DoneFn done) {
  if (Admission::Verdict v = admission_.Check(node); v != Admission::Verdict::kAdmit) {
    done(Admission::Refusal(v));
    return 0;
  }
  return Launch(node, std::move(req), std::move(done));
}

Term RpcServer::Monitor(const Term& watcher, const Term& target) {
  Term ref = procs_.MakeRef();
  ControlMessage m;
  m.op = ControlOp::kMonitorP;
  m.from = watcher;
  m.to = target;
  m.ref = ref;
  if (!Send(NodeOf(target), m)) return Term();  // not connected: no monitor
  servers_.AddOutgoing(ref, watcher, target);
  return ref;
}

void RpcServer::Demonitor(const Term& watcher, const Term& target, const Term& ref) {
  servers_.ForgetOutgoing(ref);
  ControlMessage m;
  m.op = ControlOp::kDemonitorP;
  m.from = watcher;
  m.to = target;
  m.ref = ref;
  Send(NodeOf(target), m);
}

bool RpcServer::ToServerByName(const std::string& node, const std::string& name,
                               const Term& msg) {
  ServerTable::Entry* e = servers_.FindByName(name);
  if (e == nullptr) return false;
  std::shared_ptr<ServerProcess> s = e->server;  // may exit while handling
  s->OnMessage(node, msg);
  return true;
}

bool RpcServer::ToServerByPid(const std::string& node, const ControlMessage& m) {
  if (!m.message) return false;
  ServerTable::Entry* e = servers_.FindByPid(m.to);
  if (e == nullptr) return false;
  std::shared_ptr<ServerProcess> s = e->server;
  s->OnMessage(node, *m.message);
  return true;
}

bool RpcServer::MonitorServer(const std::string& node, const ControlMessage& m) {
  ServerTable::Entry* e =
      m.to.is_atom() ? servers_.FindByName(m.to.text()) : servers_.FindByPid(m.to);
  if (e == nullptr) return false;
  if (NodeOf(m.from) != node) return true;  // a foreign watcher: ignore
  e->watchers.push_back({m.from, m.ref, m.to.is_atom()});
  return true;
}

bool RpcServer::DemonitorServer(const ControlMessage& m) {
  ServerTable::Entry* e =
      m.to.is_atom() ? servers_.FindByName(m.to.text()) : servers_.FindByPid(m.to);
  if (e == nullptr) return false;
  if (servers_.RemoveWatcher(e, m.from, m.ref)) {
    std::shared_ptr<ServerProcess> s = e->server;
    s->OnDemonitor(m.ref);
  }
  return true;
}

void RpcServer::OnServerMonitorExit(const ControlMessage& m) {
  ServerTable::Entry* e = servers_.TakeOutgoing(m.ref);
  if (e == nullptr) return;  // we never ask for others
  std::shared_ptr<ServerProcess> s = e->server;
  s->OnDown(m.ref, m.reason);
}

namespace {

// The servers now, held: a handler may start or end servers meanwhile.
std::vector<std::shared_ptr<ServerProcess>> Held(ServerTable* t) {
  std::vector<std::shared_ptr<ServerProcess>> out;
  for (ServerTable::Entry* e : t->All()) out.push_back(e->server);
  return out;
}

}  // namespace

void RpcServer::ServersPeerUp(const std::string& node) {
  for (auto& s : Held(&servers_)) s->OnPeerUp(node);
}

void RpcServer::ServersPeerDown(const std::string& node) {
  servers_.DropWatchersOn(node);
  // Monitors servers set on that node's processes fire with noconnection,
  // as on a BEAM node.
  for (auto& [ref, server] : servers_.TakeOutgoingOn(node)) {
    if (ServerTable::Entry* e = servers_.FindByPid(server)) {
      std::shared_ptr<ServerProcess> s = e->server;
      s->OnDown(ref, Term::Atom("noconnection"));
    }
  }
  for (auto& s : Held(&servers_)) s->OnPeerDown(node);
}

}  // namespace hb
