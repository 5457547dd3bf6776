#include "daemon/health_service.h"

#include <chrono>
#include <thread>

#include "daemon/model_terms.h"

namespace hb {
namespace {

Term HealthMap(const NodeStatus& s) {
  std::vector<std::string> peers = s.peers();
  std::vector<Term> peer_terms;
  peer_terms.reserve(peers.size());
  for (const std::string& p : peers) peer_terms.push_back(Term::Atom(p));
  std::vector<std::pair<Term, Term>> tls;
  for (const PeerTlsSummary& p : s.peer_tls ? s.peer_tls() : std::vector<PeerTlsSummary>()) {
    tls.emplace_back(Term::Atom(p.node),
                     Term::Map({{Term::Atom("version"), Term::Binary(p.version)},
                                {Term::Atom("cipher"), Term::Binary(p.cipher)}}));
  }
  bool draining = s.draining && s.draining();
  RegistrySnapshot models = s.models ? s.models(SnapshotDetail::kLoad) : RegistrySnapshot();
  bool degraded = AnyModelDegraded(models);
  return Term::Map({
      {Term::Atom("status"), Term::Atom(draining ? "draining" : degraded ? "degraded" : "ok")},
      {Term::Atom("models"), ModelsHealthTerm(models)},
      {Term::Atom("devices"), DevicesTerm(models.devices, std::chrono::steady_clock::now())},
      {Term::Atom("node"), Term::Binary(s.node)},
      {Term::Atom("version"), Term::Binary(s.version)},
      {Term::Atom("uptime_s"), Term::Int(static_cast<int64_t>((s.now_ms() - s.started_ms) / 1000))},
      {Term::Atom("connections"), Term::Int(static_cast<int64_t>(peers.size()))},
      {Term::Atom("peers"), Term::List(std::move(peer_terms))},
      {Term::Atom("peer_tls"), Term::Map(std::move(tls))},
      {Term::Atom("inflight"), Term::Int(static_cast<int64_t>(s.inflight()))},
      {Term::Atom("processes"), Term::Int(s.processes ? static_cast<int64_t>(s.processes()) : 0)},
      {Term::Atom("reloads"), Term::Int(s.reloads ? static_cast<int64_t>(s.reloads()) : 0)},
      {Term::Atom("cluster"), s.cluster ? s.cluster() : Term::Atom("none")},
  });
}

}  // namespace

void AddHealthRoutes(Router* router, const NodeStatus* status, const Metrics* metrics) {
  Route ping;
  ping.execution = Route::Execution::kInline;
  ping.run = [](const CallRequest&) { return CallOutcome::Return(Term::Atom("pong")); };
  router->Add("health", "ping", 0, ping);

  Route check;
  check.execution = Route::Execution::kInline;
  check.run = [status](const CallRequest&) { return CallOutcome::Return(HealthMap(*status)); };
  router->Add("health", "check", 0, check);

  Route sleep;
  sleep.execution = Route::Execution::kWorker;
  sleep.run = [](const CallRequest& req) {
    const Term& ms = req.args[0];
    if (!ms.is_int() || ms.int_value() < 0 || ms.int_value() > 60000) {
      return CallOutcome::BadArg("health", "sleep", req.args);
    }
    // Sleep in slices so a cancelled call frees its worker promptly; as a
    // job it reports progress (the time slept) every 100 ms.
    auto start = std::chrono::steady_clock::now();
    auto total = std::chrono::milliseconds(ms.int_value());
    auto next_report = start;
    while (std::chrono::steady_clock::now() < start + total) {
      if (req.cancelled->load(std::memory_order_acquire)) break;
      auto now = std::chrono::steady_clock::now();
      if (req.progress && now >= next_report) {
        double done = std::chrono::duration<double>(now - start) / total;
        req.progress(done, "sleeping");
        next_report = now + std::chrono::milliseconds(100);
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return CallOutcome::Return(Term::Atom("ok"));
  };
  router->Add("health", "sleep", 1, sleep);

  Route get_all;
  get_all.execution = Route::Execution::kInline;
  get_all.run = [status, metrics](const CallRequest&) {
    Term t = metrics->ToTerm(status->inflight());
    if (!status->models) return CallOutcome::Return(t);
    std::vector<std::pair<Term, Term>> pairs;
    for (size_t i = 0; i + 1 < t.size(); i += 2) pairs.emplace_back(t[i], t[i + 1]);
    pairs.emplace_back(Term::Atom("models"),
                       ModelsMetricsTerm(status->models(SnapshotDetail::kStats)));
    if (status->wire_metrics) pairs.emplace_back(Term::Atom("wire"), status->wire_metrics());
    return CallOutcome::Return(Term::Map(std::move(pairs)));
  };
  router->Add("metrics", "get_all", 0, get_all);
}

}  // namespace hb
