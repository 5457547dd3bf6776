// GPU utilisation while a timing loop runs, read through NVML (the library
// nvidia-smi uses), loaded with dlopen so that gpu_check builds and runs
// without it: every figure is then "n/a" with the reason.
//
// Ownership: Nvml owns the library handle and the NVML session (nvmlInit
// .. nvmlShutdown). UtilizationSampler owns one sampling thread, joined by
// Stop or its destructor; it must not outlive the Nvml it reads.
// Threads: Nvml's methods may be called from any thread (NVML is
// thread-safe); a sampler is started and stopped by one thread.
#ifndef HORNBEAM_BENCH_GPU_CHECK_NVML_H_
#define HORNBEAM_BENCH_GPU_CHECK_NVML_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>
#include <type_traits>

namespace hornbeam::gpu_check {

class Nvml {
 public:
  // Null with *error when libnvidia-ml.so.1 or the device is not there.
  // uuid: "GPU-..." as hb_device_info reports it (the same GPU whatever
  // CUDA_VISIBLE_DEVICES says).
  static std::unique_ptr<Nvml> Open(const std::string& uuid, std::string* error);
  ~Nvml();
  Nvml(const Nvml&) = delete;
  Nvml& operator=(const Nvml&) = delete;

  // Percent of the last sample period in which a kernel ran on the device.
  bool Utilization(uint32_t* gpu_percent, std::string* error) const;
  // NVML's own memory figures for the device, in bytes.
  bool Memory(uint64_t* used, uint64_t* total, std::string* error) const;

 private:
  struct Functions;
  Nvml() = default;

  void* handle_ = nullptr;
  std::unique_ptr<Functions> fn_;
  void* device_ = nullptr;  // nvmlDevice_t
  bool initialised_ = false;
};

// Samples Nvml::Utilization every 50 ms between Start and Stop.
class UtilizationSampler {
 public:
  explicit UtilizationSampler(const Nvml* nvml) : nvml_(nvml) {}
  ~UtilizationSampler() { Stop(); }
  UtilizationSampler(const UtilizationSampler&) = delete;
  UtilizationSampler& operator=(const UtilizationSampler&) = delete;

  void Start();
  // "87% busy (mean of 40 NVML samples)", or "n/a (why)".
  std::string Stop();

 private:
  const Nvml* nvml_;  // may be null: every figure is then n/a
  std::thread thread_;
  std::atomic<bool> running_{false};
  // Written by the sampling thread, read after it is joined.
  uint64_t sum_ = 0, count_ = 0;
  std::string error_;
  std::string result_;
};

}  // namespace hornbeam::gpu_check

#endif  // HORNBEAM_BENCH_GPU_CHECK_NVML_H_
