// Reading the configuration: the JSON file and the command line, merged (a
// flag overrides the file), the built-in model set, the --check-config dump
// and what a reload may change. Every key is in config/fields.cc.
//
// Pure functions apart from reading the file; no name resolution here (the
// daemon resolves the node name when it starts).
// Thread: any.
#pragma once

#include <string>
#include <vector>

#include "base/status.h"
#include "config/options.h"

namespace hb {

const char* UsageText();

// Parses argv; reads the --config file (or kDefaultConfigPath if it exists)
// first, so flags win; then applies the built-in model set and routes and
// checks that every route names a model.
Result<Options> ParseOptions(int argc, char** argv);

// Applies a JSON configuration document to `o`; errors name the key.
Status ApplyConfigJson(const std::string& text, Options* o);

// The built-in model set: with no models configured, `default` served by
// hashembed (with a 32 MiB result cache). Models without their own
// max_request_texts take the top-level one. With no "routes" in the file,
// `ml` and `embedding_service` route to the model named `default`, or to the
// only model there is. Errors when several models are configured, none is
// `default` and no routes are named: nothing would be served.
Status ApplyDefaultModels(Options* o);

// The effective configuration as --check-config prints it (the cookie itself
// is not shown), with `plugin_dir` as resolved by the daemon.
std::string EffectiveConfigJson(const Options& o, const std::string& plugin_dir);

namespace config {

// What a reload from `now` to `wanted` can and cannot do.
struct ReloadPlan {
  std::vector<std::string> restart_keys;  // differ, but wait for a restart
  Options applied;                        // `now` with every live key of `wanted`
};
ReloadPlan PlanReload(const Options& now, const Options& wanted);

}  // namespace config
}  // namespace hb
