#include "daemon/blas_tuning.h"

#include <sched.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/log.h"
#include "base/mutex.h"

namespace hb {
namespace {

using nlohmann::json;

// A candidate must beat the library's own choice by this much to replace
// it: timings on a shared machine wobble by a few percent.
constexpr double kMargin = 1.05;

bool HasAll(const std::set<std::string>& have, std::initializer_list<const char*> want) {
  for (const char* w : want) {
    if (have.count(w) == 0) return false;
  }
  return true;
}

// /proc/cpuinfo's first `flags` and `vendor_id` lines, and a key for the
// cache (model name, family, model, stepping and the flags).
void ReadCpuInfo(std::string* flags, std::string* vendor, std::string* key) {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  std::set<std::string> seen;
  while (std::getline(f, line)) {
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string name = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1);
    std::string value = colon + 2 <= line.size() ? line.substr(colon + 2) : "";
    if (!seen.insert(name).second) continue;  // first processor only
    if (name == "flags") *flags = value;
    if (name == "vendor_id") *vendor = value;
    if (name == "flags" || name == "vendor_id" || name == "model name" || name == "cpu family" ||
        name == "model" || name == "stepping") {
      *key += name + "=" + value + ";";
    }
  }
}

bool SameCore(const std::string& a, const std::string& b) {
  return strcasecmp(a.c_str(), b.c_str()) == 0;
}

BlasCandidate Probe(const BlasRequest& r, const std::string& coretype, uint32_t threads,
                    json* info) {
  BlasCandidate c;
  c.requested = coretype;
  std::string error;
  std::string out = RunBlasProbe(r.probe, coretype, threads, {}, &error);
  json j = out.empty() ? json() : json::parse(out, nullptr, false);
  if (!j.is_object()) {
    c.error = error.empty() ? "unreadable probe output" : error;
    return c;
  }
  c.corename = j.value("corename", "");
  c.ok = j.value("ok", false);
  c.gflops = j.value("gflops", 0.0);
  c.error = j.value("error", "");
  if (!coretype.empty() && !SameCore(coretype, c.corename)) {
    c.ok = false;  // an unknown name: the library ran its own choice
    c.error = "not offered by this OpenBLAS (it ran " + c.corename + ")";
  }
  if (info != nullptr) *info = j;
  return c;
}

std::string CacheDir() {
  if (const char* d = std::getenv("CACHE_DIRECTORY"); d && *d) {
    std::string s(d);
    return s.substr(0, s.find(':'));  // systemd may list several
  }
  if (const char* x = std::getenv("XDG_CACHE_HOME"); x && *x) return std::string(x) + "/hornbeamd";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.cache/hornbeamd";
  return "";
}

std::string CachePath(const std::string& key) {
  const std::string dir = CacheDir();
  if (dir.empty()) return "";
  char name[40];
  std::snprintf(name, sizeof(name), "/blas-%016zx.json", std::hash<std::string>()(key));
  return dir + name;
}

json ToJson(const BlasChoice& c) {
  json cands = json::array();
  for (const BlasCandidate& k : c.candidates) {
    cands.push_back({{"requested", k.requested}, {"corename", k.corename}, {"ok", k.ok},
                     {"gflops", k.gflops}, {"error", k.error}});
  }
  return {{"coretype", c.coretype}, {"corename", c.corename}, {"gflops", c.gflops},
          {"threads", c.threads},   {"source", c.source},     {"library", c.library},
          {"warning", c.warning},   {"candidates", cands}};
}

std::optional<BlasChoice> FromJson(const json& j) {
  if (!j.is_object()) return std::nullopt;
  BlasChoice c;
  c.coretype = j.value("coretype", "");
  c.corename = j.value("corename", "");
  c.gflops = j.value("gflops", 0.0);
  c.threads = j.value("threads", 0u);
  c.source = j.value("source", "");
  c.library = j.value("library", "");
  c.warning = j.value("warning", "");
  for (const json& k : j.value("candidates", json::array())) {
    if (!k.is_object()) return std::nullopt;
    c.candidates.push_back({k.value("requested", ""), k.value("corename", ""),
                            k.value("ok", false), k.value("gflops", 0.0), k.value("error", "")});
  }
  if (c.source != "auto" && c.source != "pinned") return std::nullopt;
  return c;
}

// A cache file is trusted only if it is ours and only we can write it.
std::optional<BlasChoice> ReadCache(const std::string& path, const std::string& key) {
  struct stat st;
  if (path.empty() || stat(path.c_str(), &st) != 0 || st.st_uid != geteuid() ||
      (st.st_mode & 022) != 0) {
    return std::nullopt;
  }
  std::ifstream f(path);
  std::stringstream text;
  text << f.rdbuf();
  json j = json::parse(text.str(), nullptr, false);
  if (!j.is_object() || j.value("key", "") != key || !j.contains("choice")) return std::nullopt;
  return FromJson(j["choice"]);
}

void WriteCache(const std::string& path, const std::string& key, const BlasChoice& c) {
  if (path.empty()) return;
  const std::string dir = path.substr(0, path.rfind('/'));
  const std::string parent = dir.substr(0, dir.rfind('/'));
  mkdir(parent.c_str(), 0700);  // ~/.cache may not exist yet
  mkdir(dir.c_str(), 0700);
  const std::string tmp = path + ".tmp" + std::to_string(getpid());
  {
    std::ofstream f(tmp);
    f << json({{"key", key}, {"choice", ToJson(c)}}).dump() << "\n";
    if (!f) return;
  }
  chmod(tmp.c_str(), 0600);
  if (rename(tmp.c_str(), path.c_str()) != 0) unlink(tmp.c_str());
}

// The fastest correct candidate; the library's own unless another beats it
// by kMargin. Null if none passed.
const BlasCandidate* Best(const std::vector<BlasCandidate>& all) {
  const BlasCandidate* best = nullptr;
  const BlasCandidate* own = nullptr;
  for (const BlasCandidate& c : all) {
    if (!c.ok) continue;
    if (c.requested.empty()) own = &c;
    if (best == nullptr || c.gflops > best->gflops) best = &c;
  }
  if (own != nullptr && best != nullptr && best->gflops < own->gflops * kMargin) return own;
  return best;
}

// Replacing the library's own kernels on one timing each would let a
// round that lost the CPU decide: both are timed once more, each keeps its
// better figure, and the choice is made again.
const BlasCandidate* Confirm(const BlasRequest& r, uint32_t threads, const BlasCandidate* best,
                             std::vector<BlasCandidate>* all) {
  BlasCandidate& own = all->front();
  BlasCandidate& other = (*all)[best - all->data()];
  for (BlasCandidate* c : {&own, &other}) {
    BlasCandidate again = Probe(r, c->requested, threads, nullptr);
    if (!again.ok) {
      *c = again;  // failed this time: not trusted at all
    } else {
      c->gflops = std::max(c->gflops, again.gflops);
    }
  }
  return Best(*all);
}

BlasChoice Fallback(BlasChoice c, std::string why) {
  c.coretype.clear();
  c.source = "fallback";
  c.warning = std::move(why);
  c.gflops = 0;
  for (const BlasCandidate& k : c.candidates) {
    if (k.requested.empty() && k.ok) c.gflops = k.gflops;
  }
  return c;
}

// Probes the candidates (after the library's own, described by `own`).
BlasChoice ProbeAll(const BlasRequest& r, BlasChoice c, const std::string& flags,
                    const std::string& vendor) {
  const bool pinned = r.coretype != "auto";
  json own;
  c.candidates.push_back(Probe(r, "", c.threads, &own));
  if (own.is_object()) c.library = own.value("config", "");
  const std::string own_core = c.candidates.back().corename;
  std::vector<std::string> names =
      pinned ? std::vector<std::string>{r.coretype} : BlasCandidatesFor(flags, vendor);
  for (const std::string& n : names) {
    if (!own_core.empty() && SameCore(n, own_core)) continue;  // that is the library's own
    c.candidates.push_back(Probe(r, n, c.threads, nullptr));
  }
  if (pinned && SameCore(r.coretype, own_core)) {
    c.candidates.push_back(c.candidates.front());
    c.candidates.back().requested = r.coretype;
  }
  const BlasCandidate* best = Best(c.candidates);
  if (!pinned && best != nullptr && !best->requested.empty() && c.candidates.front().ok) {
    best = Confirm(r, c.threads, best, &c.candidates);
  }
  if (pinned) {
    const BlasCandidate& p = c.candidates.back();
    if (!p.ok) return Fallback(c, "pinned blas.coretype " + r.coretype + " failed: " + p.error);
    best = &p;
  }
  if (best == nullptr) return Fallback(c, "no OpenBLAS kernels passed the self-check");
  c.coretype = best->requested;
  c.corename = best->corename;
  c.gflops = best->gflops;
  c.source = pinned ? "pinned" : "auto";
  if (c.corename.empty()) c.corename = own_core;
  return c;
}

}  // namespace

