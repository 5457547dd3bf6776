#include "daemon/model_terms.h"

#include "daemon/blas_tuning.h"

namespace hb {
namespace {

Term Int(uint64_t v) { return Term::Int(static_cast<int64_t>(v)); }

// metrics:get_all keeps microseconds and computed quantiles: Erlang callers
// read one node at a time, and this shape predates the Prometheus buckets.
Term Summary(const LatencyHistogram& h) {
  return Term::Map({{Term::Atom("count"), Int(h.count())},
                    {Term::Atom("p50"), Int(h.Quantile(0.5))},
                    {Term::Atom("p99"), Int(h.Quantile(0.99))},
                    {Term::Atom("mean"), Int(h.count() ? h.sum() / h.count() : 0)}});
}

Term CacheTerm(const CacheStats& c) {
  return Term::Map({{Term::Atom("hits"), Int(c.hits)},
                    {Term::Atom("misses"), Int(c.misses)},
                    {Term::Atom("evictions"), Int(c.evictions)},
                    {Term::Atom("bytes"), Int(c.bytes)},
                    {Term::Atom("entries"), Int(c.entries)},
                    {Term::Atom("capacity_bytes"), Int(c.capacity_bytes)}});
}

Term ModelMetrics(const BatcherStats& st) {
  std::vector<std::pair<Term, Term>> reasons;
  for (const auto& [r, c] : st.errors_by_reason) reasons.emplace_back(Term::Atom(r), Int(c));
  return Term::Map({{Term::Atom("requests"), Int(st.jobs)},
                    {Term::Atom("errors_by_reason"), Term::Map(std::move(reasons))},
                    {Term::Atom("bytes_in"), Int(st.bytes_in)},
                    {Term::Atom("bytes_out"), Int(st.bytes_out)},
                    {Term::Atom("texts"), Int(st.texts)},
                    {Term::Atom("batches"), Int(st.batches)},
                    {Term::Atom("queue_depth"), Int(st.queue_depth)},
                    {Term::Atom("rejected_overloaded"), Int(st.rejected_overloaded)},
                    {Term::Atom("dropped_cancelled"), Int(st.dropped_cancelled)},
                    {Term::Atom("batch_errors"), Int(st.batch_errors)},
                    {Term::Atom("batch_size"), Summary(st.batch_size)},
                    {Term::Atom("queue_us"), Summary(st.queue_us)},
                    {Term::Atom("execute_us"), Summary(st.execute_us)}});
}

// The model's health map, plus `blas` for CPU models of OpenBLAS plugins.
Term ModelHealth(const ModelSnapshot& m) {
  std::vector<std::pair<Term, Term>> kv = {
      {Term::Atom("name"), Term::Atom(m.name)},
      {Term::Atom("status"), Term::Atom(ModelStatusName(m.status))},
      {Term::Atom("plugin"), Term::Binary(m.config.plugin)},
      {Term::Atom("version"), Term::Binary(m.plugin_version)},
      {Term::Atom("device"), Term::Binary(m.caps.description.empty()
                                              ? DevicesText(m.config.devices)
                                              : m.caps.description)},
      {Term::Atom("instances"), Int(m.config.instances)},
      {Term::Atom("output_dim"), Int(m.caps.output_dim)},
      {Term::Atom("queue_depth"), Int(m.load.queue_depth)},
      {Term::Atom("busy_instances"), Int(m.load.busy_instances)},
      {Term::Atom("error"), Term::Binary(m.error)},
  };
  if (std::optional<BlasChoice> blas = BlasChoiceForModel(m.config)) {
    kv.emplace_back(Term::Atom("blas"), BlasTerm(*blas));
  }
  kv.emplace_back(Term::Atom("isolation"), Term::Atom(m.config.isolation));
  if (m.config.isolation == "process") {
    kv.emplace_back(Term::Atom("restarts"), Int(m.restarts));
    kv.emplace_back(Term::Atom("crashes"), Int(m.crashes));
    kv.emplace_back(Term::Atom("last_crash"), Term::Binary(m.last_crash));
  }
  return Term::Map(std::move(kv));
}

}  // namespace

Term BlasTerm(const BlasChoice& c) {
  return Term::Map({{Term::Atom("coretype"), Term::Binary(c.corename)},
                    {Term::Atom("requested"), Term::Binary(c.coretype)},
                    {Term::Atom("gflops"), Term::Float(c.gflops)},
                    {Term::Atom("threads"), Int(c.threads)},
                    {Term::Atom("source"), Term::Atom(c.source)},
                    {Term::Atom("cached"), Term::Atom(c.cached ? "true" : "false")},
                    {Term::Atom("warning"), Term::Binary(c.warning)}});
}

Term ModelsHealthTerm(const RegistrySnapshot& snapshot) {
  std::vector<Term> out;
  out.reserve(snapshot.models.size());
  for (const ModelSnapshot& m : snapshot.models) out.push_back(ModelHealth(m));
  return Term::List(std::move(out));
}

Term ModelsMetricsTerm(const RegistrySnapshot& snapshot) {
  std::vector<std::pair<Term, Term>> out;
  for (const ModelSnapshot& m : snapshot.models) {
    if (!m.stats) continue;
    Term stats = ModelMetrics(*m.stats);
    std::vector<std::pair<Term, Term>> pairs;
    for (size_t i = 0; i + 1 < stats.size(); i += 2) pairs.emplace_back(stats[i], stats[i + 1]);
    pairs.emplace_back(Term::Atom("cache"), CacheTerm(m.cache));
    out.emplace_back(Term::Atom(m.name), Term::Map(std::move(pairs)));
  }
  return Term::Map(std::move(out));
}

Term DevicesTerm(const DeviceMonitor::Snapshot& devices,
                 std::chrono::steady_clock::time_point now) {
  uint64_t age_ms = static_cast<uint64_t>(
      std::chrono::duration_cast<std::chrono::milliseconds>(now - devices.taken).count());
  std::vector<Term> out;
  for (const DeviceMonitor::Device& d : devices.devices) {
    std::vector<Term> plugins;
    for (const std::string& p : d.plugins) plugins.push_back(Term::Binary(p));
    out.push_back(Term::Map({
        {Term::Atom("id"), Term::Binary(d.info.kind + ":" + std::to_string(d.info.ordinal))},
        {Term::Atom("kind"), Term::Binary(d.info.kind)},
        {Term::Atom("ordinal"), Term::Int(d.info.ordinal)},
        {Term::Atom("name"), Term::Binary(d.info.name)},
        {Term::Atom("uuid"), Term::Binary(d.info.uuid)},
        {Term::Atom("memory_total_bytes"), Int(d.info.memory_total_bytes)},
        {Term::Atom("memory_used_bytes"), Int(d.info.memory_used_bytes)},
        {Term::Atom("plugins"), Term::List(std::move(plugins))},
        {Term::Atom("age_ms"), Int(age_ms)},
    }));
  }
  return Term::List(std::move(out));
}

bool AnyModelDegraded(const RegistrySnapshot& snapshot) {
  for (const ModelSnapshot& m : snapshot.models) {
    if (m.status != ModelStatus::kOk) return true;
  }
  return false;
}

}  // namespace hb
