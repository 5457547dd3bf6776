// EpmdClient (ei_bridge/epmd_client.h) against a fake epmd on 127.0.0.1:
// the ALIVE2 request, both reply forms, refusal, the registration kept for
// the connection's life and renewed after epmd restarts, and Close.
#include "ei_bridge/epmd_client.h"

#include <catch2/catch.hpp>

#include <memory>
#include <string>
#include <vector>

#include "tests/ei_bridge/fake_epmd.h"

namespace hb {
namespace {

using testing::FakeEpmd;
using testing::milliseconds;

struct Fixture {
  testing::TestLoop loop;
  FakeEpmd epmd{&loop};
  // Whatever the environment says, this test's epmd is the fake.
  testing::ScopedEnv env{"ERL_EPMD_PORT", std::to_string(epmd.port())};
  std::unique_ptr<EpmdClient> client;
  std::vector<Result<uint32_t>> firsts;  // what `first` was called with
  bool close_called = false;
  bool closed = false;  // on_closed ran

  EpmdClient::Config Config() {
    EpmdClient::Config c;
    c.alive = "gpu";
    c.listen_port = 4321;
    c.epmd_port = epmd.port();
    c.retry_ms = 50;
    return c;
  }
  void Start() { Start(Config()); }
  void Start(EpmdClient::Config c) {
    client = std::make_unique<EpmdClient>(loop.get(), std::move(c));
    client->Start([this](Result<uint32_t> r) { firsts.push_back(std::move(r)); });
  }
  // The outcome of the first attempt.
  const Result<uint32_t>& First() {
    REQUIRE(loop.RunUntil([this] { return !firsts.empty(); }));
    return firsts[0];
  }
  void BeginClose() {
    close_called = true;
    client->Close([this] { closed = true; });
  }
  bool Close() {
    if (!client) return true;
    if (!close_called) BeginClose();
    return loop.AwaitClose(client, closed);
  }
  ~Fixture() { Close(); }
};

TEST_CASE("epmd client: registers with ALIVE2_REQ and takes ALIVE2_X_RESP's creation",
          "[epmd_client]") {
  Fixture fx;
  fx.epmd.next_creation = 0xdeadbeef;
  fx.Start();
  const Result<uint32_t>& first = fx.First();
  INFO(first.status().message());
  REQUIRE(first.ok());
  CHECK(*first == 0xdeadbeefu);
  CHECK(fx.client->registered());
  CHECK(fx.client->registrations() == 1);
  REQUIRE(fx.epmd.requests.size() == 1);
  const FakeEpmd::Request& r = fx.epmd.requests[0];
  CHECK(r.port == 4321);
  CHECK(r.node_type == 77);  // visible by default, as erl registers
  CHECK(r.protocol == 0);    // TCP/IPv4
  CHECK(r.highest == 6);
  CHECK(r.lowest == 5);
  CHECK(r.name == "gpu");
  CHECK(r.extra.empty());
  // The registration lives as long as the connection: it stays open.
  fx.loop.RunFor(milliseconds(200));
  CHECK(fx.epmd.connections() == 1);
  CHECK(fx.client->registered());
  CHECK(fx.firsts.size() == 1);
}

TEST_CASE("epmd client: a hidden node registers as type 72, as erl -hidden", "[epmd_client]") {
  Fixture fx;
  EpmdClient::Config c = fx.Config();
  c.hidden = true;
  fx.Start(c);
  REQUIRE(fx.First().ok());
  REQUIRE(fx.epmd.requests.size() == 1);
  CHECK(fx.epmd.requests[0].node_type == 72);
}

TEST_CASE("epmd client: an older epmd's ALIVE2_RESP gives a 16-bit creation", "[epmd_client]") {
  Fixture fx;
  fx.epmd.reply = FakeEpmd::Reply::kAlive2;
  fx.epmd.next_creation = 0x1234;
  fx.Start();
  REQUIRE(fx.First().ok());
  CHECK(*fx.First() == 0x1234u);
  CHECK(fx.client->registered());
}

TEST_CASE("epmd client: a reply that arrives a byte at a time is reassembled", "[epmd_client]") {
  Fixture fx;
  fx.epmd.split_reply = true;
  fx.epmd.next_creation = 0x01020304;
  fx.Start();
  REQUIRE(fx.First().ok());
  CHECK(*fx.First() == 0x01020304u);
}

TEST_CASE("epmd client: a refused name fails the first attempt, not retried", "[epmd_client]") {
  Fixture fx;
  fx.epmd.reply = FakeEpmd::Reply::kRefuse;
  fx.Start();
  const Result<uint32_t>& first = fx.First();
  REQUIRE_FALSE(first.ok());
  CHECK(first.status().code() == StatusCode::kUnavailable);
  CHECK(first.status().message().find("'gpu'") != std::string::npos);
  CHECK_FALSE(fx.client->registered());
  CHECK(fx.loop.RunUntil([&] { return fx.epmd.connections() == 0; }));  // it hung up
  fx.loop.RunFor(milliseconds(300));  // six retry periods
  CHECK(fx.epmd.requests.size() == 1);
  CHECK(fx.firsts.size() == 1);
}

TEST_CASE("epmd client: an unreachable epmd fails the first attempt", "[epmd_client]") {
  Fixture fx;
  uint16_t nothing = testing::UnusedPort();
  testing::ScopedEnv env("ERL_EPMD_PORT", std::to_string(nothing));
  EpmdClient::Config c = fx.Config();
  c.epmd_port = nothing;
  fx.Start(c);
  const Result<uint32_t>& first = fx.First();
  REQUIRE_FALSE(first.ok());
  CHECK(first.status().code() == StatusCode::kUnavailable);
  CHECK(first.status().message().find("cannot reach epmd") != std::string::npos);
  CHECK_FALSE(fx.client->registered());
}

TEST_CASE("epmd client: $ERL_EPMD_PORT overrides the configured port", "[epmd_client]") {
  Fixture fx;  // the environment names the fake
  EpmdClient::Config c = fx.Config();
  c.epmd_port = testing::UnusedPort();
  fx.Start(c);
  CHECK(fx.First().ok());
}

TEST_CASE("epmd client: a lost registration is renewed every retry_ms until epmd is back",
          "[epmd_client]") {
  Fixture fx;
  fx.Start();
  REQUIRE(fx.First().ok());

  // epmd restarts: the connection drops and the client registers again.
  fx.epmd.DropAll();
  REQUIRE(fx.loop.RunUntil([&] { return !fx.client->registered(); }));
  REQUIRE(fx.loop.RunUntil([&] { return fx.client->registered(); }));
  CHECK(fx.client->registrations() == 2);
  CHECK(fx.epmd.requests.size() == 2);
  CHECK(fx.epmd.requests[1].name == "gpu");

  // epmd is down for a while: connects fail, the client keeps trying.
  fx.epmd.Stop();
  REQUIRE(fx.loop.RunUntil([&] { return !fx.client->registered(); }));
  fx.loop.RunFor(milliseconds(300));
  CHECK_FALSE(fx.client->registered());
  fx.epmd.Restart();
  REQUIRE(fx.loop.RunUntil([&] { return fx.client->registered(); }));
  CHECK(fx.client->registrations() == 3);
  CHECK(fx.firsts.size() == 1);  // `first` is the first attempt's only
}

TEST_CASE("epmd client: Close drops the registration and finishes in two steps",
          "[epmd_client]") {
  Fixture fx;
  fx.Start();
  REQUIRE(fx.First().ok());
  REQUIRE(fx.epmd.connections() == 1);
  fx.BeginClose();
  CHECK_FALSE(fx.closed);
  CHECK_FALSE(fx.client->registered());
  REQUIRE(fx.loop.RunUntil([&] { return fx.closed; }));
  CHECK(fx.loop.RunUntil([&] { return fx.epmd.connections() == 0; }));
  // Nothing retries after Close.
  fx.loop.RunFor(milliseconds(200));
  CHECK(fx.epmd.requests.size() == 1);
}

TEST_CASE("epmd client: Close works while waiting for epmd, retrying, or never started",
          "[epmd_client]") {
  SECTION("a reply pending") {
    Fixture fx;
    fx.epmd.reply = FakeEpmd::Reply::kHold;
    fx.Start();
    REQUIRE(fx.loop.RunUntil([&] { return fx.epmd.connections() == 1; }));
    CHECK(fx.Close());
  }
  SECTION("between retries") {
    Fixture fx;
    fx.Start();
    REQUIRE(fx.First().ok());
    fx.epmd.Stop();
    REQUIRE(fx.loop.RunUntil([&] { return !fx.client->registered(); }));
    CHECK(fx.Close());
  }
  SECTION("never started") {
    Fixture fx;
    fx.client = std::make_unique<EpmdClient>(fx.loop.get(), fx.Config());
    CHECK(fx.Close());
  }
}

}  // namespace
}  // namespace hb
