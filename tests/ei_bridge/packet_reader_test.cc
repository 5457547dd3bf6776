// Unit tests for ei_bridge/packet_reader.h: length-prefixed framing.
#include <catch2/catch.hpp>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "ei_bridge/packet_reader.h"

namespace {

std::string Frame(size_t header_bytes, std::string_view body) {
  std::string s;
  for (size_t i = header_bytes; i-- > 0;) {
    s.push_back(static_cast<char>((static_cast<uint64_t>(body.size()) >> (8 * i)) & 0xff));
  }
  s.append(body.data(), body.size());
  return s;
}

std::string Header(size_t header_bytes, uint32_t len) {
  std::string s;
  for (size_t i = header_bytes; i-- > 0;) s.push_back(static_cast<char>((len >> (8 * i)) & 0xff));
  return s;
}

// Drains every complete packet currently available.
std::vector<std::string> Drain(hb::PacketReader* r) {
  std::vector<std::string> out;
  for (;;) {
    std::string p = "sentinel";
    auto n = r->Next(&p);
    INFO("status: " << n.status().message());
    REQUIRE(n.ok());
    if (!*n) break;
    out.push_back(p);
    REQUIRE(out.size() < 100000);
  }
  return out;
}

std::string Body(size_t n, int seed) {
  std::string s(n, '\0');
  for (size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 31 + seed * 7) & 0xff);
  return s;
}

}  // namespace

TEST_CASE("packet_reader: empty reader needs more bytes", "[packet_reader]") {
  hb::PacketReader r(4, 1024);
  std::string p;
  auto n = r.Next(&p);
  REQUIRE(n.ok());
  CHECK_FALSE(*n);
  CHECK(r.buffered() == 0);
}

TEST_CASE("packet_reader: one packet with 2- and 4-byte headers", "[packet_reader]") {
  for (size_t hdr : {size_t{2}, size_t{4}}) {
    INFO("header " << hdr);
    hb::PacketReader r(hdr, 1 << 20);
    std::string body = Body(300, 1);
    r.Append(Frame(hdr, body));
    CHECK(r.buffered() == hdr + 300);
    std::string p;
    auto n = r.Next(&p);
    REQUIRE(n.ok());
    REQUIRE(*n);
    CHECK(p == body);
    CHECK(r.buffered() == 0);
    auto m = r.Next(&p);
    REQUIRE(m.ok());
    CHECK_FALSE(*m);
  }
}

TEST_CASE("packet_reader: big-endian lengths above 255 and 65535", "[packet_reader]") {
  hb::PacketReader r2(2, 1 << 20);
  std::string b2 = Body(0x1234, 2);
  r2.Append(Frame(2, b2));
  CHECK(Drain(&r2) == std::vector<std::string>{b2});

  hb::PacketReader r4(4, 1 << 20);
  std::string b4 = Body(0x012345, 3);
  r4.Append(Frame(4, b4));
  CHECK(Drain(&r4) == std::vector<std::string>{b4});

  // The largest 2-byte packet.
  hb::PacketReader rmax(2, 1 << 20);
  std::string bmax = Body(65535, 4);
  rmax.Append(Frame(2, bmax));
  CHECK(Drain(&rmax) == std::vector<std::string>{bmax});
}

TEST_CASE("packet_reader: packets split byte by byte", "[packet_reader]") {
  for (size_t hdr : {size_t{2}, size_t{4}}) {
    INFO("header " << hdr);
    hb::PacketReader r(hdr, 4096);
    std::vector<std::string> bodies = {Body(10, 1), Body(1, 2), Body(700, 3), Body(3, 4)};
    std::string stream;
    for (auto& b : bodies) stream += Frame(hdr, b);
    std::vector<std::string> got;
    for (size_t i = 0; i < stream.size(); ++i) {
      r.Append(std::string_view(&stream[i], 1));
      for (auto& p : Drain(&r)) got.push_back(p);
    }
    CHECK(got == bodies);
    CHECK(r.buffered() == 0);
  }
}

TEST_CASE("packet_reader: packets split at arbitrary boundaries", "[packet_reader]") {
  std::mt19937 rng(424242);
  for (int round = 0; round < 200; ++round) {
    size_t hdr = (round % 2) ? 4 : 2;
    hb::PacketReader r(hdr, 8192);
    std::vector<std::string> bodies;
    std::string stream;
    int count = 1 + static_cast<int>(rng() % 12);
    for (int i = 0; i < count; ++i) {
      size_t len = rng() % 3000;
      if (hdr == 4 && rng() % 5 == 0) len = 0;  // ticks among data
      if (hdr == 2 && len == 0) len = 1;
      bodies.push_back(Body(len, static_cast<int>(rng() % 100)));
      stream += Frame(hdr, bodies.back());
    }
    std::vector<std::string> got;
    size_t pos = 0;
    while (pos < stream.size()) {
      size_t chunk = 1 + rng() % 700;
      if (chunk > stream.size() - pos) chunk = stream.size() - pos;
      r.Append(std::string_view(stream).substr(pos, chunk));
      pos += chunk;
      for (auto& p : Drain(&r)) got.push_back(p);
    }
    INFO("round " << round);
    REQUIRE(got.size() == bodies.size());
    CHECK(got == bodies);
    CHECK(r.buffered() == 0);
  }
}

TEST_CASE("packet_reader: several packets in one Append", "[packet_reader]") {
  hb::PacketReader r(4, 1024);
  std::string stream = Frame(4, "one") + Frame(4, "two") + Frame(4, "") + Frame(4, "three") +
                       Frame(4, "fo");  // last one partial below
  stream.resize(stream.size() - 1);     // cut "fo" to "f"
  r.Append(stream);
  auto got = Drain(&r);
  CHECK(got == std::vector<std::string>{"one", "two", "", "three"});
  CHECK(r.buffered() == 4 + 1);
  r.Append("o");
  CHECK(Drain(&r) == std::vector<std::string>{"fo"});
  CHECK(r.buffered() == 0);
}