std::vector<std::string> BlasCandidatesFor(const std::string& flags, const std::string& vendor) {
  std::set<std::string> have;
  std::istringstream in(flags);
  for (std::string f; in >> f;) have.insert(f);
  std::vector<std::string> out;
  if (HasAll(have, {"amx_tile", "amx_bf16", "avx512_bf16"})) out.push_back("SapphireRapids");
  if (HasAll(have, {"avx512f", "avx512bw", "avx512vl", "avx512dq", "avx512cd"})) {
    if (have.count("avx512_bf16")) out.push_back("Cooperlake");
    out.push_back("SkylakeX");
  }
  if (HasAll(have, {"avx2", "fma"})) {
    out.push_back("Haswell");
    if (vendor == "AuthenticAMD") out.push_back("Zen");
  }
  if (out.empty() && have.count("avx")) out.push_back("Sandybridge");
  return out;
}

uint32_t UsableCores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
  return std::max(1L, sysconf(_SC_NPROCESSORS_ONLN));
}

uint32_t BlasThreads(uint32_t pinned, uint32_t cpu_instances) {
  if (pinned > 0) return pinned;
  return std::max<uint32_t>(1, UsableCores() / std::max<uint32_t>(1, cpu_instances));
}

BlasChoice ChooseBlas(const BlasRequest& r) {
  const auto start = std::chrono::steady_clock::now();
  BlasChoice c;
  c.threads = BlasThreads(r.threads, r.cpu_instances);
  auto done = [&](BlasChoice x) {
    x.probe_ms =
        std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
            .count();
    return x;
  };
  if (r.probe.empty()) {
    return done(Fallback(c, "hornbeamd-blas-probe not found: OpenBLAS kernels unchecked"));
  }
  std::string error;
  json id = json::parse(RunBlasProbe(r.probe, "", c.threads, {"--identify"}, &error), nullptr,
                        false);
  if (!id.is_object()) return done(Fallback(c, "blas probe failed: " + error));
  c.corename = id.value("corename", "");
  c.library = id.value("config", "");
  if (r.coretype == "library") {
    c.source = "library";
    return done(c);
  }
  std::string flags, vendor, key;
  ReadCpuInfo(&flags, &vendor, &key);
  struct stat st {};
  stat(r.probe.c_str(), &st);
  key += "lib=" + id.value("library", "") + ";probe=" + std::to_string(st.st_size) + "/" +
         std::to_string(st.st_mtime) + ";threads=" + std::to_string(c.threads) +
         ";request=" + r.coretype;
  const bool cache = r.use_cache && std::getenv("HB_BLAS_PROBE_FAULT") == nullptr;
  const std::string path = cache ? CachePath(key) : "";
  if (std::optional<BlasChoice> hit = ReadCache(path, key)) {
    hit->cached = true;
    return done(*hit);
  }
  c = ProbeAll(r, c, flags, vendor);
  if (c.source != "fallback") WriteCache(path, key, c);
  return done(c);
}

