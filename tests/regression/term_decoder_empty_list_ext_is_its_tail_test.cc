// Guards: LIST_EXT with zero elements and a tail that is not a list
// (<<108, 0:32, Tail>>). The BEAM decodes it as Tail itself; hornbeamd made a
// "list" with no elements and a tail, which matched neither the atom nor any
// list pattern and encoded back as just Tail, so a message changed in an
// encode/decode round trip (and two equal terms compared unequal). Found by
// control_fuzzer (round trip).
#include <catch2/catch.hpp>

#include "ei_bridge/control.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "tests/regression/regression_util.h"

namespace hb {
namespace {

TEST_CASE("LIST_EXT of length 0 with an atom tail decodes as the atom",
          "[regression][term]") {
  const std::string in = regression::ReadInput("list_ext_empty_with_atom_tail.bin");
  REQUIRE(static_cast<uint8_t>(in[0]) == 108);
  Result<size_t> end = ValidateTerm(in, 0, TermLimits{});
  REQUIRE(end.ok());
  size_t pos = 0;
  Result<Term> t = DecodeValidated(in, &pos);
  REQUIRE(t.ok());
  CHECK(pos == *end);
  CHECK(t->is_atom());  // [ | ''] is ''
  CHECK(*t == Term::Atom(""));

  std::string enc;
  REQUIRE(EncodeTerm(*t, &enc).ok());
  size_t rpos = 0;
  Result<Term> back = DecodeValidated(enc, &rpos);
  REQUIRE(back.ok());
  CHECK(*back == *t);

  regression::ThrowOnFuzzFailure guard;
  REQUIRE_NOTHROW(fuzz::FuzzControl(regression::Bytes(in), in.size()));
}

TEST_CASE("Term::ImproperList with no elements is its tail", "[regression][term]") {
  CHECK(Term::ImproperList({}, Term::Int(7)) == Term::Int(7));
  Term l = Term::ImproperList({Term::Int(1)}, Term::Atom("t"));
  REQUIRE(l.is_list());
  CHECK(l.size() == 1);
  REQUIRE(l.tail() != nullptr);
  CHECK(l.tail()->is_atom("t"));
}

}  // namespace
}  // namespace hb
