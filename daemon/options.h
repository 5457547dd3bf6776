// Options: the command line and the JSON configuration file, merged (a flag
// given on the command line overrides the file).
//
// Pure functions apart from reading the file; call before the loop starts.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "ei_bridge/status.h"

namespace hb {

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
  bool help = false;
  bool version = false;
};

const char* UsageText();

// Parses argv; reads the --config file (if named) first, so flags win.
Result<Options> ParseOptions(int argc, char** argv);

// Applies a JSON configuration document to `o`; errors name the key.
Status ApplyConfigJson(const std::string& text, Options* o);

// "gpu@myhost": resolves the host part for --sname/--name.
Result<std::string> ResolveNodeName(const Options& o, std::string* alive, std::string* host);

}  // namespace hb
