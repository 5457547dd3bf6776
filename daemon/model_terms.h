// The Erlang terms health:check and metrics:get_all give for models and
// devices, rendered from a RegistrySnapshot.
//
// Thread: any (a snapshot is plain values).
#pragma once

#include <chrono>

#include "daemon/model_snapshot.h"
#include "ei_bridge/term.h"

namespace hb {

// [#{name, status, plugin, version, device, instances, output_dim,
//    queue_depth, busy_instances, error}], one per configured model.
Term ModelsHealthTerm(const RegistrySnapshot& snapshot);

// A model's `blas` map (daemon/blas_tuning.h): #{coretype (the kernels
// run), requested (OPENBLAS_CORETYPE set, <<>> = the library's own), gflops,
// threads, source => auto | pinned | library | fallback, cached, warning}.
// health:check shows it for CPU models whose plugin links OpenBLAS; ml:info
// can use the same.
struct BlasChoice;
Term BlasTerm(const BlasChoice& choice);

// #{Model => #{requests, texts, batches, errors_by_reason, bytes_in, ...,
// batch_size, queue_us, execute_us}} for the models that serve. Needs a
// SnapshotDetail::kStats snapshot (models without stats are left out).
Term ModelsMetricsTerm(const RegistrySnapshot& snapshot);

// [#{id => <<"cuda:0">>, kind, ordinal, name, uuid, memory_used_bytes,
//    memory_total_bytes, plugins, age_ms}]; [] without devices. `age_ms` is
// measured from `now`.
Term DevicesTerm(const DeviceMonitor::Snapshot& devices, std::chrono::steady_clock::time_point now);

// Whether any model's status is other than ok (health:check's `degraded`).
bool AnyModelDegraded(const RegistrySnapshot& snapshot);

}  // namespace hb
