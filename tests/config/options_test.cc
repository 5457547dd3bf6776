#include "config/config.h"

#include <catch2/catch.hpp>

#include "daemon/check_config.h"
#include "daemon/cookie.h"
#include "daemon/node_name.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>

namespace hb {
namespace {

Result<Options> Parse(std::vector<std::string> args) {
  std::vector<char*> argv;
  static std::string prog = "hornbeamd";
  argv.push_back(prog.data());
  for (auto& a : args) argv.push_back(a.data());
  return ParseOptions(static_cast<int>(argv.size()), argv.data());
}

TEST_CASE("defaults and flags", "[options]") {
  auto o = Parse({});
  REQUIRE(o.ok());
  CHECK(o->sname == "gpu");
  CHECK(o->port == 0);
  o = Parse({"--sname", "x", "--cookie", "C", "--port", "4370", "--log-level", "debug"});
  REQUIRE(o.ok());
  CHECK(o->sname == "x");
  CHECK(o->cookie == "C");
  CHECK(o->port == 4370);
  CHECK(o->log_level == "debug");
}

TEST_CASE("bad flags are clear errors", "[options]") {
  CHECK(!Parse({"--port", "70000"}).ok());
  CHECK(!Parse({"--bogus", "1"}).ok());
  CHECK(!Parse({"--sname"}).ok());
  CHECK(Parse({"--port", "x"}).status().message().find("--port") != std::string::npos);
}

TEST_CASE("config keys are validated by name", "[options]") {
  Options o;
  CHECK(ApplyConfigJson(R"({"sname": "a", "port": 9000})", &o).ok());
  CHECK(o.port == 9000);
  Status s = ApplyConfigJson(R"({"prot": 1})", &o);
  CHECK(s.message().find("'prot'") != std::string::npos);
  s = ApplyConfigJson(R"({"port": "x"})", &o);
  CHECK(s.message().find("'port'") != std::string::npos);
  s = ApplyConfigJson(R"({"sname": 3})", &o);
  CHECK(s.message().find("'sname'") != std::string::npos);
  CHECK(!ApplyConfigJson("{", &o).ok());
}

TEST_CASE("node names", "[options]") {
  Options o;
  std::string alive, host;
  o.name = "gpu@box.example.com";
  auto n = ResolveNodeName(o, &alive, &host);
  REQUIRE(n.ok());
  CHECK(*n == "gpu@box.example.com");
  o.name.clear();
  o.sname = "gpu";
  n = ResolveNodeName(o, &alive, &host);
  REQUIRE(n.ok());
  CHECK(host.find('.') == std::string::npos);
  o.sname = "bad name";
  CHECK(!ResolveNodeName(o, &alive, &host).ok());
}

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
