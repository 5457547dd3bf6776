// An RpcServer on a real uv loop with the health routes, its sends captured:
// the signal semantics of virtual processes without sockets. Shared by the
// RPC unit and regression tests.
#pragma once

#include <uv.h>

#include <chrono>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "daemon/dispatcher.h"
#include "daemon/health_service.h"
#include "daemon/rpc_server.h"
#include "daemon/worker_pool.h"

namespace hb::rpc_fixture {

constexpr char kPeer[] = "client@host";

inline Term PeerPid(uint32_t n) { return Term::MakePid({kPeer, n, 0, 7}); }
inline Term PeerRef(uint32_t n) { return Term::MakeRef({kPeer, 7, {n, 1, 2}}); }

struct Fixture {
  uv_loop_t loop;
  Router router;
  Metrics metrics;
  WorkerPool pool{2};
  std::unique_ptr<Dispatcher> dispatcher;
  std::unique_ptr<RpcServer> server;
  std::vector<std::pair<std::string, ControlMessage>> sent;
  NodeStatus status;

  Fixture() {
    uv_loop_init(&loop);
    dispatcher = std::make_unique<Dispatcher>(&loop, &router, &pool, &metrics);
    status.node = "gpu@host";
    status.now_ms = [] { return uint64_t{0}; };
    status.peers = [] { return std::vector<std::string>{kPeer}; };
    status.inflight = [this] { return dispatcher->inflight(); };
    AddHealthRoutes(&router, &status, &metrics);
    server = std::make_unique<RpcServer>("gpu@host", 42, dispatcher.get(),
                                         [this](const std::string& n, const ControlMessage& m) {
                                           sent.emplace_back(n, m);
                                           return true;
                                         });
  }
  ~Fixture() {
    pool.Shutdown();
    dispatcher->Close([] {});
    uv_run(&loop, UV_RUN_DEFAULT);
    uv_loop_close(&loop);
  }

  // Runs the loop until `pred` holds or two seconds pass.
  template <typename Pred>
  bool RunUntil(Pred pred) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!pred() && std::chrono::steady_clock::now() < deadline) {
      uv_run(&loop, UV_RUN_NOWAIT);
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    return pred();
  }

  ControlMessage SpawnErpc(const Term& caller, const Term& req_id, const Term& ref,
                           const std::string& m, const std::string& f, Term args,
                           std::vector<Term> opts = {Term::Atom("monitor")}) {
    ControlMessage msg;
    msg.op = ControlOp::kSpawnRequest;
    msg.ref = req_id;
    msg.from = caller;
    msg.group_leader = caller;
    msg.mfa = Term::Tuple({Term::Atom("erpc"), Term::Atom("execute_call"), Term::Int(4)});
    msg.options = Term::List(std::move(opts));
    msg.message = Term::List({ref, Term::Atom(m), Term::Atom(f), std::move(args)});
    return msg;
  }
};

}  // namespace hb::rpc_fixture
