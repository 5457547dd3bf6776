#include "daemon/debug_service.h"

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <thread>

#include "base/log.h"
#include "base/mutex.h"

namespace hb {
namespace {

// The loop thread waits here until a worker says the time is up.
struct Stall {
  Mutex mu;
  CondVar cv;
  bool released GUARDED_BY(mu) = false;
};

}  // namespace

bool DebugRoutesEnabled() {
  const char* v = getenv("HORNBEAMD_DEBUG_ROUTES");
  return v != nullptr && strcmp(v, "1") == 0;
}

void AddDebugRoutes(Router* router, WorkerPool* pool) {
  HB_LOG_WARN("HORNBEAMD_DEBUG_ROUTES=1: serving debug:stall_loop/1 (for tests only)");
  Route stall;
  stall.execution = Route::Execution::kInline;
  stall.run = [pool](const CallRequest& req) {
    const Term& ms = req.args[0];
    if (!ms.is_int() || ms.int_value() < 0 || ms.int_value() > 10000) {
      return CallOutcome::BadArg("debug", "stall_loop", req.args);
    }
    auto s = std::make_shared<Stall>();
    auto wait = std::chrono::milliseconds(ms.int_value());
    pool->Submit([s, wait] {
      std::this_thread::sleep_for(wait);
      MutexLock lock(&s->mu);
      s->released = true;
      s->cv.SignalAll();
    });
    MutexLock lock(&s->mu);
    while (!s->released) s->cv.Wait(&s->mu);
    return CallOutcome::Return(Term::Atom("ok"));
  };
  router->Add("debug", "stall_loop", 1, stall);
}

}  // namespace hb
