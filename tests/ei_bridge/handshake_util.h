// The connecting side's handshake packets, shared by the handshake state
// machine's tests and the tests that drive a DistNode over a socket.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "base/byte_order.h"
#include "ei_bridge/dist_flags.h"

namespace hb::testing {

// What an OTP 26 peer advertises, near enough.
inline constexpr uint64_t kPeerFlags = dflag::kMandatory25 | dflag::kMandatory26 |
                                       dflag::kMandatory25Digest | dflag::kDistMonitor |
                                       dflag::kDistMonitorName | dflag::kSpawn | dflag::kAlias;

// Packets without their 2-byte length.
// 'N' | Flags:64 | Creation:32 | NameLen:16 | Name
inline std::string NamePacket(uint64_t flags, uint32_t creation, std::string_view name) {
  std::string p = "N";
  AppendBigEndian(&p, flags, 8);
  AppendBigEndian(&p, creation, 4);
  AppendBigEndian(&p, name.size(), 2);
  p.append(name.data(), name.size());
  return p;
}

// 'r' | Challenge:32 | Digest:16
inline std::string ReplyPacket(uint32_t peer_challenge, std::string_view digest) {
  std::string p = "r";
  AppendBigEndian(&p, peer_challenge, 4);
  p.append(digest.data(), digest.size());
  return p;
}

}  // namespace hb::testing
