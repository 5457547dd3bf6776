#define CATCH_CONFIG_RUNNER
#include <ei.h>

#include <catch2/catch.hpp>

#include "tests/skip.h"

int main(int argc, char* argv[]) {
  ei_init();  // once, before anything else touches ei
  const int failed = Catch::Session().run(argc, argv);
  // See tests/skip.h: a skipped case that failed nothing is not a pass.
  return failed == 0 && hb::testing::Skipped() ? hb::testing::kSkipExitCode : failed;
}
