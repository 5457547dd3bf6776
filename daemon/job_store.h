// JobRecord and JobStore: what a job is once it is only data, and where the
// records of jobs live across restarts.
//
// A record is written when its job is submitted (state queued) and again
// when it finishes (done, failed, cancelled). A record found at start in
// state queued or running belongs to a job the last process never finished:
// LoadAll() hands it back as `interrupted` and rewrites it so.
//
// Files: STATE_DIR/jobs/ID.job, one versioned external-format term each,
// written atomically (temp file, fsync, rename, fsync of the directory) so a
// crash leaves the old record or the new one, never half of one.
//
// Thread: Save and Remove queue the write on the store's own writer thread
// (in order, off the loop); LoadAll and Open run before that, at start.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/status.h"
#include "daemon/worker_pool.h"
#include "ei_bridge/term.h"

namespace hb {

enum class JobState { kQueued, kRunning, kDone, kFailed, kCancelled, kInterrupted };

const char* JobStateName(JobState s);
bool ParseJobState(std::string_view name, JobState* out);

struct JobRecord {
  std::string id;
  std::string module;
  std::string function;
  int64_t arity = 0;
  JobState state = JobState::kQueued;
  double progress = 0.0;
  std::string message;
  // Erlang system time in milliseconds (erlang:system_time(millisecond));
  // 0: not yet (reported as `undefined`).
  int64_t submitted_at = 0;
  int64_t started_at = 0;
  int64_t finished_at = 0;
  Term result;  // once finished: what jobs:result/1 answers, {ok, V} | {error, R}

  bool finished() const { return state != JobState::kQueued && state != JobState::kRunning; }
};

// jobs:status/1's map: id, state, progress, message, submitted_at,
// started_at, finished_at, mfa.
Term JobStatusTerm(const JobRecord& r);

// Record <-> term, for the files (and the tests).
Term JobRecordToTerm(const JobRecord& r);
Result<JobRecord> JobRecordFromTerm(const Term& t);

class JobStore {
 public:
  // `state_dir` empty: persistence off; every call is a no-op.
  explicit JobStore(std::string state_dir);
  ~JobStore();
  JobStore(const JobStore&) = delete;
  JobStore& operator=(const JobStore&) = delete;

  bool enabled() const { return !dir_.empty(); }
  const std::string& dir() const { return dir_; }
  // Creates STATE_DIR and STATE_DIR/jobs when missing.
  Status Open();
  // Every record found; unreadable files are logged and skipped, records
  // left queued/running come back interrupted (finished at `now_ms`).
  std::vector<JobRecord> LoadAll(int64_t now_ms);
  void Save(const JobRecord& r);
  void Remove(const std::string& id);
  // Waits for the queued writes, then stops the writer thread.
  void Flush();

 private:
  std::string PathOf(const std::string& id) const { return dir_ + "/" + id + ".job"; }
  std::string dir_;  // STATE_DIR/jobs, or empty
  std::unique_ptr<WorkerPool> writer_;  // one thread: writes stay in order
};

// Writes `bytes` to `path` atomically (temp, fsync, rename, fsync dir).
Status WriteFileAtomically(const std::string& path, const std::string& bytes);

}  // namespace hb
