// Guards: UTF-8 atoms (ATOM_UTF8_EXT, SMALL_ATOM_UTF8_EXT -- the tags an
// OTP 25 peer actually sends) that are not valid UTF-8 or have more than 255
// characters (the latter fixed meanwhile by feee107). The validator checked
// only lengths, ei's decoder copies the bytes unchecked, but ei's encoder
// verifies both, so a
// peer could make hornbeamd hold a name it cannot send back: an erpc call of
// an unrouted function with such an atom as an argument got an undef reply
// that failed to encode and was dropped -- the caller hung. (The BEAM's
// binary_to_term refuses these atoms.) Node names inside pids, ports and
// references go through the same check. Found by control_fuzzer and
// request_fuzzer.
#include <catch2/catch.hpp>

#include "ei_bridge/control.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "tests/regression/regression_util.h"

namespace hb {
namespace {

TEST_CASE("SMALL_ATOM_UTF8_EXT that is not UTF-8 is refused", "[regression][term_validator]") {
  const std::string in = regression::ReadInput("small_atom_utf8_invalid.bin");
  REQUIRE(static_cast<uint8_t>(in[0]) == 119);
  regression::RequireRefusedTerm(in);
}

TEST_CASE("ATOM_UTF8_EXT of 256 characters is refused", "[regression][term_validator]") {
  const std::string in = regression::ReadInput("atom_utf8_256_chars.bin");
  REQUIRE(static_cast<uint8_t>(in[0]) == 118);
  regression::RequireRefusedTerm(in);
}

TEST_CASE("a pid whose node name is not UTF-8 is refused", "[regression][term_validator]") {
  // NEW_PID_EXT, node SMALL_ATOM_UTF8_EXT "a\xff@h".
  const std::string in("\x58\x77\x04" "a\xff@h" "\0\0\0\1\0\0\0\0\0\0\0\1", 19);
  regression::RequireRefusedTerm(in);
}

TEST_CASE("the request path: an undef reply carrying the caller's atom is always sent",
          "[regression][rpc_server]") {
  // erpc call of health:ping/1 (unrouted: undef) whose argument is the atom
  // <<235>>; the undef stack echoes the argument.
  const std::string in = regression::ReadInput("request_undef_with_invalid_atom_arg.bin");
  regression::ThrowOnFuzzFailure guard;
  REQUIRE_NOTHROW(fuzz::FuzzRequest(regression::Bytes(in), in.size()));
}

TEST_CASE("valid UTF-8 atoms up to 255 characters still decode and encode",
          "[regression][term_validator]") {
  for (const std::string& name : {std::string("ünïcödé"), std::string(255, 'a'),
                                  std::string("日本") + std::string(253, 'x')}) {
    Result<std::string> enc = EncodeWithVersion(Term::Atom(name));
    REQUIRE(enc.ok());
    size_t pos = 0;
    Result<Term> t = DecodeVersioned(*enc, &pos, TermLimits{});
    REQUIRE(t.ok());
    CHECK(t->is_atom(name));
  }
}

}  // namespace
}  // namespace hb
