// RpcServer: what an Erlang node sees when it talks to hornbeamd.
//
// It implements the ei_bridge DistHandler: spawn_request for erpc (and so
// rpc:call/cast/multicall/async_call on OTP 23+), the legacy rex server
// (gen_server call/cast to {rex, Node}), net_kernel's is_auth (net_adm:ping),
// and the signal semantics of the virtual processes (links, monitors, exit
// signals, unlink ids). Calls themselves go to the Dispatcher.
//
// Cancellation: a call whose last observer goes away -- the caller's node
// sent DEMONITOR_P (erpc timeout, caller died), an exit signal killed the
// process, or the caller's node disconnected -- is cancelled in the
// Dispatcher, so its queued work never runs.
//
// Thread: the loop thread only.
#pragma once

#include <cstdint>
#include <functional>
#include <set>
#include <string>
#include <unordered_map>

#include "daemon/admission.h"
#include "daemon/dispatcher.h"
#include "daemon/process_table.h"
#include "daemon/server_table.h"
#include "ei_bridge/control.h"
#include "ei_bridge/dist_node.h"

namespace hb {

class RpcServer : public DistHandler, public ProcessContext {
 public:
  using SendFn = std::function<bool(const std::string& node, const ControlMessage& m)>;

  RpcServer(std::string node_name, uint32_t creation, Dispatcher* dispatcher, SendFn send);

  void OnPeerUp(const PeerInfo& peer) override;
  void OnPeerDown(const std::string& node) override;
  void OnControl(const std::string& node, ControlMessage msg) override;

  // While draining, new calls are refused with {hornbeamd, draining} in the
  // shape of their entry form (see admission.h) and in-flight calls finish.
  void set_draining(bool d) { admission_.set_draining(d); }
  // Calls in flight allowed per peer node and in total; a call over either
  // is refused the way a BEAM node out of processes refuses it
  // (system_limit) and counted in `metrics` (may be null).
  void set_limits(uint32_t per_peer, uint32_t total, Metrics* metrics) {
    admission_.set_limits(per_peer, total, metrics);
    metrics_ = metrics;
  }
  size_t inflight_of(const std::string& node) const { return admission_.inflight_of(node); }
  size_t processes() const { return procs_.size(); }

  // Long-lived servers (server_table.h). StartServer registers `server`
  // under a new pid and `name` (empty: unregistered); nil when the name is
  // taken. ExitServer ends it: every monitor on it fires with `reason`.
  Term StartServer(const std::string& name, std::shared_ptr<ServerProcess> server);
  void ExitServer(const Term& pid, const Term& reason);
  ProcessContext* context() { return this; }

  // ProcessContext, for the servers.
  const std::string& node_name() const override { return node_name_; }
  bool Send(const std::string& node, const ControlMessage& m) override;
  Term MakeRef() override { return procs_.MakeRef(); }
  std::vector<std::string> Peers() const override { return peers_(); }
  uint64_t Call(const std::string& node, CallRequest req, DoneFn done) override;
  void CancelCall(uint64_t call_id) override;
  Term Monitor(const Term& watcher, const Term& target) override;
  void Demonitor(const Term& watcher, const Term& target, const Term& ref) override;
  void set_peers(std::function<std::vector<std::string>()> peers) { peers_ = std::move(peers); }

 private:
  void OnSpawnRequest(const std::string& node, const ControlMessage& m);
  void OnRegSend(const std::string& node, const ControlMessage& m);
  void OnRex(const std::string& node, const ControlMessage& m);
  void OnRexCall(const std::string& node, const Term& msg);
  void OnRexCast(const std::string& node, const Term& msg);
  void OnLegacyRexCall(const std::string& node, const Term& msg);
  void OnExitSignal(const ControlMessage& m, bool via_link);
  void OnMonitor(const std::string& node, const ControlMessage& m);
  void OnDemonitor(const ControlMessage& m);
  void OnLink(const std::string& node, const ControlMessage& m);
  void OnUnlink(const std::string& node, const ControlMessage& m);

  // Ends a process: every monitor gets MONITOR_P_EXIT, every link EXIT.
  void Terminate(VirtualProcess* p, const Term& reason);
  // Cancels the process's call if nobody can observe its result any more.
  void MaybeAbandon(VirtualProcess* p);
  void StartCall(VirtualProcess* p, CallRequest req);
  // Dispatches an admitted call (Admission::Check said kAdmit), counting it
  // in flight until `done` runs or CancelCall drops it. Returns the call id,
  // or 0 when it finished inside Dispatch (inline routes, undef).
  uint64_t Launch(const std::string& node, CallRequest req, Dispatcher::DoneFn done);
  void Reply(const std::string& node, const Term& to, const Term& tag, Term value);
  // Servers (rpc_servers.cc): true when a server took the signal.
  bool ToServerByName(const std::string& node, const std::string& name, const Term& msg);
  bool ToServerByPid(const std::string& node, const ControlMessage& m);
  bool MonitorServer(const std::string& node, const ControlMessage& m);
  bool DemonitorServer(const ControlMessage& m);
  void OnServerMonitorExit(const ControlMessage& m);
  void ServersPeerUp(const std::string& node);
  void ServersPeerDown(const std::string& node);
  static std::string NodeOf(const Term& pid);
  void ForgetProcess(VirtualProcess* p);

  std::string node_name_;
  Dispatcher* dispatcher_;
  SendFn send_;
  ProcessTable procs_;
  ServerTable servers_;
  std::function<std::vector<std::string>()> peers_ = [] { return std::vector<std::string>(); };
  Admission admission_;
  Metrics* metrics_ = nullptr;
  std::unordered_map<uint64_t, std::string> launched_;  // call id -> caller's node

  struct RexCall {
    std::string node;
    Term tag_ref;  // the monitor/alias ref of gen:call, for DEMONITOR_P
  };
  std::unordered_map<uint64_t, RexCall> rex_calls_;  // by Dispatcher call id
  std::set<std::string> unknown_names_logged_;
};

}  // namespace hb
