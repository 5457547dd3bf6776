#include "ei_bridge/packet_reader.h"

#include <cstdint>

#include "base/byte_order.h"

namespace hb {

Result<bool> PacketReader::Next(std::string* packet) {
  size_t avail = buf_.size() - start_;
  if (avail < header_bytes_) return false;
  size_t len = ReadBigEndian(buf_, start_, header_bytes_);
  if (len > max_packet_) {
    return OutOfRange("packet of " + std::to_string(len) + " bytes exceeds the limit of " +
                      std::to_string(max_packet_));
  }
  if (avail - header_bytes_ < len) return false;
  packet->assign(buf_, start_ + header_bytes_, len);
  start_ += header_bytes_ + len;
  // Compact once the consumed prefix dominates, so the buffer does not grow
  // without bound on a long-lived connection and copies stay amortised O(1).
  if (start_ == buf_.size()) {
    buf_.clear();
    start_ = 0;
  } else if (start_ > 65536 && start_ * 2 > buf_.size()) {
    buf_.erase(0, start_);
    start_ = 0;
  }
  return true;
}

}  // namespace hb
