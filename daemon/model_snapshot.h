// ModelSnapshot: what the model registry knows of each configured model at
// one moment, as plain values. The services render it: health:check and
// metrics:get_all as Erlang terms (model_terms.h), the scrape as Prometheus
// text (prometheus.h). Nothing in a snapshot refers back to the registry, so
// it may be kept, copied and read on any thread.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/options.h"
#include "daemon/batcher.h"
#include "daemon/device_monitor.h"
#include "daemon/plugin.h"
#include "daemon/result_cache.h"

namespace hb {

enum class ModelStatus {
  kLoading,   // configured, not built yet (Load builds synchronously, so
              // snapshots show it only if that ever changes)
  kOk,        // serving
  kDegraded,  // serving, but an execute has run past stuck_after_ms, or
              // (isolation "process") a child crashed within restart_window_ms
  kFailed,    // did not load, or crashed more than max_restarts times in
              // the window; `error` says why
};

// The name health:check, the scrape and the logs use for a status.
constexpr const char* ModelStatusName(ModelStatus s) {
  switch (s) {
    case ModelStatus::kLoading:
      return "loading";
    case ModelStatus::kOk:
      return "ok";
    case ModelStatus::kDegraded:
      return "degraded";
    case ModelStatus::kFailed:
      return "failed";
  }
  return "failed";
}

// How much of each batcher a snapshot copies.
enum class SnapshotDetail {
  kLoad,   // queue depth and busy instances only: cheap, for health:check
  kStats,  // also every counter and histogram (~46 KB a model), for metrics
};

struct ModelSnapshot {
  std::string name;
  ModelStatus status = ModelStatus::kLoading;
  ModelConfig config;          // config.plugin is the plugin's file stem
  std::string plugin_name;     // as the plugin names itself; empty unless loaded
  std::string plugin_version;  // empty unless loaded
  ModelCaps caps;
  std::string error;     // why it failed; empty otherwise
  bool serving = false;  // has a batcher (a failed model has none)
  BatcherLoad load;      // zero when not serving
  // With SnapshotDetail::kStats and serving; null otherwise.
  std::shared_ptr<const BatcherStats> stats;
  CacheStats cache;  // zero when not serving
  // isolation "process": child restarts and crashes so far, the last cause.
  uint64_t restarts = 0;
  uint64_t crashes = 0;
  std::string last_crash;
};

// Configured devices as the logs and health:check show them: "cpu,gpu0".
inline std::string DevicesText(const std::vector<int>& devices) {
  std::string s;
  for (int d : devices) {
    s += (s.empty() ? "" : ",") + (d < 0 ? std::string("cpu") : "gpu" + std::to_string(d));
  }
  return s;
}

struct RegistrySnapshot {
  std::vector<ModelSnapshot> models;  // by name
  DeviceMonitor::Snapshot devices;    // as plugins last reported them
};

}  // namespace hb
