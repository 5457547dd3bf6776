// Prometheus text exposition (format 0.0.4) of hornbeamd's metrics, by
// Prometheus's own conventions: counters end in _total, units are in the
// name (_seconds, _bytes), and durations and batch sizes are histograms
// with fixed buckets (metrics.h: kLatencyBucketsUs, kBatchSizeBuckets), so
// that histogram_quantile over the sum of many daemons' buckets answers for
// a whole cluster. metrics:get_all keeps its per-node quantiles in us.
//
// Families: hornbeam_build_info{version}, hornbeam_requests_total,
// hornbeam_request_duration_seconds{module,function}, ...,
// hornbeam_model_queue_duration_seconds{model}, hornbeam_model_batch_size,
// hornbeam_device_memory_used_bytes{device,name,uuid}; README.md lists them.
//
// Thread: any; the inputs must not change while it renders (the loop thread
// owns Metrics and DistStats, so that is where the daemon calls it).
#pragma once

#include <cstdint>
#include <string>

#include "daemon/metrics.h"
#include "daemon/model_snapshot.h"
#include "ei_bridge/dist_node.h"

namespace hb {

struct PrometheusInputs {
  std::string version;  // hornbeam_build_info{version}
  const Metrics* metrics = nullptr;
  const RegistrySnapshot* models = nullptr;  // a SnapshotDetail::kStats one
  const DistStats* dist = nullptr;
  uint64_t inflight = 0;
  uint64_t connections = 0;
  uint64_t uptime_s = 0;
  bool draining = false;
};

std::string RenderPrometheus(const PrometheusInputs& in);

// Escapes a label value: backslash, double quote and newline.
std::string EscapeLabel(const std::string& v);

// A float as the Go and Python clients write it (Go's 'g' format, shortest
// round trip): "5e-05", "0.0001", "2.5", "60", "1e+06", "+Inf", "NaN". The
// same bound must always be the same `le` string, or sums across daemons
// would not line up.
std::string FormatFloat(double v);

}  // namespace hb
