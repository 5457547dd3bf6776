// Skipping a Catch2 (v2) test case that cannot run here -- no GPU, a part
// not built -- so that ctest reports it skipped, never passed: the case
// calls Skip(why) and returns; test_main.cc then exits kSkipExitCode
// instead of 0 when nothing failed, which the ctest entries take as skipped.
// Include after <catch2/catch.hpp>.
// A failed assertion still wins (exit status non-zero, not 77). ctest runs
// each case in its own process; a run of several cases where one skipped
// exits 77 too. Any thread.
#pragma once

#include <atomic>
#include <iostream>
#include <string>

namespace hb::testing {

// Catch2 3's catch_discover_tests gives every test SKIP_RETURN_CODE 4 (its
// own SKIP()), after any property of ours; Catch2 2 sets none, and the
// ctest entries say 77.
#if defined(CATCH_VERSION_MAJOR) && CATCH_VERSION_MAJOR >= 3
inline constexpr int kSkipExitCode = 4;
#else
inline constexpr int kSkipExitCode = 77;
#endif

inline std::atomic<bool>& SkippedFlag() {
  static std::atomic<bool> skipped{false};
  return skipped;
}

// Prints "SKIPPED: why" and marks this run skipped.
inline void Skip(const std::string& why) {
  std::cout << "SKIPPED: " << why << std::endl;
  SkippedFlag() = true;
}

inline bool Skipped() { return SkippedFlag(); }

}  // namespace hb::testing
