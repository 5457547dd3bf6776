// hornbeamd-worker: one model instance in its own process (isolation:
// "process"). Started by the daemon (daemon/isolated_instance.h) as the same
// user, in the same sandbox; it opens no socket and, where the kernel lets
// it, drops into an empty network namespace. It loads the plugin through the
// daemon's own ABI host (daemon/plugin.h) and serves the requests the daemon
// writes into the shared-memory ring it inherited (daemon/shm_ring.h).
//
// usage: hornbeamd-worker --ring-fd N [--memory-limit BYTES] [--cpus 0,1,...]
//
// It exits when asked (kShutdown), when the daemon is gone (its parent
// changes) or when the ring is unusable; a plugin that crashes takes only
// this process down, which is the point.
#include <sched.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/log.h"
#include "daemon/plugin.h"
#include "daemon/shm_ring.h"

namespace hb {
namespace {

struct Args {
  int ring_fd = -1;
  int board_fd = -1;
  uint64_t memory_limit = 0;
  std::vector<int> cpus;
};

bool ParseArgs(int argc, char** argv, Args* a) {
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--ring-fd") {
      a->ring_fd = atoi(v.c_str());
    } else if (k == "--board-fd") {
      a->board_fd = atoi(v.c_str());
    } else if (k == "--memory-limit") {
      a->memory_limit = strtoull(v.c_str(), nullptr, 10);
    } else if (k == "--cpus") {
      for (const char* p = v.c_str(); *p != '\0';) {
        char* end = nullptr;
        a->cpus.push_back(static_cast<int>(strtol(p, &end, 10)));
        p = (*end == ',') ? end + 1 : end;
        if (end == p && *p != '\0') return false;
      }
    } else {
      return false;
    }
  }
  return a->ring_fd >= 0;
}

// Limits first, before any plugin code runs: they bind the plugin too.
void Confine(const Args& a) {
  prctl(PR_SET_NAME, "hornbeamd-wrk", 0, 0, 0);
  // Not allowed without privileges or under RestrictNamespaces=: then the
  // worker simply opens no socket.
  if (unshare(CLONE_NEWNET) != 0) HB_LOG_DEBUG("worker: no private network namespace");
  if (a.memory_limit > 0) {
    struct rlimit rl = {a.memory_limit, a.memory_limit};
    setrlimit(RLIMIT_AS, &rl);
    setrlimit(RLIMIT_DATA, &rl);
  }
  if (!a.cpus.empty()) {
    cpu_set_t set;
    CPU_ZERO(&set);
    for (int c : a.cpus) {
      if (c >= 0 && c < CPU_SETSIZE) CPU_SET(c, &set);
    }
    if (sched_setaffinity(0, sizeof(set), &set) != 0) HB_LOG_WARN("worker: cpu_affinity refused");
  }
}

class Worker {
 public:
  Worker(SharedRing ring, SharedRing board) : ring_(std::move(ring)), board_(std::move(board)) {}
  ~Worker() { StopBoard(); }
  // Serves until shutdown or the daemon is gone; the exit status.
  int Serve();

 private:
  // Publishes the plugin's devices every second (RingDeviceBoard) until
  // StopBoard, which runs before the plugin unloads: device_info never
  // runs concurrently with fini.
  void StartBoard();
  void StopBoard();
  void Publish();
  void Answer(hb_status status, const std::string& error);
  void Hello();
  void ExecuteText();
  void ExecuteTerm();
  void CountTokens();
  // A response area of `bytes` after the request; null when it cannot grow.
  uint8_t* Response(size_t bytes);

  SharedRing ring_;
  SharedRing board_;
  std::shared_ptr<ModelHandle> model_;
  std::unique_ptr<InstanceHandle> instance_;
  std::atomic<bool> board_stop_{false};
  std::thread board_thread_;
};

