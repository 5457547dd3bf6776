// The daemon's configuration as plain data: what the JSON file and the
// command line can set. Defaults are the member initialisers below; which
// key sets which member, its range and whether a reload can change it live
// are in one table (config/fields.cc); parsing, the built-in model set and
// the --check-config dump are in config/config.h.
//
// Thread: plain values; copy freely.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace hb {

// One model as configured: which plugin serves it and how it is batched.
struct ModelConfig {
  std::string name;
  std::string plugin;               // file stem in the plugin directory ("hashembed")
  std::string options_json = "{}";  // handed to the plugin's model_load
  uint32_t instances = 1;
  std::vector<int> devices = {-1};  // -1 = CPU; instances are spread over these
  uint32_t max_batch_size = 64;
  uint64_t max_queue_delay_us = 2000;
  uint64_t max_queue = 4096;
  // An execute running longer than this marks the model degraded in health.
  uint64_t stuck_after_ms = 10000;
  // Texts one call may carry; 0 here: the top-level max_request_texts.
  uint64_t max_request_texts = 0;
  // The result cache's size (0: off).
  uint64_t cache_bytes = 0;
  // "none": instances run in the daemon; "process": each instance runs in a
  // hornbeamd-worker child (README "Process isolation"). The keys below
  // apply to "process" only; with it, an execute past stuck_after_ms kills
  // the child.
  std::string isolation = "none";
  uint64_t memory_limit_bytes = 0;  // the child's RLIMIT_AS; 0: none
  std::vector<int> cpu_affinity;    // CPUs the child may run on; empty: any
  // More crashes than max_restarts within restart_window_ms mark the model
  // failed; restarts back off from restart_backoff_ms, doubling, to 30 s.
  uint32_t max_restarts = 5;
  uint64_t restart_window_ms = 60000;
  uint64_t restart_backoff_ms = 100;

  // A reload rebuilds a model exactly when this differs.
  bool operator==(const ModelConfig&) const = default;
};

// The "tls" object: serve TLS distribution (inet_tls_dist) instead of TCP.
// Absent: TCP. Files are PEM; what they hold is checked when the daemon
// builds its TLS context (ei_bridge/tls_context.h), not here.
struct TlsOptions {
  bool enabled = false;             // the "tls" object is present
  std::string certfile;
  std::string keyfile;              // empty: the key is in certfile
  std::string cacertfile;
  std::string cacertdir;
  std::string verify = "verify_peer";  // verify_peer | verify_none
  bool fail_if_no_peer_cert = true;
  std::vector<std::string> versions = {"tlsv1.2", "tlsv1.3"};
  std::vector<std::string> ciphers;  // OpenSSL names; empty: its defaults
  std::string crl_file;
  // A client certificate must name the host part of the node it claims.
  bool node_name_check = false;

  bool operator==(const TlsOptions&) const = default;
};

struct Options {
  std::string sname = "gpu";        // NAME@short-host
  std::string name;                 // NAME@HOST (longnames); wins over sname
  std::string cookie;               // wins over cookie_file
  std::string cookie_file;          // default $HOME/.erlang.cookie
  uint16_t port = 0;                // 0 = ephemeral
  std::string bind_address = "0.0.0.0";
  std::string log_level = "info";   // debug | info | warning | warn | error
  uint32_t net_ticktime_s = 60;
  uint32_t handshake_timeout_ms = 10000;
  uint32_t workers = 0;             // 0: number of CPUs
  // Limits (safe defaults; see README "Configuration").
  uint64_t max_packet_bytes = 64u << 20;
  uint32_t max_term_depth = 64;
  uint64_t max_term_elements = 1u << 20;
  uint32_t max_connections = 1024;
  uint32_t max_inflight_per_peer = 10000;
  uint32_t max_inflight_total = 100000;
  // Peers allowed to connect: node names or fnmatch(3) patterns; empty = any
  // node with the cookie.
  std::vector<std::string> allowed_peers;
  int32_t metrics_port = -1;        // -1 off, 0 ephemeral
  std::string metrics_address = "127.0.0.1";
  uint32_t drain_timeout_s = 30;    // SIGTERM grace for in-flight calls
  // Texts one batch_encode may carry, for models that set no limit of their own.
  uint64_t max_request_texts = 1000000;
  // Visibility: hidden as erl -hidden (EPMD type 72, not in nodes()), else
  // visible as a plain erl node, answering global and pg (README).
  bool hidden = false;              // --hidden
  std::string global_mode = "passive";  // key "global"
  std::string pg_scope = "hornbeam";    // the pg scope models join
  // kernel's global_groups, for a visible node listed in BEAM nodes' own:
  // group name -> its nodes (this node's group is the one naming it).
  std::map<std::string, std::vector<std::string>> global_groups;
  // Each model's process is registered as PREFIX ++ model name.
  std::string model_process_prefix = "hornbeam_model_";
  std::string plugin_dir;           // empty: next to the binary, else installed path
  std::vector<ModelConfig> models;  // empty: the built-in default (hashembed)
  std::map<std::string, std::string> routes;  // Erlang module -> model
  // OpenBLAS kernels and threads of CPU models (daemon/blas_tuning.h):
  // "auto" (probe, fastest correct), "library" (no override) or a core name.
  std::string blas_coretype = "auto";
  uint32_t blas_threads = 0;        // per instance; 0: cores / CPU instances
  TlsOptions tls;
  bool routes_named = false;        // the file had a "routes" key
  // Where state that outlives a restart is kept (finished jobs, their
  // results). Empty: $STATE_DIRECTORY when set (systemd's StateDirectory=),
  // else none, and nothing is persisted.
  std::string state_dir;
  // Jobs (daemon/jobs_service.h): queued jobs beyond max_queued are refused
  // with `overloaded`; at most max_running run at once; a finished job is
  // kept keep_ms after it finished, and while all kept results together fit
  // in keep_bytes (the oldest go first).
  // Erlang module -> classifier head (ml:train/1's name): Module:predict/1
  // and Module:predict_batch/1 use that head.
  std::map<std::string, std::string> classifier_routes;
  uint32_t jobs_max_queued = 1000;
  uint32_t jobs_max_running = 4;
  uint64_t jobs_keep_ms = 24ull * 3600 * 1000;
  uint64_t jobs_keep_bytes = 256ull << 20;

  // How the daemon was invoked (not configuration keys).
  std::string config_path;          // --config
  // The arguments this was parsed from: a reload parses them again, so
  // flags keep overriding the re-read file exactly as at startup.
  std::vector<std::string> command_line;
  bool check_config = false;        // --check-config
  bool help = false;
  bool version = false;
};

inline constexpr char kDefaultConfigPath[] = "/etc/hornbeam/hornbeamd.json";

}  // namespace hb
