// ResultCache: a model's embeddings by exact text, least recently used first
// out, bounded in bytes. A repeated text (a popular query, a document
// re-indexed) is answered without touching the batcher.
//
// The cache belongs to one serving model (one plugin version and
// configuration): a rebuilt model gets a new cache and a reload empties every
// cache, so the key needs only the text. Rows are stored as the plugin
// produced them; per-call options (normalize) apply after a lookup.
//
// Thread: any; one mutex (lookups on the loop thread, inserts on instance
// threads).
#pragma once

#include <cstdint>
#include <list>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "base/mutex.h"

namespace hb {

struct CacheStats {
  uint64_t capacity_bytes = 0;
  uint64_t bytes = 0;
  uint64_t entries = 0;
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
};

class ResultCache {
 public:
  // `capacity_bytes` 0: off (every lookup misses, nothing is kept).
  ResultCache(uint64_t capacity_bytes, uint32_t dim);
  ResultCache(const ResultCache&) = delete;
  ResultCache& operator=(const ResultCache&) = delete;

  bool enabled() const { return capacity_ > 0; }
  // Copies the row for `text` into `row` (dim floats): true on a hit.
  bool Lookup(std::string_view text, float* row) EXCLUDES(mu_);
  void Insert(std::string_view text, const float* row) EXCLUDES(mu_);
  void Clear() EXCLUDES(mu_);  // on reload; not counted as evictions
  CacheStats Stats() const EXCLUDES(mu_);

 private:
  struct Entry {
    std::string text;
    std::vector<float> row;
  };
  uint64_t Cost(size_t text_bytes) const;
  void EvictFor(uint64_t cost) REQUIRES(mu_);

  const uint64_t capacity_;
  const uint32_t dim_;
  mutable Mutex mu_;
  std::list<Entry> lru_ GUARDED_BY(mu_);  // most recent first
  std::unordered_map<std::string_view, std::list<Entry>::iterator> index_ GUARDED_BY(mu_);
  CacheStats stats_ GUARDED_BY(mu_);
};

}  // namespace hb
