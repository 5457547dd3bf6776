// systemd's notify protocol (sd_notify(3)) and watchdog, for Type=notify.
//
// Outside systemd (no NOTIFY_SOCKET) every call is a cheap no-op. The
// watchdog pings come from a timer on the loop thread, so a stalled loop
// stops them and systemd's WatchdogSec fires -- which is the point.
//
// Thread: the loop thread.
#pragma once

#include <uv.h>

#include <string>

namespace hb {

class SystemdNotifier {
 public:
  explicit SystemdNotifier(uv_loop_t* loop);
  ~SystemdNotifier();
  SystemdNotifier(const SystemdNotifier&) = delete;
  SystemdNotifier& operator=(const SystemdNotifier&) = delete;

  void Ready(const std::string& status);
  void Reloading(const std::string& status);
  void Stopping(const std::string& status);
  void Status(const std::string& status);
  // Starts WATCHDOG=1 pings at half of WatchdogSec when systemd asked for them.
  void StartWatchdog();
  void Close();

 private:
  void Send(const std::string& text);
  uv_loop_t* loop_;
  uv_timer_t timer_;
  bool timer_open_ = false;
  bool enabled_ = false;
};

}  // namespace hb
