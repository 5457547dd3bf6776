// Guards: FLOAT_EXT (tag 99, 31 bytes of "%.20e" text) whose text is not a
// number. The validator used to skip the 31 bytes unread, so the term passed
// validation and then failed in ei_decode_double's sscanf: DecodeVersioned
// returned kInternal ("decoder and validator disagree"), the one error the
// validator exists to make impossible. Found by control_fuzzer
// (validate-ok must imply decode-ok); fixed meanwhile by feee107, which
// refuses FLOAT_EXT altogether (no peer with NEW_FLOATS sends it).
#include <catch2/catch.hpp>

#include "ei_bridge/control.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "tests/regression/regression_util.h"

namespace hb {
namespace {

TEST_CASE("FLOAT_EXT with text that is not a number is refused by the validator",
          "[regression][term_validator]") {
  const std::string in = regression::ReadInput("float_ext_unparseable_text.bin");
  REQUIRE(static_cast<uint8_t>(in[0]) == 99);  // FLOAT_EXT

  Result<size_t> v = ValidateTerm(in, 0, TermLimits{});
  CHECK_FALSE(v.ok());

  // Inside a packet: a malformed message (close the connection), never an
  // internal error.
  Result<ControlMessage> m = DecodeControlPacket(regression::SendPacketWith(in), TermLimits{});
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() != StatusCode::kInternal);

  regression::ThrowOnFuzzFailure guard;
  REQUIRE_NOTHROW(fuzz::FuzzControl(regression::Bytes(in), in.size()));
}

}  // namespace
}  // namespace hb
