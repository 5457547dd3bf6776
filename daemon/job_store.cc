#include "daemon/job_store.h"

#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "base/mutex.h"
#include "ei_bridge/term_validator.h"

namespace hb {
namespace {

constexpr const char* kStateNames[] = {"queued", "running", "done",
                                       "failed", "cancelled", "interrupted"};

Term Atom(const char* a) { return Term::Atom(a); }
Term Time(int64_t ms) { return ms == 0 ? Atom("undefined") : Term::Int(ms); }

// The value under atom key `key` of map `m`, or nullptr.
const Term* MapGet(const Term& m, const char* key) {
  for (size_t i = 0; i + 1 < m.size(); i += 2) {
    if (m[i].is_atom(key)) return &m[i + 1];
  }
  return nullptr;
}

// Job ids are made by JobsService ("<digits>-<digits>"); anything else in a
// file name or record is not ours.
bool SafeId(const std::string& id) {
  if (id.empty() || id.size() > 64) return false;
  for (char c : id) {
    if (!((c >= '0' && c <= '9') || c == '-')) return false;
  }
  return true;
}

Status Errno(const std::string& what, const std::string& path) {
  return Internal(what + " " + path + ": " + std::strerror(errno));
}

}  // namespace

const char* JobStateName(JobState s) { return kStateNames[static_cast<int>(s)]; }

bool ParseJobState(std::string_view name, JobState* out) {
  for (int i = 0; i < 6; ++i) {
    if (name == kStateNames[i]) {
      *out = static_cast<JobState>(i);
      return true;
    }
  }
  return false;
}

Term JobStatusTerm(const JobRecord& r) {
  return Term::Map({
      {Atom("id"), Term::Binary(r.id)},
      {Atom("state"), Atom(JobStateName(r.state))},
      {Atom("progress"), Term::Float(r.progress)},
      {Atom("message"), Term::Binary(r.message)},
      {Atom("submitted_at"), Time(r.submitted_at)},
      {Atom("started_at"), Time(r.started_at)},
      {Atom("finished_at"), Time(r.finished_at)},
      {Atom("mfa"), Term::Tuple({Term::Atom(r.module), Term::Atom(r.function),
                                 Term::Int(r.arity)})},
  });
}

Term JobRecordToTerm(const JobRecord& r) {
  return Term::Map({
      {Atom("id"), Term::Binary(r.id)},
      {Atom("module"), Term::Binary(r.module)},
      {Atom("function"), Term::Binary(r.function)},
      {Atom("arity"), Term::Int(r.arity)},
      {Atom("state"), Atom(JobStateName(r.state))},
      {Atom("progress"), Term::Float(r.progress)},
      {Atom("message"), Term::Binary(r.message)},
      {Atom("submitted_at"), Term::Int(r.submitted_at)},
      {Atom("started_at"), Term::Int(r.started_at)},
      {Atom("finished_at"), Term::Int(r.finished_at)},
      {Atom("result"), r.result},
  });
}

Result<JobRecord> JobRecordFromTerm(const Term& t) {
  if (!t.is_map()) return InvalidArgument("not a map");
  JobRecord r;
  auto text = [&](const char* k, std::string* out) {
    const Term* v = MapGet(t, k);
    if (v == nullptr || !v->is_binary()) return false;
    *out = v->text();
    return true;
  };
  auto integer = [&](const char* k, int64_t* out) {
    const Term* v = MapGet(t, k);
    if (v == nullptr || !v->is_int()) return false;
    *out = v->int_value();
    return true;
  };
  const Term* state = MapGet(t, "state");
  const Term* progress = MapGet(t, "progress");
  const Term* result = MapGet(t, "result");
  if (!text("id", &r.id) || !SafeId(r.id) || !text("module", &r.module) ||
      !text("function", &r.function) || !text("message", &r.message) ||
      !integer("arity", &r.arity) || !integer("submitted_at", &r.submitted_at) ||
      !integer("started_at", &r.started_at) || !integer("finished_at", &r.finished_at) ||
      state == nullptr || !state->is_atom() || !ParseJobState(state->text(), &r.state) ||
      progress == nullptr || progress->type() != Term::Type::kFloat || result == nullptr) {
    return InvalidArgument("not a job record");
  }
  r.progress = progress->float_value();
  r.result = *result;
  return r;
}

Status WriteFileAtomically(const std::string& path, const std::string& bytes) {
  std::string tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return Errno("cannot create", tmp);
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Status s = Errno("cannot write", tmp);
      ::close(fd);
      ::unlink(tmp.c_str());
      return s;
    }
    done += static_cast<size_t>(n);
  }
  // Data on disk before the rename makes it visible, else a crash could
  // leave a renamed but empty file.
  if (::fsync(fd) != 0) {
    Status s = Errno("cannot fsync", tmp);
    ::close(fd);
    ::unlink(tmp.c_str());
    return s;
  }
  ::close(fd);
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    Status s = Errno("cannot rename", tmp);
    ::unlink(tmp.c_str());
    return s;
  }
  std::string dir = path.substr(0, path.rfind('/'));
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd >= 0) {
    ::fsync(dfd);  // the rename itself survives a crash
    ::close(dfd);
  }
  return Status::Ok();
}

