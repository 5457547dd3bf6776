// Helpers shared by the daemon unit tests: a gate that holds a thread until
// the test opens it, a batcher on the test plugin, and capturing what the
// daemon logs. Waiting with a deadline is in tests/ei_bridge/loop_util.h.
#pragma once

#include <catch2/catch.hpp>
#include <fcntl.h>
#include <unistd.h>

#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "daemon/batcher.h"
#include "daemon/plugin.h"
#include "tests/ei_bridge/loop_util.h"

namespace hb::testing {

// A one-shot latch: Wait() blocks until Open() (or the timeout: then it
// returns false). waiting() tells how many threads are blocked in it.
class Gate {
 public:
  void Open() {
    std::lock_guard<std::mutex> lock(mu_);
    open_ = true;
    cv_.notify_all();
  }
  bool Wait(std::chrono::milliseconds timeout = kPatience) {
    std::unique_lock<std::mutex> lock(mu_);
    ++waiting_;
    bool ok = cv_.wait_for(lock, timeout, [this] { return open_; });
    --waiting_;
    return ok;
  }
  int waiting() const {
    std::lock_guard<std::mutex> lock(mu_);
    return waiting_;
  }

 private:
  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool open_ = false;
  int waiting_ = 0;
};

// `instances` instances of model "m" of the plugin at `so`.
inline std::vector<std::unique_ptr<InstanceHandle>> Instances(const std::string& so,
                                                              int instances) {
  auto plugin = Plugin::Load(so);
  REQUIRE(plugin.ok());
  auto model = ModelHandle::Load(*plugin, "m", "{}");
  REQUIRE(model.ok());
  std::vector<std::unique_ptr<InstanceHandle>> out;
  for (int i = 0; i < instances; ++i) {
    auto inst = InstanceHandle::Create(*model, -1);
    REQUIRE(inst.ok());
    out.push_back(std::move(inst).value());
  }
  return out;
}

inline std::shared_ptr<Batcher> MakeBatcher(const std::string& so, BatcherOptions o,
                                            int instances = 1) {
  return std::make_shared<Batcher>("m", o, Instances(so, instances));
}

inline const std::string& TestPlugin() {
  static const std::string path = std::string(HB_TEST_PLUGIN_DIR) + "/testplugin_good.so";
  return path;
}

// Everything written to stderr (where the daemon logs) while it lives.
class StderrCapture {
 public:
  StderrCapture() {
    std::fflush(stderr);
    saved_ = dup(STDERR_FILENO);
    char path[] = "/tmp/hb_stderr_XXXXXX";
    fd_ = mkstemp(path);
    REQUIRE(fd_ >= 0);
    unlink(path);
    dup2(fd_, STDERR_FILENO);
  }
  ~StderrCapture() { Restore(); }
  // What was written so far; stderr stays captured.
  std::string Text() const {
    std::string out;
    char buf[4096];
    for (off_t off = 0;;) {
      ssize_t n = pread(fd_, buf, sizeof(buf), off);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
      off += n;
    }
    return out;
  }

 private:
  void Restore() {
    if (saved_ < 0) return;
    dup2(saved_, STDERR_FILENO);
    close(saved_);
    close(fd_);
    saved_ = -1;
  }
  int saved_ = -1;
  int fd_ = -1;
};

}  // namespace hb::testing
