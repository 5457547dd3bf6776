// GlobalLocks (daemon/global_locks.h): global.erl's lock semantics.
#include "daemon/global_locks.h"

#include <catch2/catch.hpp>

namespace hb {
namespace {

Term P(const char* node, uint32_t n) { return Term::MakePid({node, n, 0, 1}); }
Term Ref(uint32_t n) { return Term::MakeRef({"x@h", 1, {n, 0, 0}}); }
Term A(const char* a) { return Term::Atom(a); }

TEST_CASE("global locks: the same requester may re-lock, another is refused", "[global]") {
  GlobalLocks l;
  CHECK(l.Set(A("r"), A("req"), P("a@h", 1)) == GlobalLocks::SetResult::kAdded);
  CHECK(l.Set(A("r"), A("req"), P("a@h", 1)) == GlobalLocks::SetResult::kAlreadyHeld);
  CHECK(l.Set(A("r"), A("req"), P("b@h", 2)) == GlobalLocks::SetResult::kAdded);
  CHECK(l.Set(A("r"), A("other"), P("a@h", 1)) == GlobalLocks::SetResult::kRefused);
  CHECK(l.Set(A("r2"), A("other"), P("a@h", 1)) == GlobalLocks::SetResult::kAdded);
  REQUIRE(l.locks().size() == 2);
  CHECK(l.locks()[0].holders.size() == 2);
}

TEST_CASE("global locks: del_lock removes only that holder of that lock", "[global]") {
  GlobalLocks l;
  l.Set(A("r"), A("req"), P("a@h", 1));
  l.SetMonitor(A("r"), P("a@h", 1), Ref(1));
  l.Set(A("r"), A("req"), P("b@h", 2));
  CHECK(l.Delete(A("r"), A("wrong"), P("a@h", 1)).is_nil());
  CHECK(l.Delete(A("r"), A("req"), P("a@h", 1)) == Ref(1));
  REQUIRE(l.locks().size() == 1);
  CHECK(l.Set(A("r"), A("other"), P("c@h", 3)) == GlobalLocks::SetResult::kRefused);
  l.Delete(A("r"), A("req"), P("b@h", 2));
  CHECK(l.empty());
  CHECK(l.Set(A("r"), A("other"), P("c@h", 3)) == GlobalLocks::SetResult::kAdded);
}

TEST_CASE("global locks: a holder's DOWN or its node's loss frees its locks", "[global]") {
  GlobalLocks l;
  l.Set(A("r"), A("req"), P("a@h", 1));
  l.SetMonitor(A("r"), P("a@h", 1), Ref(1));
  l.Set(A("s"), A("req"), P("b@h", 2));
  l.SetMonitor(A("s"), P("b@h", 2), Ref(2));
  l.HolderDown(Ref(1));
  REQUIRE(l.locks().size() == 1);
  CHECK(l.locks()[0].resource == A("s"));
  l.NodeDown("b@h");
  CHECK(l.empty());
}

}  // namespace
}  // namespace hb
