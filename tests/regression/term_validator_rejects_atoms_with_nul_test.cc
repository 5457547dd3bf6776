// Guards: atoms with an embedded NUL byte. ei returns atom names as C strings,
// so 'rex\0x' decoded as rex and a pid of node "client@host\0x" passed the
// check that a SPAWN_REQUEST's caller belongs to the sending node. Reported
// by the fuzzing review (no crash: a silent truncation).
#include <catch2/catch.hpp>

#include "ei_bridge/control.h"
#include "ei_bridge/term_validator.h"

namespace hb {
namespace {

TEST_CASE("an atom with a NUL byte is refused", "[regression][term_validator]") {
  const std::string atom("\x77\x05rex\x00x", 7);  // SMALL_ATOM_UTF8_EXT 'rex\0x'
  CHECK_FALSE(ValidateTerm(atom, 0, TermLimits{}).ok());
  const std::string fine("\x77\x03rex", 5);
  CHECK(ValidateTerm(fine, 0, TermLimits{}).ok());
  // A REG_SEND to 'rex\0x' is a malformed packet, not a message for rex.
  std::string packet = std::string("p\x83\x68\x04\x61\x06", 6) + "\x6a" + "\x77\x00" +
                       atom + "\x83\x6a";
  CHECK_FALSE(DecodeControlPacket(packet, TermLimits{}).ok());
}

}  // namespace
}  // namespace hb
