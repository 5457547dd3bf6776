// EiBuffer: the one RAII owner of an ei_x_buff.
#pragma once

#include <ei.h>

#include <cassert>
#include <cstddef>

namespace hb {

class EiBuffer {
 public:
  EiBuffer() {
    int rc = ei_x_new(&buf_);
    assert(rc == 0);
    (void)rc;
  }
  ~EiBuffer() { ei_x_free(&buf_); }
  EiBuffer(const EiBuffer&) = delete;
  EiBuffer& operator=(const EiBuffer&) = delete;

  ei_x_buff* get() { return &buf_; }
  const char* data() const { return buf_.buff; }
  size_t size() const { return static_cast<size_t>(buf_.index); }

 private:
  ei_x_buff buf_;
};

}  // namespace hb
