// The Prometheus exposition: fixed histogram buckets (an observation on a
// bucket's edge, zero, huge values), the float format of `le` and `_sum`, and
// a rendered scrape checked line by line as a parser would.
#include "daemon/prometheus.h"

#include <catch2/catch.hpp>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <sstream>

namespace hb {
namespace {

constexpr uint64_t kMax = std::numeric_limits<uint64_t>::max();

TEST_CASE("a value on a bucket's edge counts in that bucket, one more in the next",
          "[prometheus]") {
  for (size_t i = 0; i < kLatencyBucketsUs.size(); ++i) {
    const uint64_t edge = kLatencyBucketsUs[i];
    FixedBuckets at(kLatencyBucketsUs);
    at.Record(edge);
    CHECK(at.CountAtMost(i) == 1);
    if (i > 0) CHECK(at.CountAtMost(i - 1) == 0);
    FixedBuckets above(kLatencyBucketsUs);
    above.Record(edge + 1);
    CHECK(above.CountAtMost(i) == 0);
    if (i + 1 < kLatencyBucketsUs.size()) CHECK(above.CountAtMost(i + 1) == 1);
  }
}

TEST_CASE("zero is in the first bucket; huge values only in +Inf", "[prometheus]") {
  LatencyHistogram h;
  h.Record(0);
  h.Record(kLatencyBucketsUs.back() + 1);
  h.Record(kMax);
  const FixedBuckets& f = h.fixed();
  CHECK(f.CountAtMost(0) == 1);
  CHECK(f.CountAtMost(f.bounds().size() - 1) == 1);  // the last finite bucket
  CHECK(h.count() == 3);                             // +Inf
}

TEST_CASE("batch sizes use powers of two up to 1024", "[prometheus]") {
  BatcherStats st;
  REQUIRE(st.batch_size.fixed().bounds().size() == kBatchSizeBuckets.size());
  for (uint64_t n : {1, 3, 64, 65, 2000}) st.batch_size.Record(n);
  const FixedBuckets& f = st.batch_size.fixed();
  CHECK(f.CountAtMost(0) == 1);   // le=1: {1}
  CHECK(f.CountAtMost(1) == 1);   // le=2
  CHECK(f.CountAtMost(2) == 2);   // le=4: {1, 3}
  CHECK(f.CountAtMost(6) == 3);   // le=64: {1, 3, 64}
  CHECK(f.CountAtMost(7) == 4);   // le=128: 65 too
  CHECK(f.CountAtMost(10) == 4);  // le=1024: not 2000
}

TEST_CASE("floats are written as the Go and Python clients write them", "[prometheus]") {
  CHECK(FormatFloat(50 / 1e6) == "5e-05");
  CHECK(FormatFloat(100 / 1e6) == "0.0001");
  CHECK(FormatFloat(250 / 1e6) == "0.00025");
  CHECK(FormatFloat(2.5) == "2.5");
  CHECK(FormatFloat(60) == "60");
  CHECK(FormatFloat(1) == "1");
  CHECK(FormatFloat(123456) == "123456");
  CHECK(FormatFloat(1e6) == "1e+06");
  CHECK(FormatFloat(20345 / 1e6) == "0.020345");
  CHECK(FormatFloat(0) == "0");
  CHECK(FormatFloat(std::numeric_limits<double>::infinity()) == "+Inf");
  CHECK(FormatFloat(std::numeric_limits<double>::quiet_NaN()) == "NaN");
}

// Sample lines by series ("name{labels}") and the TYPE of each family.
struct Scrape {
  std::map<std::string, std::string> types;
  std::map<std::string, std::string> helps;
  std::map<std::string, std::string> values;
  std::vector<std::string> order;
};

Scrape Parse(const std::string& text) {
  Scrape s;
  std::istringstream in(text);
  std::string line;
  while (std::getline(in, line)) {
    REQUIRE(!line.empty());
    std::istringstream words(line);
    std::string a, b, c;
    if (line.rfind("# TYPE ", 0) == 0) {
      words >> a >> b >> c;
      s.types[c] = line.substr(line.rfind(' ') + 1);
    } else if (line.rfind("# HELP ", 0) == 0) {
      words >> a >> b >> c;
      s.helps[c] = line;
    } else {
      size_t sp = line.rfind(' ');
      REQUIRE(sp != std::string::npos);
      std::string value = line.substr(sp + 1);
      char* end = nullptr;
      if (value != "+Inf" && value != "NaN") std::strtod(value.c_str(), &end);
      INFO(line);
      CHECK((value == "+Inf" || value == "NaN" || (end && *end == '\0')));
      s.values[line.substr(0, sp)] = value;
      s.order.push_back(line.substr(0, sp));
    }
  }
  return s;
}

// Every histogram's buckets are cumulative and end in +Inf == _count.
void CheckHistograms(const Scrape& s) {
  for (const auto& [family, type] : s.types) {
    if (type != "histogram") continue;
    std::map<std::string, std::vector<std::string>> by_labels;  // labels without le
    for (const std::string& series : s.order) {
      if (series.rfind(family + "_bucket{", 0) != 0) continue;
      size_t le = series.rfind("le=\"");
      REQUIRE(le != std::string::npos);
      std::string rest = series.substr(family.size() + 8, le - family.size() - 8);
      by_labels[rest].push_back(series);
    }
    for (const auto& [labels, buckets] : by_labels) {
      INFO(family << " " << labels);
      uint64_t prev = 0;
      for (const std::string& b : buckets) {
        uint64_t n = std::stoull(s.values.at(b));
        CHECK(n >= prev);
        prev = n;
      }
      CHECK(buckets.back().find("le=\"+Inf\"") != std::string::npos);
      std::string plain = labels.empty() ? "" : "{" + labels.substr(0, labels.size() - 1) + "}";
      CHECK(s.values.at(family + "_count" + plain) == s.values.at(buckets.back()));
    }
  }
}

TEST_CASE("the scrape is valid exposition with seconds histograms and build info", "[prometheus]") {
  Metrics metrics;
  metrics.RecordCall("health", "sleep", 20345, false, "");  // 20.345 ms
  metrics.RecordCall("health", "sleep", 250, false, "");    // on the 0.00025 s edge
  RegistrySnapshot models;
  ModelSnapshot m;
  m.name = "default";
  m.status = ModelStatus::kOk;
  m.serving = true;
  auto st = std::make_shared<BatcherStats>();
  st->batch_size.Record(64);
  st->execute_us.Record(1000);
  st->errors_by_reason["resource_exhausted"] = 2;
  m.stats = st;
  models.models.push_back(m);
  ModelSnapshot failed;
  failed.name = "broken";
  failed.status = ModelStatus::kFailed;
  models.models.push_back(failed);
  PrometheusInputs in;
  in.version = "0.1.0";
  in.metrics = &metrics;
  in.models = &models;
  std::string text = RenderPrometheus(in);
  Scrape s = Parse(text);

  CHECK(s.values.at("hornbeam_build_info{version=\"0.1.0\"}") == "1");
  CHECK(s.types.at("hornbeam_build_info") == "gauge");
  for (const char* h :
       {"hornbeam_request_duration_seconds", "hornbeam_model_batch_size",
        "hornbeam_model_queue_duration_seconds", "hornbeam_model_execute_duration_seconds"}) {
    CHECK(s.types.at(h) == "histogram");
  }
  for (const auto& [family, type] : s.types) {
    INFO(family);
    CHECK(s.helps.count(family) == 1);
    CHECK(family.find("_us") == std::string::npos);
    CHECK((type == "counter") ==
          (family.size() > 6 && family.rfind("_total") == family.size() - 6));
  }
  const std::string sleep =
      "hornbeam_request_duration_seconds_bucket{module=\"health\",function=\"sleep\",";
  CHECK(s.values.at(sleep + "le=\"0.0001\"}") == "0");
  CHECK(s.values.at(sleep + "le=\"0.00025\"}") == "1");
  CHECK(s.values.at(sleep + "le=\"0.01\"}") == "1");
  CHECK(s.values.at(sleep + "le=\"0.025\"}") == "2");
  CHECK(s.values.at(sleep + "le=\"+Inf\"}") == "2");
  CHECK(
      s.values.at("hornbeam_request_duration_seconds_sum{module=\"health\",function=\"sleep\"}") ==
      "0.020595");
  const std::string batch = "hornbeam_model_batch_size_bucket{model=\"default\",";
  CHECK(s.values.at(batch + "le=\"32\"}") == "0");
  CHECK(s.values.at(batch + "le=\"64\"}") == "1");
  CHECK(s.values.at(
            "hornbeam_model_execute_duration_seconds_bucket{model=\"default\",le=\"0.001\"}") ==
        "1");
  CHECK(s.values.at(
            "hornbeam_model_errors_total{model=\"default\",reason=\"resource_exhausted\"}") == "2");
  CHECK(s.values.at("hornbeam_model_up{model=\"broken\"}") == "0");
  CHECK(s.values.at("hornbeam_model_batch_size_count{model=\"broken\"}") == "0");
  CheckHistograms(s);
}

TEST_CASE("tls handshakes are counted by outcome, one label per outcome", "[prometheus][tls]") {
  Metrics metrics;
  DistStats dist;
  dist.tls_handshakes[static_cast<int>(TlsOutcome::kOk)] = 7;
  dist.tls_handshakes[static_cast<int>(TlsOutcome::kNameMismatch)] = 2;
  PrometheusInputs in;
  in.version = "0.1.0";
  in.metrics = &metrics;
  in.dist = &dist;
  Scrape s = Parse(RenderPrometheus(in));
  CHECK(s.types.at("hornbeam_tls_handshakes_total") == "counter");
  CHECK(s.values.at("hornbeam_tls_handshakes_total{outcome=\"ok\"}") == "7");
  CHECK(s.values.at("hornbeam_tls_handshakes_total{outcome=\"name_mismatch\"}") == "2");
  for (const char* o : {"no_certificate", "unknown_ca", "expired", "protocol_error"}) {
    CHECK(s.values.at(std::string("hornbeam_tls_handshakes_total{outcome=\"") + o + "\"}") ==
          "0");
  }
}

TEST_CASE("each plugin status has one name", "[prometheus]") {
  CHECK(std::string(PluginStatusName(HB_ERR_RESOURCE)) == "resource_exhausted");
  CHECK(std::string(PluginStatusName(HB_ERR_INVALID_ARGUMENT)) == "invalid_argument");
  CHECK(std::string(PluginStatusName(HB_ERR_UNSUPPORTED)) == "unsupported");
  CHECK(std::string(PluginStatusName(HB_ERR_INTERNAL)) == "internal");
  CHECK(std::string(PluginStatusName(HB_ERR_UNAVAILABLE)) == "unavailable");
  CHECK(std::string(PluginStatusName(HB_ERR_CANCELLED)) == "cancelled");
  CHECK(std::string(PluginStatusName(1234)) == "other");
}

}  // namespace
}  // namespace hb
