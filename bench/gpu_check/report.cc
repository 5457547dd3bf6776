#include "bench/gpu_check/report.h"

#include <cstdarg>
#include <utility>

namespace hornbeam::gpu_check {
namespace {

// Cells hold plugin messages: keep the table and the TSV one line per row.
std::string Cell(const std::string& text) {
  std::string out;
  for (char c : text) {
    if (c == '\t' || c == '\n' || c == '\r') {
      out += ' ';
    } else if (c == '|') {
      out += "\\|";
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace

const char* VerdictName(Verdict verdict) {
  switch (verdict) {
    case Verdict::kPass:
      return "PASS";
    case Verdict::kFail:
      return "FAIL";
    case Verdict::kInfo:
      return "info";
    case Verdict::kSkip:
      return "skip";
  }
  return "?";
}

Report::Report(std::string rows_path) : rows_path_(std::move(rows_path)) {}

void Report::Add(Row row) {
  if (row.verdict == Verdict::kFail) failed_ = true;
  if (!rows_path_.empty()) {
    if (std::FILE* f = std::fopen(rows_path_.c_str(), "a")) {
      std::fprintf(f, "%s\t%s\t%s\t%s\n", Cell(row.check).c_str(), Cell(row.reference).c_str(),
                   Cell(row.candidate).c_str(), VerdictName(row.verdict));
      std::fclose(f);
    }
  }
  rows_.push_back(std::move(row));
}

void Report::Add(std::string check, std::string reference, std::string candidate, Verdict verdict) {
  Add(Row{std::move(check), std::move(reference), std::move(candidate), verdict});
}

void Report::Print(std::FILE* out, const std::string& reference_title,
                   const std::string& candidate_title) const {
  std::fprintf(out, "| check | %s | %s | result |\n|---|---|---|---|\n",
               Cell(reference_title).c_str(), Cell(candidate_title).c_str());
  for (const Row& row : rows_) {
    std::fprintf(out, "| %s | %s | %s | %s |\n", Cell(row.check).c_str(),
                 Cell(row.reference).c_str(), Cell(row.candidate).c_str(),
                 VerdictName(row.verdict));
  }
  std::fflush(out);
}

std::string Format(const char* format, ...) {
  va_list args;
  va_start(args, format);
  char buffer[1024];
  std::vsnprintf(buffer, sizeof(buffer), format, args);
  va_end(args);
  return buffer;
}

}  // namespace hornbeam::gpu_check
