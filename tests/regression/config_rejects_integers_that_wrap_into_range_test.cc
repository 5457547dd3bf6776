// Guards: configuration integers above INT64_MAX. ParseModel (models.*.devices)
// and ApplyConfigJson (metrics_port) range-checked d.get<int64_t>(), which
// wraps an unsigned JSON number: 18446744073709551615 became -1, so that
// value was silently accepted as "CPU" / "metrics off" instead of being
// reported. Found by config_fuzzer's invariant (accepted numbers are the
// numbers written in the file); the device input was written by hand from
// the review that motivated the invariant, the metrics_port one by analogy.
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "config/config.h"
#include "tests/regression/regression_util.h"

namespace hb {
namespace {

std::string Devices(const char* list) {
  return std::string("{\"models\": {\"m\": {\"plugin\": \"x\", \"devices\": [") + list + "]}}}";
}

TEST_CASE("a device ordinal of 2^64-1 is refused, not taken as -1", "[regression][options]") {
  const std::string in = regression::ReadInput("config_device_2_64_minus_1.json");
  Options o;
  Status s = ApplyConfigJson(in, &o);
  CHECK_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kInvalidArgument);

  for (const char* bad : {"9223372036854775808", "18446744073709551615", "-2", "256", "1.0"}) {
    Options p;
    INFO(Devices(bad));
    CHECK_FALSE(ApplyConfigJson(Devices(bad), &p).ok());
  }
  for (const char* good : {"-1", "0", "255"}) {
    Options p;
    INFO(Devices(good));
    REQUIRE(ApplyConfigJson(Devices(good), &p).ok());
    REQUIRE(p.models.size() == 1);
    CHECK(p.models[0].devices == std::vector<int>{std::stoi(good)});
  }

  regression::ThrowOnFuzzFailure guard;
  REQUIRE_NOTHROW(fuzz::FuzzConfig(regression::Bytes(in), in.size()));
}

TEST_CASE("a metrics_port of 2^64-1 is refused, not taken as -1 (off)", "[regression][options]") {
  const std::string in = regression::ReadInput("config_metrics_port_2_64_minus_1.json");
  Options o;
  Status s = ApplyConfigJson(in, &o);
  CHECK_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kInvalidArgument);

  for (const char* good : {"-1", "0", "9100", "65535"}) {
    Options p;
    std::string doc = std::string("{\"metrics_port\": ") + good + "}";
    INFO(doc);
    REQUIRE(ApplyConfigJson(doc, &p).ok());
    CHECK(p.metrics_port == std::stoi(good));
  }
  for (const char* bad : {"65536", "-2", "9223372036854775808"}) {
    Options p;
    std::string doc = std::string("{\"metrics_port\": ") + bad + "}";
    INFO(doc);
    CHECK_FALSE(ApplyConfigJson(doc, &p).ok());
  }

  regression::ThrowOnFuzzFailure guard;
  REQUIRE_NOTHROW(fuzz::FuzzConfig(regression::Bytes(in), in.size()));
}

}  // namespace
}  // namespace hb
