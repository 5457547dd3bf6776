// EpmdClient: keeps this node registered with the local epmd.
//
// ALIVE2_REQ registers the node; the registration lives exactly as long as
// the TCP connection that made it, so the client keeps that connection open
// for the daemon's life and, when epmd goes away (restart, crash), retries
// every `retry_ms` until it is registered again. The creation epmd hands out
// first is the node's identity for this run; later registrations log the new
// value but the node keeps its first one (pids already handed out use it).
//
// Thread: the loop thread only. Owns one uv_tcp_t and one uv_timer_t; Close()
// starts libuv's two-step close and `on_closed` runs when both are gone.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

#include "base/status.h"

namespace hb {

class EpmdClient {
 public:
  struct Config {
    std::string alive;         // the part of the node name before '@'
    uint16_t listen_port = 0;  // where peers reach us
    bool hidden = false;       // node type 72 (hidden) or 77 (normal)
    std::string epmd_host = "127.0.0.1";
    uint16_t epmd_port = 4369;  // $ERL_EPMD_PORT overrides, as for erl
    uint32_t retry_ms = 1000;
  };
  // First result of the first attempt: the creation, or why it failed.
  using RegisteredFn = std::function<void(Result<uint32_t>)>;

  EpmdClient(uv_loop_t* loop, Config config);
  ~EpmdClient();
  EpmdClient(const EpmdClient&) = delete;
  EpmdClient& operator=(const EpmdClient&) = delete;

  // Registers; `first` is called once, with the outcome of the first attempt.
  void Start(RegisteredFn first);
  // Drops the registration (closing the socket unregisters) and closes.
  void Close(std::function<void()> on_closed);

  bool registered() const { return registered_; }
  uint64_t registrations() const { return registrations_; }

 private:
  void Connect();
  void OnConnected(int status);
  void OnRead(ssize_t n, const uv_buf_t* buf);
  void Lost(const std::string& why);
  void ScheduleRetry();
  void CloseSocket();
  void MaybeFinishClose();

  uv_loop_t* loop_;
  Config config_;
  uv_tcp_t* tcp_ = nullptr;  // heap: freed in its close callback
  uv_timer_t retry_timer_;
  uv_connect_t connect_req_;
  std::string reply_;
  RegisteredFn first_;
  bool registered_ = false;
  bool closing_ = false;
  int open_handles_ = 0;
  uint64_t registrations_ = 0;
  std::function<void()> on_closed_;
};

}  // namespace hb
