#include "daemon/global_locks.h"

#include <algorithm>

namespace hb {

GlobalLocks::Lock* GlobalLocks::Find(const Term& resource) {
  for (Lock& l : locks_) {
    if (l.resource == resource) return &l;
  }
  return nullptr;
}

void GlobalLocks::DropEmpty() {
  locks_.erase(std::remove_if(locks_.begin(), locks_.end(),
                              [](const Lock& l) { return l.holders.empty(); }),
               locks_.end());
}

GlobalLocks::SetResult GlobalLocks::Set(const Term& resource, const Term& requester,
                                        const Term& pid) {
  Lock* l = Find(resource);
  if (l == nullptr) {
    locks_.push_back({resource, requester, {{pid, Term()}}});
    return SetResult::kAdded;
  }
  if (l->requester != requester) return SetResult::kRefused;
  for (const Holder& h : l->holders) {
    if (h.pid == pid) return SetResult::kAlreadyHeld;
  }
  l->holders.push_back({pid, Term()});
  return SetResult::kAdded;
}

void GlobalLocks::SetMonitor(const Term& resource, const Term& pid, const Term& ref) {
  if (Lock* l = Find(resource)) {
    for (Holder& h : l->holders) {
      if (h.pid == pid) h.monitor_ref = ref;
    }
  }
}

Term GlobalLocks::Delete(const Term& resource, const Term& requester, const Term& pid) {
  Lock* l = Find(resource);
  if (l == nullptr || l->requester != requester) return Term();
  Term ref;
  auto& hs = l->holders;
  for (auto it = hs.begin(); it != hs.end(); ++it) {
    if (it->pid == pid) {
      ref = it->monitor_ref;
      hs.erase(it);
      break;
    }
  }
  DropEmpty();
  return ref;
}

void GlobalLocks::HolderDown(const Term& ref) {
  for (Lock& l : locks_) {
    auto& hs = l.holders;
    hs.erase(std::remove_if(hs.begin(), hs.end(),
                            [&](const Holder& h) { return h.monitor_ref == ref; }),
             hs.end());
  }
  DropEmpty();
}

void GlobalLocks::NodeDown(const std::string& node) {
  for (Lock& l : locks_) {
    auto& hs = l.holders;
    hs.erase(std::remove_if(hs.begin(), hs.end(),
                            [&](const Holder& h) {
                              return h.pid.is_pid() && h.pid.pid().node == node;
                            }),
             hs.end());
  }
  DropEmpty();
}

}  // namespace hb
