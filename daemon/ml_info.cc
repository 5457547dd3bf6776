#include "daemon/ml_info.h"

#include <optional>
#include <string>
#include <vector>

#include "daemon/blas_tuning.h"
#include "daemon/model_terms.h"

namespace hb {
namespace {

Term Int(uint64_t v) { return Term::Int(static_cast<int64_t>(v)); }
Term A(const char* a) { return Term::Atom(a); }

Term CacheTerm(const ResultCache& cache) {
  CacheStats s = cache.Stats();
  return Term::Map({{A("enabled"), A(cache.enabled() ? "true" : "false")},
                    {A("capacity_bytes"), Int(s.capacity_bytes)},
                    {A("bytes"), Int(s.bytes)},
                    {A("entries"), Int(s.entries)},
                    {A("hits"), Int(s.hits)},
                    {A("misses"), Int(s.misses)},
                    {A("evictions"), Int(s.evictions)}});
}

}  // namespace

Term ModelInfoTerm(const ServingModel& m) {
  std::vector<Term> devices, functions;
  for (int d : m.config.devices) devices.push_back(Term::Int(d));
  for (const std::string& f : m.caps.term_functions) functions.push_back(Term::Binary(f));
  const BatcherOptions& b = m.batcher->options();
  Term defaults = Term::Map({{A("normalize"), A("false")},
                             {A("truncate"), A("true")},
                             {A("priority"), A("interactive")}});
  std::vector<std::pair<Term, Term>> kv = {
      {A("name"), Term::Atom(m.name)},
      {A("plugin"), Term::Binary(m.config.plugin)},
      {A("plugin_name"), Term::Binary(m.plugin_name)},
      {A("plugin_version"), Term::Binary(m.plugin_version)},
      {A("description"), Term::Binary(m.caps.description)},
      {A("output_dim"), Int(m.caps.output_dim)},
      {A("max_tokens"), Int(m.caps.max_tokens)},
      {A("max_batch_size"), Int(b.max_batch_size)},
      {A("max_request_texts"), Int(m.config.max_request_texts)},
      {A("max_queue"), Int(b.max_queue)},
      {A("max_queue_delay_us"), Int(b.max_queue_delay_us)},
      {A("instances"), Int(m.batcher->instances())},
      {A("devices"), Term::List(std::move(devices))},
      {A("needs_gpu"), A(m.caps.needs_gpu ? "true" : "false")},
      {A("term_functions"), Term::List(std::move(functions))},
      {A("default_options"), std::move(defaults)},
      {A("cache"), CacheTerm(*m.cache)},
  };
  // CPU models of OpenBLAS plugins: the GEMM kernels chosen at start.
  if (std::optional<BlasChoice> blas = BlasChoiceForModel(m.config)) {
    kv.emplace_back(A("blas"), BlasTerm(*blas));
  }
  return Term::Map(std::move(kv));
}

}  // namespace hb
