// Loading both sides, and the checks that time them or read the device:
// texts/s per batch size, several instances at once, device memory.
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <latch>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "bench/corpus.h"
#include "bench/gpu_check/checks.h"

namespace hornbeam::gpu_check {
namespace {

using Clock = std::chrono::steady_clock;
using tools::Cosine;
using tools::PluginInstance;

double Seconds(Clock::time_point since) {
  return std::chrono::duration<double>(Clock::now() - since).count();
}

constexpr double kMiB = 1024.0 * 1024.0;

// `batch` texts of the bench corpus, cycled from `*next`.
void NextBatch(uint32_t batch, size_t* next, std::vector<std::string_view>* texts) {
  const std::vector<std::string>& corpus = tools::BenchCorpus();
  texts->clear();
  for (uint32_t i = 0; i < batch; ++i) texts->push_back(corpus[(*next + i) % corpus.size()]);
  *next = (*next + batch) % corpus.size();
}

struct Timing {
  double texts_per_s = 0, ms_per_batch = 0;
};

// One warm-up batch, then batches until `seconds` have passed (two at least).
bool TimeBatches(PluginInstance& instance, uint32_t batch, double seconds, Timing* timing,
                 std::string* error) {
  std::vector<std::string_view> texts;
  std::vector<float> out;
  size_t next = 0, calls = 0;
  NextBatch(batch, &next, &texts);
  if (!instance.Embed(texts, &out, nullptr, error)) return false;
  const auto start = Clock::now();
  do {
    NextBatch(batch, &next, &texts);
    if (!instance.Embed(texts, &out, nullptr, error)) return false;
    ++calls;
  } while (calls < 2 || Seconds(start) < seconds);
  const double elapsed = Seconds(start);
  timing->texts_per_s = static_cast<double>(calls) * batch / elapsed;
  timing->ms_per_batch = 1e3 * elapsed / static_cast<double>(calls);
  return true;
}

// nvidia-smi's used and total MiB and name for the GPU with `uuid`.
bool QueryNvidiaSmi(const std::string& command, const std::string& uuid, double* used_mib,
                    double* total_mib, std::string* name, std::string* error) {
  const std::string line = command +
                           " --query-gpu=uuid,name,memory.used,memory.total"
                           " --format=csv,noheader,nounits 2>&1";
  std::FILE* pipe = popen(line.c_str(), "r");
  if (pipe == nullptr) {
    *error = "cannot run " + command;
    return false;
  }
  char buffer[512];
  std::string output;
  bool found = false;
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) {
    output += buffer;
    std::vector<std::string> fields;
    std::string field;
    for (const char* p = buffer; *p != '\0' && *p != '\n'; ++p) {
      if (*p == ',') {
        fields.push_back(field);
        field.clear();
      } else if (!(*p == ' ' && field.empty())) {
        field += *p;
      }
    }
    fields.push_back(field);
    if (fields.size() == 4 && fields[0] == uuid) {
      *name = fields[1];
      *used_mib = std::atof(fields[2].c_str());
      *total_mib = std::atof(fields[3].c_str());
      found = true;
    }
  }
  const int rc = pclose(pipe);
  if (!found)
    *error = Format("%s lists no %s (exit %d): %s", command.c_str(), uuid.c_str(), rc,
                    output.substr(0, 200).c_str());
  return found;
}

}  // namespace

std::string Side::Title() const {
  return library->name() + " " + library->api().version + " (" + model->description() + ")";
}

bool LoadSide(const std::string& plugin, const std::string& model_dir, int32_t device, Side* side,
              std::string* error) {
  const std::string prefix = plugin.substr(plugin.find_last_of('/') + 1);
  side->library = tools::PluginLibrary::Open(plugin, prefix, error);
  if (side->library == nullptr) return false;
  const auto start = Clock::now();
  const std::string config = nlohmann::json{{"model_dir", model_dir}}.dump();
  side->model = tools::PluginModel::Load(*side->library, "gpu_check", config, error);
  if (side->model == nullptr) return false;
  side->instance = PluginInstance::Create(*side->model, device, error);
  if (side->instance == nullptr) return false;
  side->load_seconds = Seconds(start);
  return true;
}

