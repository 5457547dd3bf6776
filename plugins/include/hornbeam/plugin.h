/*
 * hornbeam/plugin.h -- the hornbeamd model plugin ABI.
 *
 * A plugin is a shared object exporting exactly one symbol:
 *
 *   const hb_plugin_api* hb_plugin_get_api(uint32_t host_abi_major,
 *                                          uint32_t host_abi_minor);
 *
 * which returns a pointer to a static, immutable table (or NULL if the plugin
 * cannot serve that host). The host accepts the plugin when
 * api->abi_major == HB_PLUGIN_ABI_MAJOR and api->abi_minor <= the host's
 * minor. Every struct begins with `struct_size` so fields can be appended in
 * later minor versions: a reader uses a field only when struct_size shows it
 * is present.
 *
 * Lifecycle (symmetric; each "create" has one matching "destroy"):
 *   init -> { model_load -> { instance_create -> execute* -> instance_destroy }*
 *             -> model_unload }* -> fini
 *
 * Threads: init/fini, model_load/unload and instance_create/destroy are
 * called from one host thread at a time. execute_text and execute_term may
 * run concurrently on *different* instances, never concurrently on the same
 * instance. Host callbacks may be called from any thread.
 *
 * Ownership: every pointer the host passes in is owned by the host and valid
 * only for the duration of the call. Output buffers are host-allocated
 * (hb_text_result.embedding) or allocated through host->alloc and then owned
 * by the host (hb_term_result.data). The plugin owns its states (plugin,
 * model, instance) until the matching destroy call.
 *
 * History: 1.0 the base table; 1.1 appends hb_plugin_api.device_info (and
 * hb_device_info); 1.2 appends hb_plugin_api.count_tokens; 1.3 appends
 * hb_host_api.report_progress (the host's table grows, the plugin's does
 * not: a 1.0-1.2 plugin loads unchanged). A plugin that uses
 * nothing from a later minor may keep claiming an earlier one so that older
 * hosts load it too.
 *
 * Errors: functions return an hb_status (HB_OK == 0) and write a
 * NUL-terminated message into the caller's `err` buffer. No C++ exception
 * may cross this boundary; a plugin must catch its own.
 */
#ifndef HORNBEAM_PLUGIN_H_
#define HORNBEAM_PLUGIN_H_

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define HB_PLUGIN_ABI_MAJOR 1
#define HB_PLUGIN_ABI_MINOR 3

#if defined(__GNUC__)
#define HB_PLUGIN_EXPORT __attribute__((visibility("default")))
#else
#define HB_PLUGIN_EXPORT
#endif

typedef int32_t hb_status;
#define HB_OK 0
#define HB_ERR_INVALID_ARGUMENT 1 /* this request's input is bad (badarg) */
#define HB_ERR_UNSUPPORTED 2      /* function or option not provided */
#define HB_ERR_RESOURCE 3         /* out of memory, device memory, ... */
#define HB_ERR_INTERNAL 4         /* plugin bug or broken invariant */
#define HB_ERR_UNAVAILABLE 5      /* device lost, model not ready */
#define HB_ERR_CANCELLED 6        /* request dropped because host said cancelled */

typedef enum hb_log_level {
  HB_LOG_DEBUG = 0,
  HB_LOG_INFO = 1,
  HB_LOG_WARNING = 2,
  HB_LOG_ERROR = 3
} hb_log_level;

/* Services the host offers the plugin. Valid from init until fini. */
typedef struct hb_host_api {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  void* host_ctx; /* pass back to every callback */
  /* One log line; `msg` need not end in a newline. Any thread. */
  void (*log)(void* host_ctx, hb_log_level level, const char* msg);
  /* Nonzero when the caller of request `request_token` (from hb_text_request
   * or hb_term_request) has gone away; the plugin may skip that work. A
   * token is valid only during the execute call that carried it. */
  int (*is_cancelled)(void* host_ctx, uint64_t request_token);
  /* Memory for results handed to the host (hb_term_result.data). The host
   * remembers the size: a result claiming more bytes than were allocated is
   * refused. */
  void* (*alloc)(void* host_ctx, size_t size);

  /* ---- ABI 1.3 (use only when host->abi_minor >= 3 and host->struct_size
   * covers it) */

  /* Progress of the long request `request_token` (an execute_term call):
   * `fraction` of the work done, 0.0..1.0 (clamped; NaN is ignored), and a
   * short NUL-terminated UTF-8 `message` (may be NULL; cut at 1023 bytes).
   * Any thread, during the execute call that carried the token, as often as
   * the plugin likes: the host keeps the latest report and passes it on to
   * jobs:status/1 and the job's subscribers; a call not run as a job ignores
   * it. NULL in a host that takes no reports. Pair it with is_cancelled to
   * stop early. */
  void (*report_progress)(void* host_ctx, uint64_t request_token, double fraction,
                          const char* message);
} hb_host_api;

/* What a loaded model can do; filled in by model_load. */
typedef struct hb_model_caps {
  uint32_t struct_size;
  uint32_t output_dim;     /* floats per text; 0 if the model embeds no text */
  uint32_t max_batch_size; /* largest batch execute_text accepts */
  uint32_t max_tokens;     /* per text; longer texts are truncated by the plugin */
  uint32_t needs_gpu;      /* nonzero: instance_create needs device >= 0 */
  /* NULL-terminated list of "function/arity" names served by execute_term,
   * e.g. "predict/1". Static storage owned by the plugin; may be NULL. */
  const char* const* term_functions;
  /* Human-readable device/kind description, e.g. "cpu" or "cuda:0 (H100)";
   * static or model-owned storage. */
  const char* description;
} hb_model_caps;

