// JobsService and JobStore (daemon/jobs_service.h, daemon/job_store.h):
// records survive a store reopened on the same directory, unfinished ones
// come back interrupted, and finished jobs are forgotten by age and by the
// byte budget. The Erlang-facing behaviour is in tests/integration/hb_jobs_tests.erl.
#include "daemon/jobs_service.h"

#include <catch2/catch.hpp>
#include <stdlib.h>
#include <unistd.h>
#include <uv.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <memory>
#include <string>

#include "tests/daemon/test_util.h"

namespace hb {
namespace {

struct TempDir {
  std::string path;
  TempDir() {
    char tmpl[] = "/tmp/hb_jobs_test.XXXXXX";
    path = mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(path); }
};

JobRecord Record(const std::string& id, JobState state) {
  JobRecord r;
  r.id = id;
  r.module = "health";
  r.function = "sleep";
  r.arity = 1;
  r.state = state;
  r.progress = 0.5;
  r.message = "half";
  r.submitted_at = 1000;
  r.started_at = 1001;
  r.finished_at = state == JobState::kDone ? 1002 : 0;
  r.result = state == JobState::kDone ? Term::Tuple({Term::Atom("ok"), Term::Binary("v")})
                                      : Term();
  return r;
}

TEST_CASE("job store: finished records reload as written, unfinished ones as interrupted",
          "[jobs]") {
  TempDir dir;
  {
    JobStore store(dir.path);
    REQUIRE(store.Open().ok());
    store.Save(Record("1-1", JobState::kDone));
    store.Save(Record("1-2", JobState::kRunning));
    store.Save(Record("1-3", JobState::kQueued));
    store.Save(Record("1-4", JobState::kDone));
    store.Remove("1-4");
  }
  // Leftovers of a write cut short, and a file that is not a record.
  { std::ofstream(dir.path + "/jobs/1-9.job.tmp") << "partial"; }
  { std::ofstream(dir.path + "/jobs/1-8.job") << "garbage"; }
  JobStore store(dir.path);
  REQUIRE(store.Open().ok());
  std::vector<JobRecord> loaded = store.LoadAll(5000);
  REQUIRE(loaded.size() == 3);
  std::sort(loaded.begin(), loaded.end(),
            [](const JobRecord& a, const JobRecord& b) { return a.id < b.id; });
  CHECK(loaded[0].state == JobState::kDone);
  CHECK(loaded[0].result == Record("1-1", JobState::kDone).result);
  CHECK(loaded[0].message == "half");
  CHECK(loaded[0].finished_at == 1002);
  for (int i : {1, 2}) {
    CHECK(loaded[i].state == JobState::kInterrupted);
    CHECK(loaded[i].finished_at == 5000);
    CHECK(loaded[i].result == Term::Tuple({Term::Atom("error"), Term::Atom("interrupted")}));
  }
  CHECK_FALSE(std::filesystem::exists(dir.path + "/jobs/1-9.job.tmp"));
  // The interrupted state was written back: a second start agrees.
  store.Flush();
  JobStore again(dir.path);
  REQUIRE(again.Open().ok());
  for (const JobRecord& r : again.LoadAll(9999)) {
    if (r.id != "1-1") CHECK(r.finished_at == 5000);
  }
}

struct Fixture {
  testing::TestLoop loop;
  Router router;
  Metrics metrics;
  WorkerPool pool{1};
  Dispatcher dispatcher{loop.get(), &router, &pool, &metrics};
  std::unique_ptr<JobsService> jobs;
  bool closed = false;
  bool dispatcher_closed = false;

  explicit Fixture(JobsConfig config) {
    Route echo;
    echo.execution = Route::Execution::kWorker;
    echo.run = [](const CallRequest& r) { return CallOutcome::Return(r.args[0]); };
    router.Add("t", "echo", 1, echo);
    jobs = std::make_unique<JobsService>(loop.get(), &router, &dispatcher, config,
                                         [](const Term&, Term) {});
    REQUIRE(jobs->Start());
  }
  ~Fixture() {
    jobs->Close([this] { closed = true; });
    loop.AwaitClose(jobs, closed);
    pool.Shutdown();
    dispatcher.Close([this] { dispatcher_closed = true; });
    loop.RunUntil([this] { return dispatcher_closed; });
  }
  // Runs jobs:F(Args) as a call would and returns its value.
  Term Call(const std::string& f, std::vector<Term> args) {
    CallRequest req;
    req.module = "jobs";
    req.function = f;
    req.args = Term::List(std::move(args));
    bool done = false;
    Term value;
    dispatcher.Dispatch(req, [&](const CallOutcome& o) {
      done = true;
      value = o.value;
    });
    REQUIRE(loop.RunUntil([&] { return done; }));
    return value;
  }
  Term Submit(Term arg) {
    Term r = Call("submit", {Term::Atom("t"), Term::Atom("echo"), Term::List({std::move(arg)})});
    REQUIRE(r.is_tuple(2));
    Term id = r[1];
    REQUIRE(Call("await", {id, Term::Int(5000)}).is_tuple(2));
    return id;
  }
};

Term NotFound() { return Term::Tuple({Term::Atom("error"), Term::Atom("not_found")}); }

TEST_CASE("jobs: results beyond keep_bytes are forgotten oldest first", "[jobs]") {
  JobsConfig config;
  config.keep_bytes = 3000;  // room for two results of ~1 KB, not three
  Fixture fx(config);
  Term a = fx.Submit(Term::Binary(std::string(1000, 'a')));
  Term b = fx.Submit(Term::Binary(std::string(1000, 'b')));
  CHECK(fx.Call("result", {a}).is_tuple(2));
  CHECK(fx.Call("result", {a})[0].is_atom("ok"));
  Term c = fx.Submit(Term::Binary(std::string(1000, 'c')));
  CHECK(fx.Call("result", {a}) == NotFound());
  CHECK(fx.Call("result", {b})[0].is_atom("ok"));
  CHECK(fx.Call("result", {c})[0].is_atom("ok"));
}

TEST_CASE("jobs: finished jobs are forgotten after keep_ms", "[jobs]") {
  JobsConfig config;
  config.keep_ms = 200;
  Fixture fx(config);
  Term a = fx.Submit(Term::Atom("x"));
  CHECK(fx.Call("result", {a})[0].is_atom("ok"));
  CHECK(fx.loop.RunUntil([&] { return fx.Call("result", {a}) == NotFound(); }));
}

}  // namespace
}  // namespace hb
