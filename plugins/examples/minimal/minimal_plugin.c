/* A minimal hornbeamd model plugin, in C: every text embeds to
 * [byte length, number of spaces] -- useless as a model, complete as a
 * plugin. Build it out of tree against the installed header:
 *
 *   cc -shared -fPIC -fvisibility=hidden -I/usr/include -o minimal.so minimal_plugin.c
 *
 * then copy minimal.so into the plugin directory and route a module to it:
 *   "models": {"tiny": {"plugin": "minimal"}}, "routes": {"tiny": "tiny"}
 * and call rpc:call('gpu@host', tiny, encode, [<<"hello world">>]).
 */
#include <hornbeam/plugin.h>
#include <stdio.h>

static hb_status init(const hb_host_api* host, void** state, char* err, size_t err_size) {
  (void)err;
  (void)err_size;
  *state = (void*)host; /* keep the host table for logging */
  host->log(host->host_ctx, HB_LOG_INFO, "minimal plugin initialised");
  return HB_OK;
}

static void fini(void* state) { (void)state; }

static hb_status model_load(void* state, const char* name, const char* config_json,
                            void** model, hb_model_caps* caps, char* err, size_t err_size) {
  (void)name;
  (void)config_json;
  (void)err;
  (void)err_size;
  *model = state;
  /* Fill only fields that exist in the host's struct (it may be older). */
  if (caps->struct_size >= sizeof(hb_model_caps)) {
    caps->output_dim = 2;
    caps->max_batch_size = 128;
    caps->max_tokens = 0;
    caps->needs_gpu = 0;
    caps->term_functions = NULL;
    caps->description = "cpu (minimal example)";
  }
  return HB_OK;
}

static void model_unload(void* model) { (void)model; }

static hb_status instance_create(void* model, int32_t device, void** instance, char* err,
                                 size_t err_size) {
  if (device >= 0) {
    snprintf(err, err_size, "the minimal plugin runs on the CPU only");
    return HB_ERR_UNSUPPORTED;
  }
  *instance = model;
  return HB_OK;
}

static void instance_destroy(void* instance) { (void)instance; }

static hb_status execute_text(void* instance, const hb_text_request* requests,
                              hb_text_result* results, uint32_t count, char* err,
                              size_t err_size) {
  (void)instance;
  (void)err;
  (void)err_size;
  for (uint32_t i = 0; i < count; ++i) {
    size_t spaces = 0;
    for (size_t k = 0; k < requests[i].length; ++k) spaces += requests[i].text[k] == ' ';
    results[i].embedding[0] = (float)requests[i].length;
    results[i].embedding[1] = (float)spaces;
    results[i].status = HB_OK;
  }
  return HB_OK;
}

static const hb_plugin_api kApi = {
    sizeof(hb_plugin_api), HB_PLUGIN_ABI_MAJOR, HB_PLUGIN_ABI_MINOR, "minimal", "1.0.0",
    init, fini, model_load, model_unload, instance_create, instance_destroy, execute_text,
    NULL, /* no term functions */
};

HB_PLUGIN_EXPORT const hb_plugin_api* hb_plugin_get_api(uint32_t host_major, uint32_t host_minor) {
  (void)host_minor;
  return host_major == HB_PLUGIN_ABI_MAJOR ? &kApi : NULL;
}
