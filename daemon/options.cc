#include "daemon/options.h"

#include "daemon/cookie.h"

#include <netdb.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>

namespace hb {

const char* UsageText() {
  return "usage: hornbeamd [--sname NAME | --name NAME@HOST] [--cookie COOKIE | --cookie-file PATH]\n"
         "                 [--port N] [--config PATH] [--log-level debug|info|warning|error]\n"
         "                 [--plugin-dir DIR] [--metrics-port N] [--check-config]\n"
         "                 [--help] [--version]\n"
         "\n"
         "Joins an Erlang cluster as the hidden node NAME@HOST (default gpu@<short hostname>)\n"
         "and serves rpc:call/erpc:call to its routed modules (health, metrics, models).\n"
         "The cookie defaults to $HOME/.erlang.cookie, created (mode 0400) when missing.\n"
         "The configuration defaults to /etc/hornbeam/hornbeamd.json when that file exists;\n"
         "flags override it. --check-config validates it, prints the effective settings\n"
         "and exits (non-zero when there are problems).\n";
}

namespace {

Status ParsePort(std::string_view v, uint16_t* out) {
  char* end = nullptr;
  std::string s(v);
  long n = strtol(s.c_str(), &end, 10);
  if (s.empty() || *end != '\0' || n < 0 || n > 65535) {
    return InvalidArgument("--port: '" + s + "' is not a port number (0..65535)");
  }
  *out = static_cast<uint16_t>(n);
  return Status::Ok();
}

template <typename T>
Status Get(const nlohmann::json& j, const char* key, T* out) {
  try {
    *out = j.get<T>();
  } catch (const nlohmann::json::exception& e) {
    return InvalidArgument(std::string("config key '") + key + "': wrong type (" + e.what() + ")");
  }
  return Status::Ok();
}

Status ParseModel(const std::string& name, const nlohmann::json& v, ModelConfig* m) {
  const std::string where = "config key 'models." + name;
  if (!v.is_object()) return InvalidArgument(where + "': expected an object");
  m->name = name;
  for (auto it = v.begin(); it != v.end(); ++it) {
    const std::string& k = it.key();
    const nlohmann::json& x = it.value();
    const std::string key = where + "." + k + "'";
    auto uint = [&](uint64_t lo, uint64_t hi, uint64_t* out) -> Status {
      if (!x.is_number_unsigned() || x.get<uint64_t>() < lo || x.get<uint64_t>() > hi) {
        return InvalidArgument(key + ": expected an integer in " + std::to_string(lo) + ".." +
                               std::to_string(hi));
      }
      *out = x.get<uint64_t>();
      return Status::Ok();
    };
    uint64_t n = 0;
    if (k == "plugin") {
      if (!x.is_string() || x.get<std::string>().empty()) return InvalidArgument(key + ": expected a plugin name");
      m->plugin = x.get<std::string>();
    } else if (k == "options") {
      if (!x.is_object()) return InvalidArgument(key + ": expected an object");
      m->options_json = x.dump();
    } else if (k == "instances") {
      HB_RETURN_IF_ERROR(uint(1, 64, &n));
      m->instances = static_cast<uint32_t>(n);
    } else if (k == "devices") {
      if (!x.is_array() || x.empty()) return InvalidArgument(key + ": expected a non-empty array");
      m->devices.clear();
      for (const auto& d : x) {
        // is_number_integer holds for unsigned numbers too, and get<int64_t>
        // would wrap 2^64-1 to -1: check the sign kind first.
        if (!d.is_number_integer() ||
            (d.is_number_unsigned() ? d.get<uint64_t>() > 255 : d.get<int64_t>() < -1)) {
          return InvalidArgument(key + ": devices are -1 (CPU) or a GPU ordinal");
        }
        m->devices.push_back(static_cast<int>(d.get<int64_t>()));
      }
    } else if (k == "max_batch_size") {
      HB_RETURN_IF_ERROR(uint(1, 65536, &n));
      m->max_batch_size = static_cast<uint32_t>(n);
    } else if (k == "max_queue_delay_us") {
      HB_RETURN_IF_ERROR(uint(0, 10000000, &n));
      m->max_queue_delay_us = n;
    } else if (k == "max_queue") {
      HB_RETURN_IF_ERROR(uint(1, 10000000, &n));
      m->max_queue = n;
    } else if (k == "stuck_after_ms") {
      HB_RETURN_IF_ERROR(uint(10, 3600000, &n));
      m->stuck_after_ms = n;
    } else {
      return InvalidArgument(key + ": unknown key");
    }
  }
  if (m->plugin.empty()) return InvalidArgument(where + ".plugin': missing");
  return Status::Ok();
}

}  // namespace

void ApplyDefaultModels(Options* o) {
  if (!o->models.empty()) return;
  ModelConfig m;
  m.name = "default";
  m.plugin = "hashembed";
  m.max_batch_size = 256;
  m.max_queue_delay_us = 1000;
  o->models.push_back(m);
  if (o->routes.empty()) {
    o->routes["ml"] = "default";
    o->routes["embedding_service"] = "default";
  }
}

Status ApplyConfigJson(const std::string& text, Options* o) {
  nlohmann::json doc;
  try {
    doc = nlohmann::json::parse(text);
  } catch (const nlohmann::json::exception& e) {
    // parse_error, and out_of_range for numbers JSON cannot hold (1e309).
    return InvalidArgument(std::string("config is not valid JSON: ") + e.what());
  }
  if (!doc.is_object()) return InvalidArgument("config must be a JSON object");
  for (auto it = doc.begin(); it != doc.end(); ++it) {
    const std::string& k = it.key();
    const nlohmann::json& v = it.value();
    uint64_t n = 0;
    if (k == "sname") {
      HB_RETURN_IF_ERROR(Get(v, "sname", &o->sname));
    } else if (k == "name") {
      HB_RETURN_IF_ERROR(Get(v, "name", &o->name));
    } else if (k == "cookie") {
      HB_RETURN_IF_ERROR(Get(v, "cookie", &o->cookie));
    } else if (k == "cookie_file") {
      HB_RETURN_IF_ERROR(Get(v, "cookie_file", &o->cookie_file));
    } else if (k == "bind_address") {
      HB_RETURN_IF_ERROR(Get(v, "bind_address", &o->bind_address));
    } else if (k == "plugin_dir") {
      HB_RETURN_IF_ERROR(Get(v, "plugin_dir", &o->plugin_dir));
    } else if (k == "models") {
      if (!v.is_object()) return InvalidArgument("config key 'models': expected an object");
      o->models.clear();
      for (auto m = v.begin(); m != v.end(); ++m) {
        ModelConfig mc;
        HB_RETURN_IF_ERROR(ParseModel(m.key(), m.value(), &mc));
        o->models.push_back(std::move(mc));
      }
    } else if (k == "routes") {
      if (!v.is_object()) return InvalidArgument("config key 'routes': expected an object");
      o->routes.clear();
      for (auto r = v.begin(); r != v.end(); ++r) {
        if (!r.value().is_string()) {
          return InvalidArgument("config key 'routes." + r.key() + "': expected a model name");
        }
        o->routes[r.key()] = r.value().get<std::string>();
      }
    } else if (k == "log_level") {
      HB_RETURN_IF_ERROR(Get(v, "log_level", &o->log_level));
    } else if (k == "limits") {
      if (!v.is_object()) return InvalidArgument("config key 'limits': expected an object");
      for (auto l = v.begin(); l != v.end(); ++l) {
        const std::string key = "config key 'limits." + l.key() + "'";
        struct Spec {
          const char* name;
          uint64_t lo, hi;
        };
        static const Spec kSpecs[] = {{"max_packet_bytes", 1024, 1ull << 31},
                                      {"max_term_depth", 4, 10000},
                                      {"max_term_elements", 16, 1ull << 32},
                                      {"max_connections", 1, 1000000},
                                      {"max_inflight_per_peer", 1, 10000000},
                                      {"max_inflight_total", 1, 100000000}};
        const Spec* spec = nullptr;
        for (const Spec& sp : kSpecs) spec = l.key() == sp.name ? &sp : spec;
        if (!spec) return InvalidArgument(key + ": unknown key");
        if (!l.value().is_number_unsigned() || l.value().get<uint64_t>() < spec->lo ||
            l.value().get<uint64_t>() > spec->hi) {
          return InvalidArgument(key + ": expected an integer in " + std::to_string(spec->lo) +
                                 ".." + std::to_string(spec->hi));
        }
        uint64_t x = l.value().get<uint64_t>();
        if (l.key() == "max_packet_bytes") o->max_packet_bytes = x;
        if (l.key() == "max_term_depth") o->max_term_depth = static_cast<uint32_t>(x);
        if (l.key() == "max_term_elements") o->max_term_elements = x;
        if (l.key() == "max_connections") o->max_connections = static_cast<uint32_t>(x);
        if (l.key() == "max_inflight_per_peer") o->max_inflight_per_peer = static_cast<uint32_t>(x);
        if (l.key() == "max_inflight_total") o->max_inflight_total = static_cast<uint32_t>(x);
      }
    } else if (k == "allowed_peers") {
      if (!v.is_array()) return InvalidArgument("config key 'allowed_peers': expected an array");
      o->allowed_peers.clear();
      for (const auto& p : v) {
        if (!p.is_string() || p.get<std::string>().empty()) {
          return InvalidArgument("config key 'allowed_peers': entries are node names or patterns");
        }
        o->allowed_peers.push_back(p.get<std::string>());
      }
    } else if (k == "metrics_address") {
      HB_RETURN_IF_ERROR(Get(v, "metrics_address", &o->metrics_address));
    } else if (k == "metrics_port") {
      if (!v.is_number_integer() ||
          (v.is_number_unsigned() ? v.get<uint64_t>() > 65535 : v.get<int64_t>() < -1)) {
        return InvalidArgument("config key 'metrics_port': expected -1 (off) or 0..65535");
      }
      o->metrics_port = static_cast<int32_t>(v.get<int64_t>());
    } else if (k == "drain_timeout_s") {
      if (!v.is_number_unsigned() || v.get<uint64_t>() > 3600) {
        return InvalidArgument("config key 'drain_timeout_s': expected an integer in 0..3600");
      }
      o->drain_timeout_s = static_cast<uint32_t>(v.get<uint64_t>());
    } else if (k == "port" || k == "net_ticktime_s" || k == "handshake_timeout_ms" ||
               k == "workers") {
      if (!v.is_number_unsigned()) {
        return InvalidArgument("config key '" + k + "': expected a non-negative integer");
      }
      n = v.get<uint64_t>();
      if (k == "port") {
        if (n > 65535) return InvalidArgument("config key 'port': out of range 0..65535");
        o->port = static_cast<uint16_t>(n);
      } else if (k == "net_ticktime_s") {
        if (n < 1 || n > 3600) return InvalidArgument("config key 'net_ticktime_s': out of range 1..3600");
        o->net_ticktime_s = static_cast<uint32_t>(n);
      } else if (k == "handshake_timeout_ms") {
        if (n < 100 || n > 600000) {
          return InvalidArgument("config key 'handshake_timeout_ms': out of range 100..600000");
        }
        o->handshake_timeout_ms = static_cast<uint32_t>(n);
      } else {
        if (n > 1024) return InvalidArgument("config key 'workers': out of range 0..1024");
        o->workers = static_cast<uint32_t>(n);
      }
    } else {
      return InvalidArgument("config key '" + k + "': unknown key");
    }
  }
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
  if (!o.config_path.empty()) {
    std::ifstream in(o.config_path);
    if (!in) return NotFound("--config: cannot read '" + o.config_path + "': " + strerror(errno));
    std::stringstream ss;
    ss << in.rdbuf();
    Status s = ApplyConfigJson(ss.str(), &o);
    if (!s.ok()) return InvalidArgument(o.config_path + ": " + s.message());
  }
  std::map<std::string_view, std::string*> strings = {
      {"--sname", &o.sname},           {"--name", &o.name},
      {"--cookie", &o.cookie},         {"--cookie-file", &o.cookie_file},
      {"--config", &o.config_path},    {"--log-level", &o.log_level},
      {"--plugin-dir", &o.plugin_dir}};
  for (int i = 1; i < argc; ++i) {
    std::string_view a = argv[i];
    if (a == "--help" || a == "-h") {
      o.help = true;
      continue;
    }
    if (a == "--version") {
      o.version = true;
      continue;
    }
    if (a == "--check-config") {
      o.check_config = true;
      continue;
    }
    if (i + 1 >= argc) return InvalidArgument(std::string(a) + ": missing value");
    if (a == "--port") {
      HB_RETURN_IF_ERROR(ParsePort(argv[++i], &o.port));
      continue;
    }
    if (a == "--metrics-port") {
      uint16_t p = 0;
      HB_RETURN_IF_ERROR(ParsePort(argv[++i], &p));
      o.metrics_port = p;
      continue;
    }
    auto it = strings.find(a);
    if (it == strings.end()) return InvalidArgument("unknown option '" + std::string(a) + "'");
    *it->second = argv[++i];
    if (a == "--sname") o.name.clear();
  }
  if (!o.cookie.empty() && !o.cookie_file.empty() && o.cookie.size() > 0) {
    // --cookie wins, as erl's -setcookie wins over the file.
    o.cookie_file.clear();
  }
  for (const auto& [module, model] : o.routes) {
    bool found = false;
    for (const ModelConfig& m : o.models) found = found || m.name == model;
    if (!found && !o.models.empty()) {
      return InvalidArgument("config key 'routes." + module + "': no model named '" + model + "'");
    }
  }
  return o;
}

std::vector<std::string> CheckConfig(const Options& o, const std::string& plugin_dir) {
  std::vector<std::string> problems;
  std::vector<ModelConfig> models = o.models;
  if (models.empty()) {
    Options d = o;
    ApplyDefaultModels(&d);
    models = d.models;
  }
  for (const ModelConfig& m : models) {
    std::string path = plugin_dir + "/" + m.plugin + ".so";
    if (access(path.c_str(), R_OK) != 0) {
      problems.push_back("config key 'models." + m.name + ".plugin': plugin file " + path +
                         " is missing or unreadable");
    }
  }
  if (o.log_level != "debug" && o.log_level != "info" && o.log_level != "warning" &&
      o.log_level != "warn" && o.log_level != "error") {
    problems.push_back("config key 'log_level': unknown level '" + o.log_level + "'");
  }
  // The cookie as startup would find it (a missing default file is fine:
  // it is created then, as erl does).
  if (Status c = CheckCookie(o.cookie, o.cookie_file); !c.ok()) {
    problems.push_back(std::string(o.cookie_file.empty() ? "cookie" : "config key 'cookie_file'") +
                       ": " + c.message());
  }
  return problems;
}

std::string EffectiveConfigJson(const Options& o, const std::string& plugin_dir) {
  Options d = o;
  ApplyDefaultModels(&d);
  nlohmann::json j;
  if (!d.name.empty()) j["name"] = d.name; else j["sname"] = d.sname;
  j["cookie"] = d.cookie.empty() ? "(from cookie file)" : "(set, not shown)";
  if (!d.cookie_file.empty()) j["cookie_file"] = d.cookie_file;
  j["bind_address"] = d.bind_address;
  j["port"] = d.port;
  j["log_level"] = d.log_level;
  j["net_ticktime_s"] = d.net_ticktime_s;
  j["handshake_timeout_ms"] = d.handshake_timeout_ms;
  j["workers"] = d.workers;
  j["metrics_address"] = d.metrics_address;
  j["metrics_port"] = d.metrics_port;
  j["drain_timeout_s"] = d.drain_timeout_s;
  j["limits"] = {{"max_packet_bytes", d.max_packet_bytes},
                 {"max_term_depth", d.max_term_depth},
                 {"max_term_elements", d.max_term_elements},
                 {"max_connections", d.max_connections},
                 {"max_inflight_per_peer", d.max_inflight_per_peer},
                 {"max_inflight_total", d.max_inflight_total}};
  j["allowed_peers"] = d.allowed_peers;
  j["plugin_dir"] = plugin_dir;
  for (const ModelConfig& m : d.models) {
    nlohmann::json mj;
    mj["plugin"] = m.plugin;
    mj["options"] = nlohmann::json::parse(m.options_json, nullptr, false);
    mj["instances"] = m.instances;
    mj["devices"] = m.devices;
    mj["max_batch_size"] = m.max_batch_size;
    mj["max_queue_delay_us"] = m.max_queue_delay_us;
    mj["max_queue"] = m.max_queue;
    mj["stuck_after_ms"] = m.stuck_after_ms;
    j["models"][m.name] = mj;
  }
  j["routes"] = d.routes;
  return j.dump(2);
}

Result<std::string> ResolveNodeName(const Options& o, std::string* alive, std::string* host) {
  std::string full = o.name.empty() ? o.sname : o.name;
  size_t at = full.find('@');
  *alive = full.substr(0, at);
  if (alive->empty() || alive->size() > 255) return InvalidArgument("node name part is empty or too long");
  for (char c : *alive) {
    if (!(isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-')) {
      return InvalidArgument("node name '" + *alive + "' may contain only letters, digits, _ and -");
    }
  }
  if (at != std::string::npos) {
    *host = full.substr(at + 1);
  } else {
    char buf[256] = {0};
    if (gethostname(buf, sizeof(buf) - 1) != 0) return Internal("gethostname failed");
    std::string h = buf;
    if (o.name.empty()) {
      *host = h.substr(0, h.find('.'));  // short names, as erl -sname
    } else {
      // Long names, as erl -name: the fully qualified name.
      struct addrinfo hints = {};
      hints.ai_flags = AI_CANONNAME;
      struct addrinfo* res = nullptr;
      if (getaddrinfo(h.c_str(), nullptr, &hints, &res) == 0 && res && res->ai_canonname) {
        h = res->ai_canonname;
      }
      if (res) freeaddrinfo(res);
      *host = h;
    }
  }
  if (host->empty()) return InvalidArgument("host part of the node name is empty");
  return *alive + "@" + *host;
}

}  // namespace hb
