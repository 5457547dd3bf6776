// hornbeamd-blas-probe: checks and times the sgemm kernels that the OpenBLAS
// this process loaded chose, on the shapes of the CPU model plugins.
//
//   hornbeamd-blas-probe [--identify] [--ms MILLISECONDS]
//
// The parent (daemon/blas_tuning.h) runs one probe per candidate kernel set
// with OPENBLAS_CORETYPE and OPENBLAS_NUM_THREADS in its environment: OpenBLAS
// reads both once, when it is loaded, so each candidate needs its own
// process, and a kernel that crashes (SIGILL, SIGSEGV) takes only its probe
// down. Prints one JSON line:
//   {"corename", "config", "library", "ok", "max_err", "gflops", "error"}
// --identify skips the checks and timing (what the result cache is keyed by).
//
// Correctness: every shape is computed against a double-precision loop and
// each element's error is bounded by 1e-4 x sum_k |a_ik b_kj| (the worst-case
// float accumulation error for k <= 1536 is 9e-5 of that sum); NaN fails.
// HB_BLAS_PROBE_FAULT=corrupt:CORE | crash:CORE (CORE a corename, any case,
// or "*") makes the probe perturb one result, or raise SIGILL, when the
// loaded kernels are CORE: the self-check's own test.
#include <cblas.h>
#include <dlfcn.h>
#include <signal.h>
#include <strings.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

namespace {

struct Shape {
  int m, n, k;
  bool trans_b;  // B given as [n, k] (attention's Q.K^T)
  float beta;    // 1: accumulate into C (the residual GEMMs)
};

// use_lite's GEMMs (model.h) with odd token counts, so edge tiles run too.
const Shape kCheckShapes[] = {
    {37, 768, 256, false, 0.0f},   // layer 0 Q|K|V
    {37, 512, 256, false, 1.0f},   // layer 0 residual / out, accumulating
    {33, 1536, 512, false, 0.0f},  // FFN 1 (and layer 1 Q|K|V)
    {33, 512, 1536, false, 1.0f},  // FFN 2
    {45, 45, 128, true, 0.0f},     // attention Q.K^T
    {3, 512, 512, false, 0.0f},    // tanh layer of a small batch
};

// Timed: ~256 tokens through the biggest GEMMs, one round each ~10 ms.
const Shape kTimeShapes[] = {
    {256, 1536, 512, false, 0.0f},
    {256, 512, 1536, false, 1.0f},
    {256, 768, 256, false, 0.0f},
};

std::string Escape(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    if (static_cast<unsigned char>(c) >= 0x20) out += c;
  }
  return out;
}

void Fill(std::vector<float>* v, unsigned seed) {
  for (float& x : *v) {
    seed = seed * 1664525u + 1013904223u;
    x = static_cast<float>(static_cast<int>(seed >> 9) % 2001 - 1000) / 1000.0f;
  }
}

void Sgemm(const Shape& s, const float* a, const float* b, float* c) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, s.trans_b ? CblasTrans : CblasNoTrans, s.m, s.n, s.k,
              1.0f, a, s.k, b, s.trans_b ? s.k : s.n, s.beta, c, s.n);
}

// What HB_BLAS_PROBE_FAULT asks of these kernels: "", "corrupt" or "crash".
std::string Fault(const char* corename) {
  const char* f = std::getenv("HB_BLAS_PROBE_FAULT");
  if (f == nullptr) return "";
  const char* colon = std::strchr(f, ':');
  if (colon == nullptr) return "";
  std::string kind(f, colon - f);
  if (std::strcmp(colon + 1, "*") != 0 && strcasecmp(colon + 1, corename) != 0) return "";
  return kind;
}

