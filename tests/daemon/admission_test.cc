// Admission (daemon/admission.h): the one door's verdicts and counts.
#include "daemon/admission.h"

#include <catch2/catch.hpp>

namespace hb {
namespace {

TEST_CASE("admission refuses over the per-peer and the total limit, by reason", "[admission]") {
  Metrics metrics;
  Admission a;
  a.set_limits(/*per_peer=*/2, /*total=*/3, &metrics);
  CHECK(a.Check("a@h") == Admission::Verdict::kAdmit);
  a.Enter("a@h");
  a.Enter("a@h");
  CHECK(a.Check("a@h") == Admission::Verdict::kOverLimit);
  CHECK(a.Check("b@h") == Admission::Verdict::kAdmit);
  a.Enter("b@h");
  CHECK(a.inflight_total() == 3);
  CHECK(a.Check("c@h") == Admission::Verdict::kOverLimit);
  CHECK(metrics.rejected_by_reason().at("inflight_per_peer") == 1);
  CHECK(metrics.rejected_by_reason().at("inflight_total") == 1);
  a.Leave("a@h");
  CHECK(a.inflight_of("a@h") == 1);
  CHECK(a.Check("c@h") == Admission::Verdict::kAdmit);
}

TEST_CASE("admission refuses everything while draining, before any limit", "[admission]") {
  Metrics metrics;
  Admission a;
  a.set_limits(1, 1, &metrics);
  a.Enter("a@h");
  a.set_draining(true);
  CHECK(a.Check("a@h") == Admission::Verdict::kDraining);
  CHECK(a.Check("b@h") == Admission::Verdict::kDraining);
  CHECK(metrics.rejected_by_reason().at("draining") == 2);
  CHECK(RpcReply(Admission::Refusal(Admission::Verdict::kDraining)) ==
        Term::Tuple({Term::Atom("badrpc"),
                     Term::Tuple({Term::Atom("EXIT"), Term::Tuple({Term::Atom("hornbeamd"),
                                                                   Term::Atom("draining")})})}));
  CHECK(RpcReply(Admission::Refusal(Admission::Verdict::kOverLimit)) ==
        Term::Tuple({Term::Atom("badrpc"),
                     Term::Tuple({Term::Atom("EXIT"), Term::Atom("system_limit")})}));
}

TEST_CASE("leaving a node that has nothing in flight changes nothing", "[admission]") {
  Admission a;
  a.Leave("nobody@h");
  CHECK(a.inflight_total() == 0);
  a.Enter("a@h");
  a.Leave("a@h");
  a.Leave("a@h");
  CHECK(a.inflight_total() == 0);
  CHECK(a.inflight_of("a@h") == 0);
}

}  // namespace
}  // namespace hb
