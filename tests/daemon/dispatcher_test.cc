// Dispatcher (daemon/dispatcher.h): where each kind of route runs, that every
// outcome comes back on the loop thread, that a cancelled call never
// completes, and what it records in Metrics.
#include "daemon/dispatcher.h"

#include <catch2/catch.hpp>
#include <uv.h>

#include <atomic>
#include <memory>
#include <thread>
#include <utility>
#include <vector>

#include "tests/daemon/test_util.h"

namespace hb {
namespace {

using testing::Gate;
using testing::WaitFor;

// What a call's `done` saw: how often it ran, with what, on which thread.
struct Done {
  int calls = 0;
  CallOutcome outcome;
  std::thread::id thread;
  Dispatcher::DoneFn Fn() {
    return [this](const CallOutcome& o) {
      ++calls;
      outcome = o;
      thread = std::this_thread::get_id();
    };
  }
};

CallRequest Req(const std::string& m, const std::string& f, Term args = Term::Nil()) {
  CallRequest r;
  r.module = m;
  r.function = f;
  r.args = std::move(args);
  return r;
}

Route Worker(std::function<CallOutcome(const CallRequest&)> run) {
  Route r;
  r.execution = Route::Execution::kWorker;
  r.run = std::move(run);
  return r;
}

Route Async(std::function<void(CallRequest, CallDone)> run) {
  Route r;
  r.execution = Route::Execution::kAsync;
  r.run_async = std::move(run);
  return r;
}

Term Ok() { return Term::Atom("ok"); }

struct Fixture {
  testing::TestLoop loop;
  Router router;
  Metrics metrics;
  WorkerPool pool{1};  // one thread: tasks run in submission order
  std::unique_ptr<Dispatcher> dispatcher =
      std::make_unique<Dispatcher>(loop.get(), &router, &pool, &metrics);
  const std::thread::id loop_thread = std::this_thread::get_id();
  std::vector<std::thread> threads;  // completers of async calls
  bool close_called = false;
  bool closed = false;  // Close's callback ran

