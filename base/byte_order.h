// Big-endian (network order) integers, as the distribution protocol, epmd
// and the external term format write them.
//
// Callers check bounds first: these read and write exactly `n` bytes.
// Thread: pure functions.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace hb {

// The `n`-byte (n <= 8) big-endian unsigned integer at `p[at]`.
inline uint64_t ReadBigEndian(std::string_view p, size_t at, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v = (v << 8) | static_cast<uint8_t>(p[at + i]);
  return v;
}

// Appends the low `n` bytes of `v` to `out`, most significant first.
inline void AppendBigEndian(std::string* out, uint64_t v, size_t n) {
  for (size_t i = n; i-- > 0;) out->push_back(static_cast<char>((v >> (8 * i)) & 0xff));
}

// Writes the low `n` bytes of `v` at `p`, most significant first; returns
// the byte after them.
inline char* WriteBigEndian(char* p, uint64_t v, size_t n) {
  for (size_t i = n; i-- > 0;) *p++ = static_cast<char>((v >> (8 * i)) & 0xff);
  return p;
}

}  // namespace hb
