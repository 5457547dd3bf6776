// use_lite_cuda against the CPU model. Skips (tests/skip.h: "SKIPPED", and
// ctest reports it skipped, never passed) when the plugin was not built or
// no GPU / CUDA runtime is usable -- after checking that the failure is the
// clean instance_create error the ABI promises. Needs the model files like
// use_lite_test.cc. The full GPU proof is scripts/gpu-check.
#include <dlfcn.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "hornbeam/plugin.h"
#include "plugins/use_lite/model.h"
#include "plugins/use_lite/tokenizer.h"
#include "tests/plugins/use_lite_test_util.h"
#include "tests/skip.h"

#ifndef HB_USE_LITE_CUDA_PLUGIN_PATH
#define HB_USE_LITE_CUDA_PLUGIN_PATH ""
#endif

namespace {

void Skip(const std::string& why) {
  hb::testing::Skip("use_lite_cuda: " + why);
  WARN("SKIPPED: use_lite_cuda: " << why);
}

void NoLog(void*, hb_log_level, const char*) {}
int NeverCancelled(void*, uint64_t) { return 0; }
void* HostAlloc(void*, size_t size) { return std::malloc(size); }

}  // namespace

TEST_CASE("cuda plugin matches the CPU model on the GPU", "[use_lite][cuda]") {
  const std::string path = HB_USE_LITE_CUDA_PLUGIN_PATH;
  if (path.empty()) {
    Skip("not built (CMake found no CUDA toolkit with cuBLAS)");
    return;
  }
  const std::string dir = hb::testing::UseLiteModelDir();
  struct stat st;
  if (stat((dir + "/model.json").c_str(), &st) != 0) {
    FAIL("USE Lite model files not found in " << dir << ": run scripts/fetch-use-lite " << dir);
  }
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    Skip(std::string("cannot load the CUDA runtime libraries: ") + dlerror());
    return;
  }
  auto get_api = reinterpret_cast<hb_plugin_get_api_fn>(dlsym(lib, "hb_plugin_get_api"));
  REQUIRE(get_api != nullptr);
  CHECK(get_api(HB_PLUGIN_ABI_MAJOR + 1, 0) == nullptr);
  CHECK(get_api(HB_PLUGIN_ABI_MAJOR, 0) == nullptr);  // it needs a 1.1 host
  const hb_plugin_api* api = get_api(HB_PLUGIN_ABI_MAJOR, HB_PLUGIN_ABI_MINOR);
  REQUIRE(api != nullptr);
  CHECK(std::string(api->name) == "use_lite_cuda");

  hb_host_api host{sizeof(hb_host_api), HB_PLUGIN_ABI_MAJOR, HB_PLUGIN_ABI_MINOR, nullptr,
                   &NoLog, &NeverCancelled, &HostAlloc, nullptr};
  char err[256] = "";
  void* plugin = nullptr;
  REQUIRE(api->init(&host, &plugin, err, sizeof(err)) == HB_OK);
  REQUIRE(api->abi_minor >= 1);
  REQUIRE(api->device_info != nullptr);
  hb_device_info devices[4] = {};
  for (hb_device_info& d : devices) d.struct_size = sizeof(d);
  uint32_t device_count = 99;
  REQUIRE(api->device_info(plugin, devices, 4, &device_count, err, sizeof(err)) == HB_OK);
  CHECK(device_count == 0);  // no instance yet: nothing to report
  void* model = nullptr;
  hb_model_caps caps{};
  caps.struct_size = sizeof(caps);
  const std::string config = nlohmann::json{{"model_dir", dir}}.dump();
  INFO(err);
  REQUIRE(api->model_load(plugin, "use_lite_cuda", config.c_str(), &model, &caps, err,
                          sizeof(err)) == HB_OK);
  CHECK(caps.needs_gpu == 1);
  CHECK(caps.output_dim == 512);
  CHECK(caps.max_tokens == 128);
  CHECK(caps.description != nullptr);

  void* instance = nullptr;
  CHECK(api->instance_create(model, -1, &instance, err, sizeof(err)) == HB_ERR_INVALID_ARGUMENT);
  hb_status created = api->instance_create(model, 0, &instance, err, sizeof(err));
  if (created != HB_OK) {
    // No GPU here: the failure must be clean and say why.
    CHECK(created == HB_ERR_UNAVAILABLE);
    CHECK(std::strlen(err) > 0);
    Skip(std::string("no usable GPU: ") + err);
    api->model_unload(model);
    api->fini(plugin);
    dlclose(lib);
    return;
  }
  std::cout << "use_lite_cuda on " << caps.description << std::endl;

  // The device with an instance on it, as nvidia-smi would describe it.
  REQUIRE(api->device_info(plugin, devices, 4, &device_count, err, sizeof(err)) == HB_OK);
  REQUIRE(device_count == 1);
  CHECK(devices[0].ordinal == 0);
  CHECK(std::string(devices[0].kind) == "cuda");
  CHECK(std::strlen(devices[0].name) > 0);
  CHECK(std::string(devices[0].uuid).rfind("GPU-", 0) == 0);
  CHECK(std::strlen(devices[0].uuid) == 40);
  CHECK(devices[0].memory_total_bytes > (1ull << 30));
  CHECK(devices[0].memory_used_bytes > 0);  // at least our weights
  CHECK(devices[0].memory_used_bytes < devices[0].memory_total_bytes);
  std::cout << "device_info: " << devices[0].name << " " << devices[0].uuid << " "
            << devices[0].memory_used_bytes << "/" << devices[0].memory_total_bytes << " bytes"
            << std::endl;

  hornbeam::use_lite::Tokenizer tokenizer;
  hornbeam::use_lite::Model cpu;
  std::string error;
  REQUIRE(tokenizer.LoadFile(dir + "/vocab.json", &error));
  REQUIRE(cpu.Load(dir, &error));
  std::ifstream in(HB_USE_LITE_FIXTURE);
  nlohmann::json fixture = nlohmann::json::parse(in);
  std::vector<std::string> texts;
  for (const auto& s : fixture.at("sentences")) texts.push_back(s.at("text").get<std::string>());

  std::vector<hb_text_request> requests;
  for (size_t i = 0; i < texts.size(); ++i) requests.push_back({texts[i].data(), texts[i].size(), i});
  std::vector<float> gpu(texts.size() * 512);
  std::vector<hb_text_result> results(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) results[i].embedding = gpu.data() + i * 512;
  REQUIRE(api->execute_text(instance, requests.data(), results.data(),
                            static_cast<uint32_t>(texts.size()), err, sizeof(err)) == HB_OK);

  std::vector<std::vector<int32_t>> ids(texts.size());
  for (size_t i = 0; i < texts.size(); ++i) REQUIRE(tokenizer.Encode(texts[i], &ids[i], &error));
  std::vector<std::span<const int32_t>> spans(ids.begin(), ids.end());
  std::vector<float> reference(texts.size() * 512);
  hornbeam::use_lite::Workspace ws;
  cpu.Embed(spans, reference.data(), &ws);
  for (size_t i = 0; i < texts.size(); ++i) {
    INFO("text: " << texts[i]);
    REQUIRE(results[i].status == HB_OK);
    CHECK(hb::testing::Cosine(gpu.data() + i * 512, reference.data() + i * 512, 512) >= 0.9999);
  }

  // A full batch of 256 (several texts per chunk, long ones included).
  std::vector<hb_text_request> full;
  for (size_t i = 0; i < caps.max_batch_size; ++i) full.push_back(requests[i % requests.size()]);
  std::vector<float> full_out(full.size() * 512);
  std::vector<hb_text_result> full_results(full.size());
  for (size_t i = 0; i < full.size(); ++i) full_results[i].embedding = full_out.data() + i * 512;
  REQUIRE(api->execute_text(instance, full.data(), full_results.data(),
                            static_cast<uint32_t>(full.size()), err, sizeof(err)) == HB_OK);
  for (size_t i = 0; i < full.size(); ++i) {
    const size_t k = i % requests.size();
    CHECK(hb::testing::Cosine(full_out.data() + i * 512, reference.data() + k * 512, 512) >= 0.9999);
  }

  api->instance_destroy(instance);
  REQUIRE(api->device_info(plugin, devices, 4, &device_count, err, sizeof(err)) == HB_OK);
  CHECK(device_count == 0);
  api->model_unload(model);
  api->fini(plugin);
  dlclose(lib);
}