/* One text of a batch. */
typedef struct hb_text_request {
  const char* text; /* UTF-8, not NUL-terminated */
  size_t length;    /* bytes */
  uint64_t token;   /* for host->is_cancelled */
} hb_text_request;

/* The result slot of one text. `embedding` points at output_dim floats the
 * host allocated; the plugin fills them and sets status (and message on
 * error). A failed request fails alone. */
typedef struct hb_text_result {
  float* embedding;
  hb_status status;
  char message[256];
} hb_text_result;

/* A term -> term call: the arguments and the result are external term
 * format bytes (with the 131 version byte), as erlang:term_to_binary/1. */
typedef struct hb_term_request {
  const char* function; /* "predict" */
  uint32_t arity;
  const uint8_t* args;  /* term_to_binary(ArgList) */
  size_t args_length;
  uint64_t token;
} hb_term_request;

typedef struct hb_term_result {
  uint8_t* data; /* from host->alloc; term_to_binary(Result) */
  size_t length;
  char message[256];
} hb_term_result;

/* Since ABI 1.1: one accelerator a plugin's models run on, as reported by
 * hb_plugin_api.device_info. The host zeroes each entry and sets struct_size;
 * the plugin writes only fields that struct_size covers. Strings are
 * NUL-terminated within their arrays (the host cuts them at the array's end
 * regardless). */
typedef struct hb_device_info {
  uint32_t struct_size;
  int32_t ordinal; /* the number instance_create takes as `device` */
  char kind[16];   /* "cuda", "rocm", ... */
  char name[128];  /* "NVIDIA H100 80GB HBM3" */
  char uuid[64];   /* "GPU-5e3b..." or "" when unknown */
  uint64_t memory_total_bytes;
  /* In use on the device by every process (what nvidia-smi shows), not only
   * by this plugin. */
  uint64_t memory_used_bytes;
} hb_device_info;

typedef struct hb_plugin_api {
  uint32_t struct_size;
  uint32_t abi_major;
  uint32_t abi_minor;
  const char* name;    /* "hashembed" */
  const char* version; /* "1.0.0" */

  hb_status (*init)(const hb_host_api* host, void** plugin_state, char* err, size_t err_size);
  void (*fini)(void* plugin_state);

  /* config_json: the model's "options" object from the host configuration. */
  hb_status (*model_load)(void* plugin_state, const char* model_name, const char* config_json,
                          void** model, hb_model_caps* caps, char* err, size_t err_size);
  void (*model_unload)(void* model);

  /* device: -1 for CPU, else a GPU ordinal. */
  hb_status (*instance_create)(void* model, int32_t device, void** instance, char* err,
                               size_t err_size);
  void (*instance_destroy)(void* instance);

  /* Embeds `count` texts (count <= max_batch_size). Returns HB_OK when the
   * batch ran (per-text status in results); an error return fails the whole
   * batch with `err`. May be NULL when output_dim == 0. */
  hb_status (*execute_text)(void* instance, const hb_text_request* requests,
                            hb_text_result* results, uint32_t count, char* err, size_t err_size);

  /* One term -> term call. On HB_OK, result->data holds the encoded result;
   * on HB_ERR_INVALID_ARGUMENT the caller sees error:badarg; other codes
   * become {hornbeamd, Reason} errors. May be NULL. */
  hb_status (*execute_term)(void* instance, const hb_term_request* request,
                            hb_term_result* result);

  /* ---- ABI 1.1 (read only when abi_minor >= 1 and struct_size covers it) */

  /* The devices this plugin's instances run on now, for health:check and
   * the Prometheus device gauges. Fills at most `capacity` entries of
   * `devices` and sets *count to how many it filled; a plugin using no
   * accelerator sets *count = 0 (or leaves this NULL). Called from a host
   * monitor thread every few seconds, between init and fini, never
   * concurrently with itself, init or fini, but concurrently with
   * execute, instance_create and instance_destroy -- so it must be
   * thread-safe and quick (no device synchronisation). May be NULL. */
  hb_status (*device_info)(void* plugin_state, hb_device_info* devices, uint32_t capacity,
                           uint32_t* count, char* err, size_t err_size);

  /* ---- ABI 1.2 (read only when abi_minor >= 2 and struct_size covers it) */

  /* How many tokens the model would read from this text before its own
   * truncation to hb_model_caps.max_tokens, so the host can refuse a text
   * that would be cut (a caller's `truncate => false`). Thread-safe: called
   * from any instance thread, concurrently with execute. May be NULL (the
   * host then never refuses a text for its length). */
  hb_status (*count_tokens)(void* model, const char* text, size_t length, uint32_t* tokens);
} hb_plugin_api;

typedef const hb_plugin_api* (*hb_plugin_get_api_fn)(uint32_t host_abi_major,
                                                     uint32_t host_abi_minor);

HB_PLUGIN_EXPORT const hb_plugin_api* hb_plugin_get_api(uint32_t host_abi_major,
                                                        uint32_t host_abi_minor);

#ifdef __cplusplus
}
#endif

#endif /* HORNBEAM_PLUGIN_H_ */
