// ProcessTable: the daemon's virtual processes.
//
// Every call in flight that a peer spawned (erpc, rpc over spawn_request, a
// plain spawn) is a process with a real pid on this node -- our node name and
// creation -- and with the links and monitors a BEAM process would have, so
// that exit signals and 'DOWN' messages reach exactly the peers that asked.
//
// Pid numbers follow the BEAM's classic layout (15-bit number, 13-bit
// serial) so peers of any OTP version print and compare them normally.
//
// Thread: the loop thread only.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "ei_bridge/term.h"

namespace hb {

struct VirtualProcess {
  enum class Kind { kErpcCall, kErpcCast, kSpawn };
  uint64_t key = 0;
  Term pid;
  Kind kind = Kind::kSpawn;
  std::string origin_node;       // the node that spawned it
  Term erpc_ref;                 // kErpcCall: the Ref of execute_call/4
  std::vector<Term> links;       // remote pids linked to this process
  struct Monitor {
    Term watcher;
    Term ref;
  };
  std::vector<Monitor> monitors;  // remote processes monitoring this one
  uint64_t call_id = 0;           // Dispatcher id while the call runs
};

class ProcessTable {
 public:
  ProcessTable(std::string node, uint32_t creation) : node_(std::move(node)), creation_(creation) {}

  // A pid for the daemon's fixed "system" process (sender of our replies).
  Term SystemPid() const { return MakePid(0); }
  VirtualProcess* Spawn();
  // A pid for a long-lived server process (server_table.h): never handed to
  // a call process while reserved; Release gives the number back.
  Term ReservePid();
  void Release(const Term& pid);
  // A new reference of this node (monitors the daemon's servers set up).
  Term MakeRef();
  // nullptr unless `pid` is a live process of this node and creation.
  VirtualProcess* Find(const Term& pid);
  void Remove(uint64_t key);
  size_t size() const { return procs_.size(); }
  std::unordered_map<uint64_t, VirtualProcess>& all() { return procs_; }

  const std::string& node() const { return node_; }
  uint32_t creation() const { return creation_; }

 private:
  static constexpr uint64_t kNumBits = 15;
  static constexpr uint64_t kSerialBits = 13;
  Term MakePid(uint64_t key) const;

  std::string node_;
  uint32_t creation_;
  uint64_t next_key_ = 1;
  std::unordered_map<uint64_t, VirtualProcess> procs_;
  std::unordered_set<uint64_t> reserved_;
  uint64_t next_ref_ = 1;
};

}  // namespace hb
