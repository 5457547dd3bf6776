// The one table of configuration keys. Each Field names a key, the member
// it sets, the values it accepts, its command-line flag (if any) and
// whether a reload applies it live; the parser, the --check-config dump and
// the reload all walk this table, so a new key is one line in fields.cc.
//
// Thread: the tables are immutable after first use (function statics).
#pragma once

#include <functional>
#include <nlohmann/json.hpp>
#include <string_view>
#include <vector>

#include "base/status.h"
#include "config/options.h"

namespace hb::config {

enum class Reload {
  kLive,     // a reload applies the new value
  kRestart,  // fixed for the life of the process; a reload names it
};

template <typename T>
struct Field {
  // The JSON path, sections joined with '.': "port", "limits.max_packet_bytes".
  std::string_view key;
  // Its command-line flag ("--port"), or empty.
  std::string_view flag;
  Reload reload = Reload::kLive;
  // The flag's value is a number (else a string).
  bool numeric = false;
  // Never printed: --check-config shows only whether it is set.
  bool secret = false;
  // Sets the member from a JSON value. The error says what was expected;
  // the caller adds the key.
  std::function<Status(const nlohmann::json&, T*)> parse;
  // The member as JSON: what --check-config prints and a reload compares.
  std::function<nlohmann::json(const T&)> dump;
};

// Top-level keys, "models" and "routes" included.
const std::vector<Field<Options>>& OptionFields();
// The keys of one entry of "models".
const std::vector<Field<ModelConfig>>& ModelFields();

}  // namespace hb::config
