#include "daemon/isolated_instance.h"

#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <thread>

#include "base/log.h"

extern char** environ;

namespace hb {
namespace {

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// How often a waiting instance thread looks at the child and at its
// callers' cancellation flags while no answer has come.
constexpr int kPollMs = 10;
// Loading a model can take long (a GPU context, weights): the first answer
// may take this long even when stuck_after_ms is short.
constexpr milliseconds kHelloLimit{120000};
constexpr milliseconds kShutdownLimit{2000};
constexpr char kWorkerName[] = "hornbeamd-worker";

std::string HowEnded(int status) {
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "exit status " + std::to_string(WEXITSTATUS(status));
}

bool Executable(const std::string& p) {
  struct stat st;
  return stat(p.c_str(), &st) == 0 && S_ISREG(st.st_mode) && access(p.c_str(), X_OK) == 0;
}

// The caps a worker answers to kHello (daemon/worker/main.cc writes them);
// false when they are cut short or absurd.
bool ParseHello(const uint8_t* at, size_t bytes, WorkerHello* hello) {
  RingReader in(at, bytes);
  uint32_t needs_gpu = 0, functions = 0;
  in.U32(&hello->caps.output_dim);
  in.U32(&hello->caps.max_batch_size);
  in.U32(&hello->caps.max_tokens);
  in.U32(&needs_gpu);
  in.Str(&hello->plugin_name, 128);
  in.Str(&hello->plugin_version, 64);
  in.Str(&hello->caps.description, 256);
  in.U32(&functions);
  for (uint32_t i = 0; i < functions && i < 256 && in.ok(); ++i) {
    std::string f;
    if (in.Str(&f, 256)) hello->caps.term_functions.push_back(std::move(f));
  }
  hello->caps.needs_gpu = needs_gpu != 0;
  return in.ok() && hello->caps.output_dim <= (1u << 20) && hello->caps.max_batch_size > 0;
}

}  // namespace

// ---- ChildProcess

ChildProcess& ChildProcess::operator=(ChildProcess&& o) noexcept {
  if (this != &o) {
    Kill();
    pid_ = o.pid_;
    o.pid_ = -1;
  }
  return *this;
}

std::string ChildProcess::Poll() {
  if (pid_ <= 0) return "gone";
  int status = 0;
  pid_t r = waitpid(pid_, &status, WNOHANG);
  if (r == 0) return "";
  pid_ = -1;
  return r > 0 ? HowEnded(status) : "lost";
}

std::string ChildProcess::Kill() {
  if (pid_ <= 0) return "gone";
  kill(pid_, SIGKILL);
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid_, &status, 0);
  } while (r < 0 && errno == EINTR);
  pid_ = -1;
  return r > 0 ? HowEnded(status) : "lost";
}

// ---- IsolatedInstance

std::string FindWorker() {
  if (const char* env = getenv("HB_WORKER"); env != nullptr && *env != '\0') {
    return Executable(env) ? env : "";
  }
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return "";
  exe[n] = '\0';
  std::string dir(exe);
  dir = dir.substr(0, dir.rfind('/'));
  const std::string up = dir.substr(0, dir.rfind('/'));
  for (const std::string& p : {dir + "/" + kWorkerName, up + "/lib/hornbeamd/" + kWorkerName,
                               std::string("/usr/lib/hornbeamd/") + kWorkerName}) {
    if (Executable(p)) return p;
  }
  return "";
}

Result<std::unique_ptr<IsolatedInstance>> IsolatedInstance::Start(
    const std::string& worker, const std::string& plugin_path, const ModelConfig& config,
    uint32_t index, int device, std::shared_ptr<IsolationHealth> health, WorkerHello* hello) {
  std::unique_ptr<IsolatedInstance> inst(new IsolatedInstance());
  inst->worker_ = worker;
  inst->plugin_path_ = plugin_path;
  inst->config_ = config;
  inst->index_ = index;
  inst->device_ = device;
  inst->health_ = std::move(health);
  Result<SharedRing> board = SharedRing::Create(SharedRing::kPayloadOffset + sizeof(RingDeviceBoard));
  if (!board.ok()) return board.status();
  inst->board_ = std::make_shared<SharedRing>(std::move(board).value());
  Status st = inst->Spawn(hello);
  if (!st.ok()) return st;
  inst->output_dim_ = hello->caps.output_dim;
  return inst;
}