void ApplyBlasChoice(const BlasChoice& c) {
  if (c.coretype.empty()) {
    unsetenv("OPENBLAS_CORETYPE");
  } else {
    setenv("OPENBLAS_CORETYPE", c.coretype.c_str(), 1);
  }
  if (c.threads > 0) setenv("OPENBLAS_NUM_THREADS", std::to_string(c.threads).c_str(), 1);
}

std::string BlasChoiceText(const BlasChoice& c) {
  char gflops[32];
  std::snprintf(gflops, sizeof(gflops), "%.1f", c.gflops);
  std::string s = "blas: " + (c.corename.empty() ? std::string("?") : c.corename) + " kernels (" +
                  c.source + (c.cached ? ", cached" : "") + "), " +
                  (c.gflops > 0 ? std::string(gflops) + " GFLOP/s" : "not timed") + ", " +
                  std::to_string(c.threads) + " thread(s) per instance";
  if (!c.candidates.empty()) {
    s += "; probed";
    for (const BlasCandidate& k : c.candidates) {
      std::snprintf(gflops, sizeof(gflops), "%.1f", k.gflops);
      s += " " + (k.requested.empty() ? "library:" + k.corename : k.requested) + "=" +
           (k.ok ? gflops : "rejected (" + k.error + ")");
    }
  }
  char ms[32];
  std::snprintf(ms, sizeof(ms), "%.0f", c.probe_ms);
  return s + "; " + ms + " ms";
}

