// Guards: TermLimits::max_elements against STRING_EXT. The validator counted
// a STRING_EXT as one element, but the decoder turns it into a list of one
// integer Term per byte, so the limit that bounds what one message can make
// us allocate did not hold: with the default 64 MiB max_packet_bytes, a
// packet of ~1000 STRING_EXTs of 65535 bytes each passes max_elements
// (2^20) and decodes into ~67 million Terms (gigabytes). Found by
// control_fuzzer (the validator must count every Term the decoder creates).
#include <catch2/catch.hpp>

#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "tests/regression/regression_util.h"

namespace hb {
namespace {

TEST_CASE("a STRING_EXT of n bytes counts as n + 1 elements", "[regression][term_validator]") {
  const std::string in = regression::ReadInput("string_ext_one_char.bin");  // "!"
  REQUIRE(static_cast<uint8_t>(in[0]) == 107);
  TermLimits tight;
  tight.max_elements = 1;  // the list alone; its one integer is a second Term
  CHECK_FALSE(ValidateTerm(in, 0, tight).ok());
  tight.max_elements = 2;
  CHECK(ValidateTerm(in, 0, tight).ok());

  // A 65535-byte string is 65536 Terms.
  std::string big = "\x6b\xff\xff";
  big.append(65535, 'a');
  tight.max_elements = 65535;
  CHECK_FALSE(ValidateTerm(big, 0, tight).ok());
  tight.max_elements = 65536;
  CHECK(ValidateTerm(big, 0, tight).ok());

  regression::ThrowOnFuzzFailure guard;
  REQUIRE_NOTHROW(fuzz::FuzzControl(regression::Bytes(in), in.size()));
}

}  // namespace
}  // namespace hb
