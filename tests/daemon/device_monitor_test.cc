// Device reports (ABI 1.1 device_info): what the host reads from a plugin,
// what it refuses, and the monitor thread that keeps the loop from waiting.
#include "daemon/device_monitor.h"

#include <catch2/catch.hpp>
#include <chrono>
#include <thread>

#include "daemon/plugin.h"

namespace hb {
namespace {

const std::string kTestDir = HB_TEST_PLUGIN_DIR;
const std::string kPluginDir = HB_PLUGIN_DIR;
using std::chrono::milliseconds;

std::shared_ptr<Plugin> Load(const std::string& so) {
  auto p = Plugin::Load(so);
  REQUIRE(p.ok());
  return *p;
}

// A model "m" of `plugin` loaded with these options (the test plugin's
// fake_devices / device_sleep_ms steer its device report).
std::shared_ptr<ModelHandle> LoadModel(const std::shared_ptr<Plugin>& plugin, const char* options) {
  auto model = ModelHandle::Load(plugin, "m", options);
  REQUIRE(model.ok());
  return *model;
}

template <typename Pred>
bool WaitFor(Pred pred, int ms = 5000) {
  auto deadline = std::chrono::steady_clock::now() + milliseconds(ms);
  while (!pred() && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(milliseconds(2));
  }
  return pred();
}

TEST_CASE("a 1.1 plugin reports its devices and their memory", "[plugin][devices]") {
  auto plugin = Load(kTestDir + "/testplugin_good.so");
  REQUIRE(plugin->reports_devices());
  auto model = LoadModel(plugin, R"({"fake_devices": 2})");
  auto before = plugin->QueryDevices();
  REQUIRE(before.ok());
  REQUIRE(before->size() == 2);
  CHECK((*before)[0].kind == "cuda");
  CHECK((*before)[0].ordinal == 0);
  CHECK((*before)[1].ordinal == 1);
  CHECK((*before)[1].name == "Test GPU 1");
  CHECK((*before)[1].uuid == "GPU-test-1");
  CHECK((*before)[0].memory_total_bytes == (16ull << 30));
  CHECK((*before)[0].memory_used_bytes == (1ull << 30));
  // The figures are live: an instance on the device shows in its memory.
  auto inst = InstanceHandle::Create(model, 0);
  REQUIRE(inst.ok());
  auto after = plugin->QueryDevices();
  REQUIRE(after.ok());
  CHECK((*after)[0].memory_used_bytes == (1ull << 30) + (256ull << 20));
}

TEST_CASE("a 1.0 plugin's table is never read past its end", "[plugin][devices]") {
  // testplugin_v10 claims minor 0 with a table that ends before device_info;
  // the memory behind that end happens to hold a working function, which a
  // host reading past the table would call and report.
  auto plugin = Load(kTestDir + "/testplugin_v10.so");
  CHECK(!plugin->reports_devices());
  auto model = LoadModel(plugin, R"({"fake_devices": 2})");
  auto devices = plugin->QueryDevices();
  REQUIRE(devices.ok());
  CHECK(devices->empty());
}

TEST_CASE("plugins without device_info report nothing", "[plugin][devices]") {
  auto plugin = Load(kPluginDir + "/hashembed.so");
  CHECK(!plugin->reports_devices());
  auto devices = plugin->QueryDevices();
  REQUIRE(devices.ok());
  CHECK(devices->empty());
}

TEST_CASE("a plugin overstating its device count is refused", "[plugin][devices]") {
  auto plugin = Load(kTestDir + "/testplugin_good.so");
  auto model = LoadModel(plugin, R"({"fake_devices": 40})");
  auto devices = plugin->QueryDevices();
  REQUIRE(!devices.ok());
  CHECK(devices.status().message().find("claims 40 devices in a 16-entry array") !=
        std::string::npos);
}

TEST_CASE("the monitor merges a device two plugins report", "[devices]") {
  auto a = Load(kTestDir + "/testplugin_good.so");
  auto b = Load(kTestDir + "/testplugin_good.so");  // a second private copy
  auto ma = LoadModel(a, R"({"fake_devices": 2})");
  auto mb = LoadModel(b, R"({"fake_devices": 1})");
  DeviceMonitor monitor(milliseconds(50));
  monitor.SetPlugins({a, b});
  REQUIRE(WaitFor([&] { return monitor.Latest().samples >= 1; }));
  DeviceMonitor::Snapshot s = monitor.Latest();
  REQUIRE(s.devices.size() == 2);
  CHECK(s.devices[0].plugins.size() == 2);  // GPU-test-0 from both
  CHECK(s.devices[1].plugins.size() == 1);
  CHECK(s.errors.empty());
}

TEST_CASE("the monitor keeps sampling and follows memory changes", "[devices]") {
  auto plugin = Load(kTestDir + "/testplugin_good.so");
  auto model = LoadModel(plugin, R"({"fake_devices": 1})");
  DeviceMonitor monitor(milliseconds(20));
  monitor.SetPlugins({plugin});
  REQUIRE(WaitFor([&] { return monitor.Latest().samples >= 1; }));
  CHECK(monitor.Latest().devices.at(0).info.memory_used_bytes == (1ull << 30));
  auto inst = InstanceHandle::Create(model, 0);
  REQUIRE(inst.ok());
  CHECK(WaitFor([&] {
    auto s = monitor.Latest();
    return !s.devices.empty() &&
           s.devices[0].info.memory_used_bytes == (1ull << 30) + (256ull << 20);
  }));
}

TEST_CASE("a failing device query is reported, not fatal", "[devices]") {
  auto plugin = Load(kTestDir + "/testplugin_good.so");
  auto model = LoadModel(plugin, R"({"fake_devices": 99})");
  DeviceMonitor monitor(milliseconds(50));
  monitor.SetPlugins({plugin});
  REQUIRE(WaitFor([&] { return monitor.Latest().samples >= 1; }));
  DeviceMonitor::Snapshot s = monitor.Latest();
  CHECK(s.devices.empty());
  REQUIRE(s.errors.size() == 1);
  CHECK(s.errors[0].find("claims 99 devices") != std::string::npos);
}

TEST_CASE("a hanging device query never blocks readers", "[devices]") {
  auto plugin = Load(kTestDir + "/testplugin_good.so");
  auto model = LoadModel(plugin, R"({"fake_devices": 1, "device_sleep_ms": 1500})");
  DeviceMonitor monitor(milliseconds(50));
  monitor.SetPlugins({plugin});
  std::this_thread::sleep_for(milliseconds(100));  // the query is now sleeping
  // Latest() answers from the last snapshot while the query is still asleep.
  DeviceMonitor::Snapshot s = monitor.Latest();
  CHECK(s.samples == 0);
  CHECK(s.devices.empty());
  REQUIRE(WaitFor([&] { return monitor.Latest().samples >= 1; }));
  CHECK(monitor.Latest().devices.size() == 1);
}

TEST_CASE("the monitor does not keep an unloaded plugin alive", "[devices]") {
  auto plugin = Load(kTestDir + "/testplugin_good.so");
  std::weak_ptr<Plugin> weak = plugin;
  DeviceMonitor monitor(milliseconds(20));
  monitor.SetPlugins({plugin});
  REQUIRE(WaitFor([&] { return monitor.Latest().samples >= 2; }));
  plugin.reset();
  CHECK(WaitFor([&] { return weak.expired(); }));
  uint64_t n = monitor.Latest().samples;
  CHECK(WaitFor([&] { return monitor.Latest().samples > n; }));  // still running, nothing to ask
  CHECK(monitor.Latest().devices.empty());
}

}  // namespace
}  // namespace hb
