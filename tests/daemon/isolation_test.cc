// isolation: "process" (daemon/isolated_instance.h, daemon/shm_ring.h,
// daemon/worker/main.cc): the ring's bounds, and models whose instances run
// in hornbeamd-worker children of this test, driven through a real Batcher.
// The test plugin's "crash:..." texts kill or wedge the child they run in.
#include "daemon/isolated_instance.h"

#include <catch2/catch.hpp>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "daemon/batcher.h"
#include "daemon/shm_ring.h"
#include "tests/daemon/batch_run.h"
#include "tests/daemon/test_util.h"
#include "tests/skip.h"

// A sanitizer's worker reserves terabytes of shadow address space at start:
// it cannot run under the RLIMIT_AS that memory_limit_bytes sets.
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
#define HB_SANITIZED 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(thread_sanitizer)
#define HB_SANITIZED 1
#endif
#endif
#ifndef HB_SANITIZED
#define HB_SANITIZED 0
#endif

namespace hb {
namespace {

using testing::MakeTextRun;
using testing::TextRun;
using Clock = std::chrono::steady_clock;

ModelConfig Isolated(const std::string& options = "{}") {
  setenv("HB_WORKER", HB_WORKER_PATH, 1);
  ModelConfig mc;
  mc.name = "iso";
  mc.plugin = "testplugin_good";
  mc.options_json = options;
  mc.isolation = "process";
  mc.restart_backoff_ms = 10;
  return mc;
}

struct Served {
  std::shared_ptr<IsolationHealth> health;
  std::shared_ptr<Batcher> batcher;
};

Served Serve(const ModelConfig& mc) {
  Result<IsolatedModel> m = StartIsolatedModel(mc, testing::TestPlugin());
  REQUIRE(m.ok());
  BatcherOptions bo;
  bo.max_batch_size = mc.max_batch_size;
  bo.max_queue_delay_us = 500;
  Served s;
  s.health = m->health;
  s.batcher = std::make_shared<Batcher>(mc.name, bo, std::move(m->instances));
  return s;
}

// One job, waited for (with a generous bound: a hang fails the test).
std::shared_ptr<TextRun> Run(Batcher& b, std::vector<std::string> texts, int ms = 30000) {
  auto run = MakeTextRun(std::move(texts), b.output_dim());
  REQUIRE(b.Submit(run->job).ok());
  REQUIRE(run->Wait(ms));
  return run;
}

TEST_CASE("shm ring: spans outside the mapping are refused, also on overflow", "[isolation]") {
  Result<SharedRing> r = SharedRing::Create(8192);
  REQUIRE(r.ok());
  CHECK(r->At(0, 8192) != nullptr);
  CHECK(r->At(4096, 4096) != nullptr);
  CHECK(r->At(4096, 4097) == nullptr);
  CHECK(r->At(8193, 0) == nullptr);
  CHECK(r->At(UINT64_MAX, 2) == nullptr);
  CHECK(r->At(16, UINT64_MAX - 8) == nullptr);
  CHECK(!r->Reserve(SharedRing::kMaxBytes + 1).ok());
}

TEST_CASE("shm ring: growth by one side is seen by the other after Refresh", "[isolation]") {
  Result<SharedRing> a = SharedRing::Create(8192);
  REQUIRE(a.ok());
  Result<SharedRing> b = SharedRing::Attach(dup(a->fd()));
  REQUIRE(b.ok());
  REQUIRE(b->Reserve(1 << 20).ok());
  b->base()[(1 << 20) - 1] = 42;
  CHECK(a->At((1 << 20) - 1, 1) == nullptr);  // not mapped yet
  REQUIRE(a->Refresh().ok());
  REQUIRE(a->At((1 << 20) - 1, 1) != nullptr);
  CHECK(a->base()[(1 << 20) - 1] == 42);
  a->header()->request_seq.store(7);
  CHECK(b->header()->request_seq.load() == 7);
}

TEST_CASE("shm ring: nobody can shrink the ring under the daemon's mapping", "[isolation]") {
  Result<SharedRing> r = SharedRing::Create(1 << 16);
  REQUIRE(r.ok());
  int other = dup(r->fd());  // what a child holds
  CHECK(ftruncate(other, 4096) != 0);
  CHECK(ftruncate(other, 1 << 17) == 0);  // growing is allowed
  close(other);
  r->base()[(1 << 16) - 1] = 1;  // still mapped, no SIGBUS
}

TEST_CASE("shm ring: a reader never reads past its span", "[isolation]") {
  RingWriter w;
  w.Str("hello");
  w.U32(7);
  const auto* p = reinterpret_cast<const uint8_t*>(w.data().data());
  RingReader ok(p, w.data().size());
  std::string s;
  uint32_t v = 0;
  CHECK((ok.Str(&s) && ok.U32(&v) && s == "hello" && v == 7));
  RingReader cut(p, w.data().size() - 1);
  CHECK(cut.Str(&s));
  CHECK(!cut.U32(&v));
  CHECK(!cut.ok());
  uint64_t huge = UINT64_MAX;
  RingReader liar(reinterpret_cast<const uint8_t*>(&huge), sizeof(huge));
  CHECK(!liar.Str(&s));
}

TEST_CASE("isolation: an isolated model answers as the in-process one does", "[isolation]") {
  Served s = Serve(Isolated("{\"max_tokens\": 3}"));
  CHECK(s.batcher->output_dim() == 4);
  CHECK(s.batcher->max_tokens() == 3);
  auto run = Run(*s.batcher, {"abc", "FAIL", "hello"});
  CHECK(run->status[0] == HB_OK);
  CHECK(run->output[0] == 3.0f);
  CHECK(run->output[1] == 'a');
  CHECK(run->status[1] == HB_ERR_INVALID_ARGUMENT);
  CHECK(run->messages[1] == "text refused");
  CHECK(run->output[2 * 4] == 5.0f);
  // Length checks go through the child's count_tokens.
  auto len = MakeTextRun({"one two three four"}, 4);
  len->job->check_length = true;
  REQUIRE(s.batcher->Submit(len->job).ok());
  REQUIRE(len->Wait());
  CHECK(len->too_long_tokens[0] == 4);
  // A term call crosses the ring both ways.
  auto term = std::make_shared<BatchJob>();
  std::atomic<bool> done{false};
  term->kind = BatchJob::Kind::kTerm;
  term->function = "echo";
  term->arity = 1;
  term->args_etf = std::string("\x83\x6a", 2);
  term->finish = [&](BatchJob&) { done = true; };
  REQUIRE(s.batcher->Submit(term).ok());
  REQUIRE(testing::WaitFor([&] { return done.load(); }));
  CHECK(term->term_code == HB_OK);
  CHECK(term->result_etf == std::string("\x83\x6a", 2));
}

// The workers among this process's children, by their /proc/PID/comm.
std::vector<pid_t> Workers() {
  std::vector<pid_t> out;
  for (const auto& task : std::filesystem::directory_iterator("/proc/self/task")) {
    std::ifstream children(task.path() / "children");
    pid_t p;
    while (children >> p) {
      std::ifstream comm("/proc/" + std::to_string(p) + "/comm");
      std::string name;
      if (std::getline(comm, name) && name == "hornbeamd-wrk") out.push_back(p);
    }
  }
  return out;
}

// The line of /proc/PID/FILE that starts with `key`.
std::string ProcLine(pid_t pid, const std::string& file, const std::string& key) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/" + file);
  for (std::string line; std::getline(in, line);) {
    if (line.rfind(key, 0) == 0) return line;
  }
  return "";
}

TEST_CASE("isolation: the worker runs with the model's cpu_affinity and memory limit",
          "[isolation]") {
  ModelConfig mc = Isolated();
  mc.cpu_affinity = {0};
  if (!HB_SANITIZED) mc.memory_limit_bytes = 1ull << 30;
  Served s = Serve(mc);
  std::vector<pid_t> workers = Workers();
  REQUIRE(workers.size() == 1);
  std::string cpus = ProcLine(workers[0], "status", "Cpus_allowed_list:");
  CHECK(cpus.substr(cpus.find_last_of(" \t") + 1) == "0");
  std::string as = ProcLine(workers[0], "limits", "Max address space");
  if (!HB_SANITIZED) CHECK(as.find("1073741824") != std::string::npos);
}

TEST_CASE("isolation: a cancelled text is seen by the plugin in the child", "[isolation]") {
  Served s = Serve(Isolated());
  auto run = MakeTextRun({"HANG"}, 4);
  REQUIRE(s.batcher->Submit(run->job).ok());
  REQUIRE(testing::WaitFor([&] { return s.batcher->Load().busy_instances == 1; }));
  auto t0 = Clock::now();
  run->job->cancelled->store(true);
  REQUIRE(run->Wait(10000));
  CHECK(Clock::now() - t0 < std::chrono::seconds(10));  // HANG waits 30 s uncancelled
}

TEST_CASE("isolation: a crash fails only its batch, names the signal, and the model restarts",
          "[isolation]") {
  Served s = Serve(Isolated());
  struct Case {
    const char* text;
    const char* cause;
  };
  for (Case c : {Case{"crash:segv", "signal 11 in instance 0"},
                 Case{"crash:abort", "signal 6 in instance 0"},
                 Case{"crash:exit", "exit status 3 in instance 0"}}) {
    auto run = Run(*s.batcher, {c.text});
    CHECK(run->status[0] == kStatusCrashed);
    CHECK(run->messages[0] == c.cause);
    CHECK(std::string(PluginStatusName(run->status[0])) == "crashed");
    auto after = Run(*s.batcher, {"fine"});  // waits for the restart, then runs
    CHECK(after->status[0] == HB_OK);
  }
  IsolationHealth::View v = s.health->Get();
  CHECK(v.restarts == 3);
  CHECK(v.crashes == 3);
  CHECK(v.last_cause == "exit status 3 in instance 0");
  CHECK(!v.failed);
}

TEST_CASE("isolation: a child stuck beyond stuck_after_ms is killed", "[isolation]") {
  ModelConfig mc = Isolated();
  mc.stuck_after_ms = 300;
  Served s = Serve(mc);
  auto t0 = Clock::now();
  auto run = Run(*s.batcher, {"crash:hang"});
  CHECK(run->status[0] == kStatusCrashed);
  CHECK(run->messages[0] == "stuck beyond 300 ms (killed) in instance 0");
  CHECK(Clock::now() - t0 < std::chrono::seconds(20));
  CHECK(Run(*s.batcher, {"ok"})->status[0] == HB_OK);
}

TEST_CASE("isolation: memory_limit_bytes ends a leaking child, not the host", "[isolation]") {
  if (HB_SANITIZED) return testing::Skip("a sanitizer's worker cannot run under RLIMIT_AS");
  ModelConfig mc = Isolated();
  mc.memory_limit_bytes = 512ull << 20;
  Served s = Serve(mc);
  auto run = Run(*s.batcher, {"crash:leak"});
  CHECK(run->status[0] == kStatusCrashed);
  CHECK(run->messages[0] == "signal 11 in instance 0");
  CHECK(Run(*s.batcher, {"ok"})->status[0] == HB_OK);
}

TEST_CASE("isolation: more than max_restarts crashes in the window fail the model",
          "[isolation]") {
  ModelConfig mc = Isolated();
  mc.max_restarts = 2;
  Served s = Serve(mc);
  for (int i = 0; i < 3; ++i) CHECK(Run(*s.batcher, {"crash:segv"})->status[0] == kStatusCrashed);
  CHECK(s.health->failed());
  CHECK(s.health->Get().restarts == 2);
  auto t0 = Clock::now();
  auto run = Run(*s.batcher, {"fine"});
  CHECK(run->status[0] == HB_ERR_UNAVAILABLE);  // at once, no restart
  CHECK(run->messages[0].find("failed after 3 crashes") != std::string::npos);
  CHECK(Clock::now() - t0 < std::chrono::seconds(2));
}

// 64 looping callers on a healthy isolated model and on one that crashes
// every few calls: the healthy one loses nothing, every call on the other
// is answered (a result, crashed, or unavailable while it restarts) and
// none hangs; afterwards it serves again.
TEST_CASE("isolation: 64 looping callers, one model crashing under them", "[isolation]") {
  Served healthy = Serve(Isolated());
  ModelConfig bad = Isolated();
  bad.instances = 2;
  bad.max_restarts = 1000;
  bad.restart_backoff_ms = 1;
  Served crashing = Serve(bad);
  std::atomic<int> healthy_ok{0}, healthy_bad{0}, answered{0}, odd{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 64; ++t) {
    callers.emplace_back([&, t] {
      for (int i = 0; i < 8; ++i) {
        auto h = MakeTextRun({"text " + std::to_string(t)}, 4);
        auto c = MakeTextRun({(t + i) % 16 == 0 ? "crash:segv" : "x"}, 4);
        if (!healthy.batcher->Submit(h->job).ok() || !crashing.batcher->Submit(c->job).ok() ||
            !h->Wait(30000) || !c->Wait(30000)) {
          ++odd;
          return;
        }
        (h->status[0] == HB_OK && h->output[0] == h->texts[0].size() ? healthy_ok : healthy_bad)++;
        hb_status st = c->status[0];
        if (st == HB_OK || st == kStatusCrashed || st == HB_ERR_UNAVAILABLE) ++answered;
      }
    });
  }
  for (auto& th : callers) th.join();
  CHECK(odd == 0);
  CHECK(healthy_ok == 64 * 8);
  CHECK(healthy_bad == 0);
  CHECK(answered == 64 * 8);
  CHECK(crashing.health->Get().crashes > 0);
  CHECK(Run(*crashing.batcher, {"after"})->status[0] == HB_OK);
}

}  // namespace
}  // namespace hb
