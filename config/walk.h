// Walking the field tables (config/fields.h): JSON in, JSON out. Internal
// to config/; the public entry points are in config/config.h.
#pragma once

#include <nlohmann/json.hpp>
#include <string>
#include <string_view>

#include "base/status.h"
#include "config/options.h"

namespace hb::config {

// "config key 'KEY': WHAT", the one shape of every configuration error.
Status KeyError(std::string_view key, std::string_view what);

// Applies a JSON object's keys to `o`; unknown keys, wrong types and values
// out of range are errors naming the key. Sections ("limits") are objects
// whose keys continue the path.
Status ApplyJson(const nlohmann::json& doc, Options* o);
// The same for one model; `where` prefixes keys in errors ("models.NAME.").
Status ApplyJson(const nlohmann::json& doc, ModelConfig* m, const std::string& where);

// Every key with its value, sections as nested objects.
nlohmann::json DumpJson(const Options& o);
nlohmann::json DumpJson(const ModelConfig& m);

}  // namespace hb::config