// Largest error of one shape relative to its bound (> 1 fails; NaN = inf).
double CheckShape(const Shape& s, bool corrupt) {
  std::vector<float> a(static_cast<size_t>(s.m) * s.k), b(static_cast<size_t>(s.k) * s.n),
      c(static_cast<size_t>(s.m) * s.n);
  Fill(&a, 1u + s.m);
  Fill(&b, 7u + s.n);
  Fill(&c, 13u + s.k);
  const std::vector<float> c0 = c;
  Sgemm(s, a.data(), b.data(), c.data());
  if (corrupt) c[c.size() / 2 + 3] += 0.01f;
  // B as [k, n] whatever its layout, so the reference loop runs along rows.
  std::vector<double> bk(static_cast<size_t>(s.k) * s.n);
  for (int p = 0; p < s.k; ++p) {
    for (int j = 0; j < s.n; ++j) {
      bk[static_cast<size_t>(p) * s.n + j] =
          s.trans_b ? b[static_cast<size_t>(j) * s.k + p] : b[static_cast<size_t>(p) * s.n + j];
    }
  }
  double worst = 0;
  std::vector<double> ref(s.n), mag(s.n);
  for (int i = 0; i < s.m; ++i) {
    for (int j = 0; j < s.n; ++j) {
      ref[j] = s.beta * static_cast<double>(c0[static_cast<size_t>(i) * s.n + j]);
      mag[j] = std::fabs(ref[j]);
    }
    for (int p = 0; p < s.k; ++p) {
      const double x = a[static_cast<size_t>(i) * s.k + p];
      const double* y = bk.data() + static_cast<size_t>(p) * s.n;
      for (int j = 0; j < s.n; ++j) {
        ref[j] += x * y[j];
        mag[j] += std::fabs(x * y[j]);
      }
    }
    for (int j = 0; j < s.n; ++j) {
      const double got = c[static_cast<size_t>(i) * s.n + j];
      if (!std::isfinite(got)) return INFINITY;
      worst = std::max(worst, std::fabs(got - ref[j]) / (1e-4 * mag[j] + 1e-30));
    }
  }
  return worst;
}

double TimeShapes(double budget_ms) {
  struct Buffers {
    std::vector<float> a, b, c;
  };
  std::vector<Buffers> bufs;
  double flops_per_round = 0;
  for (const Shape& s : kTimeShapes) {
    Buffers x{std::vector<float>(static_cast<size_t>(s.m) * s.k, 0.5f),
              std::vector<float>(static_cast<size_t>(s.k) * s.n, 0.25f),
              std::vector<float>(static_cast<size_t>(s.m) * s.n, 0.0f)};
    bufs.push_back(std::move(x));
    flops_per_round += 2.0 * s.m * s.n * s.k;
  }
  auto round = [&] {
    for (size_t i = 0; i < bufs.size(); ++i) {
      Sgemm(kTimeShapes[i], bufs[i].a.data(), bufs[i].b.data(), bufs[i].c.data());
    }
  };
  round();  // warm-up: thread pool, page faults
  // The best round: on a shared machine a round that lost the CPU is slow,
  // never fast, so the best of several is what the kernels can do.
  using Clock = std::chrono::steady_clock;
  const auto start = Clock::now();
  double best = 0;
  int rounds = 0;
  do {
    const auto t0 = Clock::now();
    round();
    const double s = std::chrono::duration<double>(Clock::now() - t0).count();
    best = std::max(best, flops_per_round / s / 1e9);
    ++rounds;
  } while (rounds < 3 ||
           std::chrono::duration<double, std::milli>(Clock::now() - start).count() < budget_ms);
  return best;
}

// The file OpenBLAS was loaded from, with its size and mtime: part of the
// cache key, so switching the alternative or upgrading re-probes.
std::string LibraryId() {
  Dl_info info;
  if (dladdr(reinterpret_cast<void*>(&openblas_get_config), &info) == 0 || !info.dli_fname) {
    return "?";
  }
  struct stat st;
  std::string id = info.dli_fname;
  if (stat(info.dli_fname, &st) == 0) {
    id += " " + std::to_string(st.st_size) + " " + std::to_string(st.st_mtime);
  }
  return id;
}

}  // namespace

int main(int argc, char** argv) {
  bool identify = false;
  double budget_ms = 60;
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--identify") == 0) {
      identify = true;
    } else if (std::strcmp(argv[i], "--ms") == 0 && i + 1 < argc) {
      budget_ms = std::atof(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: hornbeamd-blas-probe [--identify] [--ms MILLISECONDS]\n");
      return 2;
    }
  }
  const std::string corename = openblas_get_corename();
  std::printf("{\"corename\": \"%s\", \"config\": \"%s\", \"library\": \"%s\", \"threads\": %d",
              Escape(corename).c_str(), Escape(openblas_get_config()).c_str(),
              Escape(LibraryId()).c_str(), openblas_get_num_threads());
  if (identify) {
    std::printf("}\n");
    return 0;
  }
  const std::string fault = Fault(corename.c_str());
  if (fault == "crash") raise(SIGILL);
  double worst = 0;
  for (const Shape& s : kCheckShapes) worst = std::max(worst, CheckShape(s, fault == "corrupt"));
  const bool ok = worst <= 1.0;
  std::printf(", \"ok\": %s, \"max_err\": %.3g", ok ? "true" : "false",
              std::isfinite(worst) ? worst : 1e300);
  if (ok) {
    std::printf(", \"gflops\": %.1f}\n", TimeShapes(budget_ms));
  } else {
    std::printf(", \"error\": \"sgemm result off by %.3g of its error bound\"}\n", worst);
  }
  return ok ? 0 : 1;
}