void CheckDeviceMemory(Context& c, const std::string& when) {
  const std::string check = "device_info memory against nvidia-smi (" + when + ")";
  if (c.options.device < 0) {
    c.report.Add(check, "", "candidate on the CPU: no device to report", Verdict::kSkip);
    return;
  }
  const tools::PluginLibrary& library = *c.candidate.library;
  std::vector<hb_device_info> devices;
  std::string error;
  if (!library.HasDeviceInfo()) error = "the plugin has no device_info (ABI 1.1)";
  if (error.empty()) library.DeviceInfo(&devices, &error);
  const hb_device_info* d = nullptr;
  for (const hb_device_info& x : devices) d = x.ordinal == c.options.device ? &x : d;
  if (error.empty() && d == nullptr)
    error = Format("device_info lists no cuda:%d", c.options.device);
  double smi_used = 0, smi_total = 0;
  std::string smi_name;
  if (error.empty() && c.options.nvidia_smi == "none") error = "no nvidia-smi to compare with";
  if (error.empty())
    QueryNvidiaSmi(c.options.nvidia_smi, d->uuid, &smi_used, &smi_total, &smi_name, &error);
  if (!error.empty()) {
    c.report.Add(check, "", error, Verdict::kFail);
    return;
  }
  const double used = d->memory_used_bytes / kMiB, total = d->memory_total_bytes / kMiB;
  // The two totals differ by what the driver reserves; "used" may count
  // that reserve on one side only, so it may differ by as much, plus
  // 256 MiB for anything allocated between the two readings.
  const double d_total = std::fabs(total - smi_total), d_used = std::fabs(used - smi_used);
  const bool ok = smi_name == d->name && d_total <= 0.03 * smi_total && d_used <= d_total + 256;
  std::string reference =
      Format("nvidia-smi: %.0f / %.0f MiB used/total, %s", smi_used, smi_total, smi_name.c_str());
  uint64_t nvml_used = 0, nvml_total = 0;
  if (c.nvml != nullptr && c.nvml->Memory(&nvml_used, &nvml_total, &error)) {
    reference += Format("; NVML: %.0f / %.0f MiB", nvml_used / kMiB, nvml_total / kMiB);
  }
  c.report.Add(check, reference,
               Format("device_info: %.0f / %.0f MiB used/total, %s %s (|d used| %.0f MiB, "
                      "|d total| %.0f MiB)",
                      used, total, d->name, d->uuid, d_used, d_total),
               ok ? Verdict::kPass : Verdict::kFail);
}

void CheckThroughput(Context& c) {
  const uint32_t max_batch = c.candidate.model->caps().max_batch_size;
  for (uint32_t batch : c.options.batches) {
    const std::string check = batch <= max_batch
                                  ? Format("texts/s at batch %u", batch)
                                  : Format("texts/s at batch %u (%u calls of max_batch_size %u)",
                                           batch, (batch + max_batch - 1) / max_batch, max_batch);
    if (c.OutOfTime(check)) return;
    Timing ref, cand;
    std::string error;
    if (!TimeBatches(*c.reference.instance, batch, c.options.seconds, &ref, &error)) {
      c.report.Add(check, "reference: " + error, "", Verdict::kFail);
      continue;
    }
    UtilizationSampler sampler(c.nvml);
    sampler.Start();
    const bool ok = TimeBatches(*c.candidate.instance, batch, c.options.seconds, &cand, &error);
    const std::string busy = sampler.Stop();
    if (!ok) {
      c.report.Add(check, "", "candidate: " + error, Verdict::kFail);
      continue;
    }
    if (batch == max_batch) c.candidate_rate_at_max_batch = cand.texts_per_s;
    c.report.Add(check, Format("%.1f (%.2f ms/batch)", ref.texts_per_s, ref.ms_per_batch),
                 Format("%.1f (%.2f ms/batch); %s; x%.1f of the CPU", cand.texts_per_s,
                        cand.ms_per_batch, busy.c_str(), cand.texts_per_s / ref.texts_per_s),
                 Verdict::kInfo);
  }
}

