#include "daemon/check_config.h"

#include <catch2/catch.hpp>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

#include "config/config.h"
#include "tests/ei_bridge/tls_test_pki.h"

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

TEST_CASE("check-config refuses TLS files startup would refuse, naming the file",
          "[tls][options]") {
  testing::TestPki pki;
  pki.Leaf("server", "DNS:server.test");
  pki.Leaf("old", "DNS:server.test", -7200, -3600);
  Options o;
  o.cookie = "c";
  o.tls.enabled = true;
  o.tls.certfile = pki.pem("server");
  o.tls.keyfile = pki.key("server");
  o.tls.cacertfile = pki.ca_pem;
  CHECK(CheckConfig(o, HB_PLUGIN_DIR).empty());
  Options missing = o;
  missing.tls.cacertfile = pki.dir + "/gone.pem";
  auto problems = CheckConfig(missing, HB_PLUGIN_DIR);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0] == "config key 'tls': cacertfile " + pki.dir +
                           "/gone.pem: cannot read: No such file or directory");
  Options wrong_key = o;
  wrong_key.tls.keyfile = pki.key("old");
  problems = CheckConfig(wrong_key, HB_PLUGIN_DIR);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("does not match the certificate in " + pki.pem("server")) !=
        std::string::npos);
  Options expired = o;
  expired.tls.certfile = pki.pem("old");
  expired.tls.keyfile = pki.key("old");
  problems = CheckConfig(expired, HB_PLUGIN_DIR);
  REQUIRE(problems.size() == 1);
  CHECK(problems[0].find("config key 'tls': certfile " + pki.pem("old") +
                         ": certificate expired on") == 0);
}

}  // namespace
}  // namespace hb
