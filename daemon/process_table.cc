#include "daemon/process_table.h"

namespace hb {

Term ProcessTable::MakePid(uint64_t key) const {
  Pid p;
  p.node = node_;
  p.num = static_cast<uint32_t>(key & ((1u << kNumBits) - 1));
  p.serial = static_cast<uint32_t>((key >> kNumBits) & ((1u << kSerialBits) - 1));
  p.creation = creation_;
  return Term::MakePid(std::move(p));
}

VirtualProcess* ProcessTable::Spawn() {
  constexpr uint64_t kSpace = 1ull << (kNumBits + kSerialBits);
  // Keys wrap after 2^28 processes; skip 0 (the system pid) and any key whose
  // process is still alive.
  uint64_t key;
  do {
    key = next_key_++ % kSpace;
  } while (key == 0 || procs_.count(key));
  VirtualProcess& p = procs_[key];
  p.key = key;
  p.pid = MakePid(key);
  return &p;
}

VirtualProcess* ProcessTable::Find(const Term& pid) {
  if (!pid.is_pid()) return nullptr;
  const Pid& p = pid.pid();
  if (p.node != node_ || p.creation != creation_) return nullptr;
  if (p.num >= (1u << kNumBits) || p.serial >= (1u << kSerialBits)) return nullptr;
  uint64_t key = p.num | (static_cast<uint64_t>(p.serial) << kNumBits);
  auto it = procs_.find(key);
  return it == procs_.end() ? nullptr : &it->second;
}

void ProcessTable::Remove(uint64_t key) { procs_.erase(key); }

}  // namespace hb
