#include "daemon/prometheus.h"

#include <charconv>
#include <cmath>
#include <cstdlib>
#include <sstream>

namespace hb {

std::string EscapeLabel(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\')
      out += "\\\\";
    else if (c == '"')
      out += "\\\"";
    else if (c == '\n')
      out += "\\n";
    else
      out += c;
  }
  return out;
}

std::string FormatFloat(double v) {
  if (std::isnan(v)) return "NaN";
  if (std::isinf(v)) return v > 0 ? "+Inf" : "-Inf";
  if (v == 0) return "0";
  char buf[64];
  // Go's 'g' with the shortest precision: exponent form when the decimal
  // exponent is below -4 or at least 6 (Go's rule for shortest), else plain.
  auto sci = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string s(buf, sci.ptr);
  int exp = std::atoi(s.c_str() + s.find('e') + 1);
  if (exp < -4 || exp >= 6) return s;
  auto fixed = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::fixed);
  return std::string(buf, fixed.ptr);
}

namespace {

class Writer {
 public:
  void Family(const char* name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void Sample(const std::string& name, const std::string& labels, uint64_t v) {
    Name(name, labels);
    out_ << v << '\n';
  }
  void SampleFloat(const std::string& name, const std::string& labels, double v) {
    Name(name, labels);
    out_ << FormatFloat(v) << '\n';
  }
  // A histogram from the fixed buckets of `h`, whose values are divided by
  // `unit` on the way out (1e6: microseconds recorded, seconds exported).
  // Buckets are cumulative and end in +Inf, which is the count.
  void Histogram(const char* name, const std::string& labels, const LatencyHistogram& h,
                 double unit) {
    std::string bucket = std::string(name) + "_bucket";
    std::string sep = labels.empty() ? "" : labels + ",";
    const FixedBuckets& f = h.fixed();
    for (size_t i = 0; i < f.bounds().size(); ++i) {
      double le = static_cast<double>(f.bounds()[i]) / unit;
      Sample(bucket, sep + "le=\"" + FormatFloat(le) + '"', f.CountAtMost(i));
    }
    Sample(bucket, sep + "le=\"+Inf\"", h.count());
    SampleFloat(std::string(name) + "_sum", labels, static_cast<double>(h.sum()) / unit);
    Sample(std::string(name) + "_count", labels, h.count());
  }
  std::string str() const { return out_.str(); }

 private:
  void Name(const std::string& name, const std::string& labels) {
    out_ << name;
    if (!labels.empty()) out_ << '{' << labels << '}';
    out_ << ' ';
  }
  std::ostringstream out_;
};

constexpr double kMicrosPerSecond = 1e6;

std::string MF(const std::string& m, const std::string& f) {
  return "module=\"" + EscapeLabel(m) + "\",function=\"" + EscapeLabel(f) + "\"";
}

void RenderNode(Writer& w, const PrometheusInputs& in) {
  w.Family("hornbeam_build_info", "gauge", "Always 1; the version in a label.");
  w.Sample("hornbeam_build_info", "version=\"" + EscapeLabel(in.version) + "\"", 1);
  w.Family("hornbeam_up", "gauge", "1 while serving, 0 while draining.");
  w.Sample("hornbeam_up", "", in.draining ? 0 : 1);
  w.Family("hornbeam_uptime_seconds", "gauge", "Seconds since the daemon started.");
  w.Sample("hornbeam_uptime_seconds", "", in.uptime_s);
  w.Family("hornbeam_connections", "gauge", "Connected Erlang nodes.");
  w.Sample("hornbeam_connections", "", in.connections);
  w.Family("hornbeam_inflight_requests", "gauge", "Calls running or queued.");
  w.Sample("hornbeam_inflight_requests", "", in.inflight);
  if (!in.dist) return;
  w.Family("hornbeam_received_bytes_total", "counter", "Bytes read from peers.");
  w.Sample("hornbeam_received_bytes_total", "", in.dist->bytes_in);
  w.Family("hornbeam_sent_bytes_total", "counter", "Bytes written to peers.");
  w.Sample("hornbeam_sent_bytes_total", "", in.dist->bytes_out);
  w.Family("hornbeam_handshake_failures_total", "counter", "Refused or failed handshakes.");
  w.Sample("hornbeam_handshake_failures_total", "", in.dist->handshakes_failed);
  w.Family("hornbeam_bad_packets_total", "counter", "Malformed or oversized packets from peers.");
  w.Sample("hornbeam_bad_packets_total", "", in.dist->bad_packets);
  w.Family("hornbeam_refused_connections_total", "counter",
           "Connections closed at accept: max_connections reached.");
  w.Sample("hornbeam_refused_connections_total", "", in.dist->refused_connection_limit);
  w.Family("hornbeam_tls_handshakes_total", "counter",
           "TLS handshakes by outcome (all zero on a TCP node).");
  for (int i = 0; i < kTlsOutcomeCount; ++i) {
    w.Sample("hornbeam_tls_handshakes_total",
             std::string("outcome=\"") + TlsOutcomeName(static_cast<TlsOutcome>(i)) + "\"",
             in.dist->tls_handshakes[i]);
  }
}

void RenderCalls(Writer& w, const Metrics& metrics) {
  const auto& calls = metrics.calls();
  w.Family("hornbeam_requests_total", "counter", "Calls completed, by module and function.");
  for (const auto& [mf, s] : calls) {
    w.Sample("hornbeam_requests_total", MF(mf.first, mf.second), s.count);
  }
  w.Family("hornbeam_request_errors_total", "counter", "Calls that raised, by reason.");
  for (const auto& [mf, s] : calls) {
    for (const auto& [reason, n] : s.errors_by_reason) {
      w.Sample("hornbeam_request_errors_total",
               MF(mf.first, mf.second) + ",reason=\"" + EscapeLabel(reason) + "\"", n);
    }
  }
  w.Family("hornbeam_requests_cancelled_total", "counter", "Calls whose caller gave up.");
  for (const auto& [mf, s] : calls) {
    w.Sample("hornbeam_requests_cancelled_total", MF(mf.first, mf.second), s.cancelled);
  }
  w.Family("hornbeam_request_received_bytes_total", "counter",
           "Argument bytes of completed calls (external term format).");
  for (const auto& [mf, s] : calls) {
    w.Sample("hornbeam_request_received_bytes_total", MF(mf.first, mf.second), s.bytes_in);
  }
  w.Family("hornbeam_request_sent_bytes_total", "counter",
           "Result bytes of completed calls (external term format).");
  for (const auto& [mf, s] : calls) {
    w.Sample("hornbeam_request_sent_bytes_total", MF(mf.first, mf.second), s.bytes_out);
  }
  w.Family("hornbeam_requests_rejected_total", "counter",
           "Calls refused before running (limits, draining), by reason.");
  for (const auto& [reason, n] : metrics.rejected_by_reason()) {
    w.Sample("hornbeam_requests_rejected_total", "reason=\"" + EscapeLabel(reason) + "\"", n);
  }
  w.Family("hornbeam_request_duration_seconds", "histogram",
           "Call latency, from the request read to the reply written.");
  for (const auto& [mf, s] : calls) {
    w.Histogram("hornbeam_request_duration_seconds", MF(mf.first, mf.second), s.latency_us,
                kMicrosPerSecond);
  }
}

std::string ModelLabel(const ModelSnapshot& m) { return "model=\"" + EscapeLabel(m.name) + "\""; }

// A failed model has no batcher: it shows zeros.
const BatcherStats& StatsOf(const ModelSnapshot& m) {
  static const BatcherStats kNone;
  return m.stats ? *m.stats : kNone;
}

// One counter family with a sample per model.
template <typename F>
void PerModel(Writer& w, const RegistrySnapshot& s, const char* name, const char* help, F value) {
  w.Family(name, "counter", help);
  for (const ModelSnapshot& m : s.models) w.Sample(name, ModelLabel(m), value(StatsOf(m)));
}

void RenderModels(Writer& w, const RegistrySnapshot& s) {
  w.Family("hornbeam_model_up", "gauge", "1 when the model serves normally.");
  for (const ModelSnapshot& m : s.models) {
    w.Sample("hornbeam_model_up", ModelLabel(m), m.status == ModelStatus::kOk ? 1 : 0);
  }
  w.Family("hornbeam_model_queue_depth", "gauge", "Texts waiting for a batch.");
  for (const ModelSnapshot& m : s.models) {
    w.Sample("hornbeam_model_queue_depth", ModelLabel(m), m.load.queue_depth);
  }
  w.Family("hornbeam_model_worker_restarts_total", "counter",
           "Restarts of crashed workers (isolation \"process\" models only).");
  for (const ModelSnapshot& m : s.models) {
    if (m.config.isolation != "process") continue;
    w.Sample("hornbeam_model_worker_restarts_total", ModelLabel(m), m.restarts);
  }
  PerModel(w, s, "hornbeam_model_requests_total", "Calls submitted to the model.",
           [](const BatcherStats& st) { return st.jobs; });
  PerModel(w, s, "hornbeam_model_texts_total", "Texts submitted to the model.",
           [](const BatcherStats& st) { return st.texts; });
  PerModel(w, s, "hornbeam_model_batches_total", "Executes run.",
           [](const BatcherStats& st) { return st.batches; });
  w.Family("hornbeam_model_errors_total", "counter",
           "Texts and term calls the plugin failed, by reason.");
  for (const ModelSnapshot& m : s.models) {
    for (const auto& [reason, n] : StatsOf(m).errors_by_reason) {
      w.Sample("hornbeam_model_errors_total",
               ModelLabel(m) + ",reason=\"" + EscapeLabel(reason) + "\"", n);
    }
  }
  PerModel(w, s, "hornbeam_model_received_bytes_total",
           "Text and argument bytes sent to the plugin.",
           [](const BatcherStats& st) { return st.bytes_in; });
  PerModel(w, s, "hornbeam_model_sent_bytes_total",
           "Embedding and result bytes the plugin produced.",
           [](const BatcherStats& st) { return st.bytes_out; });
  w.Family("hornbeam_model_rejected_total", "counter", "Calls refused because the queue was full.");
  for (const ModelSnapshot& m : s.models) {
    w.Sample("hornbeam_model_rejected_total", ModelLabel(m) + ",reason=\"overloaded\"",
             StatsOf(m).rejected_overloaded);
  }
  w.Family("hornbeam_model_batch_size", "histogram", "Texts per execute.");
  for (const ModelSnapshot& m : s.models) {
    w.Histogram("hornbeam_model_batch_size", ModelLabel(m), StatsOf(m).batch_size, 1);
  }
  w.Family("hornbeam_model_queue_duration_seconds", "histogram",
           "Time a batch's oldest text waited for it.");
  for (const ModelSnapshot& m : s.models) {
    w.Histogram("hornbeam_model_queue_duration_seconds", ModelLabel(m), StatsOf(m).queue_us,
                kMicrosPerSecond);
  }
  w.Family("hornbeam_model_execute_duration_seconds", "histogram", "Time one execute took.");
  for (const ModelSnapshot& m : s.models) {
    w.Histogram("hornbeam_model_execute_duration_seconds", ModelLabel(m), StatsOf(m).execute_us,
                kMicrosPerSecond);
  }
}

// Accelerators as plugins report them (Triton: nv_gpu_memory_*_bytes).
// Result caches (hornbeam_model_cache_*), one series per model.
void RenderCaches(Writer& w, const RegistrySnapshot& s) {
  struct Family {
    const char* name;
    const char* type;
    const char* help;
    uint64_t CacheStats::*field;
  };
  static const Family kFamilies[] = {
      {"hornbeam_model_cache_hits_total", "counter", "Texts answered from the result cache.",
       &CacheStats::hits},
      {"hornbeam_model_cache_misses_total", "counter", "Texts the result cache did not hold.",
       &CacheStats::misses},
      {"hornbeam_model_cache_evictions_total", "counter", "Entries evicted to stay in budget.",
       &CacheStats::evictions},
      {"hornbeam_model_cache_bytes", "gauge", "Bytes the result cache holds.", &CacheStats::bytes},
      {"hornbeam_model_cache_capacity_bytes", "gauge", "The result cache's budget (0: off).",
       &CacheStats::capacity_bytes},
  };
  for (const Family& f : kFamilies) {
    w.Family(f.name, f.type, f.help);
    for (const ModelSnapshot& m : s.models) w.Sample(f.name, ModelLabel(m), m.cache.*f.field);
  }
}

void RenderDevices(Writer& w, const DeviceMonitor::Snapshot& snap) {
  if (snap.devices.empty()) return;
  auto dev = [](const DeviceMonitor::Device& d) {
    return "device=\"" + EscapeLabel(d.info.kind + ":" + std::to_string(d.info.ordinal)) +
           "\",name=\"" + EscapeLabel(d.info.name) + "\",uuid=\"" + EscapeLabel(d.info.uuid) + "\"";
  };
  w.Family("hornbeam_device_memory_total_bytes", "gauge", "Memory of the device.");
  for (const auto& d : snap.devices) {
    w.Sample("hornbeam_device_memory_total_bytes", dev(d), d.info.memory_total_bytes);
  }
  w.Family("hornbeam_device_memory_used_bytes", "gauge",
           "Memory in use on the device, by every process.");
  for (const auto& d : snap.devices) {
    w.Sample("hornbeam_device_memory_used_bytes", dev(d), d.info.memory_used_bytes);
  }
}

}  // namespace

std::string RenderPrometheus(const PrometheusInputs& in) {
  Writer w;
  RenderNode(w, in);
  if (in.metrics) RenderCalls(w, *in.metrics);
  if (in.models) {
    RenderModels(w, *in.models);
    RenderCaches(w, *in.models);
    RenderDevices(w, in.models->devices);
  }
  return w.str();
}

}  // namespace hb
