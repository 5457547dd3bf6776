#include "daemon/metrics.h"

#include <algorithm>
#include <bit>
#include <cassert>
#include <cmath>

namespace hb {

FixedBuckets::FixedBuckets(std::span<const uint64_t> bounds) : bounds_(bounds) {
  assert(bounds.size() <= kMaxBounds);
  assert(std::is_sorted(bounds.begin(), bounds.end()));
  if (bounds_.size() > kMaxBounds) bounds_ = bounds_.first(kMaxBounds);
}

void FixedBuckets::Record(uint64_t v) {
  // The first bound >= v; past the last, only count() (the +Inf bucket)
  // sees it.
  auto it = std::lower_bound(bounds_.begin(), bounds_.end(), v);
  if (it != bounds_.end()) ++counts_[static_cast<size_t>(it - bounds_.begin())];
}

uint64_t FixedBuckets::CountAtMost(size_t i) const {
  uint64_t n = 0;
  for (size_t b = 0; b <= i && b < bounds_.size(); ++b) n += counts_[b];
  return n;
}

int LatencyHistogram::BucketOf(uint64_t v) {
  constexpr uint64_t kSub = 1u << kSubBits;
  if (v < kSub) return static_cast<int>(v);
  int msb = 63 - std::countl_zero(v);  // >= kSubBits
  int shift = msb - kSubBits;
  return ((shift + 1) << kSubBits) + static_cast<int>((v >> shift) & (kSub - 1));
}

uint64_t LatencyHistogram::UpperBound(int bucket) {
  constexpr int kSub = 1 << kSubBits;
  if (bucket < kSub) return static_cast<uint64_t>(bucket);
  int shift = (bucket >> kSubBits) - 1;
  uint64_t mantissa = static_cast<uint64_t>(kSub + (bucket & (kSub - 1)));
  return ((mantissa + 1) << shift) - 1;
}

void LatencyHistogram::Record(uint64_t us) {
  ++counts_[BucketOf(us)];
  ++count_;
  sum_ += us;
  fixed_.Record(us);
}

uint64_t LatencyHistogram::Quantile(double q) const {
  if (count_ == 0) return 0;
  // Nearest rank: the smallest value with at least q of the samples at or below it.
  uint64_t rank = static_cast<uint64_t>(std::ceil(q * static_cast<double>(count_)));
  if (rank == 0) rank = 1;
  uint64_t seen = 0;
  for (int b = 0; b < kBuckets; ++b) {
    seen += counts_[b];
    if (seen >= rank) return UpperBound(b);
  }
  return UpperBound(kBuckets - 1);
}

void Metrics::RecordCall(const std::string& module, const std::string& function,
                         uint64_t latency_us, bool error, const std::string& reason,
                         uint64_t bytes_in, uint64_t bytes_out) {
  ++requests_total_;
  CallStats& s = calls_[{module, function}];
  ++s.count;
  s.bytes_in += bytes_in;
  s.bytes_out += bytes_out;
  s.latency_us.Record(latency_us);
  if (error) {
    ++errors_total_;
    ++s.errors;
    ++s.errors_by_reason[reason];
  }
}

void Metrics::RecordCancelled(const std::string& module, const std::string& function) {
  ++cancelled_total_;
  ++calls_[{module, function}].cancelled;
}

Term Metrics::ToTerm(uint64_t inflight) const {
  auto n = [](uint64_t v) { return Term::Int(static_cast<int64_t>(v)); };
  std::vector<std::pair<Term, Term>> calls;
  for (const auto& [mf, s] : calls_) {
    std::vector<std::pair<Term, Term>> reasons;
    for (const auto& [r, c] : s.errors_by_reason) reasons.emplace_back(Term::Atom(r), n(c));
    calls.emplace_back(
        Term::Tuple({Term::Atom(mf.first), Term::Atom(mf.second)}),
        Term::Map({{Term::Atom("count"), n(s.count)},
                   {Term::Atom("errors"), n(s.errors)},
                   {Term::Atom("cancelled"), n(s.cancelled)},
                   {Term::Atom("bytes_in"), n(s.bytes_in)},
                   {Term::Atom("bytes_out"), n(s.bytes_out)},
                   {Term::Atom("errors_by_reason"), Term::Map(std::move(reasons))},
                   {Term::Atom("p50_us"), n(s.latency_us.Quantile(0.50))},
                   {Term::Atom("p99_us"), n(s.latency_us.Quantile(0.99))},
                   {Term::Atom("mean_us"),
                    n(s.latency_us.count() ? s.latency_us.sum() / s.latency_us.count() : 0)}}));
  }
  std::vector<std::pair<Term, Term>> rejected;
  for (const auto& [r, c] : rejected_by_reason_) rejected.emplace_back(Term::Atom(r), n(c));
  return Term::Map({{Term::Atom("requests_total"), n(requests_total_)},
                    {Term::Atom("rejected_by_reason"), Term::Map(std::move(rejected))},
                    {Term::Atom("errors_total"), n(errors_total_)},
                    {Term::Atom("cancelled_total"), n(cancelled_total_)},
                    {Term::Atom("rejected_total"), n(rejected_total_)},
                    {Term::Atom("inflight"), n(inflight)},
                    {Term::Atom("calls"), Term::Map(std::move(calls))}});
}

}  // namespace hb
