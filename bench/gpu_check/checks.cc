// Agreement checks: the candidate's rows and per-text errors against the
// reference's, text by text. The speed and device checks are in
// checks_speed.cc.
#include "bench/gpu_check/checks.h"

#include <chrono>
#include <cmath>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace hornbeam::gpu_check {
namespace {

using tools::Cosine;
using tools::TextStatus;

// Both sides' answers to one list of texts.
struct Answers {
  std::vector<float> reference, candidate;
  std::vector<TextStatus> reference_status, candidate_status;
};

bool Run(Context& c, std::span<const std::string_view> texts, Answers* a, std::string* error) {
  if (!c.reference.instance->Embed(texts, &a->reference, &a->reference_status, error)) {
    *error = "reference: " + *error;
    return false;
  }
  if (!c.candidate.instance->Embed(texts, &a->candidate, &a->candidate_status, error)) {
    *error = "candidate: " + *error;
    return false;
  }
  return true;
}

// Text by text: same status, same message, and for successes a cosine of
// at least min_cosine (NaN never passes).
struct Agreement {
  size_t compared = 0, mismatches = 0;
  double worst = 1.0;
  size_t worst_index = 0;
  std::string first_mismatch;
};

Agreement Compare(const Answers& a, size_t dim, double min_cosine) {
  Agreement result;
  for (size_t i = 0; i < a.reference_status.size(); ++i) {
    const TextStatus& r = a.reference_status[i];
    const TextStatus& k = a.candidate_status[i];
    ++result.compared;
    std::string why;
    if (r.status != k.status || r.message != k.message) {
      why = Format("status %d '%s' vs %d '%s'", r.status, r.message.c_str(), k.status,
                   k.message.c_str());
    } else if (r.status == HB_OK) {
      const double cos = Cosine(&a.reference[i * dim], &a.candidate[i * dim], dim);
      if (!(cos >= result.worst)) {  // NaN too
        result.worst = cos;
        result.worst_index = i;
      }
      if (!(cos >= min_cosine)) why = Format("cosine %.7f", cos);
    }
    if (!why.empty() && result.mismatches++ == 0) {
      result.first_mismatch = Format("text #%zu: %s", i, why.c_str());
    }
  }
  return result;
}

std::string Describe(const Agreement& a, const std::string& what) {
  std::string s = Format("%zu/%zu agree; worst cosine %.7f (%s)", a.compared - a.mismatches,
                         a.compared, a.worst, what.c_str());
  if (a.mismatches > 0) s += "; first mismatch " + a.first_mismatch;
  return s;
}

std::string StatusText(const TextStatus& s) {
  if (s.status == HB_OK) return "ok";
  return Format("error %d: %s", s.status, s.message.c_str());
}

}  // namespace

bool Context::OutOfTime(const std::string& section) {
  if (std::chrono::steady_clock::now() < deadline) return false;
  report.Add(section, "", Format("not run: past the %.0f s deadline", options.deadline_s),
             Verdict::kFail);
  return true;
}

void CheckFixture(Context& c, const std::vector<FixtureSentence>& fixture) {
  const std::string check = Format("rows equal: %zu fixture sentences, one batch", fixture.size());
  if (c.OutOfTime(check)) return;
  std::vector<std::string> texts;
  for (const FixtureSentence& s : fixture) texts.push_back(s.text);
  const std::vector<std::string_view> views = Views(texts);
  Answers a;
  std::string error;
  if (!Run(c, views, &a, &error)) {
    c.report.Add(check, "", error, Verdict::kFail);
    return;
  }
  const size_t dim = c.candidate.instance->dim();
  const Agreement agreement = Compare(a, dim, c.options.min_cosine);
  c.report.Add(check, "", Describe(agreement, "\"" + texts[agreement.worst_index] + "\""),
               agreement.mismatches == 0 ? Verdict::kPass : Verdict::kFail);
  c.fixture_reference_rows = a.reference;
  // The TF.js vectors (rounded to 7 digits, another implementation) hold
  // the reference itself to use_lite's own bar: rows that agree because
  // both sides share a broken library (ICU, OpenBLAS from the kit) fail
  // here. The candidate's figure is for information.
  double worst_ref = 1, worst_cand = 1;
  size_t failed = 0;
  for (size_t i = 0; i < fixture.size(); ++i) {
    if (a.reference_status[i].status != HB_OK || fixture[i].vector.size() != dim) {
      ++failed;
      continue;
    }
    worst_ref = std::min(worst_ref, Cosine(&a.reference[i * dim], fixture[i].vector.data(), dim));
    worst_cand = std::min(worst_cand, Cosine(&a.candidate[i * dim], fixture[i].vector.data(), dim));
  }
  c.report.Add("rows against the TF.js reference vectors (CPU >= 0.999, as use_lite's tests)",
               Format("worst cosine %.7f; %zu sentences failed", worst_ref, failed),
               Format("worst cosine %.7f", worst_cand),
               failed == 0 && worst_ref >= 0.999 ? Verdict::kPass : Verdict::kFail);
}

