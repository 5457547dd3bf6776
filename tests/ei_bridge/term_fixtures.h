// Helpers shared by the term tests (term_*_test.cc): decode a whole
// versioned buffer, encode with the version byte, round-trip, look up a map key.
#pragma once

#include <catch2/catch.hpp>
#include <cstdint>
#include <string>
#include <utility>

#include "ei_bridge/ext_tags.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "tests/ei_bridge/bytes_util.h"

namespace hb::testing {

// Decodes a whole versioned buffer, requiring that the term spans all of it.
inline Term DecodeAll(const std::string& bytes, const hb::TermLimits& limits = hb::TermLimits{}) {
  INFO("bytes: " << Hex(bytes));
  size_t off = 0;
  hb::Result<Term> r = hb::DecodeVersioned(bytes, &off, limits);
  INFO("status: " << r.status().message());
  REQUIRE(r.ok());
  REQUIRE(off == bytes.size());
  return std::move(r).value();
}

inline std::string Encode(const Term& t) {
  hb::Result<std::string> r = hb::EncodeWithVersion(t);
  INFO("status: " << r.status().message());
  REQUIRE(r.ok());
  return std::move(r).value();
}

inline Term RoundTrip(const Term& t) {
  std::string enc = Encode(t);
  REQUIRE(!enc.empty());
  REQUIRE(static_cast<uint8_t>(enc[0]) == hb::kVersionMagic);
  Term back = DecodeAll(enc);
  REQUIRE(back == t);
  // Re-encoding what we decoded is stable.
  REQUIRE(Encode(back) == enc);
  return back;
}

inline const Term* MapGet(const Term& m, const Term& key) {
  REQUIRE(m.is_map());
  REQUIRE(m.size() % 2 == 0);
  for (size_t i = 0; i + 1 < m.size(); i += 2) {
    if (m[i] == key) return &m[i + 1];
  }
  return nullptr;
}

}  // namespace hb::testing