void Worker::Publish() {
  auto* b = reinterpret_cast<RingDeviceBoard*>(board_.At(SharedRing::kPayloadOffset,
                                                          sizeof(RingDeviceBoard)));
  if (b == nullptr || !model_) return;
  Result<std::vector<DeviceInfo>> r = model_->plugin()->QueryDevices();
  b->seq.fetch_add(1, std::memory_order_acq_rel);  // odd: writing
  std::atomic_thread_fence(std::memory_order_release);
  b->status = r.ok() ? HB_OK : HB_ERR_UNAVAILABLE;
  snprintf(b->error, sizeof(b->error), "%s", r.ok() ? "" : r.status().message().c_str());
  b->count = 0;
  for (const DeviceInfo& d : r.ok() ? *r : std::vector<DeviceInfo>()) {
    if (b->count == RingDeviceBoard::kMaxDevices) break;
    hb_device_info& o = b->devices[b->count++];
    memset(&o, 0, sizeof(o));
    o.struct_size = sizeof(o);
    o.ordinal = d.ordinal;
    snprintf(o.kind, sizeof(o.kind), "%s", d.kind.c_str());
    snprintf(o.name, sizeof(o.name), "%s", d.name.c_str());
    snprintf(o.uuid, sizeof(o.uuid), "%s", d.uuid.c_str());
    o.memory_total_bytes = d.memory_total_bytes;
    o.memory_used_bytes = d.memory_used_bytes;
  }
  b->seq.fetch_add(1, std::memory_order_release);  // even: readable
}

void Worker::StartBoard() {
  if (!board_.valid() || board_thread_.joinable() || !model_->plugin()->reports_devices()) return;
  board_thread_ = std::thread([this] {
    while (!board_stop_.load()) {
      Publish();
      for (int i = 0; i < 20 && !board_stop_.load(); ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
      }
    }
  });
}

void Worker::StopBoard() {
  board_stop_ = true;
  if (board_thread_.joinable()) board_thread_.join();
}

uint8_t* Worker::Response(size_t bytes) {
  RingHeader* h = ring_.header();
  uint64_t at = (SharedRing::kPayloadOffset + h->request_bytes + h->count + 63) & ~uint64_t{63};
  if (!ring_.Reserve(at + bytes).ok()) return nullptr;
  h = ring_.header();  // the mapping may have moved
  h->response_offset = at;
  h->response_bytes = bytes;
  return ring_.base() + at;
}

void Worker::Answer(hb_status status, const std::string& error) {
  RingHeader* h = ring_.header();
  h->status = status;
  snprintf(h->error, sizeof(h->error), "%s", error.c_str());
  h->response_seq.fetch_add(1, std::memory_order_release);
  SharedRing::Wake(&h->response_seq);
}

void Worker::Hello() {
  RingHeader* h = ring_.header();
  RingReader in(ring_.base() + SharedRing::kPayloadOffset, h->request_bytes);
  std::string path, name, options;
  uint32_t device = 0;
  in.Str(&path);
  in.Str(&name);
  in.Str(&options);
  in.U32(&device);
  if (!in.ok()) return Answer(HB_ERR_INTERNAL, "bad hello");
  Result<std::shared_ptr<Plugin>> plugin = Plugin::Load(path);
  if (!plugin.ok()) return Answer(HB_ERR_UNAVAILABLE, plugin.status().message());
  Result<std::shared_ptr<ModelHandle>> model = ModelHandle::Load(*plugin, name, options);
  if (!model.ok()) return Answer(HB_ERR_UNAVAILABLE, model.status().message());
  const ModelCaps& caps = (*model)->caps();
  int dev = static_cast<int32_t>(device);
  if (caps.needs_gpu && dev < 0) {
    return Answer(HB_ERR_INVALID_ARGUMENT,
                  "model '" + name + "' needs a GPU; configure devices [0, ...]");
  }
  Result<std::unique_ptr<InstanceHandle>> inst = InstanceHandle::Create(*model, dev);
  if (!inst.ok()) return Answer(HB_ERR_UNAVAILABLE, "model '" + name + "': " + inst.status().message());
  model_ = *model;
  instance_ = std::move(inst).value();
  StartBoard();
  RingWriter w;
  w.U32(caps.output_dim);
  w.U32(caps.max_batch_size);
  w.U32(caps.max_tokens);
  w.U32(caps.needs_gpu ? 1 : 0);
  w.Str((*plugin)->name());
  w.Str((*plugin)->version());
  w.Str(caps.description);
  w.U32(static_cast<uint32_t>(caps.term_functions.size()));
  for (const std::string& f : caps.term_functions) w.Str(f);
  uint8_t* out = Response(w.data().size());
  if (out == nullptr) return Answer(HB_ERR_RESOURCE, "ring too small for the caps");
  memcpy(out, w.data().data(), w.data().size());
  Answer(HB_OK, "");
}

