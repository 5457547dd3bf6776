#include "bench/gpu_check/nvml.h"

#include <dlfcn.h>

#include <chrono>

#include "bench/gpu_check/report.h"

namespace hornbeam::gpu_check {
namespace {

// The few NVML declarations used, from nvml.h (stable since NVML 4.304),
// so that no NVML header is needed to build.
using NvmlReturn = int;  // nvmlReturn_t; 0 is NVML_SUCCESS
struct NvmlUtilization {
  unsigned int gpu;
  unsigned int memory;
};
struct NvmlMemory {
  unsigned long long total, free, used;
};

}  // namespace

struct Nvml::Functions {
  NvmlReturn (*init)();
  NvmlReturn (*shutdown)();
  const char* (*error_string)(NvmlReturn);
  NvmlReturn (*by_uuid)(const char*, void**);
  NvmlReturn (*utilization)(void*, NvmlUtilization*);
  NvmlReturn (*memory)(void*, NvmlMemory*);
};

std::unique_ptr<Nvml> Nvml::Open(const std::string& uuid, std::string* error) {
  std::unique_ptr<Nvml> nvml(new Nvml());
  nvml->handle_ = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL);
  if (nvml->handle_ == nullptr) {
    *error = dlerror();
    return nullptr;
  }
  auto fn = std::make_unique<Functions>();
  auto bind = [&](auto* slot, const char* name) {
    *slot = reinterpret_cast<std::remove_pointer_t<decltype(slot)>>(dlsym(nvml->handle_, name));
    return *slot != nullptr;
  };
  if (!bind(&fn->init, "nvmlInit_v2") || !bind(&fn->shutdown, "nvmlShutdown") ||
      !bind(&fn->error_string, "nvmlErrorString") ||
      !bind(&fn->by_uuid, "nvmlDeviceGetHandleByUUID") ||
      !bind(&fn->utilization, "nvmlDeviceGetUtilizationRates") ||
      !bind(&fn->memory, "nvmlDeviceGetMemoryInfo")) {
    *error = "libnvidia-ml.so.1 lacks an NVML function";
    return nullptr;
  }
  nvml->fn_ = std::move(fn);
  if (NvmlReturn rc = nvml->fn_->init(); rc != 0) {
    *error = std::string("nvmlInit: ") + nvml->fn_->error_string(rc);
    return nullptr;
  }
  nvml->initialised_ = true;
  if (NvmlReturn rc = nvml->fn_->by_uuid(uuid.c_str(), &nvml->device_); rc != 0) {
    *error = "nvmlDeviceGetHandleByUUID(" + uuid + "): " + nvml->fn_->error_string(rc);
    return nullptr;
  }
  return nvml;
}

Nvml::~Nvml() {
  if (initialised_) fn_->shutdown();
  if (handle_ != nullptr) dlclose(handle_);
}

bool Nvml::Utilization(uint32_t* gpu_percent, std::string* error) const {
  NvmlUtilization u{};
  if (NvmlReturn rc = fn_->utilization(device_, &u); rc != 0) {
    *error = std::string("nvmlDeviceGetUtilizationRates: ") + fn_->error_string(rc);
    return false;
  }
  *gpu_percent = u.gpu;
  return true;
}

bool Nvml::Memory(uint64_t* used, uint64_t* total, std::string* error) const {
  NvmlMemory m{};
  if (NvmlReturn rc = fn_->memory(device_, &m); rc != 0) {
    *error = std::string("nvmlDeviceGetMemoryInfo: ") + fn_->error_string(rc);
    return false;
  }
  *used = m.used;
  *total = m.total;
  return true;
}

void UtilizationSampler::Start() {
  Stop();
  sum_ = count_ = 0;
  error_.clear();
  result_.clear();
  if (nvml_ == nullptr) return;
  running_ = true;
  thread_ = std::thread([this] {
    while (running_.load()) {
      uint32_t percent = 0;
      if (!nvml_->Utilization(&percent, &error_)) return;
      sum_ += percent;
      ++count_;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
  });
}

std::string UtilizationSampler::Stop() {
  if (thread_.joinable()) {
    running_ = false;
    thread_.join();
    if (!error_.empty()) {
      result_ = "n/a (" + error_ + ")";
    } else if (count_ == 0) {
      result_ = "n/a (no NVML sample)";
    } else {
      result_ = Format("%.0f%% busy (NVML, %llu samples)", static_cast<double>(sum_) / count_,
                       static_cast<unsigned long long>(count_));
    }
  } else if (result_.empty()) {
    result_ = "n/a (no NVML)";
  }
  return result_;
}

}  // namespace hornbeam::gpu_check
