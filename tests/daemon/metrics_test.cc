#include "daemon/metrics.h"

#include <catch2/catch.hpp>

namespace hb {
namespace {

TEST_CASE("latency histogram quantiles are within 4% of the truth", "[metrics]") {
  LatencyHistogram h;
  for (uint64_t v = 1; v <= 100000; ++v) h.Record(v);
  auto within = [](uint64_t got, double want) {
    return got >= want * 0.96 && got <= want * 1.04;
  };
  CHECK(within(h.Quantile(0.5), 50000));
  CHECK(within(h.Quantile(0.99), 99000));
  CHECK(h.Quantile(0.0) <= 1);
  CHECK(h.count() == 100000);
}

TEST_CASE("small values are exact and empty histogram is zero", "[metrics]") {
  LatencyHistogram h;
  CHECK(h.Quantile(0.5) == 0);
  for (int i = 0; i < 10; ++i) h.Record(7);
  CHECK(h.Quantile(0.5) == 7);
  h.Record(uint64_t{1} << 62);  // huge values land in the last buckets, no overflow
  CHECK(h.Quantile(1.0) >= (uint64_t{1} << 62));
}

TEST_CASE("metrics map has the documented keys", "[metrics]") {
  Metrics m;
  m.RecordCall("health", "ping", 10, false, "ok");
  m.RecordCall("health", "ping", 20, true, "badarg");
  Term t = m.ToTerm(3);
  REQUIRE(t.is_map());
  auto get = [](const Term& map, const Term& key) -> const Term* {
    for (size_t i = 0; i + 1 < map.size(); i += 2) {
      if (map[i] == key) return &map[i + 1];
    }
    return nullptr;
  };
  REQUIRE(get(t, Term::Atom("requests_total")));
  CHECK(*get(t, Term::Atom("requests_total")) == Term::Int(2));
  CHECK(*get(t, Term::Atom("errors_total")) == Term::Int(1));
  CHECK(*get(t, Term::Atom("inflight")) == Term::Int(3));
  const Term* calls = get(t, Term::Atom("calls"));
  REQUIRE(calls);
  const Term* ping = get(*calls, Term::Tuple({Term::Atom("health"), Term::Atom("ping")}));
  REQUIRE(ping);
  CHECK(*get(*ping, Term::Atom("count")) == Term::Int(2));
  CHECK(get(*ping, Term::Atom("p99_us"))->int_value() >= 19);
}

}  // namespace
}  // namespace hb
