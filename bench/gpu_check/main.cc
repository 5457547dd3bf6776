// gpu_check: the GPU proof of use_lite_cuda, without the daemon. Loads the
// CPU plugin (reference) and the CUDA plugin (candidate) through the C ABI
// from the same model files, runs the checks in checks.h and prints one
// markdown table. Exit status: 0 when every requirement row passes, 1 when
// one fails, 2 for bad usage.
//
//   gpu_check --reference use_lite.so --candidate use_lite_cuda.so
//             --model-dir DIR --fixture use_lite_reference.json
//             [--device 0] [--texts 1000] [--max-words 300] [--seed 1]
//             [--batches 1,8,64,256,1024] [--instances 2,4] [--seconds 3]
//             [--min-cosine 0.9999] [--nvidia-smi CMD|none] [--deadline S]
//             [--rows-out FILE]
//
// scripts/gpu-check runs it from the kit that scripts/gpu-kit builds.
// --device -1 runs the candidate on the CPU: how tests/gpu/kit_test.sh
// exercises every code path here without a GPU (the device rows then say
// "skip"); that is a test of this program, never a GPU pass.
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <map>
#include <string>
#include <type_traits>
#include <vector>

#include "bench/gpu_check/checks.h"
#include "bench/gpu_check/nvml.h"
#include "bench/gpu_check/report.h"
#include "bench/gpu_check/texts.h"

namespace hornbeam::gpu_check {
namespace {

[[noreturn]] void Usage(const std::string& why) {
  std::fprintf(stderr,
               "gpu_check: %s\n"
               "usage: gpu_check --reference PLUGIN.so --candidate PLUGIN.so --model-dir DIR "
               "--fixture FILE [--device N] [--texts N] [--max-words N] [--seed N] "
               "[--batches 1,8,...] [--instances 2,4] [--seconds S] [--min-cosine C] "
               "[--nvidia-smi CMD|none] [--deadline S] [--rows-out FILE]\n",
               why.c_str());
  std::exit(2);
}

double Number(const std::string& flag, const std::string& text) {
  char* end = nullptr;
  const double value = std::strtod(text.c_str(), &end);
  if (text.empty() || *end != '\0') Usage("bad value for " + flag + ": " + text);
  return value;
}

Options Parse(int argc, char** argv) {
  Options o;
  using Setter = std::function<void(const std::string& flag, const std::string& value)>;
  auto text = [](std::string* field) -> Setter {
    return [field](const std::string&, const std::string& value) { *field = value; };
  };
  auto number = [](auto* field) -> Setter {
    return [field](const std::string& flag, const std::string& value) {
      using Field = std::remove_pointer_t<decltype(field)>;
      const double x = Number(flag, value);
      if (std::is_unsigned_v<Field> && x < 0) Usage(flag + " cannot be negative");
      *field = static_cast<Field>(x);
    };
  };
  auto list = [](std::vector<uint32_t>* field) -> Setter {
    return [field](const std::string& flag, const std::string& value) {
      if (!tools::ParseUintList(value, field)) Usage("bad list for " + flag + ": " + value);
    };
  };
  const std::map<std::string, Setter> setters = {
      {"--reference", text(&o.reference_plugin)},
      {"--candidate", text(&o.candidate_plugin)},
      {"--model-dir", text(&o.model_dir)},
      {"--fixture", text(&o.fixture)},
      {"--nvidia-smi", text(&o.nvidia_smi)},
      {"--rows-out", text(&o.rows_out)},
      {"--device", number(&o.device)},
      {"--texts", number(&o.texts)},
      {"--max-words", number(&o.max_words)},
      {"--seed", number(&o.seed)},
      {"--seconds", number(&o.seconds)},
      {"--min-cosine", number(&o.min_cosine)},
      {"--deadline", number(&o.deadline_s)},
      {"--batches", list(&o.batches)},
      {"--instances", list(&o.instances)},
  };
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    const auto setter = setters.find(flag);
    if (setter == setters.end()) Usage("unknown option " + flag);
    if (i + 1 >= argc) Usage("missing value for " + flag);
    setter->second(flag, argv[++i]);
  }
  if (o.reference_plugin.empty() || o.candidate_plugin.empty() || o.model_dir.empty() ||
      o.fixture.empty()) {
    Usage("need --reference, --candidate, --model-dir and --fixture");
  }
  if (o.texts == 0 || o.max_words == 0) Usage("--texts and --max-words must be at least 1");
  return o;
}

// NVML for the candidate's device, found by the uuid its device_info gives.
std::unique_ptr<Nvml> OpenNvml(const Options& o, const Side& candidate, std::string* why) {
  if (o.device < 0) {
    *why = "candidate on the CPU";
    return nullptr;
  }
  std::vector<hb_device_info> devices;
  if (!candidate.library->HasDeviceInfo() || !candidate.library->DeviceInfo(&devices, why)) {
    if (why->empty()) *why = "no device_info to name the GPU";
    return nullptr;
  }
  for (const hb_device_info& d : devices) {
    if (d.ordinal == o.device) return Nvml::Open(d.uuid, why);
  }
  *why = "device_info does not list the device";
  return nullptr;
}

int Run(const Options& o) {
  Report report(o.rows_out);
  std::vector<FixtureSentence> fixture;
  std::string error;
  if (!LoadFixture(o.fixture, &fixture, &error)) {
    report.Add("fixture", "", error, Verdict::kFail);
    report.Print(stdout, "reference", "candidate");
    return 1;
  }
  Side reference, candidate;
  if (!LoadSide(o.reference_plugin, o.model_dir, -1, &reference, &error)) {
    error = "reference " + o.reference_plugin + ": " + error;
  } else if (!LoadSide(o.candidate_plugin, o.model_dir, o.device, &candidate, &error)) {
    error =
        "candidate " + o.candidate_plugin + " on device " + std::to_string(o.device) + ": " + error;
  } else {
    error.clear();
  }
  if (!error.empty()) {
    report.Add("load both plugins", "", error, Verdict::kFail);
    report.Print(stdout, "reference", "candidate");
    return 1;
  }
  report.Add("model_load + instance_create", Format("%.2f s", reference.load_seconds),
             Format("%.2f s (device %d)", candidate.load_seconds, o.device), Verdict::kInfo);
  std::string nvml_why;
  const std::unique_ptr<Nvml> nvml = OpenNvml(o, candidate, &nvml_why);
  report.Add("GPU utilisation source", "", nvml ? "NVML (libnvidia-ml.so.1)" : "n/a: " + nvml_why,
             Verdict::kInfo);
  Context c{o,
            reference,
            candidate,
            report,
            nvml.get(),
            std::chrono::steady_clock::now() +
                std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                    std::chrono::duration<double>(o.deadline_s)),
            {},
            0};
  CheckFixture(c, fixture);
  CheckGenerated(c);
  CheckEdgeCases(c);
  CheckDeviceMemory(c, "1 instance alive");
  CheckThroughput(c);
  CheckInstances(c, fixture);
  std::printf("\n");
  report.Print(stdout, "cpu: " + reference.Title(), "candidate: " + candidate.Title());
  return report.failed() ? 1 : 0;
}

}  // namespace
}  // namespace hornbeam::gpu_check

int main(int argc, char** argv) {
  return hornbeam::gpu_check::Run(hornbeam::gpu_check::Parse(argc, argv));
}
