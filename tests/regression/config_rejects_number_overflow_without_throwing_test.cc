// Guards: ApplyConfigJson on a number JSON cannot represent (1e309).
// nlohmann::json::parse throws out_of_range (406), not parse_error, and only
// parse_error was caught: hornbeamd died in std::terminate on such a config
// file instead of reporting it. Found by config_fuzzer (must never throw).
#include <catch2/catch.hpp>

#include <cstdio>
#include <string>

#include "config/config.h"
#include "tests/regression/regression_util.h"

namespace hb {
namespace {

TEST_CASE("a config with 1e309 is an error, not an exception", "[regression][options]") {
  const std::string in = regression::ReadInput("config_number_overflow.json");
  Options o;
  Status s;
  REQUIRE_NOTHROW(s = ApplyConfigJson(in, &o));
  CHECK_FALSE(s.ok());
  CHECK(s.code() == StatusCode::kInvalidArgument);

  // Anywhere in the document.
  REQUIRE_NOTHROW(s = ApplyConfigJson("{\"models\": {\"m\": {\"plugin\": \"hashembed\", "
                                      "\"options\": {\"scale\": -1e400}}}}",
                                      &o));
  CHECK_FALSE(s.ok());

  // Through --config as the daemon reads it.
  std::string path = std::string(P_tmpdir) + "/hb_regression_overflow.json";
  {
    FILE* f = fopen(path.c_str(), "w");
    REQUIRE(f != nullptr);
    fputs(in.c_str(), f);
    fclose(f);
  }
  std::string a0 = "hornbeamd", a1 = "--config";
  char* argv[] = {a0.data(), a1.data(), path.data(), nullptr};
  Result<Options> parsed = Status(StatusCode::kInternal, "not run");
  REQUIRE_NOTHROW(parsed = ParseOptions(3, argv));
  CHECK_FALSE(parsed.ok());
  remove(path.c_str());

  regression::ThrowOnFuzzFailure guard;
  REQUIRE_NOTHROW(fuzz::FuzzConfig(regression::Bytes(in), in.size()));
}

}  // namespace
}  // namespace hb
