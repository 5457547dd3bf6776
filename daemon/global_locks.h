// GlobalLocks: the lock table of kernel's global_name_server, as
// global:set_lock/del_lock/trans see it on every node they lock.
//
// A lock is {ResourceId, LockRequesterId} held by one or more pids. The same
// requester id may lock again (another pid joins the holders); a different
// requester is refused while any holder remains. A holder goes when it
// deletes its lock, when it exits (the monitor global sets fires) or when
// its node goes down. Semantics follow global.erl's handle_set_lock,
// handle_del_lock and remove_lock (OTP 25 through 29).
//
// Plain data; the loop thread only (GlobalServer).
#pragma once

#include <string>
#include <vector>

#include "ei_bridge/term.h"

namespace hb {

class GlobalLocks {
 public:
  struct Holder {
    Term pid;
    Term monitor_ref;  // the monitor set on pid for this lock
  };
  struct Lock {
    Term resource;
    Term requester;
    std::vector<Holder> holders;
  };
  enum class SetResult { kRefused, kAlreadyHeld, kAdded };

  // kAdded: `pid` is now a holder and the caller must monitor it (then call
  // SetMonitor); kAlreadyHeld: it already was (true, nothing to do);
  // kRefused: another requester holds the resource (false).
  SetResult Set(const Term& resource, const Term& requester, const Term& pid);
  void SetMonitor(const Term& resource, const Term& pid, const Term& ref);
  // Removes `pid` from the lock {resource, requester} if it holds it.
  // Returns the monitor ref to drop (nil when there was none).
  Term Delete(const Term& resource, const Term& requester, const Term& pid);
  // The holder whose monitor `ref` fired: removed wherever it holds.
  void HolderDown(const Term& ref);
  // Every holder on `node` (its connection went down).
  void NodeDown(const std::string& node);

  const std::vector<Lock>& locks() const { return locks_; }
  bool empty() const { return locks_.empty(); }

 private:
  Lock* Find(const Term& resource);
  void DropEmpty();

  std::vector<Lock> locks_;
};

}  // namespace hb
