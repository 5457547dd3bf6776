// Built-in services: health:ping/0, health:check/0, health:sleep/1 and
// metrics:get_all/0.
//
// health:sleep(Ms) is a diagnostic: it occupies a worker for Ms milliseconds
// (0..60000) and returns ok, so operators and tests can see timeouts and
// cancellation without a model. Queued sleeps whose callers left never run.
// Run as a job (jobs:submit(health, sleep, [Ms])) it reports the time slept
// as progress every 100 ms.
//
// Thread: the routes run on the loop thread (ping, check, get_all read state
// that only the loop thread writes) except sleep, which runs on a worker.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "daemon/metrics.h"
#include "daemon/model_snapshot.h"
#include "daemon/router.h"

namespace hb {

struct PeerTlsSummary {
  std::string node;
  std::string version;
  std::string cipher;
};

struct NodeStatus {
  std::string node;
  std::string version;
  uint64_t started_ms = 0;                               // uv_now() at start
  std::function<uint64_t()> now_ms;                      // loop clock
  std::function<std::vector<std::string>()> peers;       // connected nodes
  std::function<uint64_t()> inflight;                    // calls in flight
  std::function<bool()> draining;
  // The models and devices (ModelRegistry::Snapshot): health:check asks
  // for kLoad, metrics:get_all for kStats. Unset: no models, no devices.
  std::function<RegistrySnapshot(SnapshotDetail)> models;
  std::function<uint64_t()> reloads;     // completed model reloads
  std::function<uint64_t()> processes;   // live virtual processes
  std::function<Term()> wire_metrics;    // connection-level counters
  std::function<Term()> cluster;         // visibility, global, pg, model processes
  // TLS peers' sessions: peer_tls => #{Node => #{version, cipher}}; unset
  // or empty on a TCP node.
  std::function<std::vector<PeerTlsSummary>()> peer_tls;
};

void AddHealthRoutes(Router* router, const NodeStatus* status, const Metrics* metrics);

}  // namespace hb
