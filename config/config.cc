#include "config/config.h"

#include <unistd.h>

#include <cassert>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

#include "config/fields.h"
#include "config/walk.h"

namespace hb {
namespace {

using nlohmann::json;

// A flag's text as the JSON value its key takes: numbers for numeric keys.
Result<json> FlagValue(const config::Field<Options>& f, const std::string& text) {
  if (!f.numeric) return json(text);
  char* end = nullptr;
  errno = 0;
  long long n = strtoll(text.c_str(), &end, 10);
  if (text.empty() || *end != '\0' || errno == ERANGE) {
    return InvalidArgument(std::string(f.flag) + ": '" + text + "' is not an integer");
  }
  return json(static_cast<int64_t>(n));
}

const config::Field<Options>* FieldForFlag(std::string_view flag) {
  for (const config::Field<Options>& f : config::OptionFields()) {
    if (!f.flag.empty() && f.flag == flag) return &f;
  }
  return nullptr;
}

Status ApplyFlag(std::string_view flag, const std::string& value, Options* o) {
  if (flag == "--config") {
    o->config_path = value;
    return Status::Ok();
  }
  const config::Field<Options>* f = FieldForFlag(flag);
  if (f == nullptr) return InvalidArgument("unknown option '" + std::string(flag) + "'");
  Result<json> v = FlagValue(*f, value);
  if (!v.ok()) return v.status();
  Status s = f->parse(*v, o);
  if (!s.ok()) return InvalidArgument(std::string(flag) + ": " + s.message());
  if (flag == "--sname") o->name.clear();  // the last of --sname/--name wins
  return Status::Ok();
}

Status ReadConfigFile(Options* o) {
  std::ifstream in(o->config_path);
  if (!in) return NotFound("--config: cannot read '" + o->config_path + "': " + strerror(errno));
  std::stringstream ss;
  ss << in.rdbuf();
  Status s = ApplyConfigJson(ss.str(), o);
  if (!s.ok()) return InvalidArgument(o->config_path + ": " + s.message());
  return Status::Ok();
}

Status ApplyFlags(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      o->help = true;
    } else if (a == "--version") {
      o->version = true;
    } else if (a == "--check-config") {
      o->check_config = true;
    } else if (a == "--hidden") {
      o->hidden = true;
    } else if (i + 1 >= argc) {
      return InvalidArgument(std::string(a) + ": missing value");
    } else {
      HB_RETURN_IF_ERROR(ApplyFlag(a, argv[++i], o));
    }
  }
  // An explicit cookie wins, as erl's -setcookie wins over the file.
  if (!o->cookie.empty()) o->cookie_file.clear();
  return Status::Ok();
}

Status CheckRoutes(const Options& o) {
  for (const auto& [module, model] : o.routes) {
    bool found = false;
    for (const ModelConfig& m : o.models) found = found || m.name == model;
    if (!found) {
      return config::KeyError("routes." + module, "no model named '" + model + "'");
    }
  }
  return Status::Ok();
}

}  // namespace

const char* UsageText() {
  return "usage: hornbeamd [--sname NAME | --name NAME@HOST] [--cookie COOKIE | --cookie-file PATH]\n"
         "                 [--port N] [--config PATH] [--log-level debug|info|warning|error]\n"
         "                 [--plugin-dir DIR] [--metrics-port N] [--state-dir DIR] [--hidden]\n"
         "                 [--check-config]\n"
         "                 [--help] [--version]\n"
         "\n"
         "Joins an Erlang cluster as the node NAME@HOST (default gpu@<short hostname>; visible\n"
         "as erl is, or hidden with --hidden or \"hidden\": true)\n"
         "and serves rpc:call/erpc:call to its routed modules (health, metrics, models).\n"
         "The cookie defaults to $HOME/.erlang.cookie, created (mode 0400) when missing.\n"
         "The configuration defaults to /etc/hornbeam/hornbeamd.json when that file exists;\n"
         "flags override it. --check-config validates it, prints the effective settings\n"
         "and exits (non-zero when there are problems).\n";
}

