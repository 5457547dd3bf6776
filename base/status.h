// Status and Result<T>: errors as values.
//
// Every fallible function in hornbeamd returns one of these instead of
// throwing. A Status is cheap to copy when ok (no allocation); an error carries
// a code and a one-line human message meant for a log line or an error reply.
#pragma once

#include <cassert>
#include <optional>
#include <string>
#include <utility>

namespace hb {

enum class StatusCode {
  kOk = 0,
  kInvalidArgument,   // malformed input from a peer, a caller or a file
  kOutOfRange,        // a limit was hit (size, depth, count)
  kNotFound,
  kPermissionDenied,  // wrong cookie, refused peer, unsafe file mode
  kUnavailable,       // transient: peer gone, epmd down
  kInternal,
};

class Status {
 public:
  Status() = default;
  Status(StatusCode code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status Ok() { return Status(); }
  bool ok() const { return code_ == StatusCode::kOk; }
  StatusCode code() const { return code_; }
  const std::string& message() const { return message_; }

 private:
  StatusCode code_ = StatusCode::kOk;
  std::string message_;
};

inline Status InvalidArgument(std::string m) { return {StatusCode::kInvalidArgument, std::move(m)}; }
inline Status OutOfRange(std::string m) { return {StatusCode::kOutOfRange, std::move(m)}; }
inline Status NotFound(std::string m) { return {StatusCode::kNotFound, std::move(m)}; }
inline Status PermissionDenied(std::string m) { return {StatusCode::kPermissionDenied, std::move(m)}; }
inline Status Unavailable(std::string m) { return {StatusCode::kUnavailable, std::move(m)}; }
inline Status Internal(std::string m) { return {StatusCode::kInternal, std::move(m)}; }

// Either a value or an error Status. Accessing value() of an error is a
// broken invariant and asserts.
template <typename T>
class Result {
 public:
  Result(T value) : value_(std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }  // NOLINT

  bool ok() const { return status_.ok(); }
  const Status& status() const { return status_; }
  T& value() & { assert(ok()); return *value_; }
  const T& value() const& { assert(ok()); return *value_; }
  T&& value() && { assert(ok()); return std::move(*value_); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }

 private:
  Status status_;
  std::optional<T> value_;
};

}  // namespace hb

#define HB_RETURN_IF_ERROR(expr)          \
  do {                                    \
    ::hb::Status hb_status__ = (expr);    \
    if (!hb_status__.ok()) return hb_status__; \
  } while (0)
