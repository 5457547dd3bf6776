// IsolationHealth and the whole-model side of isolation "process": starting
// a model's workers and reading the devices they publish (see
// isolated_instance.h).
#include <cstring>

#include "daemon/isolated_instance.h"

namespace hb {
namespace {

using Clock = std::chrono::steady_clock;

}  // namespace

// ---- IsolationHealth

IsolationHealth::IsolationHealth(const ModelConfig& config)
    : max_restarts_(config.max_restarts), window_(config.restart_window_ms) {}

void IsolationHealth::Expire(Clock::time_point now) const {
  while (!recent_.empty() && now - recent_.front() > window_) recent_.pop_front();
}

bool IsolationHealth::RecordCrash(const std::string& cause) {
  MutexLock lock(&mu_);
  auto now = Clock::now();
  Expire(now);
  recent_.push_back(now);
  ++crashes_;
  last_cause_ = cause;
  if (recent_.size() > max_restarts_) failed_ = true;
  return failed_;
}

void IsolationHealth::RecordRestart() {
  MutexLock lock(&mu_);
  ++restarts_;
}

IsolationHealth::View IsolationHealth::Get() const {
  MutexLock lock(&mu_);
  Expire(Clock::now());
  View v;
  v.restarts = restarts_;
  v.crashes = crashes_;
  v.recent_crashes = static_cast<uint32_t>(recent_.size());
  v.last_cause = last_cause_;
  v.failed = failed_;
  return v;
}

bool IsolationHealth::failed() const {
  MutexLock lock(&mu_);
  return failed_;
}

Result<std::vector<DeviceInfo>> ReadDeviceBoards(
    const std::vector<std::shared_ptr<SharedRing>>& boards) {
  std::vector<DeviceInfo> out;
  for (const std::shared_ptr<SharedRing>& ring : boards) {
    auto* b = reinterpret_cast<RingDeviceBoard*>(
        ring->At(SharedRing::kPayloadOffset, sizeof(RingDeviceBoard)));
    if (b == nullptr) continue;
    // A copy between two equal even sequence numbers is one the worker
    // did not touch meanwhile; a worker that never lets go is skipped.
    RingDeviceBoard copy;
    bool stable = false;
    for (int tries = 0; tries < 100 && !stable; ++tries) {
      uint32_t before = b->seq.load(std::memory_order_acquire);
      if (before % 2 != 0) continue;
      memcpy(static_cast<void*>(&copy), b, sizeof(copy));
      std::atomic_thread_fence(std::memory_order_acquire);
      stable = b->seq.load(std::memory_order_relaxed) == before;
    }
    if (!stable) continue;
    if (copy.status != HB_OK) return Unavailable(CharArrayText(copy.error));
    for (uint32_t i = 0; i < copy.count && i < RingDeviceBoard::kMaxDevices; ++i) {
      const hb_device_info& d = copy.devices[i];
      DeviceInfo info;
      info.kind = CharArrayText(d.kind);
      info.ordinal = d.ordinal;
      info.name = CharArrayText(d.name);
      info.uuid = CharArrayText(d.uuid);
      info.memory_total_bytes = d.memory_total_bytes;
      info.memory_used_bytes = d.memory_used_bytes;
      out.push_back(std::move(info));
    }
  }
  return out;
}

Result<IsolatedModel> StartIsolatedModel(const ModelConfig& mc, const std::string& plugin_path) {
  const std::string worker = FindWorker();
  if (worker.empty()) {
    return NotFound("model '" + mc.name + "': isolation \"process\" needs " + "hornbeamd-worker" +
                    " (beside the daemon, in PREFIX/lib/hornbeamd, or $HB_WORKER)");
  }
  IsolatedModel m;
  m.health = std::make_shared<IsolationHealth>(mc);
  std::vector<std::unique_ptr<IsolatedInstance>> started;
  std::vector<std::shared_ptr<SharedRing>> boards;
  for (uint32_t i = 0; i < mc.instances; ++i) {
    WorkerHello hello;
    Result<std::unique_ptr<IsolatedInstance>> inst = IsolatedInstance::Start(
        worker, plugin_path, mc, i, mc.devices[i % mc.devices.size()], m.health, &hello);
    if (!inst.ok()) return inst.status();
    if (i == 0) m.hello = hello;
    boards.push_back((*inst)->board());
    started.push_back(std::move(inst).value());
  }
  m.plugin = Plugin::Remote(m.hello.plugin_name, m.hello.plugin_version,
                            [boards] { return ReadDeviceBoards(boards); });
  std::shared_ptr<ModelHandle> model = ModelHandle::Detached(m.hello.caps, m.plugin);
  for (uint32_t i = 0; i < mc.instances; ++i) {
    m.instances.push_back(
        InstanceHandle::Remote(model, std::move(started[i]), mc.devices[i % mc.devices.size()]));
  }
  return m;
}

}  // namespace hb