Status ApplyConfigJson(const std::string& text, Options* o) {
  json doc;
  try {
    doc = json::parse(text);
  } catch (const json::exception& e) {
    // parse_error, and out_of_range for numbers JSON cannot hold (1e309).
    return InvalidArgument(std::string("config is not valid JSON: ") + e.what());
  }
  return config::ApplyJson(doc, o);
}

Status ApplyDefaultModels(Options* o) {
  if (o->models.empty()) {
    ModelConfig m;
    m.name = "default";
    m.plugin = "hashembed";
    m.max_batch_size = 256;
    m.max_queue_delay_us = 1000;
    m.cache_bytes = 32ull << 20;  // a modest cache: repeated queries are free
    o->models.push_back(m);
  }
  for (ModelConfig& m : o->models) {
    if (m.max_request_texts == 0) m.max_request_texts = o->max_request_texts;
  }
  if (o->routes_named) return Status::Ok();
  std::string target;
  for (const ModelConfig& m : o->models) {
    if (m.name == "default") target = m.name;
  }
  if (target.empty() && o->models.size() == 1) target = o->models[0].name;
  if (target.empty()) {
    return config::KeyError("routes", "missing: with several models and none named 'default', "
                                      "name the model each module serves");
  }
  o->routes = {{"ml", target}, {"embedding_service", target}};
  return Status::Ok();
}

Result<Options> ParseOptions(int argc, char** argv) {
  Options o;
  o.command_line.assign(argv, argv + argc);
  // Pass 1: find --config so the file is applied before the other flags. A
  // missing default file means built-in defaults; a named one must exist.
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::string_view(argv[i]) == "--config") o.config_path = argv[i + 1];
  }
  if (o.config_path.empty() && access(kDefaultConfigPath, F_OK) == 0) {
    o.config_path = kDefaultConfigPath;
  }
  if (!o.config_path.empty()) HB_RETURN_IF_ERROR(ReadConfigFile(&o));
  HB_RETURN_IF_ERROR(ApplyFlags(argc, argv, &o));
  Status defaults = ApplyDefaultModels(&o);
  if (defaults.ok()) defaults = CheckRoutes(o);
  if (!defaults.ok() && !o.config_path.empty()) {
    return InvalidArgument(o.config_path + ": " + defaults.message());
  }
  if (!defaults.ok()) return defaults;
  return o;
}

std::string EffectiveConfigJson(const Options& o, const std::string& plugin_dir) {
  Options d = o;
  (void)ApplyDefaultModels(&d);  // already applied by ParseOptions
  d.plugin_dir = plugin_dir;
  json j = config::DumpJson(d);
  for (const config::Field<Options>& f : config::OptionFields()) {
    if (!f.secret) continue;
    bool set = !f.dump(d).get<std::string>().empty();
    j[std::string(f.key)] = set ? "(set, not shown)" : "(not set)";
  }
  // Of the two names, the one in use.
  if (d.name.empty()) j.erase("name"); else j.erase("sname");
  if (d.cookie_file.empty()) j.erase("cookie_file");
  return j.dump(2);
}

namespace config {

ReloadPlan PlanReload(const Options& now, const Options& wanted) {
  ReloadPlan plan;
  plan.applied = now;
  for (const Field<Options>& f : OptionFields()) {
    json want = f.dump(wanted);
    if (want == f.dump(now)) continue;
    if (f.reload == Reload::kRestart) {
      plan.restart_keys.emplace_back(f.key);
    } else {
      Status s = f.parse(want, &plan.applied);
      assert(s.ok());  // a dumped value parses back
      (void)s;
    }
  }
  plan.applied.routes_named = wanted.routes_named;
  return plan;
}

}  // namespace config
}  // namespace hb
