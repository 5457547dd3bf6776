// Admission: the one door every call passes, whatever form it arrived in --
// spawn_request (erpc execute_call / execute_cast, a plain spawn), the rex
// server's call, block_call and cast, and the legacy {From, {call, ...}}
// message. It refuses while the node drains and when a peer or the node has
// too many calls in flight, counts each refusal by reason in Metrics and
// logs (a flood of refusals logs one line per thousand).
//
// The caller maps a refusal onto the answer its entry form gives (see
// Refusal()); an admitted call is counted from Enter() to Leave().
//
// Thread: the loop thread only.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>

#include "daemon/call_outcome.h"
#include "daemon/metrics.h"

namespace hb {

class Admission {
 public:
  enum class Verdict {
    kAdmit,
    kDraining,   // {hornbeamd, draining}
    kOverLimit,  // system_limit, as a BEAM node out of processes
  };

  // Whether `node` may start one more call; a refusal is counted and logged.
  Verdict Check(const std::string& node);
  // The exit a refused call reports: {hornbeamd, draining} or system_limit.
  static CallOutcome Refusal(Verdict v);

  void Enter(const std::string& node);
  void Leave(const std::string& node);

  void set_draining(bool d) { draining_ = d; }
  bool draining() const { return draining_; }
  // Calls in flight allowed per peer node and in total; refusals are
  // counted in `metrics` (may be null).
  void set_limits(uint32_t per_peer, uint32_t total, Metrics* metrics) {
    max_per_peer_ = per_peer;
    max_total_ = total;
    metrics_ = metrics;
  }
  size_t inflight_of(const std::string& node) const;
  uint64_t inflight_total() const { return inflight_total_; }

 private:
  bool draining_ = false;
  uint32_t max_per_peer_ = ~0u;
  uint32_t max_total_ = ~0u;
  Metrics* metrics_ = nullptr;
  std::unordered_map<std::string, uint32_t> inflight_by_node_;
  uint64_t inflight_total_ = 0;
  uint64_t refusals_logged_ = 0;
};

}  // namespace hb
