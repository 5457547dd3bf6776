// Router (daemon/router.h): {Module, Function, Arity} -> Route; anything not
// added is not found.
#include "daemon/router.h"

#include <catch2/catch.hpp>

#include <string>

namespace hb {
namespace {

// An inline route that returns `tag`, so a test can tell routes apart.
Route Tagged(const std::string& tag, Route::Execution e = Route::Execution::kInline) {
  Route r;
  r.execution = e;
  r.run = [tag](const CallRequest&) { return CallOutcome::Return(Term::Atom(tag)); };
  return r;
}

Term RunRoute(const Route* r) {
  REQUIRE(r != nullptr);
  return r->run(CallRequest{}).value;
}

TEST_CASE("router: an empty router finds nothing", "[router]") {
  Router router;
  CHECK(router.size() == 0);
  CHECK(router.Find("health", "ping", 0) == nullptr);
  CHECK(router.Find("", "", 0) == nullptr);
}

TEST_CASE("router: a route is found by module, function and arity only", "[router]") {
  Router router;
  router.Add("ml", "encode", 1, Tagged("encode1"));
  CHECK(RunRoute(router.Find("ml", "encode", 1)) == Term::Atom("encode1"));
  CHECK(router.Find("ml", "encode", 0) == nullptr);
  CHECK(router.Find("ml", "encode", 2) == nullptr);
  CHECK(router.Find("ml", "encod", 1) == nullptr);
  CHECK(router.Find("ml", "batch_encode", 1) == nullptr);
  CHECK(router.Find("ml_model", "encode", 1) == nullptr);
  CHECK(router.Find("ML", "encode", 1) == nullptr);
}

TEST_CASE("router: arities of one name are separate routes", "[router]") {
  Router router;
  router.Add("m", "f", 0, Tagged("f0"));
  router.Add("m", "f", 2, Tagged("f2"));
  CHECK(router.size() == 2);
  CHECK(RunRoute(router.Find("m", "f", 0)) == Term::Atom("f0"));
  CHECK(RunRoute(router.Find("m", "f", 2)) == Term::Atom("f2"));
  CHECK(router.Find("m", "f", 1) == nullptr);
}

TEST_CASE("router: adding a route again replaces it", "[router]") {
  Router router;
  router.Add("m", "f", 1, Tagged("old"));
  router.Add("m", "f", 1, Tagged("new", Route::Execution::kWorker));
  CHECK(router.size() == 1);
  const Route* r = router.Find("m", "f", 1);
  REQUIRE(r != nullptr);
  CHECK(r->execution == Route::Execution::kWorker);
  CHECK(RunRoute(r) == Term::Atom("new"));
}

TEST_CASE("router: RemoveModule removes that module's routes and no other", "[router]") {
  Router router;
  router.Add("ml", "encode", 1, Tagged("a"));
  router.Add("ml", "batch_encode", 1, Tagged("b"));
  router.Add("ml", "encode", 2, Tagged("c"));
  router.Add("ml_model", "predict", 1, Tagged("d"));  // a longer name with the same start
  router.Add("health", "ping", 0, Tagged("e"));
  router.Add("aaa", "x", 0, Tagged("f"));  // ordered before "ml"
  router.RemoveModule("ml");
  CHECK(router.size() == 3);
  CHECK(router.Find("ml", "encode", 1) == nullptr);
  CHECK(router.Find("ml", "batch_encode", 1) == nullptr);
  CHECK(router.Find("ml", "encode", 2) == nullptr);
  CHECK(RunRoute(router.Find("ml_model", "predict", 1)) == Term::Atom("d"));
  CHECK(RunRoute(router.Find("health", "ping", 0)) == Term::Atom("e"));
  CHECK(RunRoute(router.Find("aaa", "x", 0)) == Term::Atom("f"));
  router.RemoveModule("nothing_here");  // unknown: a no-op
  CHECK(router.size() == 3);
  // A removed module can be routed again.
  router.Add("ml", "encode", 1, Tagged("again"));
  CHECK(RunRoute(router.Find("ml", "encode", 1)) == Term::Atom("again"));
}

}  // namespace
}  // namespace hb
