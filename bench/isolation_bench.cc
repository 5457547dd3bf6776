// isolation_bench: one model plugin served in-process and isolated
// (isolation "process": a hornbeamd-worker child, shared-memory ring),
// through the daemon's own Batcher, one closed-loop caller submitting
// batches of 1, 64 and 256 texts of the bench corpus. Prints texts/s and
// the median batch latency for each, and the restart time after a crash
// (SIGKILL of the child, until the next batch is answered).
//
//   isolation_bench WORKER PLUGIN.so [OPTIONS_JSON] [SECONDS_PER_CELL] [BATCHES]
//
// BATCHES: comma-separated batch sizes (default 1,64,256).
//
// It measures; it asserts nothing (README "Benchmarks" has the numbers).
#include <dirent.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "bench/corpus.h"
#include "daemon/batcher.h"
#include "daemon/isolated_instance.h"

namespace hb {
namespace {

using Clock = std::chrono::steady_clock;

std::shared_ptr<Batcher> InProcess(const std::string& so, const std::string& options) {
  auto plugin = Plugin::Load(so);
  if (!plugin.ok()) return nullptr;
  auto model = ModelHandle::Load(*plugin, "bench", options);
  if (!model.ok()) return nullptr;
  std::vector<std::unique_ptr<InstanceHandle>> insts;
  auto inst = InstanceHandle::Create(*model, -1);
  if (!inst.ok()) return nullptr;
  insts.push_back(std::move(inst).value());
  BatcherOptions bo;
  bo.max_batch_size = 256;
  return std::make_shared<Batcher>("bench", bo, std::move(insts));
}

std::shared_ptr<Batcher> Isolated(const std::string& so, const std::string& options) {
  ModelConfig mc;
  mc.name = "bench";
  mc.options_json = options;
  mc.isolation = "process";
  mc.restart_backoff_ms = 1;
  mc.max_restarts = 1000;
  Result<IsolatedModel> m = StartIsolatedModel(mc, so);
  if (!m.ok()) {
    fprintf(stderr, "%s\n", m.status().message().c_str());
    return nullptr;
  }
  BatcherOptions bo;
  bo.max_batch_size = 256;
  return std::make_shared<Batcher>("bench", bo, std::move(m->instances));
}

// One batch of `n` texts from the corpus, submitted and waited for; true
// when every text came back ok.
bool RunBatch(Batcher& b, size_t n, size_t* cursor) {
  const auto& corpus = hornbeam::tools::BenchCorpus();
  auto job = std::make_shared<BatchJob>();
  for (size_t i = 0; i < n; ++i) job->texts.push_back(corpus[(*cursor)++ % corpus.size()]);
  // Shared: the finishing thread may still notify after this returns.
  auto done = std::make_shared<std::atomic<bool>>(false);
  auto bad = std::make_shared<std::atomic<size_t>>(0);
  job->deliver = [bad](const TextResult& r) {
    if (r.status != HB_OK) ++*bad;
  };
  job->finish = [done](BatchJob&) {
    done->store(true, std::memory_order_release);
    done->notify_one();
  };
  if (!b.Submit(job).ok()) return false;
  done->wait(false, std::memory_order_acquire);  // sleeps: no core taken from the model
  return *bad == 0;
}

void Cell(const char* mode, Batcher& b, size_t n, double secs) {
  size_t cursor = 0, texts = 0;
  std::vector<double> us;
  for (int i = 0; i < 3; ++i) RunBatch(b, n, &cursor);  // warm up
  auto end = Clock::now() + std::chrono::duration<double>(secs);
  auto t0 = Clock::now();
  while (Clock::now() < end) {
    auto s = Clock::now();
    RunBatch(b, n, &cursor);
    us.push_back(std::chrono::duration<double, std::micro>(Clock::now() - s).count());
    texts += n;
  }
  double elapsed = std::chrono::duration<double>(Clock::now() - t0).count();
  std::sort(us.begin(), us.end());
  printf("| %s | %zu | %.0f | %.0f |\n", mode, n, texts / elapsed, us[us.size() / 2]);
  fflush(stdout);
}

// This process's children (the workers), from /proc/self/task/*/children.
std::vector<pid_t> Children() {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc/self/task");
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    std::ifstream f(std::string("/proc/self/task/") + e->d_name + "/children");
    pid_t p;
    while (f >> p) out.push_back(p);
  }
  closedir(d);
  return out;
}

void RestartTime(Batcher& b) {
  std::vector<double> ms;
  size_t cursor = 0;
  for (int i = 0; i < 5; ++i) {
    RunBatch(b, 1, &cursor);
    std::vector<pid_t> kids = Children();
    if (kids.empty()) break;
    kill(kids[0], SIGKILL);
    auto t0 = Clock::now();
    RunBatch(b, 1, &cursor);  // this one may get `crashed` when it was already running
    while (!RunBatch(b, 1, &cursor)) {
    }
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
  }
  std::sort(ms.begin(), ms.end());
  if (!ms.empty()) printf("restart after SIGKILL (median of %zu): %.1f ms\n", ms.size(), ms[ms.size() / 2]);
}

}  // namespace
}  // namespace hb

int main(int argc, char** argv) {
  if (argc < 3) {
    fprintf(stderr, "usage: isolation_bench WORKER PLUGIN.so [OPTIONS_JSON] [SECONDS]\n");
    return 2;
  }
  setenv("HB_WORKER", argv[1], 1);
  std::string so = argv[2];
  std::string options = argc > 3 ? argv[3] : "{}";
  double secs = argc > 4 ? atof(argv[4]) : 3.0;
  std::vector<size_t> batches;
  for (const char* p = argc > 5 ? argv[5] : "1,64,256"; *p != '\0';) {
    char* end = nullptr;
    batches.push_back(strtoul(p, &end, 10));
    p = *end == ',' ? end + 1 : end;
    if (batches.back() == 0) return 2;
  }
  printf("| mode | batch | texts/s | p50 µs a batch |\n|---|---:|---:|---:|\n");
  for (size_t n : batches) {
    {
      auto b = hb::InProcess(so, options);
      if (!b) return 1;
      hb::Cell("in-process", *b, n, secs);
    }
    {
      auto b = hb::Isolated(so, options);
      if (!b) return 1;
      hb::Cell("isolated", *b, n, secs);
    }
  }
  auto b = hb::Isolated(so, options);
  if (!b) return 1;
  hb::RestartTime(*b);
  return 0;
}
