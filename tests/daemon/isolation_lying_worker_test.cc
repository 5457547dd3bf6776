// The daemon never trusts what a worker writes into shared memory: a child
// that lies about its caps, places its answer outside the ring, answers
// short, grows the ring past the daemon's limit or tries to shrink it under
// the daemon's mapping costs only that call (crashed, the child killed) or
// that model's start -- never the daemon (tests/daemon/lying_worker.cc).
#include <catch2/catch.hpp>

#include <cstdlib>
#include <string>

#include "daemon/batcher.h"
#include "daemon/isolated_instance.h"
#include "tests/daemon/batch_run.h"

namespace hb {
namespace {

ModelConfig Liar(const char* lie) {
  setenv("HB_WORKER", HB_LYING_WORKER_PATH, 1);
  setenv("HB_LIE", lie, 1);
  ModelConfig mc;
  mc.name = "liar";
  mc.isolation = "process";
  mc.restart_backoff_ms = 1;
  return mc;
}

std::shared_ptr<testing::TextRun> RunOne(const char* lie) {
  Result<IsolatedModel> m = StartIsolatedModel(Liar(lie), "/nonexistent.so");
  REQUIRE(m.ok());
  Batcher b("liar", BatcherOptions{}, std::move(m->instances));
  auto run = testing::MakeTextRun({"x"}, 4);
  REQUIRE(b.Submit(run->job).ok());
  REQUIRE(run->Wait(30000));
  return run;
}

TEST_CASE("isolation: a worker claiming absurd caps fails its model's start",
          "[isolation][untrusted]") {
  Result<IsolatedModel> m = StartIsolatedModel(Liar("caps"), "/nonexistent.so");
  REQUIRE(!m.ok());
  CHECK(m.status().message().find("malformed caps") != std::string::npos);
}

TEST_CASE("isolation: an answer outside the ring or too short is a crash of that call",
          "[isolation][untrusted]") {
  for (const char* lie : {"offset", "short"}) {
    INFO(lie);
    auto run = RunOne(lie);
    CHECK(run->status[0] == kStatusCrashed);
    CHECK(run->messages[0] == "answer outside the ring in instance 0");
  }
}

TEST_CASE("isolation: a ring grown past the limit is refused, the child killed",
          "[isolation][untrusted]") {
  auto run = RunOne("grow");
  CHECK(run->status[0] == kStatusCrashed);
  CHECK(run->messages[0].rfind("broken ring", 0) == 0);
}

TEST_CASE("isolation: a child cannot shrink the ring under the daemon", "[isolation][untrusted]") {
  auto run = RunOne("shrink");
  CHECK(run->status[0] == HB_OK);  // the seal refused the cut; no SIGBUS here
}

}  // namespace
}  // namespace hb
