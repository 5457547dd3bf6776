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
  } while (key == 0 || procs_.count(key) || reserved_.count(key));
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

Term ProcessTable::ReservePid() {
  VirtualProcess* p = Spawn();
  uint64_t key = p->key;
  Term pid = p->pid;
  procs_.erase(key);
  reserved_.insert(key);
  return pid;
}

void ProcessTable::Release(const Term& pid) {
  if (!pid.is_pid()) return;
  const Pid& p = pid.pid();
  reserved_.erase(p.num | (static_cast<uint64_t>(p.serial) << kNumBits));
}

Term ProcessTable::MakeRef() {
  // Three words, as the BEAM's refs; the first two count, the third is zero
  // (peers compare refs whole, so uniqueness per node and creation is enough).
  Ref r;
  r.node = node_;
  r.creation = creation_;
  uint64_t n = next_ref_++;
  r.ids = {static_cast<uint32_t>(n & 0x3ffff), static_cast<uint32_t>(n >> 18), 0};
  return Term::MakeRef(std::move(r));
}

}  // namespace hb
