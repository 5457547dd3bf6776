#include "config/config.h"

#include <catch2/catch.hpp>

namespace hb {
namespace {

Result<Options> Parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  static std::string prog = "hornbeamd";
  argv.push_back(prog.data());
  for (auto& a : args) argv.push_back(a.data());
  return ParseOptions(static_cast<int>(argv.size()), argv.data());
}

TEST_CASE("defaults and flags", "[options]") {
  auto o = Parse({});
  REQUIRE(o.ok());
  CHECK(o->sname == "gpu");
  CHECK(o->port == 0);
  o = Parse({"--sname", "x", "--cookie", "C", "--port", "4370", "--log-level", "debug"});
  REQUIRE(o.ok());
  CHECK(o->sname == "x");
  CHECK(o->cookie == "C");
  CHECK(o->port == 4370);
  CHECK(o->log_level == "debug");
}

TEST_CASE("bad flags are clear errors", "[options]") {
  CHECK(!Parse({"--port", "70000"}).ok());
  CHECK(!Parse({"--bogus", "1"}).ok());
  CHECK(!Parse({"--sname"}).ok());
  CHECK(Parse({"--port", "x"}).status().message().find("--port") != std::string::npos);
}

TEST_CASE("config keys are validated by name", "[options]") {
  Options o;
  CHECK(ApplyConfigJson(R"({"sname": "a", "port": 9000})", &o).ok());
  CHECK(o.port == 9000);
  Status s = ApplyConfigJson(R"({"prot": 1})", &o);
  CHECK(s.message().find("'prot'") != std::string::npos);
  s = ApplyConfigJson(R"({"port": "x"})", &o);
  CHECK(s.message().find("'port'") != std::string::npos);
  s = ApplyConfigJson(R"({"sname": 3})", &o);
  CHECK(s.message().find("'sname'") != std::string::npos);
  CHECK(!ApplyConfigJson("{", &o).ok());
}

}  // namespace
}  // namespace hb

namespace hb {
namespace {

TEST_CASE("built-in routes apply whenever the file names none", "[options]") {
  Options one;
  REQUIRE(ApplyConfigJson(R"({"models": {"mine": {"plugin": "use_lite"}}})", &one).ok());
  REQUIRE(ApplyDefaultModels(&one).ok());
  CHECK(one.routes == std::map<std::string, std::string>{{"embedding_service", "mine"},
                                                         {"ml", "mine"}});
  Options named_default;
  REQUIRE(ApplyConfigJson(R"({"models": {"a": {"plugin": "x"}, "default": {"plugin": "y"}}})",
                          &named_default).ok());
  REQUIRE(ApplyDefaultModels(&named_default).ok());
  CHECK(named_default.routes.at("ml") == "default");
  Options several;
  REQUIRE(ApplyConfigJson(R"({"models": {"a": {"plugin": "x"}, "b": {"plugin": "y"}}})",
                          &several).ok());
  Status s = ApplyDefaultModels(&several);
  CHECK(s.message().find("config key 'routes': missing") == 0);
  // Naming no routes explicitly is a choice, kept.
  Options none;
  REQUIRE(ApplyConfigJson(R"({"routes": {}})", &none).ok());
  REQUIRE(ApplyDefaultModels(&none).ok());
  CHECK(none.routes.empty());
  CHECK(none.models.size() == 1);
}

TEST_CASE("blas.coretype and blas.threads: defaults, values, refusals, restart", "[options]") {
  Options o;
  CHECK(o.blas_coretype == "auto");
  CHECK(o.blas_threads == 0);
  REQUIRE(ApplyConfigJson(R"({"blas": {"coretype": "SkylakeX", "threads": 2}})", &o).ok());
  CHECK(o.blas_coretype == "SkylakeX");
  CHECK(o.blas_threads == 2);
  REQUIRE(ApplyConfigJson(R"({"blas": {"coretype": "library"}})", &o).ok());
  CHECK(o.blas_coretype == "library");
  Status empty = ApplyConfigJson(R"({"blas": {"coretype": ""}})", &o);
  CHECK(empty.message().find("blas.coretype") != std::string::npos);
  Status many = ApplyConfigJson(R"({"blas": {"threads": 1025}})", &o);
  CHECK(many.message().find("blas.threads") != std::string::npos);
  CHECK_FALSE(ApplyConfigJson(R"({"blas": {"kernels": "x"}})", &o).ok());
  // OpenBLAS reads both when it loads: a reload can only name them.
  Options now, wanted;
  wanted.blas_threads = 4;
  config::ReloadPlan plan = config::PlanReload(now, wanted);
  CHECK(plan.restart_keys == std::vector<std::string>{"blas.threads"});
  CHECK(plan.applied.blas_threads == 0);
}

}  // namespace
}  // namespace hb

namespace hb {
namespace {

TEST_CASE("visibility and cluster keys: visible by default, --hidden, checked values",
          "[options]") {
  auto o = Parse({});
  REQUIRE(o.ok());
  CHECK_FALSE(o->hidden);
  CHECK(o->global_mode == "passive");
  CHECK(o->pg_scope == "hornbeam");
  CHECK(o->model_process_prefix == "hornbeam_model_");
  o = Parse({"--hidden"});
  REQUIRE(o.ok());
  CHECK(o->hidden);
  Options c;
  REQUIRE(ApplyConfigJson(R"({"hidden": true, "global": "passive", "pg_scope": "gpus",
                              "model_process_prefix": "m_"})", &c).ok());
  CHECK(c.hidden);
  CHECK(c.pg_scope == "gpus");
  Status s = ApplyConfigJson(R"({"global": "full"})", &c);
  CHECK(s.message().find("'global'") != std::string::npos);
  CHECK(s.message().find("not supported") != std::string::npos);
  CHECK(!ApplyConfigJson(R"({"hidden": "yes"})", &c).ok());
  CHECK(!ApplyConfigJson(R"({"pg_scope": ""})", &c).ok());
  CHECK(!ApplyConfigJson(R"({"global": "active"})", &c).ok());
}

}  // namespace
}  // namespace hb
