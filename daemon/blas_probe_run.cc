// Running hornbeamd-blas-probe and reading plugins' ELF dependencies
// (see blas_tuning.h).
#include <elf.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <fstream>

#include "daemon/blas_tuning.h"

extern char** environ;

namespace hb {
namespace {

constexpr char kProbeName[] = "hornbeamd-blas-probe";
constexpr int kProbeTimeoutMs = 20000;

std::string ExeDir() {
  char exe[4096];
  ssize_t n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
  if (n <= 0) return "";
  exe[n] = '\0';
  std::string dir(exe);
  return dir.substr(0, dir.rfind('/'));
}

bool Executable(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

// The environment of a probe: ours without the two OpenBLAS variables, plus
// the candidate's.
std::vector<std::string> ProbeEnv(const std::string& coretype, uint32_t threads) {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) {
    if (std::strncmp(*e, "OPENBLAS_CORETYPE=", 18) == 0) continue;
    if (std::strncmp(*e, "OPENBLAS_NUM_THREADS=", 21) == 0) continue;
    env.emplace_back(*e);
  }
  if (!coretype.empty()) env.push_back("OPENBLAS_CORETYPE=" + coretype);
  if (threads > 0) env.push_back("OPENBLAS_NUM_THREADS=" + std::to_string(threads));
  return env;
}

std::vector<char*> Pointers(std::vector<std::string>& v) {
  std::vector<char*> p;
  for (std::string& s : v) p.push_back(s.data());
  p.push_back(nullptr);
  return p;
}

// Reads `fd` until EOF or the deadline.
std::string ReadUntil(int fd, std::chrono::steady_clock::time_point deadline, bool* timed_out) {
  std::string out;
  char buf[4096];
  *timed_out = false;
  for (;;) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
        deadline - std::chrono::steady_clock::now()).count();
    if (left <= 0) {
      *timed_out = true;
      return out;
    }
    pollfd p{fd, POLLIN, 0};
    int r = poll(&p, 1, static_cast<int>(left));
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) continue;
    ssize_t n = read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return out;
    out.append(buf, static_cast<size_t>(n));
  }
}

std::string ExitText(int status) {
  if (WIFSIGNALED(status)) {
    return std::string("killed by signal ") + std::to_string(WTERMSIG(status)) + " (" +
           strsignal(WTERMSIG(status)) + ")";
  }
  return "exit status " + std::to_string(WEXITSTATUS(status));
}

}  // namespace

std::string FindBlasProbe() {
  if (const char* env = std::getenv("HB_BLAS_PROBE"); env != nullptr && *env != '\0') {
    return Executable(env) ? env : "";
  }
  const std::string dir = ExeDir();
  if (dir.empty()) return "";
  const std::string up = dir.substr(0, dir.rfind('/'));
  for (const std::string& p : {dir + "/" + kProbeName, up + "/" + kProbeName,
                               up + "/lib/hornbeamd/" + kProbeName,
                               std::string("/usr/lib/hornbeamd/") + kProbeName}) {
    if (Executable(p)) return p;
  }
  return "";
}

std::string RunBlasProbe(const std::string& probe, const std::string& coretype, uint32_t threads,
                         const std::vector<std::string>& args, std::string* error) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) {
    *error = std::string("pipe: ") + std::strerror(errno);
    return "";
  }
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, "/dev/null", O_WRONLY, 0);
  std::vector<std::string> argv_s = {probe};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<std::string> env_s = ProbeEnv(coretype, threads);
  std::vector<char*> argv = Pointers(argv_s), envp = Pointers(env_s);
  pid_t pid = -1;
  int rc = posix_spawn(&pid, probe.c_str(), &actions, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&actions);
  close(fds[1]);
  if (rc != 0) {
    close(fds[0]);
    *error = "cannot run " + probe + ": " + std::strerror(rc);
    return "";
  }
  bool timed_out = false;
  std::string out = ReadUntil(
      fds[0], std::chrono::steady_clock::now() + std::chrono::milliseconds(kProbeTimeoutMs),
      &timed_out);
  close(fds[0]);
  if (timed_out) kill(pid, SIGKILL);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (timed_out) {
    *error = "timed out";
    return "";
  }
  // A probe that found wrong numbers exits 1 with its JSON; a crash leaves
  // at most a partial line.
  const bool finished = WIFEXITED(status) && WEXITSTATUS(status) <= 1;
  if (!finished || out.empty() || out.back() != '\n') {
    *error = ExitText(status);
    return "";
  }
  return out;
}

bool LinksOpenBlas(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  Elf64_Ehdr eh;
  if (!f.read(reinterpret_cast<char*>(&eh), sizeof(eh)) ||
      std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_phentsize != sizeof(Elf64_Phdr) || eh.e_phnum > 256) {
    return false;
  }
  std::vector<Elf64_Phdr> ph(eh.e_phnum);
  f.seekg(static_cast<std::streamoff>(eh.e_phoff));
  if (!f.read(reinterpret_cast<char*>(ph.data()), ph.size() * sizeof(Elf64_Phdr))) return false;
  // Virtual addresses (DT_STRTAB) to file offsets, through the PT_LOADs.
  auto offset_of = [&](uint64_t vaddr) -> int64_t {
    for (const Elf64_Phdr& p : ph) {
      if (p.p_type == PT_LOAD && vaddr >= p.p_vaddr && vaddr < p.p_vaddr + p.p_filesz) {
        return static_cast<int64_t>(vaddr - p.p_vaddr + p.p_offset);
      }
    }
    return -1;
  };
  for (const Elf64_Phdr& p : ph) {
    if (p.p_type != PT_DYNAMIC || p.p_filesz > (1u << 20)) continue;
    std::vector<Elf64_Dyn> dyn(p.p_filesz / sizeof(Elf64_Dyn));
    f.seekg(static_cast<std::streamoff>(p.p_offset));
    if (!f.read(reinterpret_cast<char*>(dyn.data()), dyn.size() * sizeof(Elf64_Dyn))) return false;
    int64_t strtab = -1;
    for (const Elf64_Dyn& d : dyn) {
      if (d.d_tag == DT_STRTAB) strtab = offset_of(d.d_un.d_ptr);
    }
    if (strtab < 0) return false;
    for (const Elf64_Dyn& d : dyn) {
      if (d.d_tag != DT_NEEDED) continue;
      char name[64] = {};
      f.seekg(strtab + static_cast<int64_t>(d.d_un.d_val));
      f.read(name, sizeof(name) - 1);
      f.clear();
      if (std::strncmp(name, "libopenblas", 11) == 0) return true;
    }
  }
  return false;
}

}  // namespace hb
