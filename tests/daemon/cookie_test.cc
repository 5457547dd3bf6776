#include "daemon/cookie.h"

#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>

namespace hb {
namespace {

TEST_CASE("cookie file rules follow erl", "[cookie]") {
  char dir[] = "/tmp/hbcookieXXXXXX";
  REQUIRE(mkdtemp(dir));
  std::string path = std::string(dir) + "/cookie";
  {
    std::ofstream(path) << "SECRET\n";
  }
  chmod(path.c_str(), 0644);
  auto c = LoadCookie("", path);
  REQUIRE(!c.ok());
  CHECK(c.status().message().find("group or others") != std::string::npos);
  chmod(path.c_str(), 0400);
  c = LoadCookie("", path);
  REQUIRE(c.ok());
  CHECK(*c == "SECRET");
  CHECK(*LoadCookie("EXPLICIT", path) == "EXPLICIT");
  CHECK(!LoadCookie("", std::string(dir) + "/missing").ok());
  unlink(path.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace hb