  Fixture() {
    router.Add("probe", "probe", 0,
               Worker([](const CallRequest&) { return CallOutcome::Return(Term::Atom("probed")); }));
  }
  ~Fixture() {
    for (auto& t : threads) t.join();
    pool.Shutdown();
    if (!close_called) BeginClose();
    loop.AwaitClose(dispatcher, closed);
  }
  void BeginClose() {
    close_called = true;
    dispatcher->Close([this] { closed = true; });
  }
  // Runs a worker call behind everything submitted so far and waits for it:
  // afterwards every earlier worker task has posted its outcome and the
  // loop has handled it (one pool thread, one queue of completions, in order).
  // Returns the probe call's id.
  uint64_t Settle() {
    Done probe;
    uint64_t id = dispatcher->Dispatch(Req("probe", "probe"), probe.Fn());
    REQUIRE(loop.RunUntil([&] { return probe.calls == 1; }));
    return id;
  }
  const CallStats& Stats(const std::string& m, const std::string& f) {
    auto it = metrics.calls().find({m, f});
    REQUIRE(it != metrics.calls().end());
    return it->second;
  }
};

TEST_CASE("dispatcher: an unrouted call is undef, done before Dispatch returns", "[dispatcher]") {
  Fixture fx;
  fx.router.Add("health", "ping", 0, Worker([](const CallRequest&) {
    return CallOutcome::Return(Term::Atom("pong"));
  }));
  Term args = Term::List({Term::Binary("echo hi")});
  Done done;
  fx.dispatcher->Dispatch(Req("os", "cmd", args), done.Fn());
  REQUIRE(done.calls == 1);
  CHECK(done.thread == fx.loop_thread);
  CallOutcome undef = CallOutcome::Undef("os", "cmd", args);
  CHECK(done.outcome.kind == CallOutcome::Kind::kError);
  CHECK(done.outcome.value == undef.value);
  CHECK(done.outcome.stack == undef.stack);
  CHECK(fx.dispatcher->inflight() == 0);

  // A routed name with another arity is unrouted too.
  Done wrong_arity;
  fx.dispatcher->Dispatch(Req("health", "ping", Term::List({Term::Int(1)})), wrong_arity.Fn());
  CHECK(wrong_arity.calls == 1);
  CHECK(wrong_arity.outcome.value.is_atom("undef"));

  // However many names callers invent, metrics keep one key for them all.
  CHECK(fx.metrics.calls().size() == 1);
  const CallStats& s = fx.Stats("$unrouted", "$unrouted");
  CHECK(s.count == 2);
  CHECK(s.errors == 2);
  CHECK(s.errors_by_reason == std::map<std::string, uint64_t>{{"undef", 2}});
  CHECK(fx.metrics.requests_total() == 2);
}

TEST_CASE("dispatcher: an inline route runs on the calling thread and is never in flight",
          "[dispatcher]") {
  Fixture fx;
  std::thread::id ran_on;
  size_t inflight_during = 99;
  Route r;
  r.execution = Route::Execution::kInline;
  r.run = [&](const CallRequest& req) {
    ran_on = std::this_thread::get_id();
    inflight_during = fx.dispatcher->inflight();
    return CallOutcome::Return(req.args);
  };
  fx.router.Add("health", "echo", 1, r);
  Term args = Term::List({Term::Atom("x")});
  Done done;
  fx.dispatcher->Dispatch(Req("health", "echo", args), done.Fn());
  REQUIRE(done.calls == 1);
  CHECK(ran_on == fx.loop_thread);
  CHECK(done.thread == fx.loop_thread);
  CHECK(inflight_during == 0);
  CHECK(done.outcome.value == args);
  const CallStats& s = fx.Stats("health", "echo");
  CHECK(s.count == 1);
  CHECK(s.errors == 0);
  CHECK(s.bytes_in == EncodedSize(args));
  CHECK(s.bytes_out == EncodedSize(args));
}

TEST_CASE("dispatcher: a worker route runs on the pool and completes on the loop thread",
          "[dispatcher]") {
  Fixture fx;
  std::atomic<std::thread::id> ran_on{};
  fx.router.Add("m", "work", 1, Worker([&](const CallRequest& req) {
    ran_on = std::this_thread::get_id();
    return CallOutcome::Return(req.args[0]);
  }));
  fx.router.Add("m", "bad", 0, Worker([](const CallRequest&) {
    return CallOutcome::BadArg("m", "bad", Term::Nil());
  }));
  Term args = Term::List({Term::Int(7)});
  Done work, bad;
  uint64_t id1 = fx.dispatcher->Dispatch(Req("m", "work", args), work.Fn());
  uint64_t id2 = fx.dispatcher->Dispatch(Req("m", "bad"), bad.Fn());
  CHECK(id1 != id2);
  CHECK(work.calls == 0);  // only the loop delivers it
  CHECK(fx.dispatcher->inflight() == 2);
  REQUIRE(fx.loop.RunUntil([&] { return work.calls == 1 && bad.calls == 1; }));
  CHECK(ran_on.load() != fx.loop_thread);
  CHECK(work.thread == fx.loop_thread);
  CHECK(work.outcome.value == Term::Int(7));
  CHECK(fx.dispatcher->inflight() == 0);
  const CallStats& s = fx.Stats("m", "work");
  CHECK(s.count == 1);
  CHECK(s.bytes_in == EncodedSize(args));
  CHECK(s.bytes_out == EncodedSize(Term::Int(7)));
  CHECK(fx.Stats("m", "bad").errors_by_reason == std::map<std::string, uint64_t>{{"badarg", 1}});
  CHECK(fx.metrics.errors_total() == 1);
}

TEST_CASE("dispatcher: an async route completes from any thread, delivered on the loop thread",
          "[dispatcher]") {
  Fixture fx;
  bool had_flag = false;
  fx.router.Add("m", "elsewhere", 0, Async([&](CallRequest req, CallDone done) {
    had_flag = req.cancelled != nullptr;
    fx.threads.emplace_back([done] { done(CallOutcome::Return(Term::Atom("far"))); });
  }));
  // Completing at once, inside run_async, still goes through the loop.
  fx.router.Add("m", "at_once", 0, Async([](CallRequest, CallDone done) {
    done(CallOutcome::Return(Term::Atom("near")));
  }));
  Done far, near;
  fx.dispatcher->Dispatch(Req("m", "elsewhere"), far.Fn());
  fx.dispatcher->Dispatch(Req("m", "at_once"), near.Fn());
  CHECK(had_flag);
  CHECK(near.calls == 0);
  CHECK(fx.dispatcher->inflight() == 2);
  REQUIRE(fx.loop.RunUntil([&] { return far.calls == 1 && near.calls == 1; }));
  CHECK(far.thread == fx.loop_thread);
  CHECK(far.outcome.value == Term::Atom("far"));
  CHECK(near.outcome.value == Term::Atom("near"));
  CHECK(fx.dispatcher->inflight() == 0);
  CHECK(fx.Stats("m", "elsewhere").count == 1);
}

TEST_CASE("dispatcher: a cancelled call never completes, even when its work finishes",
          "[dispatcher]") {
  Fixture fx;
  Gate release;
  std::atomic<bool> started{false};
  std::atomic<bool> saw_cancel{false};
  fx.router.Add("m", "slow", 0, Worker([&](const CallRequest& req) {
    started = true;
    release.Wait();
    saw_cancel = req.cancelled->load();
    return CallOutcome::Return(Ok());
  }));
  CallDone async_done;
  fx.router.Add("m", "later", 0, Async([&](CallRequest, CallDone done) { async_done = done; }));

  Done slow, later;
  uint64_t slow_id = fx.dispatcher->Dispatch(Req("m", "slow"), slow.Fn());
  uint64_t later_id = fx.dispatcher->Dispatch(Req("m", "later"), later.Fn());
  REQUIRE(WaitFor([&] { return started.load(); }));
  fx.dispatcher->Cancel(slow_id);
  fx.dispatcher->Cancel(later_id);
  CHECK(fx.dispatcher->inflight() == 0);
  release.Open();
  fx.threads.emplace_back([&] { async_done(CallOutcome::Return(Ok())); });
  fx.threads.back().join();
  fx.threads.clear();
  fx.Settle();
  CHECK(saw_cancel);  // the work could see that its caller had gone
  CHECK(slow.calls == 0);
  CHECK(later.calls == 0);
  const CallStats& s = fx.Stats("m", "slow");
  CHECK(s.cancelled == 1);
  CHECK(s.count == 0);  // a cancelled call is not also counted as completed
  CHECK(fx.Stats("m", "later").cancelled == 1);
  CHECK(fx.metrics.cancelled_total() == 2);
}

TEST_CASE("dispatcher: a queued worker task whose call was cancelled never runs", "[dispatcher]") {
  Fixture fx;
  Gate release;
  std::atomic<bool> blocking{false};
  std::atomic<int> skipped_ran{0};
  fx.router.Add("m", "block", 0, Worker([&](const CallRequest&) {
    blocking = true;
    release.Wait();
    return CallOutcome::Return(Ok());
  }));
  fx.router.Add("m", "skipped", 0, Worker([&](const CallRequest&) {
    ++skipped_ran;
    return CallOutcome::Return(Ok());
  }));
  Done block, skipped;
  fx.dispatcher->Dispatch(Req("m", "block"), block.Fn());
  REQUIRE(WaitFor([&] { return blocking.load(); }));
  uint64_t id = fx.dispatcher->Dispatch(Req("m", "skipped"), skipped.Fn());
  CHECK(fx.pool.queued() == 1);
  fx.dispatcher->Cancel(id);
  release.Open();
  fx.Settle();
  CHECK(block.calls == 1);
  CHECK(skipped.calls == 0);
  CHECK(skipped_ran == 0);
}

TEST_CASE("dispatcher: inflight counts calls until they complete or are cancelled",
          "[dispatcher]") {
  Fixture fx;
  Gate release;
  fx.router.Add("m", "wait", 0, Worker([&](const CallRequest&) {
    release.Wait();
    return CallOutcome::Return(Ok());
  }));
  std::vector<Done> done(3);
  std::vector<uint64_t> ids;
  for (auto& d : done) ids.push_back(fx.dispatcher->Dispatch(Req("m", "wait"), d.Fn()));
  CHECK(fx.dispatcher->inflight() == 3);
  fx.dispatcher->Cancel(ids[1]);
  CHECK(fx.dispatcher->inflight() == 2);
  fx.dispatcher->Cancel(ids[1]);  // again: ignored
  CHECK(fx.dispatcher->inflight() == 2);
  release.Open();
  REQUIRE(fx.loop.RunUntil([&] { return fx.dispatcher->inflight() == 0; }));
  CHECK(done[0].calls == 1);
  CHECK(done[1].calls == 0);
  CHECK(done[2].calls == 1);
}

TEST_CASE("dispatcher: Cancel of an unknown or finished call is ignored", "[dispatcher]") {
  Fixture fx;
  fx.dispatcher->Cancel(12345);
  Done unrouted;
  uint64_t id = fx.dispatcher->Dispatch(Req("no", "such"), unrouted.Fn());
  fx.dispatcher->Cancel(id);
  fx.dispatcher->Cancel(fx.Settle());  // the probe, finished
  CHECK(fx.metrics.cancelled_total() == 0);
  CHECK(fx.Stats("probe", "probe").count == 1);
}

TEST_CASE("dispatcher: Close is libuv's two-step close", "[dispatcher]") {
  Fixture fx;
  fx.BeginClose();
  CHECK_FALSE(fx.closed);  // the handle is gone only on a later loop iteration
  CHECK(fx.loop.RunUntil([&] { return fx.closed; }));
}

}  // namespace
}  // namespace hb