JobStore::JobStore(std::string state_dir) {
  if (!state_dir.empty()) dir_ = state_dir + "/jobs";
}

JobStore::~JobStore() { Flush(); }

Status JobStore::Open() {
  if (!enabled()) return Status::Ok();
  // The state directory itself too (systemd makes it; a hand-run daemon may not have).
  std::string parent = dir_.substr(0, dir_.rfind('/'));
  if (::mkdir(parent.c_str(), 0700) != 0 && errno != EEXIST) return Errno("cannot create", parent);
  if (::mkdir(dir_.c_str(), 0700) != 0 && errno != EEXIST) return Errno("cannot create", dir_);
  writer_ = std::make_unique<WorkerPool>(1);
  return Status::Ok();
}

std::vector<JobRecord> JobStore::LoadAll(int64_t now_ms) {
  std::vector<JobRecord> out;
  if (!enabled()) return out;
  DIR* d = ::opendir(dir_.c_str());
  if (d == nullptr) return out;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  for (const std::string& name : names) {
    std::string path = dir_ + "/" + name;
    if (name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0) {
      ::unlink(path.c_str());  // a write that never reached its rename
      continue;
    }
    if (name.size() <= 4 || name.compare(name.size() - 4, 4, ".job") != 0) continue;
    std::ifstream in(path, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    std::string bytes = buf.str();
    size_t off = 0;
    Result<Term> t = DecodeVersioned(bytes, &off, TermLimits{});
    Result<JobRecord> r = t.ok() ? JobRecordFromTerm(*t) : Result<JobRecord>(t.status());
    if (!r.ok() || name != r->id + ".job") {
      HB_LOG_WARN("jobs: skipping unreadable record " + path +
                  (r.ok() ? std::string(": id does not match") : ": " + r.status().message()));
      continue;
    }
    if (!r->finished()) {
      r->state = JobState::kInterrupted;
      r->finished_at = now_ms;
      r->message = "the daemon restarted while this job was queued or running";
      r->result = Term::Tuple({Atom("error"), Atom("interrupted")});
      Save(*r);
    }
    out.push_back(std::move(*r));
  }
  return out;
}

void JobStore::Save(const JobRecord& r) {
  if (!writer_) return;
  Result<std::string> bytes = EncodeWithVersion(JobRecordToTerm(r));
  if (!bytes.ok()) {
    HB_LOG_WARN("jobs: cannot encode job " + r.id + ": " + bytes.status().message());
    return;
  }
  writer_->Submit([path = PathOf(r.id), bytes = std::move(*bytes)] {
    Status s = WriteFileAtomically(path, bytes);
    if (!s.ok()) HB_LOG_WARN("jobs: " + s.message());
  });
}

void JobStore::Remove(const std::string& id) {
  if (!writer_) return;
  writer_->Submit([path = PathOf(id)] { ::unlink(path.c_str()); });
}

void JobStore::Flush() {
  if (!writer_) return;
  Mutex mu;
  CondVar cv;
  bool done = false;
  writer_->Submit([&] {
    MutexLock lock(&mu);
    done = true;
    cv.Signal();
  });
  {
    MutexLock lock(&mu);
    while (!done) cv.Wait(&mu);
  }
  writer_->Shutdown();
  writer_.reset();
}

}  // namespace hb
