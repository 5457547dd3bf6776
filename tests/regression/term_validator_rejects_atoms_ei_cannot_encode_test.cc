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
#include "tests/daemon/rpc_fixture.h"
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

TEST_CASE("the request path: a call carrying an atom ei cannot encode is refused at decode",
          "[regression][rpc_server]") {
  // The input the fuzzer found: an erpc call of an unrouted function whose
  // argument is the atom <<235>>. Its undef stack would echo the argument,
  // and ei could not encode that reply: the caller hung. The term is now
  // refused before any call starts.
  const std::string in = regression::ReadInput("request_undef_with_invalid_atom_arg.bin");
  REQUIRE(in.size() > 2);
  regression::RequireRefusedTerm(in.substr(3));  // after the mode, selector and version bytes
  regression::ThrowOnFuzzFailure guard;
  REQUIRE_NOTHROW(fuzz::FuzzRequest(regression::Bytes(in), in.size()));
}

TEST_CASE("the request path: an undef reply echoing the longest valid UTF-8 atoms is sent",
          "[regression][rpc_server]") {
  // What the refused atoms border on: 255 characters of up to four bytes
  // each pass the validator, so the undef reply echoing them must encode
  // and reach the caller.
  rpc_fixture::Fixture fx;
  Term args = Term::List({Term::Atom(std::string(255, 'a')),
                          Term::Atom(std::string("\xF0\x9F\x98\x80") + std::string(254, 'x')),
                          Term::Atom("h\xC3\xA9llo")});
  REQUIRE(EncodeWithVersion(args).ok());
  fx.server->OnControl(rpc_fixture::kPeer,
                       fx.SpawnErpc(rpc_fixture::PeerPid(1), rpc_fixture::PeerRef(1),
                                    rpc_fixture::PeerRef(2), "nosuch", "f", args));
  REQUIRE(fx.sent.size() == 2);
  const ControlMessage& down = fx.sent[1].second;
  REQUIRE(down.op == ControlOp::kMonitorPExit);
  // {Ref, error, undef, [{nosuch, f, Args, []}]}, and it encodes.
  REQUIRE(down.reason.is_tuple(4));
  CHECK(down.reason[2].is_atom("undef"));
  CHECK(down.reason[3][0][2] == args);
  Result<std::string> packet = EncodeControlPacket(down);
  REQUIRE(packet.ok());
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
