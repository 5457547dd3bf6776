#include "daemon/systemd_notify.h"

#include <systemd/sd-daemon.h>
#include <time.h>

#include <algorithm>
#include <cstdlib>

#include "base/log.h"

namespace hb {

SystemdNotifier::SystemdNotifier(uv_loop_t* loop) : loop_(loop) {
  const char* s = getenv("NOTIFY_SOCKET");
  enabled_ = s != nullptr && *s != '\0';
}

SystemdNotifier::~SystemdNotifier() = default;

void SystemdNotifier::Send(const std::string& text) {
  if (!enabled_) return;
  int rc = sd_notify(0, text.c_str());
  if (rc < 0) HB_LOG_WARN("sd_notify failed: " + std::to_string(rc));
}

void SystemdNotifier::Ready(const std::string& status) { Send("READY=1\nSTATUS=" + status); }

void SystemdNotifier::Reloading(const std::string& status) {
  // systemd 253+ wants MONOTONIC_USEC with RELOADING=1 (Type=notify-reload);
  // older versions ignore the extra field.
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  uint64_t usec = static_cast<uint64_t>(ts.tv_sec) * 1000000 + ts.tv_nsec / 1000;
  Send("RELOADING=1\nMONOTONIC_USEC=" + std::to_string(usec) + "\nSTATUS=" + status);
}

void SystemdNotifier::Stopping(const std::string& status) { Send("STOPPING=1\nSTATUS=" + status); }

void SystemdNotifier::Status(const std::string& status) { Send("STATUS=" + status); }

void SystemdNotifier::StartWatchdog() {
  uint64_t usec = 0;
  if (sd_watchdog_enabled(0, &usec) <= 0 || usec == 0) return;
  uv_timer_init(loop_, &timer_);
  timer_.data = this;
  timer_open_ = true;
  uint64_t period_ms = std::max<uint64_t>(usec / 2000, 1);
  uv_timer_start(&timer_, [](uv_timer_t* t) { static_cast<SystemdNotifier*>(t->data)->Send("WATCHDOG=1"); },
                 period_ms, period_ms);
  HB_LOG_INFO("systemd watchdog: pinging every " + std::to_string(period_ms) + " ms");
}

void SystemdNotifier::Close() {
  if (timer_open_) {
    uv_close(reinterpret_cast<uv_handle_t*>(&timer_), nullptr);
    timer_open_ = false;
  }
}

}  // namespace hb
