// DeviceMonitor: the accelerators that loaded plugins report (ABI 1.1
// device_info), sampled on a thread of its own.
//
// health:check and the Prometheus scrape run on the loop thread, which must
// never wait on a plugin: a device query is a driver call that can take
// milliseconds, and a broken plugin can hang in it. So the monitor asks
// every plugin at a fixed interval (and at once when the set of plugins
// changes) and the loop reads the last snapshot, whose age tells how fresh it
// is. A plugin that hangs in device_info stalls only this thread; its devices
// then show a growing age.
//
// The same device reported by two plugins (same uuid, or same kind and
// ordinal when no uuid is given) appears once, with both plugins named.
//
// Plugins are held weakly: the monitor never keeps an unloaded model's
// plugin alive. While it samples it holds a strong reference, so device_info
// never runs concurrently with that plugin's fini.
//
// Thread: SetPlugins and Latest from any thread; sampling on the monitor's.
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "daemon/plugin.h"

namespace hb {

class DeviceMonitor {
 public:
  struct Device {
    DeviceInfo info;
    std::vector<std::string> plugins;  // names of the plugins reporting it
  };
  struct Snapshot {
    std::vector<Device> devices;
    std::vector<std::string> errors;              // one per plugin whose query failed
    uint64_t samples = 0;                         // completed sampling rounds
    std::chrono::steady_clock::time_point taken;  // of the last round
  };

  explicit DeviceMonitor(std::chrono::milliseconds interval);
  ~DeviceMonitor();  // stops the thread (waits for a query in progress)
  DeviceMonitor(const DeviceMonitor&) = delete;
  DeviceMonitor& operator=(const DeviceMonitor&) = delete;

  // The plugins to ask from now on; triggers a sample at once.
  void SetPlugins(std::vector<std::weak_ptr<Plugin>> plugins);
  Snapshot Latest() const;

 private:
  void Run();
  void Sample(const std::vector<std::weak_ptr<Plugin>>& plugins);

  const std::chrono::milliseconds interval_;
  mutable Mutex mu_;
  CondVar cv_;
  bool stop_ GUARDED_BY(mu_) = false;
  bool changed_ GUARDED_BY(mu_) = false;
  std::vector<std::weak_ptr<Plugin>> plugins_ GUARDED_BY(mu_);
  Snapshot latest_ GUARDED_BY(mu_);
  std::vector<std::string> last_errors_;        // monitor thread only
  std::thread thread_;
};

}  // namespace hb
