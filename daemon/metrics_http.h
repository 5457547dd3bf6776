// MetricsHttpServer: GET /metrics in Prometheus text format, served by
// libmicrohttpd on its own thread (bound to 127.0.0.1 by default).
//
// The figures live on the loop thread, so a request asks the loop for a
// fresh rendering through a uv_async_t and waits (at most one second) for
// it; if the loop is stalled the last rendering is served rather than
// blocking the scrape.
//
// Thread: Start/Stop on the loop thread; the handler on MHD's thread.
#pragma once

#include <uv.h>

#include <cstdint>
#include <functional>
#include <string>

#include "base/mutex.h"
#include "base/status.h"

struct MHD_Daemon;

namespace hb {

class MetricsHttpServer {
 public:
  MetricsHttpServer(uv_loop_t* loop, std::function<std::string()> render);
  ~MetricsHttpServer();
  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  Status Start(const std::string& address, uint16_t port);
  // Stops MHD (joining its thread) and closes the async handle.
  void Stop();
  uint16_t port() const { return port_; }

  // Called from MHD's thread.
  std::string Scrape();

 private:
  void RenderOnLoop();

  uv_loop_t* loop_;
  std::function<std::string()> render_;
  uv_async_t async_;
  bool async_open_ = false;
  MHD_Daemon* mhd_ = nullptr;
  uint16_t port_ = 0;
  Mutex mu_;
  CondVar cv_;
  uint64_t requested_ GUARDED_BY(mu_) = 0;
  uint64_t rendered_ GUARDED_BY(mu_) = 0;
  std::string snapshot_ GUARDED_BY(mu_);
};

}  // namespace hb
