// The health:check and metrics:get_all terms rendered from a registry
// snapshot: every documented key, status names, µs summaries.
#include "daemon/model_terms.h"

#include <catch2/catch.hpp>

namespace hb {
namespace {

const Term* Get(const Term& map, const Term& key) {
  for (size_t i = 0; i + 1 < map.size(); i += 2) {
    if (map[i] == key) return &map[i + 1];
  }
  return nullptr;
}
const Term* Get(const Term& map, const char* key) { return Get(map, Term::Atom(key)); }

RegistrySnapshot TwoModels() {
  RegistrySnapshot s;
  ModelSnapshot ok;
  ok.name = "default";
  ok.status = ModelStatus::kDegraded;
  ok.config.plugin = "hashembed";
  ok.config.devices = {-1, 0};
  ok.plugin_version = "1.0.0";
  ok.caps.output_dim = 256;
  ok.serving = true;
  ok.load.queue_depth = 3;
  ok.load.busy_instances = 1;
  auto st = std::make_shared<BatcherStats>();
  st->jobs = 2;
  st->queue_us.Record(100);
  st->queue_us.Record(300);
  st->errors_by_reason["resource_exhausted"] = 1;
  ok.stats = st;
  s.models.push_back(ok);
  ModelSnapshot failed;
  failed.name = "broken";
  failed.status = ModelStatus::kFailed;
  failed.error = "no plugin";
  s.models.push_back(failed);
  return s;
}

TEST_CASE("status names", "[model_terms]") {
  CHECK(std::string(ModelStatusName(ModelStatus::kLoading)) == "loading");
  CHECK(std::string(ModelStatusName(ModelStatus::kOk)) == "ok");
  CHECK(std::string(ModelStatusName(ModelStatus::kDegraded)) == "degraded");
  CHECK(std::string(ModelStatusName(ModelStatus::kFailed)) == "failed");
}

TEST_CASE("health lists every model with its documented keys", "[model_terms]") {
  RegistrySnapshot s = TwoModels();
  CHECK(AnyModelDegraded(s));
  Term h = ModelsHealthTerm(s);
  REQUIRE(h.size() == 2);
  const Term& d = h[0];
  CHECK(*Get(d, "name") == Term::Atom("default"));
  CHECK(*Get(d, "status") == Term::Atom("degraded"));
  CHECK(*Get(d, "plugin") == Term::Binary("hashembed"));
  CHECK(*Get(d, "version") == Term::Binary("1.0.0"));
  CHECK(*Get(d, "device") == Term::Binary("cpu,gpu0"));
  CHECK(*Get(d, "output_dim") == Term::Int(256));
  CHECK(*Get(d, "queue_depth") == Term::Int(3));
  CHECK(*Get(d, "busy_instances") == Term::Int(1));
  REQUIRE(Get(d, "instances"));
  CHECK(*Get(h[1], "status") == Term::Atom("failed"));
  CHECK(*Get(h[1], "error") == Term::Binary("no plugin"));
  s.models[0].status = ModelStatus::kOk;
  s.models.pop_back();
  CHECK_FALSE(AnyModelDegraded(s));
}

TEST_CASE("metrics cover serving models, in microseconds", "[model_terms]") {
  Term m = ModelsMetricsTerm(TwoModels());
  REQUIRE(m.size() == 2);  // one key and value: the failed model has no stats
  const Term* d = Get(m, "default");
  REQUIRE(d);
  CHECK(*Get(*d, "requests") == Term::Int(2));
  const Term* q = Get(*d, "queue_us");
  REQUIRE(q);
  CHECK(*Get(*q, "count") == Term::Int(2));
  CHECK(*Get(*q, "mean") == Term::Int(200));
  CHECK(Get(*q, "p99")->int_value() >= 300);
  CHECK(*Get(*Get(*d, "errors_by_reason"), "resource_exhausted") == Term::Int(1));
  for (const char* k :
       {"texts", "batches", "bytes_in", "bytes_out", "queue_depth", "rejected_overloaded",
        "dropped_cancelled", "batch_errors", "batch_size", "execute_us"}) {
    INFO(k);
    CHECK(Get(*d, k));
  }
}

}  // namespace
}  // namespace hb
