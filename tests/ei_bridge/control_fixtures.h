// Helpers shared by the control tests (control_*_test.cc): terms to build
// packets from, a packet builder on the project's encoder, and decoding a
// packet that must succeed (Decode) or must be refused (Fails).
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ei_bridge/control.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "tests/ei_bridge/bytes_util.h"

namespace hb::testing {

// Terms used to build packets with the project's encoder.
inline Term LocalPid(uint32_t n) { return Term::MakePid({"gpu@host", n, 0, 7}); }
inline Term RemotePid(uint32_t n) { return Term::MakePid({"caller@host", n, 1, 9}); }
inline Term SomeRef() { return Term::MakeRef({"caller@host", 9, {1, 2, 3}}); }
inline Term Token() {
  return Term::Tuple({Term::Int(0), Term::Atom("label"), Term::Int(1), RemotePid(5), Term::Int(0)});
}
inline Term Msg() {
  return Term::Tuple({Term::Atom("call"), Term::Binary(std::string("x\0y", 3)),
                      Term::Map({{Term::Atom("k"), Term::List({Term::Int(1)})}})});
}

inline std::string V(const Term& t) {
  auto r = hb::EncodeWithVersion(t);
  REQUIRE(r.ok());
  return std::move(r).value();
}

inline std::string Packet(const Term& ctrl) { return "p" + V(ctrl); }
inline std::string Packet(const Term& ctrl, const Term& payload) {
  return "p" + V(ctrl) + V(payload);
}

inline Term T(std::vector<Term> v) { return Term::Tuple(std::move(v)); }
inline Term I(int64_t v) { return Term::Int(v); }
inline Term A(std::string_view a) { return Term::Atom(a); }

inline ControlMessage Decode(const std::string& packet,
                             const hb::TermLimits& l = hb::TermLimits{}) {
  INFO("packet: " << Hex(packet));
  auto r = hb::DecodeControlPacket(packet, l);
  INFO("status: " << r.status().message());
  REQUIRE(r.ok());
  return std::move(r).value();
}

inline bool Fails(const std::string& packet, const hb::TermLimits& l = hb::TermLimits{}) {
  auto r = hb::DecodeControlPacket(packet, l);
  return !r.ok();
}

}  // namespace hb::testing
