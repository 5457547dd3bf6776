// GlobalServer: the daemon's global_name_server, a passive participant in
// kernel's `global` (README "Visible node, global and pg").
//
// A visible node must answer global or global:sync() hangs on every BEAM
// node connected to it. Passive means: answer each init_connect with
// {in_sync, Us, true}, so the peer counts us synced without ever putting us
// in its `known` set (no name exchange, no lockers, never evicted by
// prevent_overlapping_partitions); answer global_name_server's calls --
// set_lock/del_lock with OTP's lock semantics (global_locks.h), the rest so
// that no caller waits forever. We never send lost_connection and never
// connect to anyone.
//
// Thread: the loop thread (a ServerProcess of RpcServer).
#pragma once

#include <string>

#include "daemon/global_locks.h"
#include "daemon/server_table.h"

namespace hb {

class GlobalServer : public ServerProcess {
 public:
  explicit GlobalServer(ProcessContext* ctx) : ctx_(ctx) {}
  void set_pid(Term pid) { pid_ = std::move(pid); }

  void OnMessage(const std::string& node, const Term& msg) override;
  void OnDown(const Term& ref, const Term& reason) override;
  void OnPeerDown(const std::string& node) override;

  const GlobalLocks& locks() const { return locks_; }
  uint64_t syncs_answered() const { return syncs_answered_; }

 private:
  void OnCall(const std::string& node, const Term& from, const Term& request);
  Term SetLock(const Term& id, const Term& pid);
  Term DelLock(const Term& id, const Term& pid);

  ProcessContext* ctx_;
  Term pid_;
  GlobalLocks locks_;
  uint64_t syncs_answered_ = 0;
};

}  // namespace hb
