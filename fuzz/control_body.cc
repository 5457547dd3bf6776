// The control target's body, FuzzControl (format in fuzz_bodies.h): the
// input as one term and as a peer's 4-byte-framed packet stream. The
// per-term and per-packet checks are in fuzz_support.cc (the handshake and
// request bodies run them too).
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "ei_bridge/packet_reader.h"
#include "ei_bridge/term_validator.h"
#include "fuzz/fuzz_bodies.h"
#include "fuzz/fuzz_support.h"

namespace hb::fuzz {
namespace {

using internal::CheckControlPacket;
using internal::CheckTerm;
using internal::Guarded;

// Splits a 4-byte-framed stream into packets as Connection does, feeding it
// in two pieces so that a packet straddles an Append.
void ControlStream(std::string_view in, size_t split, const TermLimits& limits) {
  constexpr size_t kMaxPacket = 1u << 20;
  PacketReader reader(4, kMaxPacket);
  size_t consumed = 0;
  std::string packet;
  auto drain = [&]() -> bool {
    for (;;) {
      Result<bool> got = reader.Next(&packet);
      if (!got.ok()) {
        FUZZ_CHECK(got.status().code() == StatusCode::kOutOfRange,
                   "PacketReader error is not kOutOfRange: " + got.status().message());
        return false;  // Connection closes here
      }
      if (!*got) return true;
      FUZZ_CHECK(packet.size() <= kMaxPacket, "PacketReader returned an oversized packet");
      consumed += 4 + packet.size();
      if (!packet.empty()) CheckControlPacket(packet, limits);  // empty: a tick
    }
  };
  split = std::min(split, in.size());
  reader.Append(in.substr(0, split));
  if (!drain()) return;
  FUZZ_CHECK(consumed + reader.buffered() == split, "PacketReader lost or invented bytes");
  reader.Append(in.substr(split));
  if (!drain()) return;
  FUZZ_CHECK(consumed + reader.buffered() == in.size(), "PacketReader lost or invented bytes");
}

void FuzzControlImpl(const uint8_t* data, size_t size) {
  const std::string_view in(reinterpret_cast<const char*>(data), size);
  const TermLimits limits;
  // The raw bytes as one bare and one versioned term: validate-ok must mean
  // decode-ok, ending at the same offset. Decoded from a copy, as production
  // decodes from std::string packets.
  const std::string copy(in);
  CheckTerm(copy, 0, limits, false);
  CheckTerm(copy, 0, limits, true);
  // The bytes as a peer's stream after the handshake.
  ControlStream(in, size == 0 ? 0 : data[size - 1] % (size + 1), limits);
}
}  // namespace

void FuzzControl(const uint8_t* data, size_t size) {
  Guarded([&] { FuzzControlImpl(data, size); });
}

}  // namespace hb::fuzz