namespace {

struct ProcessRecord {
  Mutex mu;
  std::optional<BlasChoice> choice GUARDED_BY(mu);
  std::string plugin_dir GUARDED_BY(mu);
  std::map<std::string, bool> links GUARDED_BY(mu);  // plugin stem -> links OpenBLAS
};

ProcessRecord& Record() {
  static ProcessRecord* r = new ProcessRecord();  // never destroyed: read at exit too
  return *r;
}

bool OnCpu(const ModelConfig& m) {
  for (uint32_t i = 0; i < m.instances; ++i) {
    if (m.devices[i % m.devices.size()] < 0) return true;
  }
  return false;
}

uint32_t CpuInstances(const ModelConfig& m) {
  uint32_t n = 0;
  for (uint32_t i = 0; i < m.instances; ++i) n += m.devices[i % m.devices.size()] < 0 ? 1 : 0;
  return n;
}

}  // namespace

void SetProcessBlasChoice(BlasChoice choice, std::string plugin_dir) {
  ProcessRecord& r = Record();
  MutexLock lock(&r.mu);
  r.choice = std::move(choice);
  r.plugin_dir = std::move(plugin_dir);
  r.links.clear();
}

std::optional<BlasChoice> BlasChoiceForModel(const ModelConfig& model) {
  if (model.devices.empty() || !OnCpu(model)) return std::nullopt;
  ProcessRecord& r = Record();
  MutexLock lock(&r.mu);
  if (!r.choice) return std::nullopt;
  auto it = r.links.find(model.plugin);
  if (it == r.links.end()) {
    it = r.links.emplace(model.plugin, LinksOpenBlas(r.plugin_dir + "/" + model.plugin + ".so"))
             .first;
  }
  if (!it->second) return std::nullopt;
  return r.choice;
}

void TuneBlasForModels(const Options& o, const std::string& plugin_dir) {
  uint32_t instances = 0;
  for (const ModelConfig& m : o.models) {
    if (m.devices.empty() || !OnCpu(m)) continue;
    if (LinksOpenBlas(plugin_dir + "/" + m.plugin + ".so")) instances += CpuInstances(m);
  }
  if (instances == 0) {
    // Nothing to tune (the built-in hashembed): no probe, no environment.
    BlasChoice none;
    none.warning = "no CPU model linked OpenBLAS at start; restart to tune";
    SetProcessBlasChoice(std::move(none), plugin_dir);
    return;
  }
  BlasRequest req;
  req.coretype = o.blas_coretype;
  req.threads = o.blas_threads;
  req.cpu_instances = instances;
  req.probe = FindBlasProbe();
  // OPENBLAS_CORETYPE / OPENBLAS_NUM_THREADS given to the daemon itself pin
  // what the configuration leaves on auto.
  const char* env_core = std::getenv("OPENBLAS_CORETYPE");
  if (req.coretype == "auto" && env_core != nullptr && *env_core != '\0') req.coretype = env_core;
  const char* env_threads = std::getenv("OPENBLAS_NUM_THREADS");
  if (req.threads == 0 && env_threads != nullptr && std::atoi(env_threads) > 0) {
    req.threads = static_cast<uint32_t>(std::atoi(env_threads));
  }
  BlasChoice c = ChooseBlas(req);
  ApplyBlasChoice(c);
  if (c.source == "fallback") {
    HB_LOG_WARN(c.warning + "; using the library's own kernels. " + BlasChoiceText(c));
  } else {
    HB_LOG_INFO(BlasChoiceText(c));
  }
  SetProcessBlasChoice(std::move(c), plugin_dir);
}

}  // namespace hb