IsolatedInstance::~IsolatedInstance() {
  if (!child_.running()) return;
  // Let the plugin unload cleanly; a child that does not answer is killed.
  Call(RingOp::kShutdown, 0, 0, 0, {}, kShutdownLimit);
  child_.Kill();
}

Status IsolatedInstance::Spawn(WorkerHello* hello) {
  Result<SharedRing> ring = SharedRing::Create(size_t{1} << 20);
  if (!ring.ok()) return ring.status();
  ring_ = std::move(ring).value();
  // The child finds its rings at fixed descriptors; dup2 onto them clears
  // close-on-exec there only, so no other child inherits them. A target is
  // never one of the two sources, so one dup2 cannot clobber the other.
  auto target = [&](int first) {
    int fd = first;
    while (fd == ring_.fd() || fd == board_->fd()) ++fd;
    return fd;
  };
  const int child_fd = target(100), board_fd = target(110);
  std::vector<std::string> args = {worker_, "--ring-fd", std::to_string(child_fd), "--board-fd",
                                   std::to_string(board_fd)};
  if (config_.memory_limit_bytes > 0) {
    args.insert(args.end(), {"--memory-limit", std::to_string(config_.memory_limit_bytes)});
  }
  if (!config_.cpu_affinity.empty()) {
    std::string cpus;
    for (int c : config_.cpu_affinity) cpus += (cpus.empty() ? "" : ",") + std::to_string(c);
    args.insert(args.end(), {"--cpus", cpus});
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, ring_.fd(), child_fd);
  posix_spawn_file_actions_adddup2(&fa, board_->fd(), board_fd);
  // The child starts with no signal blocked and SIGPIPE back at its
  // default, whatever this thread had.
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t none, defaults;
  sigemptyset(&none);
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGPIPE);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, worker_.c_str(), &fa, &attr, argv.data(), environ);
  posix_spawnattr_destroy(&attr);
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) return Unavailable("cannot start " + worker_ + ": " + strerror(rc));
  child_ = ChildProcess(pid);
  RingWriter w;
  w.Str(plugin_path_);
  w.Str(config_.name);
  w.Str(config_.options_json);
  w.U32(static_cast<uint32_t>(device_));
  if (!PutRequest(w.data(), 0)) return Internal("ring too small for the hello");
  Status st = Call(RingOp::kHello, 0, w.data().size(), 0, {}, std::max(kHelloLimit, milliseconds(config_.stuck_after_ms)));
  if (!st.ok()) return Unavailable("model '" + config_.name + "': worker " + st.message());
  RingHeader* h = ring_.header();
  if (h->status != HB_OK) {
    child_.Kill();
    return Unavailable(CharArrayText(h->error));
  }
  const uint8_t* at = ring_.At(h->response_offset, h->response_bytes);
  if (at == nullptr || !ParseHello(at, h->response_bytes, hello)) {
    child_.Kill();
    return Internal("model '" + config_.name + "': worker sent malformed caps");
  }
  return Status::Ok();
}

bool IsolatedInstance::PutRequest(const std::string& bytes, size_t extra) {
  if (!ring_.Reserve(SharedRing::kPayloadOffset + bytes.size() + extra + 64).ok()) return false;
  memcpy(ring_.base() + SharedRing::kPayloadOffset, bytes.data(), bytes.size());
  return true;
}

std::string IsolatedInstance::Crashed(const std::string& how) {
  std::string cause = how + " in instance " + std::to_string(index_);
  crashed_at_ = Clock::now();
  ++crashes_in_a_row_;
  bool failed = health_->RecordCrash(cause);
  IsolationHealth::View v = health_->Get();
  HB_LOG_ERROR("model '" + config_.name + "': worker " + cause +
               (failed ? "; " + std::to_string(v.recent_crashes) + " crashes within " +
                             std::to_string(config_.restart_window_ms) + " ms: model failed"
                       : "; restarting"));
  return cause;
}