void CheckGenerated(Context& c) {
  const std::string check =
      Format("rows equal: %u generated texts of 1-%u words (seed %llu)", c.options.texts,
             c.options.max_words, static_cast<unsigned long long>(c.options.seed));
  if (c.OutOfTime(check)) return;
  const std::vector<GeneratedText> generated =
      GenerateTexts(c.options.texts, c.options.max_words, c.options.seed);
  std::vector<std::string> texts;
  for (const GeneratedText& t : generated) texts.push_back(t.text);
  const std::vector<std::string_view> views = Views(texts);
  Answers a;
  std::string error;
  const auto start = std::chrono::steady_clock::now();
  if (!Run(c, views, &a, &error)) {
    c.report.Add(check, "", error, Verdict::kFail);
    return;
  }
  const size_t dim = c.candidate.instance->dim();
  const Agreement agreement = Compare(a, dim, c.options.min_cosine);
  size_t failed = 0;  // valid UTF-8 all of them: none may fail
  for (const TextStatus& s : a.reference_status) failed += s.status != HB_OK;
  const GeneratedText& worst = generated[agreement.worst_index];
  c.report.Add(
      check,
      Format("%zu texts failed; both sides took %.1f s", failed,
             std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count()),
      Describe(agreement, Format("text #%zu, %u words, %zu bytes", agreement.worst_index,
                                 worst.words, worst.text.size())),
      agreement.mismatches == 0 && failed == 0 ? Verdict::kPass : Verdict::kFail);

  // The same texts one by one: a row must not depend on what else was in
  // the batch (padding, packing, chunk boundaries).
  const size_t alone = std::min<size_t>(64, texts.size());
  double worst_alone = 1;
  std::vector<float> row;
  for (size_t i = 0; i < alone; ++i) {
    std::string_view one[] = {views[i]};
    if (!c.candidate.instance->Embed(one, &row, nullptr, &error)) {
      c.report.Add("rows do not depend on the batch", "", error, Verdict::kFail);
      return;
    }
    const double cos = Cosine(row.data(), &a.candidate[i * dim], dim);
    if (!(cos >= worst_alone)) worst_alone = cos;
  }
  c.report.Add(Format("rows do not depend on the batch (%zu texts alone vs batched)", alone), "",
               Format("worst cosine %.7f", worst_alone),
               worst_alone >= c.options.min_cosine ? Verdict::kPass : Verdict::kFail);
}

void CheckEdgeCases(Context& c) {
  if (c.OutOfTime("edge cases")) return;
  const std::vector<EdgeCase> cases = EdgeCases();
  const size_t dim = c.candidate.instance->dim();
  std::vector<std::string> mixed;  // every case between two ordinary texts
  for (const EdgeCase& e : cases) {
    std::string_view one[] = {e.text};
    Answers a;
    std::string error;
    if (!Run(c, one, &a, &error)) {
      c.report.Add("edge case: " + e.name, "", error, Verdict::kFail);
      continue;
    }
    const Agreement agreement = Compare(a, dim, c.options.min_cosine);
    std::string candidate = StatusText(a.candidate_status[0]);
    if (a.candidate_status[0].status == HB_OK && agreement.mismatches == 0) {
      candidate += Format(", cosine %.7f", agreement.worst);
    } else if (agreement.mismatches > 0) {
      candidate += " (differs: " + agreement.first_mismatch + ")";
    }
    c.report.Add("edge case: " + e.name, StatusText(a.reference_status[0]), candidate,
                 agreement.mismatches == 0 ? Verdict::kPass : Verdict::kFail);
    mixed.push_back("An ordinary sentence before it.");
    mixed.push_back(e.text);
    mixed.push_back("And an ordinary one after it.");
  }
  const std::vector<std::string_view> views = Views(mixed);
  Answers a;
  std::string error;
  if (!Run(c, views, &a, &error)) {
    c.report.Add("edge cases in one batch with ordinary texts", "", error, Verdict::kFail);
    return;
  }
  const Agreement agreement = Compare(a, dim, c.options.min_cosine);
  size_t failed = 0;
  for (const TextStatus& s : a.reference_status) failed += s.status != HB_OK;
  c.report.Add("edge cases in one batch with ordinary texts",
               Format("%zu texts, %zu failed alone", mixed.size(), failed),
               Describe(agreement, Format("text #%zu", agreement.worst_index)),
               agreement.mismatches == 0 ? Verdict::kPass : Verdict::kFail);
}

}  // namespace hornbeam::gpu_check
