#include "daemon/admission.h"

#include "base/log.h"

namespace hb {

Admission::Verdict Admission::Check(const std::string& node) {
  const char* reason = nullptr;
  Verdict v = Verdict::kAdmit;
  if (draining_) {
    reason = "draining";
    v = Verdict::kDraining;
  } else if (inflight_total_ >= max_total_) {
    reason = "inflight_total";
    v = Verdict::kOverLimit;
  } else if (inflight_of(node) >= max_per_peer_) {
    reason = "inflight_per_peer";
    v = Verdict::kOverLimit;
  }
  if (v == Verdict::kAdmit) return v;
  if (metrics_) metrics_->RecordRejected(reason);
  // One line per thousand refusals: a flood must not become a log flood.
  if (v == Verdict::kOverLimit && refusals_logged_++ % 1000 == 0) {
    HB_LOG_WARN("refusing a call from '" + node + "': limit " + reason + " reached (" +
                std::to_string(inflight_of(node)) + " in flight from it, " +
                std::to_string(inflight_total_) + " in total)");
  }
  return v;
}

CallOutcome Admission::Refusal(Verdict v) {
  if (v == Verdict::kDraining) {
    return CallOutcome::Exit(Term::Tuple({Term::Atom("hornbeamd"), Term::Atom("draining")}));
  }
  return CallOutcome::Exit(Term::Atom("system_limit"));
}

void Admission::Enter(const std::string& node) {
  ++inflight_by_node_[node];
  ++inflight_total_;
}

void Admission::Leave(const std::string& node) {
  auto it = inflight_by_node_.find(node);
  if (it == inflight_by_node_.end()) return;
  --inflight_total_;
  if (--it->second == 0) inflight_by_node_.erase(it);
}

size_t Admission::inflight_of(const std::string& node) const {
  auto it = inflight_by_node_.find(node);
  return it == inflight_by_node_.end() ? 0 : it->second;
}

}  // namespace hb
