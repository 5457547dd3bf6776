#include "daemon/node_name.h"

#include <catch2/catch.hpp>

namespace hb {
namespace {

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

}  // namespace
}  // namespace hb
