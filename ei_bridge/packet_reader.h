// PacketReader: reassembles length-prefixed packets from a byte stream.
//
// The distribution uses a 2-byte big-endian length during the handshake and a
// 4-byte one afterwards; a zero-length 4-byte packet is a tick. A declared
// length above `max_packet` is an error before any byte of it is buffered, so
// a peer cannot make us allocate what it claims.
//
// Thread: one owner (the loop thread).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "base/status.h"

namespace hb {

class PacketReader {
 public:
  PacketReader(size_t header_bytes, size_t max_packet)
      : header_bytes_(header_bytes), max_packet_(max_packet) {}

  // Switches framing (after the handshake). Bytes already buffered are
  // re-read with the new header size.
  void set_header_bytes(size_t n) { header_bytes_ = n; }

  void Append(std::string_view bytes) { buf_.append(bytes.data(), bytes.size()); }

  // Extracts the next complete packet into *packet. Returns true when one
  // was extracted, false when more bytes are needed, or an error when the
  // declared length exceeds the limit.
  Result<bool> Next(std::string* packet);

  size_t buffered() const { return buf_.size() - start_; }

 private:
  size_t header_bytes_;
  size_t max_packet_;
  std::string buf_;
  size_t start_ = 0;
};

}  // namespace hb
