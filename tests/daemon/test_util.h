// Helpers shared by the daemon unit tests: a gate that holds a thread until
// the test opens it, and a batcher on the test plugin. Waiting with a
// deadline is in tests/ei_bridge/loop_util.h.
#pragma once

#include <catch2/catch.hpp>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "daemon/batcher.h"
#include "daemon/plugin.h"
#include "tests/ei_bridge/loop_util.h"

namespace hb::testing {

// A one-shot latch: Wait() blocks until Open() (or the timeout: then it
// returns false).
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait(std::chrono::milliseconds timeout = kPatience) {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, timeout, [this] { return open_; });
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
};

// A batcher of model "m" of the plugin at `so`, with `instances` instances.
inline std::shared_ptr<Batcher> MakeBatcher(const std::string& so, BatcherOptions o,
                                            int instances = 1) {
  auto plugin = Plugin::Load(so);
  REQUIRE(plugin.ok());
  auto model = ModelHandle::Load(*plugin, "m", "{}");
  REQUIRE(model.ok());
  std::vector<std::unique_ptr<InstanceHandle>> insts;
  for (int i = 0; i < instances; ++i) {
    auto inst = InstanceHandle::Create(*model, -1);
    REQUIRE(inst.ok());
    insts.push_back(std::move(inst).value());
  }
  return std::make_shared<Batcher>("m", o, std::move(insts));
}

inline const std::string& TestPlugin() {
  static const std::string path = std::string(HB_TEST_PLUGIN_DIR) + "/testplugin_good.so";
  return path;
}

}  // namespace hb::testing