namespace {

// What one instance's thread did in CheckInstances.
struct Worker {
  size_t texts = 0;
  std::string error;
  double worst_cosine = 1;
};

void RunWorker(PluginInstance& instance, uint32_t batch, Clock::time_point until,
               const std::vector<std::string_view>& fixture, const std::vector<float>& reference,
               Worker* w) {
  std::vector<std::string_view> texts;
  std::vector<float> out;
  size_t next = 0;
  while (Clock::now() < until) {
    NextBatch(batch, &next, &texts);
    if (!instance.Embed(texts, &out, nullptr, &w->error)) return;
    w->texts += batch;
  }
  // Rows still right after running beside the others.
  if (!instance.Embed(fixture, &out, nullptr, &w->error)) return;
  const size_t dim = instance.dim();
  for (size_t i = 0; i < fixture.size() && (i + 1) * dim <= reference.size(); ++i) {
    const double cos = Cosine(&out[i * dim], &reference[i * dim], dim);
    if (!(cos >= w->worst_cosine)) w->worst_cosine = cos;
  }
}

// n instances (the candidate's own and n - 1 new ones) on n threads.
void RunInstances(Context& c, uint32_t n, const std::vector<std::string_view>& fixture,
                  bool check_memory) {
  const uint32_t batch = c.candidate.model->caps().max_batch_size;
  const std::string check = Format("%u instances on one device, batch %u each", n, batch);
  if (c.OutOfTime(check)) return;
  std::vector<std::unique_ptr<PluginInstance>> extra;
  std::vector<PluginInstance*> instances = {c.candidate.instance.get()};
  std::string error;
  for (uint32_t i = 1; i < n; ++i) {
    extra.push_back(PluginInstance::Create(*c.candidate.model, c.options.device, &error));
    if (extra.back() == nullptr) {
      c.report.Add(check, "", Format("instance %u: %s", i, error.c_str()), Verdict::kFail);
      return;
    }
    instances.push_back(extra.back().get());
  }
  std::vector<Worker> workers(n);
  std::vector<std::thread> threads;
  std::latch ready(n + 1);
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(c.options.seconds + 0.2));
  const auto start = Clock::now();
  for (uint32_t i = 0; i < n; ++i) {
    threads.emplace_back([&, i] {
      ready.arrive_and_wait();
      RunWorker(*instances[i], batch, until, fixture, c.fixture_reference_rows, &workers[i]);
    });
  }
  ready.arrive_and_wait();
  for (std::thread& t : threads) t.join();
  const double elapsed = Seconds(start);
  size_t texts = 0, errors = 0;
  double worst = 1;
  std::string first_error;
  for (const Worker& w : workers) {
    texts += w.texts;
    errors += !w.error.empty();
    if (first_error.empty()) first_error = w.error;
    worst = std::min(worst, w.worst_cosine);
  }
  const double rate = texts / elapsed;
  const std::string scale =
      c.candidate_rate_at_max_batch > 0
          ? Format("x%.2f of one instance", rate / c.candidate_rate_at_max_batch)
          : Format("one instance not timed at batch %u", batch);
  std::string result = Format(
      "%.1f texts/s in all (%s); %zu errors; fixture rows afterwards: "
      "worst cosine %.7f",
      rate, scale.c_str(), errors, worst);
  if (errors > 0) result += "; first error: " + first_error;
  c.report.Add(check, "", result,
               errors == 0 && worst >= c.options.min_cosine ? Verdict::kPass : Verdict::kFail);
  if (check_memory) CheckDeviceMemory(c, Format("%u instances alive", n));
}

}  // namespace

void CheckInstances(Context& c, const std::vector<FixtureSentence>& fixture) {
  std::vector<std::string> texts;
  for (const FixtureSentence& s : fixture) texts.push_back(s.text);
  const std::vector<std::string_view> views = Views(texts);
  if (c.options.instances.empty()) return;
  const uint32_t most = *std::max_element(c.options.instances.begin(), c.options.instances.end());
  for (uint32_t n : c.options.instances) RunInstances(c, n, views, n == most);
}

}  // namespace hornbeam::gpu_check
