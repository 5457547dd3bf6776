// CatchAll: the last line of house rule 3 -- no C++ exception crosses a
// libuv callback, a thread's entry function or the plugin ABI. Code at such
// a boundary runs its body through CatchAll; an exception (std::bad_alloc,
// in practice) is logged with where it happened and reported as `false`, so
// the caller can fail just the call or the connection concerned.
//
// Thread: any.
#pragma once

#include <exception>
#include <string>

#include "base/log.h"

namespace hb {

// What an exception says, for a log line or an error reply.
inline std::string DescribeException(std::exception_ptr e) noexcept {
  try {
    std::rethrow_exception(e);
  } catch (const std::exception& x) {
    try {
      return x.what();
    } catch (...) {
    }
  } catch (...) {
  }
  return "unknown exception";
}

// Runs f(); returns false (after logging) if it threw. `what` receives the
// exception's text when not null.
template <typename F>
bool CatchAll(const char* where, F&& f, std::string* what = nullptr) noexcept {
  try {
    f();
    return true;
  } catch (...) {
    std::exception_ptr e = std::current_exception();
    try {
      std::string text = DescribeException(e);
      LogLine(LogLevel::kError, std::string(where) + ": unexpected exception: " + text);
      if (what) *what = std::move(text);
    } catch (...) {
      // Out of memory even for the log line: nothing more to do.
    }
    return false;
  }
}

}  // namespace hb
