// ABI plumbing shared by the use_lite (CPU) and use_lite_cuda plugins:
// reading the host table and config, loading the model files, and turning a
// batch of hb_text_requests into token ids with per-request failures.
#ifndef HORNBEAM_PLUGINS_USE_LITE_PLUGIN_SUPPORT_H_
#define HORNBEAM_PLUGINS_USE_LITE_PLUGIN_SUPPORT_H_

#include <cstddef>
#include <cstdint>
#include <exception>
#include <memory>
#include <new>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "hornbeam/plugin.h"
#include "plugins/use_lite/model.h"
#include "plugins/use_lite/tokenizer.h"

namespace hornbeam::use_lite {

// Longest batch execute_text accepts (hb_model_caps.max_batch_size).
inline constexpr uint32_t kMaxBatchSize = 256;

// Copies `message` into a host buffer, truncating, always NUL-terminated.
void WriteMessage(char* buffer, size_t size, std::string_view message);

// The host's callbacks, copied out of hb_host_api honouring its struct_size
// (a field beyond struct_size is treated as absent).
class Host {
 public:
  // Returns false with *error set when `api` is unusable.
  bool Init(const hb_host_api* api, std::string* error);
  void Log(hb_log_level level, const std::string& message) const;
  bool IsCancelled(uint64_t token) const;

 private:
  void* ctx_ = nullptr;
  void (*log_)(void*, hb_log_level, const char*) = nullptr;
  int (*is_cancelled_)(void*, uint64_t) = nullptr;
};

// Tokenizer + weights, shared read-only by every instance of a model.
struct LoadedModel {
  Tokenizer tokenizer;
  Model model;
  std::string model_dir;
  std::string description;  // storage for hb_model_caps.description
};

// Parses {"model_dir": "..."} and loads the files found there. On failure
// returns false with *error naming what is missing and how to fetch it.
bool LoadModelFromConfig(const char* config_json, LoadedModel* loaded, std::string* error);

// Fills the caps the use_lite plugins report. Writes only hb_model_caps as of
// ABI 1.0 (every 1.x host's struct has those fields) and sets struct_size to
// match, so a newer host knows which fields it got.
void FillCaps(const Model& model, const char* description, uint32_t needs_gpu,
              hb_model_caps* caps);

// Tokenizes every request. Requests that are cancelled, malformed (NULL
// text with a length, NULL embedding, invalid UTF-8) get their status and
// message set here and are left out; the rest are listed in *runnable with
// their ids in *ids (same order). Results of runnable requests get HB_OK.
void PrepareBatch(const Host& host, const Tokenizer& tokenizer,
                  const hb_text_request* requests, hb_text_result* results, uint32_t count,
                  std::vector<uint32_t>* runnable, std::vector<std::vector<int32_t>>* ids);

// The ids the model would read from `text` before cutting it to
// max_length: what count_tokens (ABI 1.2) reports. Same byte cap and
// tokenizer as PrepareBatch. Thread-safe (the tokenizer is read-only).
hb_status CountTextTokens(const Tokenizer& tokenizer, const char* text, size_t length,
                          uint32_t* tokens);

// Runs `body` (returning hb_status) so that no exception crosses the ABI:
// bad_alloc becomes HB_ERR_RESOURCE ("<plugin>: out of memory<doing>"),
// any other exception HB_ERR_INTERNAL with its text in `err`.
template <typename Body>
hb_status Guarded(const char* plugin, const char* doing, char* err, size_t err_size,
                  Body&& body) {
  try {
    return body();
  } catch (const std::bad_alloc&) {
    WriteMessage(err, err_size, std::string(plugin) + ": out of memory" + doing);
    return HB_ERR_RESOURCE;
  } catch (const std::exception& e) {
    WriteMessage(err, err_size, std::string(plugin) + ": " + e.what());
    return HB_ERR_INTERNAL;
  } catch (...) {
    WriteMessage(err, err_size, std::string(plugin) + ": unknown exception");
    return HB_ERR_INTERNAL;
  }
}

// The init entry point of both plugins: a new State whose `host` member is
// filled from the host table.
template <typename State>
hb_status InitState(const char* plugin, const hb_host_api* host, void** plugin_state, char* err,
                    size_t err_size) {
  return Guarded(plugin, "", err, err_size, [&] {
    auto state = std::make_unique<State>();
    std::string error;
    if (!state->host.Init(host, &error)) {
      WriteMessage(err, err_size, std::string(plugin) + ": " + error);
      return HB_ERR_INVALID_ARGUMENT;
    }
    *plugin_state = state.release();
    return HB_OK;
  });
}

// The model_load entry point of both plugins: a new ModelState (members
// `plugin` and `loaded`) from the config's model_dir, its caps filled in.
// `describe` gives the caps description once the files are loaded.
template <typename ModelState, typename PluginState, typename Describe>
hb_status LoadModelState(const char* plugin, void* plugin_state, const char* model_name,
                         const char* config_json, uint32_t needs_gpu, Describe&& describe,
                         void** model, hb_model_caps* caps, char* err, size_t err_size) {
  return Guarded(plugin, " loading the model", err, err_size, [&] {
    auto state = std::make_unique<ModelState>();
    state->plugin = static_cast<PluginState*>(plugin_state);
    std::string error;
    if (!LoadModelFromConfig(config_json, &state->loaded, &error)) {
      WriteMessage(err, err_size, std::string(plugin) + ": " + error);
      return HB_ERR_INVALID_ARGUMENT;
    }
    state->loaded.description = describe();
    FillCaps(state->loaded.model, state->loaded.description.c_str(), needs_gpu, caps);
    state->plugin->host.Log(HB_LOG_INFO, std::string(plugin) + ": loaded " +
                                             (model_name ? model_name : "?") + " from " +
                                             state->loaded.model_dir + "; " +
                                             state->loaded.description);
    *model = state.release();
    return HB_OK;
  });
}

// The checks execute_text makes before touching a batch: HB_OK, or the
// error (with `err` written) for NULL pointers or an oversized batch.
hb_status CheckBatch(const char* plugin, const void* instance, const hb_text_request* requests,
                     const hb_text_result* results, uint32_t count, char* err, size_t err_size);

}  // namespace hornbeam::use_lite

#endif  // HORNBEAM_PLUGINS_USE_LITE_PLUGIN_SUPPORT_H_
