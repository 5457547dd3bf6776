// SharedRing: the shared memory between the daemon and one hornbeamd-worker
// (isolation: "process"), one per model instance.
//
// A memfd, mapped by both sides: a 4 KiB header, then the payload. One call
// is in flight at a time (an instance runs one execute at a time), so the
// "ring" has a single slot: the daemon writes a request at kPayloadOffset,
// bumps request_seq and wakes the child through a futex on it; the child
// writes its response at response_offset, bumps response_seq and wakes the
// daemon. Either side may grow the memfd (ftruncate) for a large request or
// result; the other remaps when it sees the file grew (Refresh).
//
// Trust: the daemon never trusts what the child wrote. Every offset and
// length read from the header goes through At(), which refuses a span
// outside the current mapping, and Refresh() takes the size from fstat, not
// from the header.
//
// Ownership: a SharedRing owns its fd and its mapping (closed and unmapped in
// the destructor). Thread: one thread uses a ring at a time, except the
// cancellation bytes (atomic) that a waiting daemon thread updates.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "base/status.h"
#include "hornbeam/plugin.h"

namespace hb {

enum class RingOp : uint32_t {
  kNone = 0,
  kHello = 1,        // load plugin, model and instance; answer the caps
  kExecuteText = 2,  // one batch of texts
  kExecuteTerm = 3,  // one term call
  kCountTokens = 4,  // one text's token count
  kShutdown = 5,     // unload and exit 0
};

struct RingHeader {
  uint32_t magic;
  uint32_t version;
  std::atomic<uint32_t> request_seq;   // futex word: the daemon bumps it
  std::atomic<uint32_t> response_seq;  // futex word: the child bumps it
  uint32_t op;                         // RingOp of the request
  uint32_t count;                      // texts in the request; tokens in a kCountTokens answer
  uint64_t request_bytes;              // payload at kPayloadOffset
  uint64_t cancel_offset;              // `count` cancellation bytes (kExecuteText)
  uint64_t response_offset;            // where the child wrote its answer
  uint64_t response_bytes;
  int32_t status;                      // hb_status of the whole call
  uint32_t reserved;
  char error[512];                     // NUL-terminated within the array
};

// The devices a worker's plugin reports (device_info), which the worker
// publishes every second at kPayloadOffset of a second ring that is never
// resized: the daemon's device monitor reads it from its own thread while
// the instance thread uses (and may remap) the call ring. A seqlock: `seq`
// is odd while the worker writes.
struct RingDeviceBoard {
  static constexpr uint32_t kMaxDevices = 16;
  std::atomic<uint32_t> seq;
  uint32_t count;
  int32_t status;  // HB_OK, or the query failed with `error`
  char error[256];
  hb_device_info devices[kMaxDevices];
};

// One text's result as the child writes it (the embedding is separate).
struct RingTextResult {
  int32_t status;
  char message[256];
};

class SharedRing {
 public:
  static constexpr uint32_t kMagic = 0x68627267;  // "hbrg"
  static constexpr uint32_t kVersion = 1;
  static constexpr size_t kPayloadOffset = 4096;
  // Neither side maps more than this; a child claiming more is broken.
  static constexpr size_t kMaxBytes = size_t{4} << 30;

  // A new ring of `bytes` (the daemon side).
  static Result<SharedRing> Create(size_t bytes);
  // The ring behind an inherited fd (the child side); takes the fd.
  static Result<SharedRing> Attach(int fd);

  SharedRing() = default;
  ~SharedRing();
  SharedRing(SharedRing&& o) noexcept;
  SharedRing& operator=(SharedRing&& o) noexcept;
  SharedRing(const SharedRing&) = delete;
  SharedRing& operator=(const SharedRing&) = delete;

  int fd() const { return fd_; }
  bool valid() const { return base_ != nullptr; }
  RingHeader* header() const { return reinterpret_cast<RingHeader*>(base_); }
  uint8_t* base() const { return base_; }
  size_t size() const { return size_; }

  // Grows the memfd and this mapping to at least `bytes`.
  Status Reserve(size_t bytes);
  // Maps whatever the other side grew the memfd to (size from fstat).
  Status Refresh();
  // `length` bytes at `offset`, or null when that span is not inside the
  // mapping (overflow-safe).
  uint8_t* At(uint64_t offset, uint64_t length) const;

  // Futex wait while `*word == seen`, at most `timeout_ms`; true when the
  // word changed (or a wake arrived).
  static bool Wait(std::atomic<uint32_t>* word, uint32_t seen, int timeout_ms);
  static void Wake(std::atomic<uint32_t>* word);

 private:
  void Reset();
  int fd_ = -1;
  uint8_t* base_ = nullptr;
  size_t size_ = 0;
};

// Bounded little serialisation for ring payloads. Writer appends to a
// string; Reader reads from a span and fails (ok() false) instead of reading
// past its end.
class RingWriter {
 public:
  void U32(uint32_t v) { Raw(&v, sizeof(v)); }
  void U64(uint64_t v) { Raw(&v, sizeof(v)); }
  void Str(std::string_view s) {
    U64(s.size());
    Raw(s.data(), s.size());
  }
  void Raw(const void* p, size_t n) { out_.append(static_cast<const char*>(p), n); }
  const std::string& data() const { return out_; }

 private:
  std::string out_;
};

class RingReader {
 public:
  RingReader(const uint8_t* p, size_t n) : p_(p), n_(n) {}
  bool U32(uint32_t* v) { return Raw(v, sizeof(*v)); }
  bool U64(uint64_t* v) { return Raw(v, sizeof(*v)); }
  bool Str(std::string* s, size_t max = size_t{1} << 31);
  bool Raw(void* out, size_t n);
  bool ok() const { return ok_; }

 private:
  const uint8_t* p_;
  size_t n_;
  bool ok_ = true;
};

// The message in a NUL-terminated char array, cut at its end regardless.
template <size_t N>
std::string CharArrayText(const char (&buf)[N]) {
  size_t n = 0;
  while (n < N && buf[n] != '\0') ++n;
  return std::string(buf, n);
}

}  // namespace hb
