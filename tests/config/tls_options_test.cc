// The "tls" configuration object: presence turns TLS on, defaults as the
// issue gives them, every sub-key checked and named in errors, and a dump
// that parses back (--check-config and reload planning compare dumps).
#include <catch2/catch.hpp>

#include <nlohmann/json.hpp>

#include "config/config.h"

namespace hb {
namespace {

std::string Err(const std::string& text) {
  Options o;
  Status s = ApplyConfigJson(text, &o);
  return s.ok() ? "" : s.message();
}

TEST_CASE("tls config: absent is TCP, present turns TLS on with the defaults", "[config][tls]") {
  Options tcp;
  REQUIRE(ApplyConfigJson("{}", &tcp).ok());
  CHECK_FALSE(tcp.tls.enabled);
  Options o;
  REQUIRE(ApplyConfigJson(R"({"tls": {"certfile": "/c.pem", "cacertfile": "/ca.pem"}})", &o).ok());
  CHECK(o.tls.enabled);
  CHECK(o.tls.verify == "verify_peer");
  CHECK(o.tls.fail_if_no_peer_cert);
  CHECK(o.tls.versions == std::vector<std::string>{"tlsv1.2", "tlsv1.3"});
  CHECK_FALSE(o.tls.node_name_check);
  CHECK(o.tls.keyfile.empty());
}

TEST_CASE("tls config: every key is parsed and dumps back to itself", "[config][tls]") {
  Options o;
  REQUIRE(ApplyConfigJson(R"({"tls": {"certfile": "/c.pem", "keyfile": "/k.pem",
      "cacertdir": "/cas", "verify": "verify_peer", "fail_if_no_peer_cert": false,
      "versions": ["tlsv1.3"], "ciphers": ["TLS_AES_256_GCM_SHA384"], "crl_file": "/crl.pem",
      "node_name_check": true}})", &o).ok());
  CHECK(o.tls.cacertdir == "/cas");
  CHECK(o.tls.crl_file == "/crl.pem");
  CHECK(o.tls.node_name_check);
  CHECK_FALSE(o.tls.fail_if_no_peer_cert);
  nlohmann::json dumped = nlohmann::json::parse(EffectiveConfigJson(o, "/p"));
  Options back;
  REQUIRE(ApplyConfigJson(nlohmann::json({{"tls", dumped["tls"]}}).dump(), &back).ok());
  CHECK(back.tls == o.tls);
}

TEST_CASE("tls config: bad values are refused with the key named", "[config][tls]") {
  CHECK(Err(R"({"tls": {"cacertfile": "/ca.pem"}})") == "config key 'tls.certfile': missing");
  CHECK(Err(R"({"tls": {"certfile": "/c", "cacertfile": "/ca", "verfy": "x"}})") ==
        "config key 'tls.verfy': unknown key");
  CHECK(Err(R"({"tls": {"certfile": "/c"}})") ==
        "config key 'tls': verify_peer needs cacertfile or cacertdir");
  CHECK(Err(R"({"tls": {"certfile": "/c", "verify": "verify_none"}})").empty());
  CHECK(Err(R"({"tls": {"certfile": "/c", "verify": "yes"}})") ==
        "config key 'tls.verify': expected one of verify_peer, verify_none");
  CHECK(Err(R"({"tls": {"certfile": "/c", "cacertfile": "/ca", "versions": ["tlsv1.1"]}})") ==
        "config key 'tls.versions': 'tlsv1.1' is not one of tlsv1.2, tlsv1.3");
  CHECK(Err(R"({"tls": {"certfile": "/c", "cacertfile": "/ca", "versions": []}})") ==
        "config key 'tls.versions': expected at least one version");
  CHECK(Err(R"({"tls": {"certfile": "/c", "cacertfile": "/ca", "node_name_check": 1}})") ==
        "config key 'tls.node_name_check': expected true or false");
  CHECK(Err(R"({"tls": {"certfile": ""}})") == "config key 'tls.certfile': expected a path");
  CHECK(Err(R"({"tls": true})") == "config key 'tls': expected an object");
}

TEST_CASE("tls config: a reload sees changed TLS settings as the live key tls", "[config][tls]") {
  Options now, wanted;
  REQUIRE(ApplyConfigJson(R"({"tls": {"certfile": "/a.pem", "cacertfile": "/ca"}})", &now).ok());
  REQUIRE(ApplyConfigJson(R"({"tls": {"certfile": "/b.pem", "cacertfile": "/ca",
      "node_name_check": true}})", &wanted).ok());
  config::ReloadPlan plan = config::PlanReload(now, wanted);
  CHECK(plan.restart_keys.empty());
  CHECK(plan.applied.tls == wanted.tls);
}

}  // namespace
}  // namespace hb