TEST_CASE("packet_reader: a zero-length 4-byte packet is a tick", "[packet_reader]") {
  hb::PacketReader r(4, 1024);
  r.Append(std::string(4, '\0'));
  std::string p = "not empty";
  auto n = r.Next(&p);
  REQUIRE(n.ok());
  REQUIRE(*n);
  CHECK(p.empty());
  CHECK(r.buffered() == 0);

  // Two ticks, then data, then a tick.
  r.Append(std::string(8, '\0') + Frame(4, "x") + std::string(4, '\0'));
  CHECK(Drain(&r) == std::vector<std::string>{"", "", "x", ""});

  // A partial tick header is not a tick.
  r.Append(std::string(3, '\0'));
  auto m = r.Next(&p);
  REQUIRE(m.ok());
  CHECK_FALSE(*m);
  CHECK(r.buffered() == 3);
  r.Append(std::string(1, '\0'));
  CHECK(Drain(&r) == std::vector<std::string>{""});
}

TEST_CASE("packet_reader: incomplete header or body waits", "[packet_reader]") {
  hb::PacketReader r(4, 1024);
  std::string f = Frame(4, "hello");
  for (size_t i = 0; i < f.size(); ++i) {
    hb::PacketReader partial(4, 1024);
    partial.Append(f.substr(0, i));
    std::string p;
    auto n = partial.Next(&p);
    REQUIRE(n.ok());
    CHECK_FALSE(*n);
    CHECK(partial.buffered() == i);
  }
}

TEST_CASE("packet_reader: oversize declared length fails before the body arrives",
          "[packet_reader]") {
  SECTION("4-byte header") {
    hb::PacketReader r(4, 1000);
    r.Append(Header(4, 1001));  // header only: nothing of the body yet
    std::string p;
    auto n = r.Next(&p);
    CHECK_FALSE(n.ok());
  }
  SECTION("4-byte header claiming 4 GiB") {
    hb::PacketReader r(4, 1 << 20);
    r.Append(Header(4, 0xffffffffu));
    std::string p;
    CHECK_FALSE(r.Next(&p).ok());
  }
  SECTION("2-byte header") {
    hb::PacketReader r(2, 100);
    r.Append(Header(2, 101));
    std::string p;
    CHECK_FALSE(r.Next(&p).ok());
  }
  SECTION("exactly the limit is fine") {
    hb::PacketReader r(4, 1000);
    std::string body = Body(1000, 9);
    r.Append(Frame(4, body));
    CHECK(Drain(&r) == std::vector<std::string>{body});
  }
  SECTION("an oversize packet after good ones") {
    hb::PacketReader r(4, 10);
    r.Append(Frame(4, "ok") + Header(4, 11));
    std::string p;
    auto a = r.Next(&p);
    REQUIRE(a.ok());
    REQUIRE(*a);
    CHECK(p == "ok");
    CHECK_FALSE(r.Next(&p).ok());
  }
}

TEST_CASE("packet_reader: switching header size mid-stream", "[packet_reader]") {
  SECTION("handshake packets then distribution packets in one Append") {
    hb::PacketReader r(2, 1 << 16);
    std::string stream = Frame(2, "a" + Body(20, 1)) + Frame(4, "p-data") + Frame(4, "") +
                         Frame(4, Body(300, 2));
    r.Append(stream);
    std::string p;
    auto n = r.Next(&p);
    REQUIRE(n.ok());
    REQUIRE(*n);
    CHECK(p == "a" + Body(20, 1));
    // The rest is already buffered; it is re-read with 4-byte headers.
    r.set_header_bytes(4);
    CHECK(Drain(&r) == std::vector<std::string>{"p-data", "", Body(300, 2)});
    CHECK(r.buffered() == 0);
  }
  SECTION("switch with a partial 4-byte header buffered") {
    hb::PacketReader r(2, 1 << 16);
    std::string f4 = Frame(4, "after");
    r.Append(Frame(2, "before") + f4.substr(0, 3));
    std::string p;
    auto n = r.Next(&p);
    REQUIRE(n.ok());
    REQUIRE(*n);
    CHECK(p == "before");
    r.set_header_bytes(4);
    auto m = r.Next(&p);
    REQUIRE(m.ok());
    CHECK_FALSE(*m);
    r.Append(f4.substr(3));
    CHECK(Drain(&r) == std::vector<std::string>{"after"});
  }
  SECTION("switch on an empty buffer, then many packets") {
    hb::PacketReader r(2, 1 << 16);
    r.Append(Frame(2, "hs"));
    CHECK(Drain(&r) == std::vector<std::string>{"hs"});
    r.set_header_bytes(4);
    std::vector<std::string> bodies;
    std::string stream;
    for (int i = 0; i < 1000; ++i) {
      bodies.push_back(Body(static_cast<size_t>(i % 17), i));
      stream += Frame(4, bodies.back());
    }
    r.Append(stream);
    CHECK(Drain(&r) == bodies);
  }
}

TEST_CASE("packet_reader: a long stream does not keep consumed bytes", "[packet_reader]") {
  hb::PacketReader r(4, 1 << 16);
  std::string body = Body(1000, 5);
  std::string frame = Frame(4, body);
  for (int i = 0; i < 5000; ++i) {
    r.Append(frame);
    std::string p;
    auto n = r.Next(&p);
    REQUIRE(n.ok());
    REQUIRE(*n);
    REQUIRE(p == body);
    REQUIRE(r.buffered() == 0);
  }
}
