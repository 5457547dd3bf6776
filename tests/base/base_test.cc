// base/: byte order, CatchAll, Mutex/CondVar.
#include <catch2/catch.hpp>

#include <chrono>
#include <new>
#include <stdexcept>
#include <string>
#include <thread>

#include "base/byte_order.h"
#include "base/catch_all.h"
#include "base/mutex.h"

namespace hb {
namespace {

TEST_CASE("big-endian integers round-trip at every width", "[base]") {
  for (size_t n = 1; n <= 8; ++n) {
    uint64_t v = 0x0102030405060708ull >> (8 * (8 - n));
    std::string out;
    AppendBigEndian(&out, v, n);
    REQUIRE(out.size() == n);
    CHECK(static_cast<uint8_t>(out[0]) == 1);  // the most significant byte first
    CHECK(ReadBigEndian(out, 0, n) == v);
    char buf[8];
    CHECK(WriteBigEndian(buf, v, n) == buf + n);
    CHECK(std::string(buf, n) == out);
  }
  CHECK(ReadBigEndian(std::string("\xff\x01", 2), 0, 2) == 0xff01);
}

TEST_CASE("CatchAll reports an exception instead of letting it cross", "[base]") {
  std::string what;
  CHECK(CatchAll("test", [] {}, &what));
  CHECK_FALSE(CatchAll("test", [] { throw std::runtime_error("boom"); }, &what));
  CHECK(what == "boom");
  CHECK_FALSE(CatchAll("test", [] { throw std::bad_alloc(); }, &what));
  CHECK(what == "std::bad_alloc");
  CHECK_FALSE(CatchAll("test", [] { throw 42; }, &what));
  CHECK(what == "unknown exception");
}

TEST_CASE("CondVar waits on its Mutex and wakes on a signal or a deadline", "[base]") {
  Mutex mu;
  CondVar cv;
  bool ready = false;
  std::thread t([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    MutexLock lock(&mu);
    ready = true;
    cv.SignalAll();
  });
  {
    MutexLock lock(&mu);
    while (!ready) cv.Wait(&mu);
    CHECK(ready);
  }
  t.join();
  MutexLock lock(&mu);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(30);
  while (cv.WaitUntil(&mu, deadline)) {
  }  // true only for a spurious wake-up: nobody signals
  CHECK(std::chrono::steady_clock::now() >= deadline);
}

}  // namespace
}  // namespace hb
