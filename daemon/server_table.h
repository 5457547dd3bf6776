// ServerTable: the daemon's long-lived processes -- global_name_server, the
// pg scope, one process per model -- that peers reach by registered name
// (REG_SEND, name monitors) or by pid (SEND, pid monitors), as they reach
// gen_servers on a BEAM node.
//
// RpcServer owns the table and routes to it: messages to a server's pid or
// name go to its ServerProcess; monitors peers set on it are recorded here
// and fire (MONITOR_P_EXIT) when the server exits; monitors a server sets on
// remote processes are recorded by ref so their DOWN reaches it.
//
// A server answers through a ProcessContext, which RpcServer implements:
// sending, new refs, the connected peers, and calls through the one
// admission door (admission.h).
//
// Thread: the loop thread only. A ServerProcess is owned by the table (a
// shared_ptr also held by whoever started it, to call it directly).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "daemon/call_outcome.h"
#include "daemon/service.h"
#include "ei_bridge/control.h"
#include "ei_bridge/term.h"

namespace hb {

class ProcessContext {
 public:
  using DoneFn = std::function<void(const CallOutcome&)>;
  virtual ~ProcessContext() = default;
  virtual const std::string& node_name() const = 0;
  // False when `node` is not connected (the message is dropped).
  virtual bool Send(const std::string& node, const ControlMessage& m) = 0;
  virtual Term MakeRef() = 0;
  // Connected peer nodes.
  virtual std::vector<std::string> Peers() const = 0;
  // Runs a routed call for `node` through admission. Returns the call id
  // (0 when it already finished, or was refused: then `done` ran with the
  // refusal, as the caller's entry form would see it).
  virtual uint64_t Call(const std::string& node, CallRequest req, DoneFn done) = 0;
  virtual void CancelCall(uint64_t call_id) = 0;
  // Sets a monitor from `watcher` (a server's pid) on remote `target`;
  // returns its ref, whose DOWN reaches that server's OnDown; nil when the
  // target's node is not connected (the target counts as gone).
  virtual Term Monitor(const Term& watcher, const Term& target) = 0;
  virtual void Demonitor(const Term& watcher, const Term& target, const Term& ref) = 0;
};

class ServerProcess {
 public:
  virtual ~ServerProcess() = default;
  // A message sent to the server's pid or registered name.
  virtual void OnMessage(const std::string& node, const Term& msg) = 0;
  virtual void OnPeerUp(const std::string& node) { (void)node; }
  virtual void OnPeerDown(const std::string& node) { (void)node; }
  // A monitor this server set (ProcessContext::Monitor) fired.
  virtual void OnDown(const Term& ref, const Term& reason) {
    (void)ref;
    (void)reason;
  }
  // A peer removed its monitor `ref` on this server (a gen:call gave up).
  virtual void OnDemonitor(const Term& ref) { (void)ref; }
};

class ServerTable {
 public:
  struct Entry {
    Term pid;
    std::string name;  // registered name; empty when none
    std::shared_ptr<ServerProcess> server;
    struct Watcher {
      Term watcher;  // the remote process monitoring
      Term ref;
      bool by_name = false;  // monitor(process, {Name, Node}): DOWN names it
    };
    std::vector<Watcher> watchers;
  };

  // Adds a server under `pid` (and `name`, unless empty). A name already
  // taken is refused (false), as register/2 refuses it.
  bool Add(Term pid, std::string name, std::shared_ptr<ServerProcess> server);
  Entry* FindByPid(const Term& pid);
  Entry* FindByName(const std::string& name);
  // Removes the server; returns its entry (watchers to notify) if it was there.
  std::unique_ptr<Entry> Remove(const Term& pid);
  // Watchers of every server on `node` vanish (the connection is gone).
  void DropWatchersOn(const std::string& node);
  // Removes watcher `ref` of the server; true when it was there.
  bool RemoveWatcher(Entry* e, const Term& watcher, const Term& ref);

  // Outgoing monitors by ref -> the server pid that set them.
  void AddOutgoing(const Term& ref, const Term& server_pid, const Term& target);
  // The server that set monitor `ref` (forgetting it), or nullptr.
  Entry* TakeOutgoing(const Term& ref);
  void ForgetOutgoing(const Term& ref);
  // Outgoing monitors on processes of `node` are gone with the connection:
  // (ref, server) pairs, forgotten.
  std::vector<std::pair<Term, Term>> TakeOutgoingOn(const std::string& node);

  std::vector<Entry*> All();
  size_t size() const { return entries_.size(); }

 private:
  std::vector<std::unique_ptr<Entry>> entries_;
  struct Outgoing {
    Term ref;
    Term server;
    std::string target_node;
  };
  std::vector<Outgoing> outgoing_;
};

}  // namespace hb
