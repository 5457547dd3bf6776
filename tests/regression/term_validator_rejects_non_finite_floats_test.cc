// Guards: floats that are not finite. NEW_FLOAT_EXT with an all-ones exponent
// (NaN, infinity) -- and, before feee107 refused FLOAT_EXT, text that
// overflows to infinity -- was accepted and decoded, but ei_encode_double
// refuses non-finite values (and
// the BEAM's binary_to_term rejects them too), so every reply echoing such a
// term -- the undef/badarg stacks of erpc and rpc carry the caller's
// arguments -- failed to encode in Connection::SendControl and was dropped:
// the caller never got an answer. Found by control_fuzzer (decode-ok must
// imply encode-ok) and request_fuzzer (every reply must encode).
#include <catch2/catch.hpp>

#include "ei_bridge/control.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "tests/regression/regression_util.h"

namespace hb {
namespace {

TEST_CASE("NEW_FLOAT_EXT NaN is refused", "[regression][term_validator]") {
  const std::string in = regression::ReadInput("new_float_ext_nan.bin");
  REQUIRE(static_cast<uint8_t>(in[0]) == 70);  // NEW_FLOAT_EXT
  regression::RequireRefusedTerm(in);
}

TEST_CASE("NEW_FLOAT_EXT infinity is refused", "[regression][term_validator]") {
  const std::string in("\x46\x7f\xf0\x00\x00\x00\x00\x00\x00", 9);
  regression::RequireRefusedTerm(in);
}

TEST_CASE("FLOAT_EXT text that overflows to infinity is refused", "[regression][term_validator]") {
  const std::string in = regression::ReadInput("float_ext_overflows_to_inf.bin");
  REQUIRE(static_cast<uint8_t>(in[0]) == 99);  // FLOAT_EXT
  regression::RequireRefusedTerm(in);
}

TEST_CASE("finite floats, the largest included, still decode", "[regression][term_validator]") {
  for (double d : {0.0, -0.0, 1.5, -1.7976931348623157e308, 4.9e-324}) {
    Result<std::string> enc = EncodeWithVersion(Term::Float(d));
    REQUIRE(enc.ok());
    size_t pos = 0;
    Result<Term> t = DecodeVersioned(*enc, &pos, TermLimits{});
    REQUIRE(t.ok());
    CHECK(t->float_value() == d);
  }
}

}  // namespace
}  // namespace hb
