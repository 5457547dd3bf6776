// IsolatedInstance: a model instance that runs in a hornbeamd-worker child
// process (a model's `isolation: "process"`), seen by the batcher as an
// ordinary InstanceHandle (InstanceHandle::Remote).
//
// Each instance has its own child and its own shared-memory ring
// (shm_ring.h). The instance thread writes the batch into the ring, wakes
// the child and waits for the answer the same way, looking every few
// milliseconds whether the child still lives, copying the callers'
// cancellation flags into the ring, and killing the child once an execute
// has run past stuck_after_ms.
//
// When the child dies, the calls of the batch it was running get
// kStatusCrashed ({model_error, crashed, <<"signal 11 in instance 0">>});
// the next batch of this instance (queued calls wait in the batcher) first
// restarts the child, after a back-off of restart_backoff_ms that doubles
// with each crash since this instance last answered a call (a crash loop),
// at most 30 s; one answered call resets it.
// More than max_restarts crashes within restart_window_ms mark the model
// failed (IsolationHealth): the registry then stops routing to it and
// batches still queued get HB_ERR_UNAVAILABLE.
//
// Ownership: an IsolatedInstance owns its ring and its child (killed and
// reaped in the destructor); IsolationHealth is shared by the model's
// instances and the registry. Thread: Start on any one thread; the
// InstanceBackend calls on the instance's thread; IsolationHealth from any.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "base/mutex.h"
#include "base/status.h"
#include "config/options.h"
#include "daemon/plugin.h"
#include "daemon/shm_ring.h"

namespace hb {

// One model's crash record.
class IsolationHealth {
 public:
  explicit IsolationHealth(const ModelConfig& config);
  // Counts a crash; true when that makes the model failed.
  bool RecordCrash(const std::string& cause) EXCLUDES(mu_);
  void RecordRestart() EXCLUDES(mu_);
  struct View {
    uint64_t restarts = 0;
    uint64_t crashes = 0;
    uint32_t recent_crashes = 0;  // within the window
    std::string last_cause;
    bool failed = false;
  };
  View Get() const EXCLUDES(mu_);
  bool failed() const EXCLUDES(mu_);

 private:
  void Expire(std::chrono::steady_clock::time_point now) const REQUIRES(mu_);
  const uint32_t max_restarts_;
  const std::chrono::milliseconds window_;
  mutable Mutex mu_;
  mutable std::deque<std::chrono::steady_clock::time_point> recent_ GUARDED_BY(mu_);
  uint64_t restarts_ GUARDED_BY(mu_) = 0;
  uint64_t crashes_ GUARDED_BY(mu_) = 0;
  std::string last_cause_ GUARDED_BY(mu_);
  bool failed_ GUARDED_BY(mu_) = false;
};

// What a worker said when it loaded the model.
struct WorkerHello {
  ModelCaps caps;
  std::string plugin_name;
  std::string plugin_version;
};

// A running child; kills (SIGKILL) and reaps it on destruction.
class ChildProcess {
 public:
  ChildProcess() = default;
  explicit ChildProcess(pid_t pid) : pid_(pid) {}
  ~ChildProcess() { Kill(); }
  ChildProcess(ChildProcess&& o) noexcept : pid_(o.pid_) { o.pid_ = -1; }
  ChildProcess& operator=(ChildProcess&& o) noexcept;
  bool running() const { return pid_ > 0; }
  pid_t pid() const { return pid_; }
  // Non-blocking: how it ended ("signal 11", "exit status 3"), or empty
  // while it runs. Reaps it when it has ended.
  std::string Poll();
  // SIGKILL and reap; how it ended.
  std::string Kill();

 private:
  pid_t pid_ = -1;
};

class IsolatedInstance : public InstanceBackend {
 public:
  // Starts instance `index` of `config` on `device` in a child running
  // `worker`, serving the plugin at `plugin_path`.
  static Result<std::unique_ptr<IsolatedInstance>> Start(
      const std::string& worker, const std::string& plugin_path, const ModelConfig& config,
      uint32_t index, int device, std::shared_ptr<IsolationHealth> health, WorkerHello* hello);
  ~IsolatedInstance() override;

  Status ExecuteText(const hb_text_request* requests, hb_text_result* results,
                     uint32_t count) override;
  bool CountTokens(std::string_view text, uint32_t* tokens) override;
  Status ExecuteTerm(const hb_term_request& request, std::string* out, hb_status* code) override;

  pid_t pid() const { return child_.pid(); }  // for tests
  // The devices the child's plugin last published (any thread).
  const std::shared_ptr<SharedRing>& board() const { return board_; }

 private:
  IsolatedInstance() = default;
  // A new ring and child, and the model loaded there.
  Status Spawn(WorkerHello* hello);
  // Restarts the child after a crash (after the back-off); an error when
  // the model has failed or the restart did too.
  Status EnsureRunning();
  // Sends the request written in the ring and waits for the answer. An
  // error (kUnavailable, the cause) when the child died or was killed.
  Status Call(RingOp op, uint32_t count, uint64_t request_bytes, uint64_t cancel_offset,
              const std::vector<const std::atomic<bool>*>& cancels,
              std::chrono::milliseconds limit);
  // Records the child's end; returns the cause.
  std::string Crashed(const std::string& how);
  // Writes `bytes` of request at the payload; false when the ring cannot grow.
  bool PutRequest(const std::string& bytes, size_t extra);

  std::string worker_;
  std::string plugin_path_;
  ModelConfig config_;
  uint32_t index_ = 0;
  int device_ = -1;
  uint32_t output_dim_ = 0;
  std::shared_ptr<IsolationHealth> health_;
  SharedRing ring_;
  // RingDeviceBoard; kept across restarts, never resized (shm_ring.h).
  std::shared_ptr<SharedRing> board_;
  ChildProcess child_;
  std::chrono::steady_clock::time_point crashed_at_;
  uint32_t crashes_in_a_row_ = 0;  // since the last answered call
};

// A model's instances, each in its own child, as the batcher takes them.
struct IsolatedModel {
  std::vector<std::unique_ptr<InstanceHandle>> instances;
  // Plugin::Remote: its QueryDevices reads the instances' device boards.
  std::shared_ptr<Plugin> plugin;
  WorkerHello hello;  // what the first child said
  std::shared_ptr<IsolationHealth> health;
};
Result<IsolatedModel> StartIsolatedModel(const ModelConfig& config, const std::string& plugin_path);

// The devices published on `boards` (RingDeviceBoard), read with the
// seqlock and bounds-checked; an error when a worker's query failed.
Result<std::vector<DeviceInfo>> ReadDeviceBoards(
    const std::vector<std::shared_ptr<SharedRing>>& boards);

// The hornbeamd-worker executable: $HB_WORKER, beside the daemon, or in
// PREFIX/lib/hornbeamd; empty when none is found.
std::string FindWorker();

}  // namespace hb
