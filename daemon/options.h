// Options: the command line and the JSON configuration file, merged (a flag
// given on the command line overrides the file).
//
// Pure functions apart from reading the file; call before the loop starts.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <vector>
#include <string>

#include "ei_bridge/status.h"

namespace hb {

// One model as configured: which plugin serves it and how it is batched.
struct ModelConfig {
  std::string name;
  std::string plugin;        // file stem in the plugin directory ("hashembed")
  std::string options_json = "{}";  // handed to the plugin's model_load
  uint32_t instances = 1;
  std::vector<int> devices = {-1};  // -1 = CPU; instances are spread over these
  uint32_t max_batch_size = 64;
  uint64_t max_queue_delay_us = 2000;
  size_t max_queue = 4096;
  // An execute running longer than this marks the model degraded in health.
  uint64_t stuck_after_ms = 10000;
};

struct Options {
  std::string sname = "gpu";        // --sname: NAME@short-host
  std::string name;                 // --name: NAME@HOST (longnames); wins over sname
  std::string cookie;               // --cookie
  std::string cookie_file;          // --cookie-file, default $HOME/.erlang.cookie
  uint16_t port = 0;                // --port, 0 = ephemeral
  std::string bind_address = "0.0.0.0";
  std::string config_path;          // --config
  std::string log_level = "info";   // --log-level
  uint32_t net_ticktime_s = 60;
  uint32_t handshake_timeout_ms = 10000;
  uint32_t workers = 0;             // 0: number of CPUs
  // Limits (safe defaults; see README "Limits").
  uint64_t max_packet_bytes = 64u << 20;
  uint32_t max_term_depth = 64;
  uint64_t max_term_elements = 1u << 20;
  uint32_t max_connections = 1024;
  uint32_t max_inflight_per_peer = 10000;
  uint32_t max_inflight_total = 100000;
  // Peers allowed to connect: node names or fnmatch(3) patterns; empty = any
  // node with the cookie.
  std::vector<std::string> allowed_peers;
  int32_t metrics_port = -1;        // --metrics-port: -1 off, 0 ephemeral
  std::string metrics_address = "127.0.0.1";
  uint32_t drain_timeout_s = 30;    // SIGTERM grace for in-flight calls
  std::string plugin_dir;           // empty: next to the binary, else installed path
  std::vector<ModelConfig> models;  // empty: the built-in default (hashembed)
  std::map<std::string, std::string> routes;  // Erlang module -> model
  // The arguments this was parsed from: a reload parses them again, so
  // flags keep overriding the re-read file exactly as at startup.
  std::vector<std::string> command_line;
  bool check_config = false;        // --check-config
  bool help = false;
  bool version = false;
};

inline constexpr char kDefaultConfigPath[] = "/etc/hornbeam/hornbeamd.json";

const char* UsageText();

// Problems a configuration has that parsing alone cannot see (plugin files
// that do not exist). Empty when it is fine.
std::vector<std::string> CheckConfig(const Options& o, const std::string& plugin_dir);
// The effective configuration, as JSON (the cookie itself is not printed).
std::string EffectiveConfigJson(const Options& o, const std::string& plugin_dir);

// Parses argv; reads the --config file (if named) first, so flags win.
Result<Options> ParseOptions(int argc, char** argv);

// Applies a JSON configuration document to `o`; errors name the key.
Status ApplyConfigJson(const std::string& text, Options* o);

// The built-in model set: `default` served by hashembed, routed from `ml`
// and `embedding_service`. Applied when the configuration names no models.
void ApplyDefaultModels(Options* o);

// "gpu@myhost": resolves the host part for --sname/--name.
Result<std::string> ResolveNodeName(const Options& o, std::string* alive, std::string* host);

}  // namespace hb
