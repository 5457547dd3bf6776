#include "plugins/use_lite/plugin_support.h"

#include <sys/stat.h>

#include <cstddef>
#include <cstring>
#include <nlohmann/json.hpp>

namespace hornbeam::use_lite {
namespace {

// Only the first 128 tokens reach the model, and a token spans at most 16
// UTF-16 units (<= 3 UTF-8 bytes each), so at most ~6 KiB of text can matter.
// Tokenizing a 16 KiB prefix keeps the answer identical in practice while
// bounding the tokenizer's time and memory for arbitrarily large inputs.
constexpr size_t kMaxTextBytes = 16 * 1024;

#define HB_HAS_FIELD(api, type, field) \
  ((api)->struct_size >= offsetof(type, field) + sizeof(((type*)nullptr)->field))

bool FileExists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

void Fail(hb_text_result* result, hb_status status, std::string_view message) {
  result->status = status;
  WriteMessage(result->message, sizeof(result->message), message);
}

}  // namespace

void WriteMessage(char* buffer, size_t size, std::string_view message) {
  if (buffer == nullptr || size == 0) return;
  size_t n = std::min(size - 1, message.size());
  std::memcpy(buffer, message.data(), n);
  buffer[n] = '\0';
}

bool Host::Init(const hb_host_api* api, std::string* error) {
  if (api == nullptr || !HB_HAS_FIELD(api, hb_host_api, abi_minor)) {
    *error = "host api table missing or too small";
    return false;
  }
  if (api->abi_major != HB_PLUGIN_ABI_MAJOR) {
    *error = "host ABI major " + std::to_string(api->abi_major) + " != plugin's " +
             std::to_string(HB_PLUGIN_ABI_MAJOR);
    return false;
  }
  if (HB_HAS_FIELD(api, hb_host_api, host_ctx)) ctx_ = api->host_ctx;
  if (HB_HAS_FIELD(api, hb_host_api, log)) log_ = api->log;
  if (HB_HAS_FIELD(api, hb_host_api, is_cancelled)) is_cancelled_ = api->is_cancelled;
  return true;
}

void Host::Log(hb_log_level level, const std::string& message) const {
  if (log_ != nullptr) log_(ctx_, level, message.c_str());
}

bool Host::IsCancelled(uint64_t token) const {
  return is_cancelled_ != nullptr && is_cancelled_(ctx_, token) != 0;
}

bool LoadModelFromConfig(const char* config_json, LoadedModel* loaded, std::string* error) {
  nlohmann::json config = nlohmann::json::parse(config_json ? config_json : "", nullptr,
                                                /*allow_exceptions=*/false);
  if (!config.is_object() || !config.contains("model_dir") || !config["model_dir"].is_string() ||
      config["model_dir"].get_ref<const std::string&>().empty()) {
    *error = "config must be a JSON object with a \"model_dir\" string naming the directory "
             "that scripts/fetch-use-lite filled";
    return false;
  }
  std::string dir = config["model_dir"].get<std::string>();
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  std::string missing;
  for (const char* name : {"model.json", "vocab.json"}) {
    if (!FileExists(dir + "/" + name)) missing += std::string(missing.empty() ? "" : ", ") + name;
  }
  if (!missing.empty()) {
    *error = "model files missing in " + dir + ": " + missing +
             " (fetch them with: scripts/fetch-use-lite " + dir + ")";
    return false;
  }
  if (!loaded->tokenizer.LoadFile(dir + "/vocab.json", error)) return false;
  if (!loaded->model.Load(dir, error)) {
    *error += " (refetch with: scripts/fetch-use-lite " + dir + ")";
    return false;
  }
  if (loaded->tokenizer.vocab_size() > static_cast<size_t>(loaded->model.dims().vocab_rows)) {
    *error = "vocab.json has more pieces than the model has embedding rows";
    return false;
  }
  loaded->model_dir = dir;
  return true;
}

void FillCaps(const Model& model, const char* description, uint32_t needs_gpu,
              hb_model_caps* caps) {
  caps->struct_size = sizeof(hb_model_caps);
  caps->output_dim = static_cast<uint32_t>(model.output_dim());
  caps->max_batch_size = kMaxBatchSize;
  caps->max_tokens = static_cast<uint32_t>(model.dims().max_length);
  caps->needs_gpu = needs_gpu;
  caps->term_functions = nullptr;
  caps->description = description;
}

void PrepareBatch(const Host& host, const Tokenizer& tokenizer,
                  const hb_text_request* requests, hb_text_result* results, uint32_t count,
                  std::vector<uint32_t>* runnable, std::vector<std::vector<int32_t>>* ids) {
  runnable->clear();
  ids->resize(count);
  std::string error;
  for (uint32_t i = 0; i < count; ++i) {
    const hb_text_request& request = requests[i];
    hb_text_result* result = &results[i];
    result->status = HB_OK;
    result->message[0] = '\0';
    if (result->embedding == nullptr) {
      Fail(result, HB_ERR_INVALID_ARGUMENT, "result has no embedding buffer");
      continue;
    }
    if (request.text == nullptr && request.length > 0) {
      Fail(result, HB_ERR_INVALID_ARGUMENT, "text is NULL but length is not 0");
      continue;
    }
    if (host.IsCancelled(request.token)) {
      Fail(result, HB_ERR_CANCELLED, "cancelled by the host");
      continue;
    }
    std::string_view text(request.text ? request.text : "", request.length);
    if (text.size() > kMaxTextBytes) {
      size_t cut = kMaxTextBytes;
      // Back up to a UTF-8 sequence boundary so the prefix stays valid.
      while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
      text = text.substr(0, cut);
    }
    std::vector<int32_t>& slot = (*ids)[runnable->size()];
    if (!tokenizer.Encode(text, &slot, &error)) {
      Fail(result, HB_ERR_INVALID_ARGUMENT, error);
      continue;
    }
    runnable->push_back(i);
  }
  ids->resize(runnable->size());
}

hb_status CountTextTokens(const Tokenizer& tokenizer, const char* text, size_t length,
                          uint32_t* tokens) {
  if (tokens == nullptr || (text == nullptr && length > 0)) return HB_ERR_INVALID_ARGUMENT;
  try {
    std::string_view view(text ? text : "", std::min(length, kMaxTextBytes));
    while (view.size() < length && !view.empty() &&
           (static_cast<unsigned char>(text[view.size()]) & 0xC0) == 0x80) {
      view.remove_suffix(1);  // cut at a UTF-8 sequence boundary, as PrepareBatch does
    }
    std::vector<int32_t> ids;
    std::string error;
    if (!tokenizer.Encode(view, &ids, &error)) return HB_ERR_INVALID_ARGUMENT;
    *tokens = static_cast<uint32_t>(ids.size());
    return HB_OK;
  } catch (const std::bad_alloc&) {
    return HB_ERR_RESOURCE;
  } catch (...) {
    return HB_ERR_INTERNAL;
  }
}

hb_status CheckBatch(const char* plugin, const void* instance, const hb_text_request* requests,
                     const hb_text_result* results, uint32_t count, char* err, size_t err_size) {
  if (instance == nullptr || requests == nullptr || results == nullptr) {
    WriteMessage(err, err_size, std::string(plugin) + ": NULL instance, requests or results");
    return HB_ERR_INVALID_ARGUMENT;
  }
  if (count > kMaxBatchSize) {
    WriteMessage(err, err_size, std::string(plugin) + ": batch of " + std::to_string(count) +
                                    " exceeds max_batch_size " + std::to_string(kMaxBatchSize));
    return HB_ERR_INVALID_ARGUMENT;
  }
  return HB_OK;
}

}  // namespace hornbeam::use_lite
