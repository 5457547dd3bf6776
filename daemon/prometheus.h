// Prometheus text exposition (format 0.0.4) of hornbeamd's metrics, with
// names in the style of Triton and text-embeddings-inference:
// hornbeam_requests_total, hornbeam_request_duration_us, ...
//
// Thread: the loop thread (reads loop-thread state).
#pragma once

#include <cstdint>
#include <string>

#include "daemon/metrics.h"
#include "daemon/model_registry.h"
#include "ei_bridge/dist_node.h"

namespace hb {

struct PrometheusInputs {
  const Metrics* metrics = nullptr;
  const ModelRegistry* models = nullptr;
  const DistStats* dist = nullptr;
  uint64_t inflight = 0;
  uint64_t connections = 0;
  uint64_t uptime_s = 0;
  bool draining = false;
};

std::string RenderPrometheus(const PrometheusInputs& in);

// Escapes a label value: backslash, double quote and newline.
std::string EscapeLabel(const std::string& v);

}  // namespace hb
