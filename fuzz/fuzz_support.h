// Support shared by the fuzz target bodies (control_body.cc,
// handshake_body.cc, request_body.cc, config_body.cc): failure reporting
// (FUZZ_CHECK, Guarded) and the term and control-message checks that more
// than one body runs -- the control body's checks also run on the control
// packets that follow a handshake and on every reply of the request body.
//
// Internal to fuzz/: only the *_body.cc files and fuzz_support.cc include it.
// It is not part of the public contract in fuzz_bodies.h, which is all the
// libFuzzer mains and the corpus replay test see. (fuzz_support.cc also
// defines fuzz_bodies.h's SetFailureHandler and QuietLogs.)
//
// Thread: as fuzz_bodies.h, one thread at a time.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "ei_bridge/control.h"
#include "ei_bridge/term_validator.h"

namespace hb::fuzz::internal {

// ---- failure reporting ----------------------------------------------------

// Separates a violation's description from the input-controlled data
// (described terms, names) that follows it.
inline const std::string kData = "\n  data: ";

// HB_FUZZ_ONLY=TEXT: only violations whose description contains TEXT count;
// an input that violates another invariant is abandoned as uninteresting.
// For minimising one bug while others are still open (scripts/fuzz --only).
struct SkipInput {};

// Hands `what` to the failure handler (fuzz_bodies.h), or throws SkipInput
// when HB_FUZZ_ONLY filters it out. Use FUZZ_CHECK.
[[noreturn]] void Fail(const char* file, int line, const std::string& what);

// Runs a body; SkipInput ends the input quietly.
template <typename F>
void Guarded(F&& body) {
  try {
    body();
  } catch (const SkipInput&) {
  }
}

// `what` is evaluated only when `cond` is false.
#define FUZZ_CHECK(cond, what)                                                       \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      ::hb::fuzz::internal::Fail(__FILE__, __LINE__,                                 \
                                 std::string("check failed: " #cond "\n") + (what)); \
    }                                                                                \
  } while (0)

// At most `max` bytes in hex, then the total size.
std::string Hex(std::string_view bytes, size_t max = 96);

// ---- terms and control messages -------------------------------------------

// Whether `op` carries a message (payload) after its control term.
bool HasPayload(ControlOp op);

// ValidateTerm / DecodeValidated / DecodeVersioned / EncodeTerm agree on the
// term at data[offset] (with a version byte when `versioned`). Returns the
// offset past the term when the validator accepts it.
std::optional<size_t> CheckTerm(std::string_view data, size_t offset, const TermLimits& limits,
                                bool versioned);

// Encodes `m` and decodes it again; the result must be the same message.
// `decode_limits` are what the receiving side applies.
void CheckRoundTrip(const ControlMessage& m, const TermLimits& decode_limits,
                    const std::string& origin);

// One control packet (without its length header) as the daemon receives it:
// its terms through CheckTerm, then DecodeControlPacket, the decoded shape
// and the message's round trip.
void CheckControlPacket(const std::string& packet, const TermLimits& limits);

}  // namespace hb::fuzz::internal