Status IsolatedInstance::Call(RingOp op, uint32_t count, uint64_t request_bytes,
                              uint64_t cancel_offset,
                              const std::vector<const std::atomic<bool>*>& cancels,
                              milliseconds limit) {
  RingHeader* h = ring_.header();
  h->op = static_cast<uint32_t>(op);
  h->count = count;
  h->request_bytes = request_bytes;
  h->cancel_offset = cancel_offset;
  h->status = HB_ERR_INTERNAL;
  h->error[0] = '\0';
  const uint32_t seen = h->response_seq.load(std::memory_order_acquire);
  h->request_seq.fetch_add(1, std::memory_order_release);
  SharedRing::Wake(&h->request_seq);
  const auto deadline = Clock::now() + limit;
  while (!SharedRing::Wait(&h->response_seq, seen, kPollMs)) {
    for (size_t i = 0; i < cancels.size(); ++i) {
      if (cancels[i] != nullptr && cancels[i]->load(std::memory_order_acquire)) {
        reinterpret_cast<std::atomic<bool>*>(ring_.base() + cancel_offset + i)
            ->store(true, std::memory_order_release);
      }
    }
    std::string ended = child_.Poll();
    if (!ended.empty()) return Unavailable(Crashed(ended));
    if (Clock::now() > deadline) {
      child_.Kill();
      return Unavailable(Crashed("stuck beyond " + std::to_string(limit.count()) + " ms (killed)"));
    }
  }
  // The child may have grown the ring for its answer.
  Status st = ring_.Refresh();
  if (!st.ok()) {
    child_.Kill();
    return Unavailable(Crashed("broken ring (" + st.message() + ")"));
  }
  if (op != RingOp::kHello) crashes_in_a_row_ = 0;  // the child answered: no crash loop
  return Status::Ok();
}

Status IsolatedInstance::EnsureRunning() {
  if (child_.running()) return Status::Ok();
  if (health_->failed()) {
    IsolationHealth::View v = health_->Get();
    return Unavailable("model '" + config_.name + "' failed after " + std::to_string(v.crashes) +
                       " crashes (last: " + v.last_cause + ")");
  }
  const uint32_t doublings = crashes_in_a_row_ > 0 ? std::min<uint32_t>(crashes_in_a_row_ - 1, 16) : 0;
  auto ready = crashed_at_ + std::min(milliseconds(config_.restart_backoff_ms << doublings),
                                      milliseconds(30000));
  if (Clock::now() < ready) std::this_thread::sleep_until(ready);
  WorkerHello hello;
  const uint64_t crashes = health_->Get().crashes;
  Status st = Spawn(&hello);
  if (!st.ok()) {
    child_.Kill();
    // A child that died while loading was counted by Call already.
    if (health_->Get().crashes == crashes) Crashed("restart failed: " + st.message());
    crashed_at_ = Clock::now();
    return Unavailable("model '" + config_.name + "': restart failed: " + st.message());
  }
  health_->RecordRestart();
  HB_LOG_INFO("model '" + config_.name + "': worker of instance " + std::to_string(index_) +
              " restarted, " +
              std::to_string(std::chrono::duration_cast<milliseconds>(Clock::now() - crashed_at_)
                                 .count()) +
              " ms after it ended");
  return Status::Ok();
}

