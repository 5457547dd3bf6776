// A fake epmd on 127.0.0.1 for the EpmdClient and DistNode tests, and the
// socket helpers it needs. It is a plain non-blocking socket served from a
// TestLoop poller, so it runs on the test thread between loop steps.
#pragma once

#include <arpa/inet.h>
#include <catch2/catch.hpp>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "base/byte_order.h"
#include "tests/ei_bridge/loop_util.h"

namespace hb::testing {

// Sets an environment variable for a scope (ERL_EPMD_PORT).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = getenv(name)) old_ = old;
    setenv(name, value.c_str(), 1);
  }
  ~ScopedEnv() {
    if (old_) {
      setenv(name_, old_->c_str(), 1);
    } else {
      unsetenv(name_);
    }
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

// A non-blocking TCP socket listening on 127.0.0.1:`port` (0: any free
// port); -1 when it cannot. *bound receives the port.
inline int ListenLocal(uint16_t port, uint16_t* bound) {
  int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(a);
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a)) != 0 || listen(fd, 64) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    close(fd);
    return -1;
  }
  *bound = ntohs(a.sin_port);
  return fd;
}

// A port on 127.0.0.1 where nothing listens (bound once, then released).
inline uint16_t UnusedPort() {
  uint16_t port = 0;
  int fd = ListenLocal(0, &port);
  REQUIRE(fd >= 0);
  close(fd);
  return port;
}

// epmd as far as ALIVE2 goes: answers each registration request as told,
// keeps the connection (the registration) open, and can be restarted.
class FakeEpmd {
 public:
  enum class Reply {
    kAlive2X,  // ALIVE2_X_RESP, 32-bit creation (OTP 23+ epmd)
    kAlive2,   // ALIVE2_RESP, 16-bit creation (older epmd)
    kRefuse,   // ALIVE2_X_RESP with result 1: the name is taken
    kHold,     // no answer (yet)
  };
  struct Request {
    uint16_t port = 0;
    uint8_t node_type = 0;
    uint8_t protocol = 0;
    uint16_t highest = 0;
    uint16_t lowest = 0;
    std::string name;
    std::string extra;
  };

  explicit FakeEpmd(TestLoop* loop) {
    listen_fd_ = ListenLocal(0, &port_);
    REQUIRE(listen_fd_ >= 0);
    loop->AddPoller([this, alive = alive_] {
      if (*alive) Poll();
    });
  }
  ~FakeEpmd() {
    Stop();
    *alive_ = false;
  }
  FakeEpmd(const FakeEpmd&) = delete;
  FakeEpmd& operator=(const FakeEpmd&) = delete;

  uint16_t port() const { return port_; }
  Reply reply = Reply::kAlive2X;
  uint32_t next_creation = 0x5eed0001;  // each answered request takes the next
  bool split_reply = false;             // write answers one byte per step
  std::vector<Request> requests;        // every registration request, in order

  // Connections still open (live registrations, or requests unanswered).
  size_t connections() const { return clients_.size(); }
  // Closes every connection, as an epmd that restarts (or crashes) does.
  void DropAll() {
    for (Client& c : clients_) close(c.fd);
    clients_.clear();
  }
  // epmd is down: nothing listens on its port.
  void Stop() {
    DropAll();
    if (listen_fd_ >= 0) close(listen_fd_);
    listen_fd_ = -1;
  }
  // epmd is back, on the same port.
  void Restart() {
    uint16_t bound = 0;
    listen_fd_ = ListenLocal(port_, &bound);
    REQUIRE(listen_fd_ >= 0);
  }

 private:
  struct Client {
    int fd;
    std::string in;
    std::string out;
    bool answered = false;
  };

  void Poll() {
    for (int fd; listen_fd_ >= 0 && (fd = accept4(listen_fd_, nullptr, nullptr,
                                                  SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0;) {
      clients_.push_back({fd, "", ""});
    }
    for (size_t i = 0; i < clients_.size();) {
      if (Serve(clients_[i])) {
        ++i;
      } else {
        close(clients_[i].fd);
        clients_.erase(clients_.begin() + static_cast<long>(i));
      }
    }
  }

  // False once the client has gone.
  bool Serve(Client& c) {
    char buf[512];
    for (;;) {
      ssize_t n = recv(c.fd, buf, sizeof(buf), 0);
      if (n > 0) {
        c.in.append(buf, static_cast<size_t>(n));
        continue;
      }
      if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) return false;
      break;
    }
    if (!c.answered && reply != Reply::kHold && c.in.size() >= 2 &&
        c.in.size() >= 2 + ReadBigEndian(c.in, 0, 2)) {
      requests.push_back(Parse(c.in.substr(2)));
      c.answered = true;
      c.out = Answer();
    }
    if (!c.out.empty()) {
      size_t n = split_reply ? 1 : c.out.size();
      ssize_t sent = send(c.fd, c.out.data(), n, MSG_NOSIGNAL);
      if (sent > 0) c.out.erase(0, static_cast<size_t>(sent));
    }
    return true;
  }

  static Request Parse(const std::string& b) {
    REQUIRE(b.size() >= 13);
    CHECK(static_cast<uint8_t>(b[0]) == 120);  // ALIVE2_REQ
    Request r;
    r.port = static_cast<uint16_t>(ReadBigEndian(b, 1, 2));
    r.node_type = static_cast<uint8_t>(b[3]);
    r.protocol = static_cast<uint8_t>(b[4]);
    r.highest = static_cast<uint16_t>(ReadBigEndian(b, 5, 2));
    r.lowest = static_cast<uint16_t>(ReadBigEndian(b, 7, 2));
    size_t nlen = ReadBigEndian(b, 9, 2);
    REQUIRE(b.size() >= 13 + nlen);
    r.name = b.substr(11, nlen);
    size_t elen = ReadBigEndian(b, 11 + nlen, 2);
    r.extra = b.substr(13 + nlen, elen);
    CHECK(b.size() == 13 + nlen + elen);
    return r;
  }

  std::string Answer() {
    std::string out;
    switch (reply) {
      case Reply::kAlive2X:
        out = {char(118), 0};
        AppendBigEndian(&out, next_creation++, 4);
        break;
      case Reply::kAlive2:
        out = {char(121), 0};
        AppendBigEndian(&out, next_creation++ & 0xffff, 2);
        break;
      case Reply::kRefuse:
        out = {char(118), 1};
        AppendBigEndian(&out, 0, 4);
        break;
      case Reply::kHold:
        break;
    }
    return out;
  }

  int listen_fd_ = -1;
  uint16_t port_ = 0;
  std::vector<Client> clients_;
  // The loop may outlive this object; its poller checks this first.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
};

}  // namespace hb::testing
