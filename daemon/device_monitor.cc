#include "daemon/device_monitor.h"

#include "base/catch_all.h"
#include "base/log.h"

namespace hb {
namespace {

std::string KeyOf(const DeviceInfo& d) {
  return d.uuid.empty() ? d.kind + ":" + std::to_string(d.ordinal) : d.uuid;
}

}  // namespace

DeviceMonitor::DeviceMonitor(std::chrono::milliseconds interval)
    : interval_(interval), thread_([this] { Run(); }) {}

DeviceMonitor::~DeviceMonitor() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  cv_.SignalAll();
  thread_.join();
}

void DeviceMonitor::SetPlugins(std::vector<std::weak_ptr<Plugin>> plugins) {
  {
    MutexLock lock(&mu_);
    plugins_ = std::move(plugins);
    changed_ = true;
  }
  cv_.SignalAll();
}

DeviceMonitor::Snapshot DeviceMonitor::Latest() const {
  MutexLock lock(&mu_);
  return latest_;
}

void DeviceMonitor::Run() {
  for (;;) {
    std::vector<std::weak_ptr<Plugin>> plugins;
    {
      MutexLock lock(&mu_);
      auto deadline = std::chrono::steady_clock::now() + interval_;
      while (!stop_ && !changed_ && cv_.WaitUntil(&mu_, deadline)) {
      }
      if (stop_) return;
      changed_ = false;
      plugins = plugins_;
    }
    // Outside the lock: a plugin's query may take long (a driver call).
    CatchAll("device monitor", [&] { Sample(plugins); });
  }
}

void DeviceMonitor::Sample(const std::vector<std::weak_ptr<Plugin>>& plugins) {
  Snapshot s;
  for (const std::weak_ptr<Plugin>& weak : plugins) {
    std::shared_ptr<Plugin> p = weak.lock();
    if (!p || !p->reports_devices()) continue;
    Result<std::vector<DeviceInfo>> r = p->QueryDevices();
    if (!r.ok()) {
      s.errors.push_back(r.status().message());
      continue;
    }
    for (DeviceInfo& d : *r) {
      bool merged = false;
      for (Device& known : s.devices) {
        if (KeyOf(known.info) == KeyOf(d)) {
          known.plugins.push_back(p->name());
          merged = true;
          break;
        }
      }
      if (!merged) s.devices.push_back({std::move(d), {p->name()}});
    }
  }
  // Log a failing query when it starts failing (or fails differently), not
  // on every round.
  if (s.errors != last_errors_) {
    for (const std::string& e : s.errors) HB_LOG_WARN("device query: " + e);
    last_errors_ = s.errors;
  }
  s.taken = std::chrono::steady_clock::now();
  MutexLock lock(&mu_);
  s.samples = latest_.samples + 1;
  latest_ = std::move(s);
}

}  // namespace hb
