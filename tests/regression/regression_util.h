// Helpers shared by the regression tests in this directory: reading the
// inputs fuzzing found (tests/regression/inputs/), wrapping a bare term in a
// control packet, and running a fuzz target's body (fuzz/fuzz_bodies.h) so
// that a violated invariant fails the test instead of aborting the binary.
#pragma once

#include <catch2/catch.hpp>

#include <cstdint>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>

#include "base/log.h"
#include "ei_bridge/control.h"
#include "ei_bridge/term.h"
#include "ei_bridge/term_validator.h"
#include "fuzz/fuzz_bodies.h"

namespace hb::regression {

// The source tree, found from this header's own path (CMake compiles with
// absolute include paths); HB_SOURCE_DIR overrides.
inline std::filesystem::path SourceDir() {
#ifdef HB_SOURCE_DIR
  return std::filesystem::path(HB_SOURCE_DIR);
#else
  return std::filesystem::path(__FILE__).parent_path().parent_path().parent_path();
#endif
}

inline std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p, std::ios::binary);
  if (!in) throw std::runtime_error("cannot read " + p.string());
  std::ostringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

inline std::string ReadInput(const std::string& name) {
  return ReadFile(SourceDir() / "tests" / "regression" / "inputs" / name);
}

inline const uint8_t* Bytes(const std::string& s) {
  return reinterpret_cast<const uint8_t*>(s.data());
}

// 'p' | versioned SEND control {2, '', Pid} | 131 | `term` (a bare term):
// the packet a peer sends to deliver `term` as a message.
inline std::string SendPacketWith(std::string_view term) {
  Result<std::string> control = EncodeWithVersion(
      Term::Tuple({Term::Int(2), Term::Atom(""), Term::MakePid({"gpu@host", 1, 0, 42})}));
  REQUIRE(control.ok());
  std::string p = "p" + *control;
  p.push_back(static_cast<char>(131));
  p.append(term);
  return p;
}

// While alive, a violated fuzz invariant throws (Catch2 reports the message),
// and the daemon logs only errors (fuzz inputs are mostly peer errors).
class ThrowOnFuzzFailure {
 public:
  ThrowOnFuzzFailure() : level_(GetLogLevel()) {
    fuzz::SetFailureHandler([](const char* file, int line, const char* what) {
      throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + what);
    });
    SetLogLevel(LogLevel::kError);
  }
  ~ThrowOnFuzzFailure() {
    fuzz::SetFailureHandler(nullptr);
    SetLogLevel(level_);
  }
  ThrowOnFuzzFailure(const ThrowOnFuzzFailure&) = delete;
  ThrowOnFuzzFailure& operator=(const ThrowOnFuzzFailure&) = delete;

 private:
  LogLevel level_;
};

// A lone term the validator must refuse, also inside a SEND packet (as a
// clean error, never kInternal), and which the control fuzz body must take.
inline void RequireRefusedTerm(const std::string& in) {
  CHECK_FALSE(ValidateTerm(in, 0, TermLimits{}).ok());
  Result<ControlMessage> m = DecodeControlPacket(SendPacketWith(in), TermLimits{});
  REQUIRE_FALSE(m.ok());
  CHECK(m.status().code() != StatusCode::kInternal);
  ThrowOnFuzzFailure guard;
  REQUIRE_NOTHROW(fuzz::FuzzControl(Bytes(in), in.size()));
}

}  // namespace hb::regression
