// External term format tags (erts/emulator/beam/external.h; ERTS user's guide,
// "External Term Format"). Only the validator and the codec use these.
#pragma once

#include <cstdint>

namespace hb {

inline constexpr uint8_t kVersionMagic = 131;
inline constexpr uint8_t kNewFloatExt = 70;
inline constexpr uint8_t kBitBinaryExt = 77;
inline constexpr uint8_t kAtomCacheRef = 82;
inline constexpr uint8_t kNewPidExt = 88;
inline constexpr uint8_t kNewPortExt = 89;
inline constexpr uint8_t kNewerReferenceExt = 90;
inline constexpr uint8_t kSmallIntegerExt = 97;
inline constexpr uint8_t kIntegerExt = 98;
inline constexpr uint8_t kFloatExt = 99;
inline constexpr uint8_t kAtomExt = 100;
inline constexpr uint8_t kReferenceExt = 101;
inline constexpr uint8_t kPortExt = 102;
inline constexpr uint8_t kPidExt = 103;
inline constexpr uint8_t kSmallTupleExt = 104;
inline constexpr uint8_t kLargeTupleExt = 105;
inline constexpr uint8_t kNilExt = 106;
inline constexpr uint8_t kStringExt = 107;
inline constexpr uint8_t kListExt = 108;
inline constexpr uint8_t kBinaryExt = 109;
inline constexpr uint8_t kSmallBigExt = 110;
inline constexpr uint8_t kLargeBigExt = 111;
inline constexpr uint8_t kNewFunExt = 112;
inline constexpr uint8_t kExportExt = 113;
inline constexpr uint8_t kNewReferenceExt = 114;
inline constexpr uint8_t kSmallAtomExt = 115;
inline constexpr uint8_t kMapExt = 116;
inline constexpr uint8_t kAtomUtf8Ext = 118;
inline constexpr uint8_t kSmallAtomUtf8Ext = 119;
inline constexpr uint8_t kV4PortExt = 120;

}  // namespace hb
