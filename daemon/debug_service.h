// Diagnostics for tests of the daemon itself, routed only when the daemon
// starts with HORNBEAMD_DEBUG_ROUTES=1 in its environment (never from the
// configuration file, so no deployment serves them by accident):
//
//   debug:stall_loop(Ms)  blocks the loop thread for Ms milliseconds
//                         (0..10000), then returns ok. The stall is ended by
//                         a worker thread, so its end shows that the other
//                         threads ran while the loop could not: what a
//                         systemd watchdog test needs (a stalled loop must
//                         stop the pings; SIGSTOP would stop every thread).
//
// Thread: routes are added before the loop starts; stall_loop runs inline on
// the loop thread.
#pragma once

#include "daemon/router.h"
#include "daemon/worker_pool.h"

namespace hb {

// Whether the environment asks for the debug routes.
bool DebugRoutesEnabled();
void AddDebugRoutes(Router* router, WorkerPool* pool);

}  // namespace hb
