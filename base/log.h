// Leveled, one-line-per-event logging to stderr (journald adds timestamps
// under systemd; a TTY gets our own).
//
// Thread-safe: each line is formatted then written with one write(2).
#pragma once

#include <string>
#include <string_view>

namespace hb {

enum class LogLevel { kDebug = 0, kInfo = 1, kWarning = 2, kError = 3 };

void SetLogLevel(LogLevel level);
LogLevel GetLogLevel();
// Parses "debug", "info", "warning"/"warn", "error".
bool ParseLogLevel(std::string_view text, LogLevel* out);
void LogLine(LogLevel level, std::string_view message);

}  // namespace hb

#define HB_LOG(level, expr)                                              \
  do {                                                                   \
    if (::hb::LogLevel::level >= ::hb::GetLogLevel()) {                  \
      ::hb::LogLine(::hb::LogLevel::level, (expr));                      \
    }                                                                    \
  } while (0)
#define HB_LOG_DEBUG(expr) HB_LOG(kDebug, expr)
#define HB_LOG_INFO(expr) HB_LOG(kInfo, expr)
#define HB_LOG_WARN(expr) HB_LOG(kWarning, expr)
#define HB_LOG_ERROR(expr) HB_LOG(kError, expr)
