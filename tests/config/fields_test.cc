// The table of configuration keys (config/fields.h), checked field by field:
// each key round-trips through its dump, refuses values out of its range
// with the key named, and each flag reaches its key.
#include "config/fields.h"

#include <catch2/catch.hpp>

#include <regex>
#include <string>

#include "config/config.h"
#include "config/walk.h"

namespace hb::config {
namespace {

using nlohmann::json;

// The range an integer key states in its error: "expected an integer in LO..HI".
bool RangeOf(const Field<Options>& f, int64_t* lo, uint64_t* hi) {
  Options o;
  Status s = f.parse(json("not a number"), &o);
  std::smatch m;
  std::string msg = s.message();
  if (!std::regex_search(msg, m, std::regex("in (-?[0-9]+)\\.\\.([0-9]+)"))) return false;
  *lo = std::stoll(m[1]);
  *hi = std::stoull(m[2]);
  return true;
}

TEST_CASE("every key's default dumps and parses back to itself", "[config]") {
  Options defaults;
  REQUIRE(ApplyDefaultModels(&defaults).ok());
  for (const Field<Options>& f : OptionFields()) {
    INFO(f.key);
    Options o;
    REQUIRE(f.parse(f.dump(defaults), &o).ok());
    CHECK(f.dump(o) == f.dump(defaults));
  }
  for (const Field<ModelConfig>& f : ModelFields()) {
    INFO(f.key);
    ModelConfig m;
    m.plugin = "p";
    ModelConfig back;
    REQUIRE(f.parse(f.dump(m), &back).ok());
    CHECK(f.dump(back) == f.dump(m));
  }
}

TEST_CASE("every integer key takes its bounds and refuses one past them, naming the key",
          "[config]") {
  int checked = 0;
  for (const Field<Options>& f : OptionFields()) {
    int64_t lo = 0;
    uint64_t hi = 0;
    if (!RangeOf(f, &lo, &hi)) continue;
    ++checked;
    INFO(f.key << " in " << lo << ".." << hi);
    // As a config document, so sections ("limits.") nest as users write them.
    auto doc = [&](json v) {
      json d = json::object();
      std::string key(f.key);
      size_t dot = key.find('.');
      if (dot == std::string::npos) d[key] = v; else d[key.substr(0, dot)][key.substr(dot + 1)] = v;
      return d.dump();
    };
    Options o;
    CHECK(ApplyConfigJson(doc(lo), &o).ok());
    CHECK(f.dump(o) == json(lo));
    CHECK(ApplyConfigJson(doc(hi), &o).ok());
    CHECK(f.dump(o) == json(hi));
    Status below = ApplyConfigJson(doc(lo - 1), &o);
    CHECK(below.message().find("'" + std::string(f.key) + "'") != std::string::npos);
    Status above = ApplyConfigJson(doc(json(hi + 1)), &o);
    CHECK(above.message().find("'" + std::string(f.key) + "'") != std::string::npos);
    CHECK_FALSE(ApplyConfigJson(doc(1.5), &o).ok());
  }
  CHECK(checked >= 12);
}

TEST_CASE("unknown keys are refused by their full path", "[config]") {
  Options o;
  CHECK(ApplyConfigJson(R"({"limits": {"max_bogus": 1}})", &o).message() ==
        "config key 'limits.max_bogus': unknown key");
  CHECK(ApplyConfigJson(R"({"limits": 5})", &o).message() ==
        "config key 'limits': expected an object");
  CHECK(ApplyConfigJson(R"({"models": {"m": {"plugin": "p", "bogus": 1}}})", &o).message() ==
        "config key 'models.m.bogus': unknown key");
  CHECK(ApplyConfigJson(R"({"models": {"m": {"options": {}}}})", &o).message() ==
        "config key 'models.m.plugin': missing");
  CHECK(ApplyConfigJson(R"({"models": {"m": {"plugin": "p", "instances": 0}}})", &o).message() ==
        "config key 'models.m.instances': expected an integer in 1..64");
  CHECK(ApplyConfigJson(R"({"log_level": "loud"})", &o).message().find("'log_level'") == 11);
  CHECK(ApplyConfigJson("[1]", &o).message() == "config must be a JSON object");
}

TEST_CASE("every flag reaches its key", "[config]") {
  for (const Field<Options>& f : OptionFields()) {
    if (f.flag.empty()) continue;
    INFO(f.flag);
    std::string value = f.numeric ? "7" : (f.key == "log_level" ? "debug" : "x@y");
    std::string prog = "hornbeamd", flag(f.flag);
    char* argv[] = {prog.data(), flag.data(), value.data(), nullptr};
    Result<Options> o = ParseOptions(3, argv);
    REQUIRE(o.ok());
    CHECK(f.dump(*o) == (f.numeric ? json(7) : json(value)));
    CHECK(std::string(UsageText()).find(f.flag) != std::string::npos);
  }
}

TEST_CASE("a reload applies live keys and names the ones that wait for a restart", "[config]") {
  Options now;
  REQUIRE(ApplyDefaultModels(&now).ok());
  Options wanted = now;
  wanted.port = 9999;
  wanted.workers = 3;
  wanted.max_inflight_total = 5;
  wanted.log_level = "debug";
  wanted.models[0].max_queue = 7;
  wanted.routes["extra"] = "default";
  ReloadPlan plan = PlanReload(now, wanted);
  CHECK(plan.restart_keys == std::vector<std::string>{"port", "workers"});
  CHECK(plan.applied.port == now.port);
  CHECK(plan.applied.workers == now.workers);
  CHECK(plan.applied.max_inflight_total == 5);
  CHECK(plan.applied.log_level == "debug");
  REQUIRE(plan.applied.models.size() == 1);
  CHECK(plan.applied.models[0] == wanted.models[0]);
  CHECK(plan.applied.routes == wanted.routes);
  CHECK(PlanReload(now, now).restart_keys.empty());
}

TEST_CASE("the check-config output parses back to the same configuration", "[config]") {
  Options o;
  REQUIRE(ApplyConfigJson(R"({"port": 4000, "limits": {"max_term_depth": 9},
      "models": {"a": {"plugin": "hashembed", "devices": [-1, 0], "options": {"dim": 8}}},
      "routes": {"ml": "a"}, "cookie": "SECRET"})", &o).ok());
  REQUIRE(ApplyDefaultModels(&o).ok());  // what ParseOptions does before printing
  json out = json::parse(EffectiveConfigJson(o, "/plugins"));
  CHECK(out["cookie"] == "(set, not shown)");
  CHECK(out.dump().find("SECRET") == std::string::npos);
  out.erase("cookie");
  Options back;
  REQUIRE(ApplyConfigJson(out.dump(), &back).ok());
  CHECK(back.port == 4000);
  CHECK(back.max_term_depth == 9);
  CHECK(back.models == o.models);
  CHECK(back.routes == o.routes);
  CHECK(back.plugin_dir == "/plugins");
}

}  // namespace
}  // namespace hb::config

