#include "daemon/result_cache.h"

#include <cstring>

namespace hb {
namespace {

// What an entry costs beyond its text and row: the list node, the index
// slot and the two heap blocks' headers, roughly.
constexpr uint64_t kEntryOverhead = 128;

}  // namespace

ResultCache::ResultCache(uint64_t capacity_bytes, uint32_t dim)
    : capacity_(capacity_bytes), dim_(dim) {
  MutexLock lock(&mu_);
  stats_.capacity_bytes = capacity_bytes;
}

uint64_t ResultCache::Cost(size_t text_bytes) const {
  return text_bytes + uint64_t{dim_} * sizeof(float) + kEntryOverhead;
}

bool ResultCache::Lookup(std::string_view text, float* row) {
  if (!enabled()) return false;
  MutexLock lock(&mu_);
  auto it = index_.find(text);
  if (it == index_.end()) {
    ++stats_.misses;
    return false;
  }
  lru_.splice(lru_.begin(), lru_, it->second);
  std::memcpy(row, it->second->row.data(), dim_ * sizeof(float));
  ++stats_.hits;
  return true;
}

void ResultCache::EvictFor(uint64_t cost) {
  while (!lru_.empty() && stats_.bytes + cost > capacity_) {
    Entry& last = lru_.back();
    stats_.bytes -= Cost(last.text.size());
    index_.erase(last.text);
    lru_.pop_back();
    --stats_.entries;
    ++stats_.evictions;
  }
}

void ResultCache::Insert(std::string_view text, const float* row) {
  if (!enabled()) return;
  uint64_t cost = Cost(text.size());
  if (cost > capacity_) return;  // would evict everything for one entry
  MutexLock lock(&mu_);
  if (index_.count(text)) return;  // a concurrent call embedded it too
  EvictFor(cost);
  lru_.push_front(Entry{std::string(text), std::vector<float>(row, row + dim_)});
  index_.emplace(lru_.front().text, lru_.begin());
  stats_.bytes += cost;
  ++stats_.entries;
}

void ResultCache::Clear() {
  MutexLock lock(&mu_);
  index_.clear();
  lru_.clear();
  stats_.bytes = 0;
  stats_.entries = 0;
}

CacheStats ResultCache::Stats() const {
  MutexLock lock(&mu_);
  return stats_;
}

}  // namespace hb
