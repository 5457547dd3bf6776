// A stand-in for hornbeamd-worker that speaks the ring protocol
// (daemon/shm_ring.h) but lies, for isolation_lying_worker_test.cc: the
// daemon must never trust what a child writes into shared memory. $HB_LIE:
//   caps    the hello claims an absurd output_dim
//   offset  an execute answer placed far outside the ring
//   short   an execute answer shorter than its results
//   grow    the ring grown past what the daemon maps, then an answer
//   shrink  tries to cut the ring under the daemon's mapping, then answers
//           honestly (the seal refuses the cut)
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <string>

#include "daemon/shm_ring.h"

namespace {

using hb::RingHeader;
using hb::RingOp;
using hb::SharedRing;

void Answer(SharedRing& ring, int32_t status) {
  RingHeader* h = ring.header();
  h->status = status;
  h->response_seq.fetch_add(1, std::memory_order_release);
  SharedRing::Wake(&h->response_seq);
}

void Hello(SharedRing& ring, const std::string& lie) {
  hb::RingWriter w;
  w.U32(lie == "caps" ? (1u << 30) : 4);  // output_dim
  w.U32(64);                              // max_batch_size
  w.U32(0);                               // max_tokens
  w.U32(0);                               // needs_gpu
  w.Str("liar");
  w.Str("0");
  w.Str("lying worker");
  w.U32(0);
  RingHeader* h = ring.header();
  h->response_offset = SharedRing::kPayloadOffset + ((h->request_bytes + 63) & ~uint64_t{63});
  h->response_bytes = w.data().size();
  memcpy(ring.base() + h->response_offset, w.data().data(), w.data().size());
  Answer(ring, 0);
}

void Execute(SharedRing& ring, const std::string& lie) {
  RingHeader* h = ring.header();
  const uint64_t n = h->count;
  const uint64_t bytes = n * (sizeof(hb::RingTextResult) + 4 * sizeof(float));
  uint64_t at = (SharedRing::kPayloadOffset + h->request_bytes + n + 63) & ~uint64_t{63};
  if (lie == "grow") {
    ftruncate(ring.fd(), static_cast<off_t>(SharedRing::kMaxBytes + (1 << 20)));
  } else if (lie == "shrink") {
    ftruncate(ring.fd(), 4096);  // refused: sealed
  }
  if (!ring.Reserve(at + bytes).ok()) return Answer(ring, 4);
  h = ring.header();
  memset(ring.base() + at, 0, bytes);  // every result HB_OK, every vector 0
  h->response_offset = lie == "offset" ? (uint64_t{1} << 62) : at;
  h->response_bytes = lie == "short" ? 1 : bytes;
  Answer(ring, 0);
}

}  // namespace

int main(int argc, char** argv) {
  int fd = -1;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (std::string(argv[i]) == "--ring-fd") fd = atoi(argv[i + 1]);
  }
  const char* env = getenv("HB_LIE");
  const std::string lie = env ? env : "";
  hb::Result<SharedRing> ring = SharedRing::Attach(fd);
  if (!ring.ok()) return 2;
  uint32_t seen = 0;
  for (;;) {
    if (!SharedRing::Wait(&ring->header()->request_seq, seen, 1000)) {
      if (getppid() == 1) return 0;
      continue;
    }
    seen = ring->header()->request_seq.load();
    ring->Refresh();
    auto op = static_cast<RingOp>(ring->header()->op);
    if (op == RingOp::kHello) {
      Hello(*ring, lie);
    } else if (op == RingOp::kExecuteText) {
      Execute(*ring, lie);
    } else {
      Answer(*ring, 0);
      if (op == RingOp::kShutdown) return 0;
    }
  }
}