void Worker::ExecuteText() {
  RingHeader* h = ring_.header();
  const uint32_t n = h->count;
  const uint32_t dim = model_->caps().output_dim;
  const size_t result_bytes = size_t{n} * sizeof(RingTextResult);
  if (Response(result_bytes + size_t{n} * dim * sizeof(float)) == nullptr) {
    return Answer(HB_ERR_RESOURCE, "cannot grow the ring for the results");
  }
  h = ring_.header();
  uint8_t* base = ring_.base();
  const uint8_t* payload = base + SharedRing::kPayloadOffset;
  std::vector<hb_text_request> reqs(n);
  std::vector<hb_text_result> results(n);
  auto* embeddings = reinterpret_cast<float*>(base + h->response_offset + result_bytes);
  for (uint32_t i = 0; i < n; ++i) {
    uint64_t off = 0, len = 0;
    memcpy(&off, payload + i * 16, 8);
    memcpy(&len, payload + i * 16 + 8, 8);
    reqs[i].text = reinterpret_cast<const char*>(payload + off);
    reqs[i].length = len;
    // The host's cancellation flags are bytes in the ring that the daemon
    // keeps up to date while it waits.
    reqs[i].token = CancelToken(reinterpret_cast<const std::atomic<bool>*>(base + h->cancel_offset + i));
    results[i].embedding = embeddings + size_t{i} * dim;
    results[i].status = HB_OK;
    results[i].message[0] = '\0';
  }
  Status st = instance_->ExecuteText(reqs.data(), results.data(), n);
  auto* out = reinterpret_cast<RingTextResult*>(base + h->response_offset);
  for (uint32_t i = 0; i < n; ++i) {
    out[i].status = results[i].status;
    memcpy(out[i].message, results[i].message, sizeof(out[i].message));
  }
  Answer(st.ok() ? HB_OK : HB_ERR_INTERNAL, st.message());
}

void Worker::ExecuteTerm() {
  RingHeader* h = ring_.header();
  RingReader in(ring_.base() + SharedRing::kPayloadOffset, h->request_bytes);
  std::string function, args;
  uint32_t arity = 0;
  in.Str(&function);
  in.U32(&arity);
  in.Str(&args);
  if (!in.ok()) return Answer(HB_ERR_INTERNAL, "bad term request");
  hb_term_request req;
  req.function = function.c_str();
  req.arity = arity;
  req.args = reinterpret_cast<const uint8_t*>(args.data());
  req.args_length = args.size();
  req.token = CancelToken(reinterpret_cast<const std::atomic<bool>*>(ring_.base() + h->cancel_offset));
  std::string result;
  hb_status code = HB_OK;
  Status st = instance_->ExecuteTerm(req, &result, &code);
  uint8_t* out = Response(result.size());
  if (out == nullptr) return Answer(HB_ERR_RESOURCE, "cannot grow the ring for the result");
  memcpy(out, result.data(), result.size());
  Answer(code, st.message());
}

