#define CATCH_CONFIG_RUNNER
#include <catch2/catch.hpp>
#include <ei.h>

int main(int argc, char* argv[]) {
  ei_init();  // once, before anything else touches ei
  return Catch::Session().run(argc, argv);
}
