// The one table gpu_check prints: a row per check with what the reference
// (CPU) and the candidate (GPU) gave and a verdict. Rows are also written as
// tab-separated lines so that scripts/gpu-check can add its own rows (the
// environment, the daemon end-to-end call) and print a single table.
// Not thread-safe: one thread adds rows.
#ifndef HORNBEAM_BENCH_GPU_CHECK_REPORT_H_
#define HORNBEAM_BENCH_GPU_CHECK_REPORT_H_

#include <cstdio>
#include <string>
#include <vector>

namespace hornbeam::gpu_check {

enum class Verdict {
  kPass,  // a requirement, met
  kFail,  // a requirement, not met: the run fails
  kInfo,  // a figure (throughput, utilisation), no requirement
  kSkip,  // not applicable here (only when the candidate runs on the CPU)
};
const char* VerdictName(Verdict verdict);

struct Row {
  std::string check;
  std::string reference;
  std::string candidate;
  Verdict verdict = Verdict::kInfo;
};

class Report {
 public:
  // rows_path: where Add also appends each row as a TSV line at once (so a
  // crash later leaves the rows so far); empty for none.
  explicit Report(std::string rows_path);

  void Add(Row row);
  void Add(std::string check, std::string reference, std::string candidate, Verdict verdict);
  bool failed() const { return failed_; }
  // A markdown table with the given column titles.
  void Print(std::FILE* out, const std::string& reference_title,
             const std::string& candidate_title) const;

 private:
  std::string rows_path_;
  std::vector<Row> rows_;
  bool failed_ = false;
};

// printf into a std::string.
std::string Format(const char* format, ...) __attribute__((format(printf, 1, 2)));

}  // namespace hornbeam::gpu_check

#endif  // HORNBEAM_BENCH_GPU_CHECK_REPORT_H_
