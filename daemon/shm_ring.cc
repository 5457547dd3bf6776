#include "daemon/shm_ring.h"

#include <fcntl.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>

namespace hb {
namespace {

Status Errno(const std::string& what) { return Internal(what + ": " + strerror(errno)); }

}  // namespace

Result<SharedRing> SharedRing::Create(size_t bytes) {
  if (bytes < kPayloadOffset || bytes > kMaxBytes) return InvalidArgument("ring size out of range");
  int fd = static_cast<int>(
      syscall(SYS_memfd_create, "hornbeamd-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING));
  if (fd < 0) return Errno("memfd_create");
  SharedRing r;
  r.fd_ = fd;
  if (ftruncate(fd, static_cast<off_t>(bytes)) != 0) return Errno("ftruncate ring");
  // Nobody may shrink the file under the other's mapping (touching a page
  // past the end would be SIGBUS): a broken child can grow it, never cut it.
  if (fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_SEAL) != 0) return Errno("seal ring");
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Errno("mmap ring");
  r.base_ = static_cast<uint8_t*>(p);
  r.size_ = bytes;
  RingHeader* h = new (r.base_) RingHeader();  // the memfd starts zeroed
  h->magic = kMagic;
  h->version = kVersion;
  return r;
}

Result<SharedRing> SharedRing::Attach(int fd) {
  SharedRing r;
  r.fd_ = fd;
  struct stat st;
  if (fstat(fd, &st) != 0) return Errno("fstat ring");
  size_t bytes = static_cast<size_t>(st.st_size);
  if (bytes < kPayloadOffset || bytes > kMaxBytes) return InvalidArgument("ring size out of range");
  void* p = mmap(nullptr, bytes, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (p == MAP_FAILED) return Errno("mmap ring");
  r.base_ = static_cast<uint8_t*>(p);
  r.size_ = bytes;
  if (r.header()->magic != kMagic || r.header()->version != kVersion) {
    return InvalidArgument("not a hornbeamd ring (magic or version)");
  }
  return r;
}

SharedRing::~SharedRing() { Reset(); }

void SharedRing::Reset() {
  if (base_ != nullptr) munmap(base_, size_);
  if (fd_ >= 0) close(fd_);
  base_ = nullptr;
  size_ = 0;
  fd_ = -1;
}

SharedRing::SharedRing(SharedRing&& o) noexcept : fd_(o.fd_), base_(o.base_), size_(o.size_) {
  o.fd_ = -1;
  o.base_ = nullptr;
  o.size_ = 0;
}

SharedRing& SharedRing::operator=(SharedRing&& o) noexcept {
  if (this != &o) {
    Reset();
    fd_ = o.fd_;
    base_ = o.base_;
    size_ = o.size_;
    o.fd_ = -1;
    o.base_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

Status SharedRing::Reserve(size_t bytes) {
  if (bytes <= size_) return Status::Ok();
  if (bytes > kMaxBytes) return OutOfRange("ring would exceed " + std::to_string(kMaxBytes) + " bytes");
  // Grow geometrically so a stream of growing batches remaps rarely.
  size_t want = std::max(bytes, std::min(kMaxBytes, size_ * 2));
  struct stat st;
  if (fstat(fd_, &st) != 0) return Errno("fstat ring");
  if (static_cast<size_t>(st.st_size) < want && ftruncate(fd_, static_cast<off_t>(want)) != 0) {
    return Errno("grow ring");
  }
  return Refresh();
}

Status SharedRing::Refresh() {
  struct stat st;
  if (fstat(fd_, &st) != 0) return Errno("fstat ring");
  size_t bytes = static_cast<size_t>(st.st_size);
  if (bytes <= size_) return Status::Ok();  // never shrinks
  if (bytes > kMaxBytes) return OutOfRange("ring grew past " + std::to_string(kMaxBytes) + " bytes");
  void* p = mremap(base_, size_, bytes, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) return Errno("mremap ring");
  base_ = static_cast<uint8_t*>(p);
  size_ = bytes;
  return Status::Ok();
}

uint8_t* SharedRing::At(uint64_t offset, uint64_t length) const {
  if (offset > size_ || length > size_ - offset) return nullptr;
  return base_ + offset;
}

bool SharedRing::Wait(std::atomic<uint32_t>* word, uint32_t seen, int timeout_ms) {
  if (word->load(std::memory_order_acquire) != seen) return true;
  struct timespec ts;
  ts.tv_sec = timeout_ms / 1000;
  ts.tv_nsec = static_cast<long>(timeout_ms % 1000) * 1000000;
  // Not FUTEX_PRIVATE: the word is in memory shared with another process.
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAIT, seen, &ts, nullptr, 0);
  return word->load(std::memory_order_acquire) != seen;
}

void SharedRing::Wake(std::atomic<uint32_t>* word) {
  syscall(SYS_futex, reinterpret_cast<uint32_t*>(word), FUTEX_WAKE, 1, nullptr, nullptr, 0);
}

bool RingReader::Raw(void* out, size_t n) {
  if (!ok_ || n > n_) return ok_ = false;
  memcpy(out, p_, n);
  p_ += n;
  n_ -= n;
  return true;
}

bool RingReader::Str(std::string* s, size_t max) {
  uint64_t n = 0;
  if (!U64(&n) || n > n_ || n > max) return ok_ = false;
  s->assign(reinterpret_cast<const char*>(p_), n);
  p_ += n;
  n_ -= n;
  return true;
}

}  // namespace hb
