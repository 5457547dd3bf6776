// The config target's body, FuzzConfig (format in fuzz_bodies.h): the bytes
// as a JSON configuration file.
#include <cstddef>
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "fuzz/fuzz_bodies.h"

#ifdef __linux__
#include <sys/mman.h>
#include <unistd.h>
#endif

#include "config/config.h"
#include "daemon/check_config.h"
#include "fuzz/fuzz_support.h"

namespace hb::fuzz {
namespace {

using internal::Guarded;
using internal::kData;

// Every accepted value is inside its key's range.
void CheckRanges(const Options& o) {
  FUZZ_CHECK(o.net_ticktime_s >= 1 && o.net_ticktime_s <= 3600, "net_ticktime_s out of range");
  FUZZ_CHECK(o.handshake_timeout_ms >= 100 && o.handshake_timeout_ms <= 600000,
             "handshake_timeout_ms out of range");
  FUZZ_CHECK(o.workers <= 1024, "workers out of range");
  FUZZ_CHECK(o.metrics_port >= -1 && o.metrics_port <= 65535, "metrics_port out of range");
  FUZZ_CHECK(o.drain_timeout_s <= 3600, "drain_timeout_s out of range");
  FUZZ_CHECK(o.max_packet_bytes >= 1024 && o.max_packet_bytes <= (1ull << 31),
             "limits.max_packet_bytes out of range");
  FUZZ_CHECK(o.max_term_depth >= 4 && o.max_term_depth <= 10000,
             "limits.max_term_depth out of range");
  FUZZ_CHECK(o.max_term_elements >= 16 && o.max_term_elements <= (1ull << 32),
             "limits.max_term_elements out of range");
  FUZZ_CHECK(o.max_connections >= 1, "limits.max_connections out of range");
  FUZZ_CHECK(o.max_inflight_per_peer >= 1 && o.max_inflight_total >= 1,
             "limits.max_inflight_* out of range");
  for (const std::string& p : o.allowed_peers) FUZZ_CHECK(!p.empty(), "empty allowed_peers entry");
  for (const ModelConfig& m : o.models) {
    FUZZ_CHECK(!m.plugin.empty(), "model accepted without a plugin" + std::string(kData) + m.name);
    FUZZ_CHECK(m.instances >= 1 && m.instances <= 64, "instances out of range");
    FUZZ_CHECK(m.max_batch_size >= 1 && m.max_batch_size <= 65536, "max_batch_size out of range");
    FUZZ_CHECK(m.max_queue_delay_us <= 10000000, "max_queue_delay_us out of range");
    FUZZ_CHECK(m.max_queue >= 1 && m.max_queue <= 10000000, "max_queue out of range");
    FUZZ_CHECK(m.stuck_after_ms >= 10 && m.stuck_after_ms <= 3600000,
               "stuck_after_ms out of range");
    FUZZ_CHECK(!m.devices.empty(), "model without devices" + std::string(kData) + m.name);
    for (int d : m.devices) FUZZ_CHECK(d >= -1 && d <= 255, "device out of range");
    nlohmann::json opts = nlohmann::json::parse(m.options_json, nullptr, false);
    FUZZ_CHECK(opts.is_object(),
               "model options_json is not a JSON object" + std::string(kData) + m.options_json);
  }
}

// Accepted numbers are the numbers written in the file (not a wrapped-
// around 64-bit value that happens to land in range).
void CheckExactNumbers(const std::string& text, const Options& o) {
  auto exactly_in = [](const nlohmann::json& d, int64_t lo, int64_t hi) {
    if (d.is_number_unsigned()) return d.get<uint64_t>() <= static_cast<uint64_t>(hi);
    if (d.is_number_integer()) return d.get<int64_t>() >= lo && d.get<int64_t>() <= hi;
    return false;
  };
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_object() && doc.contains("metrics_port")) {
    FUZZ_CHECK(exactly_in(doc["metrics_port"], -1, 65535),
               "a metrics_port outside -1..65535 was accepted (as " +
                   std::to_string(o.metrics_port) + ")" + kData + doc["metrics_port"].dump());
  }
  if (!doc.is_object() || !doc.contains("models") || !doc["models"].is_object()) return;
  for (const ModelConfig& m : o.models) {
    const nlohmann::json& mj = doc["models"][m.name];
    if (!mj.is_object() || !mj.contains("devices")) continue;
    for (const auto& d : mj["devices"]) {
      FUZZ_CHECK(exactly_in(d, -1, 255), "a device ordinal outside -1..255 was accepted (as " +
                                             std::to_string(m.devices.front()) + ", ...)" + kData +
                                             "device " + d.dump() + " of model " + m.name);
    }
  }
}

// The same text through ParseOptions (--config), which also cross-checks
// routes against models. One memfd, rewritten per input.
void CheckThroughCommandLine(const std::string& text) {
#ifdef __linux__
  static int fd = memfd_create("hb_fuzz_config", 0);
  if (fd < 0) return;
  if (ftruncate(fd, 0) != 0) return;
  if (pwrite(fd, text.data(), text.size(), 0) != static_cast<ssize_t>(text.size())) return;
  std::string path = "/proc/self/fd/" + std::to_string(fd);
  std::string a0 = "hornbeamd", a1 = "--config";
  char* argv[] = {a0.data(), a1.data(), path.data(), nullptr};
  Result<Options> parsed = ParseOptions(3, argv);
  if (!parsed.ok() || parsed->models.empty()) return;
  for (const auto& [module, model] : parsed->routes) {
    bool found = false;
    for (const ModelConfig& m : parsed->models) found = found || m.name == model;
    FUZZ_CHECK(found, "route to a model that does not exist" + std::string(kData) + module +
                          " -> " + model);
  }
#endif
}

void FuzzConfigImpl(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  Options o;
  Status s = ApplyConfigJson(text, &o);
  if (!s.ok()) {
    FUZZ_CHECK(!s.message().empty(), "config error without a message");
    return;
  }
  CheckRanges(o);
  CheckExactNumbers(text, o);
  Options with_defaults = o;
  (void)ApplyDefaultModels(&with_defaults);
  FUZZ_CHECK(!with_defaults.models.empty(), "ApplyDefaultModels left no model");
  // What --check-config prints and checks, for any accepted configuration.
  std::string effective = EffectiveConfigJson(o, "/nonexistent/hornbeamd-fuzz");
  FUZZ_CHECK(nlohmann::json::parse(effective, nullptr, false).is_object(),
             "EffectiveConfigJson is not a JSON object" + kData + effective);
  CheckConfig(o, "/nonexistent/hornbeamd-fuzz");
  CheckThroughCommandLine(text);
}
}  // namespace

void FuzzConfig(const uint8_t* data, size_t size) {
  Guarded([&] { FuzzConfigImpl(data, size); });
}

}  // namespace hb::fuzz