namespace hb::config {
namespace {

// isolation "process" and the keys only a child process can honour.
TEST_CASE("isolation keys: process takes the child's limits; none refuses them", "[config]") {
  Options o;
  REQUIRE(ApplyConfigJson(R"({"models": {"m": {"plugin": "hashembed", "isolation": "process",
      "memory_limit_bytes": 1073741824, "cpu_affinity": [0, 1], "max_restarts": 3,
      "restart_window_ms": 5000, "restart_backoff_ms": 50, "stuck_after_ms": 2000}}})",
                          &o).ok());
  REQUIRE(o.models.size() == 1);
  const ModelConfig& m = o.models[0];
  CHECK(m.isolation == "process");
  CHECK(m.memory_limit_bytes == (1ull << 30));
  CHECK(m.cpu_affinity == std::vector<int>{0, 1});
  CHECK(m.max_restarts == 3);
  CHECK(m.restart_window_ms == 5000);
  CHECK(m.restart_backoff_ms == 50);
  CHECK(ModelConfig().isolation == "none");

  auto error = [](const std::string& model) {
    Options x;
    return ApplyConfigJson(R"({"models": {"m": )" + model + "}}", &x).message();
  };
  CHECK(error(R"({"plugin": "p", "isolation": "thread"})").find("expected one of none, process") !=
        std::string::npos);
  CHECK(error(R"({"plugin": "p", "memory_limit_bytes": 1073741824})")
            .find("'models.m.memory_limit_bytes': needs \"isolation\": \"process\"") !=
        std::string::npos);
  CHECK(error(R"({"plugin": "p", "cpu_affinity": [0]})").find("models.m.cpu_affinity") !=
        std::string::npos);
  CHECK(error(R"({"plugin": "p", "isolation": "process", "memory_limit_bytes": 1000})")
            .find("at least 16777216") != std::string::npos);
  CHECK(error(R"({"plugin": "p", "isolation": "process", "cpu_affinity": [-1]})")
            .find("0..1023") != std::string::npos);
  CHECK(error(R"({"plugin": "p", "isolation": "process", "cpu_affinity": "0"})")
            .find("expected an array") != std::string::npos);
}

}  // namespace
}  // namespace hb::config