void Worker::CountTokens() {
  RingHeader* h = ring_.header();
  uint32_t tokens = 0;
  bool ok = instance_->CountTokens(
      std::string_view(reinterpret_cast<const char*>(ring_.base() + SharedRing::kPayloadOffset),
                       h->request_bytes),
      &tokens);
  h->count = tokens;
  Answer(ok ? HB_OK : HB_ERR_UNSUPPORTED, "");
}

int Worker::Serve() {
  const pid_t parent = getppid();
  // A fresh ring starts at 0; the hello may already be waiting.
  uint32_t seen = 0;
  for (;;) {
    if (!SharedRing::Wait(&ring_.header()->request_seq, seen, 1000)) {
      if (getppid() != parent) return 0;  // the daemon is gone
      continue;
    }
    seen = ring_.header()->request_seq.load(std::memory_order_acquire);
    if (!ring_.Refresh().ok()) return 3;
    RingHeader* h = ring_.header();
    bool sane = h->request_bytes <= ring_.size() - SharedRing::kPayloadOffset;
    auto op = static_cast<RingOp>(h->op);
    if (!sane) {
      Answer(HB_ERR_INTERNAL, "request larger than the ring");
    } else if (op == RingOp::kHello) {
      Hello();
    } else if (op == RingOp::kShutdown) {
      StopBoard();
      instance_.reset();
      model_.reset();
      Answer(HB_OK, "");
      return 0;
    } else if (!instance_) {
      Answer(HB_ERR_UNAVAILABLE, "no model loaded");
    } else if (op == RingOp::kExecuteText) {
      ExecuteText();
    } else if (op == RingOp::kExecuteTerm) {
      ExecuteTerm();
    } else if (op == RingOp::kCountTokens) {
      CountTokens();
    } else {
      Answer(HB_ERR_INTERNAL, "unknown op");
    }
  }
}

}  // namespace
}  // namespace hb

int main(int argc, char** argv) {
  hb::Args args;
  if (!hb::ParseArgs(argc, argv, &args)) {
    fprintf(stderr, "usage: hornbeamd-worker --ring-fd N [--memory-limit BYTES] [--cpus 0,1]\n");
    return 2;
  }
  if (const char* level = getenv("HB_WORKER_LOG_LEVEL"); level != nullptr && strcmp(level, "debug") == 0) {
    hb::SetLogLevel(hb::LogLevel::kDebug);
  }
  // Ctrl-C on a terminal and systemd's stop signal are the daemon's to
  // handle: it drains, then shuts its workers down (kShutdown), and a worker
  // whose daemon is gone leaves by itself (below). SIGKILL still ends it.
  signal(SIGINT, SIG_IGN);
  signal(SIGTERM, SIG_IGN);
  // A crash is the daemon's to report ("signal 11 in instance 0"): the
  // default dispositions, also in a sanitizer build, whose own handlers
  // would turn a SIGSEGV into "exit status 1".
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE, SIGILL}) signal(sig, SIG_DFL);
  hb::Confine(args);
  hb::Result<hb::SharedRing> ring = hb::SharedRing::Attach(args.ring_fd);
  if (!ring.ok()) {
    fprintf(stderr, "hornbeamd-worker: %s\n", ring.status().message().c_str());
    return 2;
  }
  // The daemon gone (even while the plugin hangs in an execute): leave.
  // Not PR_SET_PDEATHSIG: it fires when the spawning *thread* exits, and a
  // reload's build thread ends long before the model does.
  const pid_t parent = getppid();
  std::thread([parent] {
    for (;;) {
      std::this_thread::sleep_for(std::chrono::seconds(1));
      if (getppid() != parent) _exit(0);
    }
  }).detach();
  hb::SharedRing board;  // optional: no devices reported without it
  if (args.board_fd >= 0) {
    hb::Result<hb::SharedRing> b = hb::SharedRing::Attach(args.board_fd);
    if (b.ok()) board = std::move(b).value();
  }
  hb::Worker worker(std::move(ring).value(), std::move(board));
  return worker.Serve();
}
