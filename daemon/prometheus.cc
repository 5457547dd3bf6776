#include "daemon/prometheus.h"

#include <sstream>

namespace hb {

std::string EscapeLabel(const std::string& v) {
  std::string out;
  out.reserve(v.size());
  for (char c : v) {
    if (c == '\\') out += "\\\\";
    else if (c == '"') out += "\\\"";
    else if (c == '\n') out += "\\n";
    else out += c;
  }
  return out;
}

namespace {

class Writer {
 public:
  void Family(const char* name, const char* type, const char* help) {
    out_ << "# HELP " << name << ' ' << help << "\n# TYPE " << name << ' ' << type << '\n';
  }
  void Sample(const std::string& name, const std::string& labels, uint64_t v) {
    out_ << name;
    if (!labels.empty()) out_ << '{' << labels << '}';
    out_ << ' ' << v << '\n';
  }
  // A summary from a histogram: quantiles, _sum and _count.
  void Summary(const char* name, const std::string& labels, const LatencyHistogram& h) {
    std::string sep = labels.empty() ? "" : labels + ",";
    for (double q : {0.5, 0.9, 0.99}) {
      std::ostringstream ql;
      ql << sep << "quantile=\"" << q << '"';
      Sample(name, ql.str(), h.Quantile(q));
    }
    Sample(std::string(name) + "_sum", labels, h.sum());
    Sample(std::string(name) + "_count", labels, h.count());
  }
  std::string str() const { return out_.str(); }

 private:
  std::ostringstream out_;
};

std::string MF(const std::string& m, const std::string& f) {
  return "module=\"" + EscapeLabel(m) + "\",function=\"" + EscapeLabel(f) + "\"";
}

}  // namespace

std::string RenderPrometheus(const PrometheusInputs& in) {
  Writer w;
  w.Family("hornbeam_up", "gauge", "1 while serving, 0 while draining.");
  w.Sample("hornbeam_up", "", in.draining ? 0 : 1);
  w.Family("hornbeam_uptime_seconds", "gauge", "Seconds since the daemon started.");
  w.Sample("hornbeam_uptime_seconds", "", in.uptime_s);
  w.Family("hornbeam_connections", "gauge", "Connected Erlang nodes.");
  w.Sample("hornbeam_connections", "", in.connections);
  w.Family("hornbeam_inflight_requests", "gauge", "Calls running or queued.");
  w.Sample("hornbeam_inflight_requests", "", in.inflight);
  if (in.dist) {
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
  }
  if (in.metrics) {
    const auto& calls = in.metrics->calls();
    w.Family("hornbeam_requests_total", "counter", "Calls completed, by module and function.");
    for (const auto& [mf, s] : calls) w.Sample("hornbeam_requests_total", MF(mf.first, mf.second), s.count);
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
    for (const auto& [reason, n] : in.metrics->rejected_by_reason()) {
      w.Sample("hornbeam_requests_rejected_total", "reason=\"" + EscapeLabel(reason) + "\"", n);
    }
    w.Family("hornbeam_request_duration_us", "summary", "Call latency in microseconds.");
    for (const auto& [mf, s] : calls) {
      w.Summary("hornbeam_request_duration_us", MF(mf.first, mf.second), s.latency_us);
    }
  }
  if (in.models) {
    struct Row {
      std::string name, status;
      bool has;
      BatcherStats st;
    };
    std::vector<Row> rows;
    in.models->ForEachModel([&](const std::string& n, const std::string& status, const BatcherStats* st) {
      rows.push_back({n, status, st != nullptr, st ? *st : BatcherStats()});
    });
    auto label = [](const Row& r) { return "model=\"" + EscapeLabel(r.name) + "\""; };
    w.Family("hornbeam_model_up", "gauge", "1 when the model serves normally.");
    for (const Row& r : rows) w.Sample("hornbeam_model_up", label(r), r.status == "ok" ? 1 : 0);
    w.Family("hornbeam_model_queue_depth", "gauge", "Texts waiting for a batch.");
    for (const Row& r : rows) w.Sample("hornbeam_model_queue_depth", label(r), r.st.queue_depth);
    w.Family("hornbeam_model_requests_total", "counter", "Calls submitted to the model.");
    for (const Row& r : rows) w.Sample("hornbeam_model_requests_total", label(r), r.st.jobs);
    w.Family("hornbeam_model_texts_total", "counter", "Texts submitted to the model.");
    for (const Row& r : rows) w.Sample("hornbeam_model_texts_total", label(r), r.st.texts);
    w.Family("hornbeam_model_batches_total", "counter", "Executes run.");
    for (const Row& r : rows) w.Sample("hornbeam_model_batches_total", label(r), r.st.batches);
    w.Family("hornbeam_model_errors_total", "counter", "Texts and term calls the plugin failed, by reason.");
    for (const Row& r : rows) {
      for (const auto& [reason, n] : r.st.errors_by_reason) {
        w.Sample("hornbeam_model_errors_total", label(r) + ",reason=\"" + EscapeLabel(reason) + "\"", n);
      }
    }
    w.Family("hornbeam_model_received_bytes_total", "counter", "Text and argument bytes sent to the plugin.");
    for (const Row& r : rows) w.Sample("hornbeam_model_received_bytes_total", label(r), r.st.bytes_in);
    w.Family("hornbeam_model_sent_bytes_total", "counter", "Embedding and result bytes the plugin produced.");
    for (const Row& r : rows) w.Sample("hornbeam_model_sent_bytes_total", label(r), r.st.bytes_out);
    w.Family("hornbeam_model_rejected_total", "counter", "Calls refused because the queue was full.");
    for (const Row& r : rows) {
      w.Sample("hornbeam_model_rejected_total", label(r) + ",reason=\"overloaded\"",
               r.st.rejected_overloaded);
    }
    w.Family("hornbeam_model_batch_size", "summary", "Texts per execute.");
    for (const Row& r : rows) w.Summary("hornbeam_model_batch_size", label(r), r.st.batch_size);
    w.Family("hornbeam_model_queue_duration_us", "summary", "Time texts waited for a batch.");
    for (const Row& r : rows) w.Summary("hornbeam_model_queue_duration_us", label(r), r.st.queue_us);
    w.Family("hornbeam_model_execute_duration_us", "summary", "Time one execute took.");
    for (const Row& r : rows) w.Summary("hornbeam_model_execute_duration_us", label(r), r.st.execute_us);

    // Accelerators as plugins report them (Triton: nv_gpu_memory_*_bytes).
    DeviceMonitor::Snapshot snap = in.models->devices();
    if (!snap.devices.empty()) {
      auto dev = [](const DeviceMonitor::Device& d) {
        return "device=\"" + EscapeLabel(d.info.kind + ":" + std::to_string(d.info.ordinal)) +
               "\",name=\"" + EscapeLabel(d.info.name) + "\",uuid=\"" + EscapeLabel(d.info.uuid) +
               "\"";
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
  }
  return w.str();
}

}  // namespace hb
