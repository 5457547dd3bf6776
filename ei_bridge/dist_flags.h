// Distribution capability flags (OTP kernel/include/dist.hrl) and the set
// hornbeamd advertises.
#pragma once

#include <cstdint>

namespace hb::dflag {

inline constexpr uint64_t kPublished = 0x1;
inline constexpr uint64_t kAtomCache = 0x2;
inline constexpr uint64_t kExtendedReferences = 0x4;
inline constexpr uint64_t kDistMonitor = 0x8;
inline constexpr uint64_t kFunTags = 0x10;
inline constexpr uint64_t kDistMonitorName = 0x20;
inline constexpr uint64_t kHiddenAtomCache = 0x40;
inline constexpr uint64_t kNewFunTags = 0x80;
inline constexpr uint64_t kExtendedPidsPorts = 0x100;
inline constexpr uint64_t kExportPtrTag = 0x200;
inline constexpr uint64_t kBitBinaries = 0x400;
inline constexpr uint64_t kNewFloats = 0x800;
inline constexpr uint64_t kUnicodeIo = 0x1000;
inline constexpr uint64_t kDistHdrAtomCache = 0x2000;
inline constexpr uint64_t kSmallAtomTags = 0x4000;
inline constexpr uint64_t kUtf8Atoms = 0x10000;
inline constexpr uint64_t kMapTag = 0x20000;
inline constexpr uint64_t kBigCreation = 0x40000;
inline constexpr uint64_t kSendSender = 0x80000;
inline constexpr uint64_t kBigSeqtraceLabels = 0x100000;
inline constexpr uint64_t kExitPayload = 0x400000;
inline constexpr uint64_t kFragments = 0x800000;
inline constexpr uint64_t kHandshake23 = 0x1000000;
inline constexpr uint64_t kUnlinkId = 0x2000000;
inline constexpr uint64_t kMandatory25Digest = 0x4000000;
inline constexpr uint64_t kSpawn = 1ull << 32;
inline constexpr uint64_t kNameMe = 1ull << 33;
inline constexpr uint64_t kV4Nc = 1ull << 34;
inline constexpr uint64_t kAlias = 1ull << 35;

// What OTP 25 requires of every peer; OTP 25+ accepts kMandatory25Digest as
// shorthand for all of it, and OTP 27 requires the digest bit itself.
inline constexpr uint64_t kMandatory25 = kExtendedReferences | kFunTags | kExtendedPidsPorts |
                                         kNewFunTags | kExportPtrTag | kBitBinaries |
                                         kNewFloats | kUtf8Atoms | kMapTag | kBigCreation |
                                         kHandshake23;
// OTP 26 adds these to the mandatory set.
inline constexpr uint64_t kMandatory26 = kV4Nc | kUnlinkId;

// Advertised by hornbeamd: every mandatory bit spelled out *and* the digest
// (so OTP 23/24 peers and OTP 27+ peers both accept us), plus what the control
// layer implements: spawn_request, monitors (with names, so that callers'
// nodes tell us when they give up on a call), unlink ids, and v4 node
// containers. No atom cache, no fragments, no EXIT_PAYLOAD, no SEND_SENDER:
// we never receive what we do not advertise.
inline constexpr uint64_t kOurs = kMandatory25 | kMandatory25Digest | kMandatory26 |
                                  kDistMonitor | kDistMonitorName | kSmallAtomTags |
                                  kBigSeqtraceLabels | kSpawn;

// True when a peer's flags satisfy what OTP 25 itself demands of a peer.
inline bool PeerMeetsMandatory(uint64_t peer) {
  return (peer & kMandatory25Digest) != 0 || (peer & kMandatory25) == kMandatory25;
}

}  // namespace hb::dflag
