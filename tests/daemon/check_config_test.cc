#include "daemon/check_config.h"

#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "config/config.h"

namespace hb {
namespace {

TEST_CASE("check-config checks the cookie as startup would, creating nothing", "[cookie][options]") {
  char dir[] = "/tmp/hbcookieXXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string path = std::string(dir) + "/cookie";
  Options o;
  o.cookie_file = path;
  auto problems = CheckConfig(o, HB_PLUGIN_DIR);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("config key 'cookie_file': cannot read cookie file " + path) == 0);
  {
    std::ofstream(path) << "SECRET\n";
  }
  chmod(path.c_str(), 0640);
  problems = CheckConfig(o, HB_PLUGIN_DIR);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("group or others") != std::string::npos);
  chmod(path.c_str(), 0400);
  CHECK(CheckConfig(o, HB_PLUGIN_DIR).empty());
  unlink(path.c_str());
  // A missing default ($HOME/.erlang.cookie) is fine: startup creates it.
  // The check must not.
  const char* old_home = getenv("HOME");
  std::string saved = old_home ? old_home : "";
  setenv("HOME", dir, 1);
  Options d;
  CHECK(CheckConfig(d, HB_PLUGIN_DIR).empty());
  CHECK(access((std::string(dir) + "/.erlang.cookie").c_str(), F_OK) != 0);
  if (old_home) setenv("HOME", saved.c_str(), 1); else unsetenv("HOME");
  rmdir(dir);
}

}  // namespace
}  // namespace hb