Status IsolatedInstance::ExecuteText(const hb_text_request* requests, hb_text_result* results,
                                     uint32_t count) {
  auto fail_all = [&](hb_status code, const std::string& why) {
    for (uint32_t i = 0; i < count; ++i) {
      results[i].status = code;
      snprintf(results[i].message, sizeof(results[i].message), "%s", why.c_str());
    }
    return Status::Ok();
  };
  Status up = EnsureRunning();
  if (!up.ok()) return fail_all(HB_ERR_UNAVAILABLE, up.message());
  // Payload: count (offset, length) pairs, the texts, then count
  // cancellation bytes.
  RingWriter w;
  uint64_t at = uint64_t{count} * 16;
  for (uint32_t i = 0; i < count; ++i) {
    w.U64(at);
    w.U64(requests[i].length);
    at += requests[i].length;
  }
  for (uint32_t i = 0; i < count; ++i) w.Raw(requests[i].text, requests[i].length);
  std::vector<const std::atomic<bool>*> cancels(count);
  for (uint32_t i = 0; i < count; ++i) {
    cancels[i] = reinterpret_cast<const std::atomic<bool>*>(static_cast<uintptr_t>(requests[i].token));
  }
  w.Raw(std::string(count, '\0').data(), count);  // one cancellation byte a text
  const size_t answer = size_t{count} * (sizeof(RingTextResult) + output_dim_ * sizeof(float));
  if (!PutRequest(w.data(), answer + 64)) return Internal("request larger than the ring allows");
  Status st = Call(RingOp::kExecuteText, count, w.data().size(),
                   SharedRing::kPayloadOffset + at, cancels, milliseconds(config_.stuck_after_ms));
  if (!st.ok()) return fail_all(kStatusCrashed, st.message());
  const RingHeader* h = ring_.header();
  const uint8_t* p = ring_.At(h->response_offset, answer);
  if (p == nullptr || h->response_bytes < answer) {
    child_.Kill();
    return fail_all(kStatusCrashed, Crashed("answer outside the ring"));
  }
  if (h->status != HB_OK) return Internal(CharArrayText(h->error));
  const auto* res = reinterpret_cast<const RingTextResult*>(p);
  const auto* rows = reinterpret_cast<const float*>(p + size_t{count} * sizeof(RingTextResult));
  for (uint32_t i = 0; i < count; ++i) {
    results[i].status = res[i].status == kStatusCrashed ? HB_ERR_INTERNAL : res[i].status;
    snprintf(results[i].message, sizeof(results[i].message), "%s",
             CharArrayText(res[i].message).c_str());
    memcpy(results[i].embedding, rows + size_t{i} * output_dim_, output_dim_ * sizeof(float));
  }
  return Status::Ok();
}

bool IsolatedInstance::CountTokens(std::string_view text, uint32_t* tokens) {
  if (!EnsureRunning().ok()) return false;
  if (!PutRequest(std::string(text), 0)) return false;
  if (!Call(RingOp::kCountTokens, 0, text.size(), 0, {}, milliseconds(config_.stuck_after_ms))
           .ok()) {
    return false;
  }
  if (ring_.header()->status != HB_OK) return false;
  *tokens = ring_.header()->count;
  return true;
}

Status IsolatedInstance::ExecuteTerm(const hb_term_request& request, std::string* out,
                                     hb_status* code) {
  Status up = EnsureRunning();
  if (!up.ok()) {
    *code = HB_ERR_UNAVAILABLE;
    return up;
  }
  RingWriter w;
  w.Str(request.function);
  w.U32(request.arity);
  w.Str(std::string_view(reinterpret_cast<const char*>(request.args), request.args_length));
  const uint64_t cancel_offset = SharedRing::kPayloadOffset + w.data().size();
  w.U32(0);  // the cancellation byte
  if (!PutRequest(w.data(), 4096)) {
    *code = HB_ERR_RESOURCE;
    return Internal("request larger than the ring allows");
  }
  std::vector<const std::atomic<bool>*> cancels = {
      reinterpret_cast<const std::atomic<bool>*>(static_cast<uintptr_t>(request.token))};
  Status st = Call(RingOp::kExecuteTerm, 1, w.data().size(), cancel_offset, cancels,
                   milliseconds(config_.stuck_after_ms));
  if (!st.ok()) {
    *code = kStatusCrashed;
    return st;
  }
  const RingHeader* h = ring_.header();
  const uint8_t* p = ring_.At(h->response_offset, h->response_bytes);
  if (p == nullptr) {
    child_.Kill();
    *code = kStatusCrashed;
    return Internal(Crashed("answer outside the ring"));
  }
  *code = h->status == kStatusCrashed ? HB_ERR_INTERNAL : h->status;
  if (*code != HB_OK) return Internal(CharArrayText(h->error));
  out->assign(reinterpret_cast<const char*>(p), h->response_bytes);
  return Status::Ok();
}

}  // namespace hb
