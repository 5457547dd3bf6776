#include "config/fields.h"

#include <cstdint>
#include <string>

#include "config/walk.h"

namespace hb::config {
namespace {

using nlohmann::json;

std::string Range(int64_t lo, uint64_t hi) {
  return std::to_string(lo) + ".." + std::to_string(hi);
}

// JSON numbers are checked by their kind first: a non-negative integer is
// "unsigned" to nlohmann, and reading 2^64-1 as int64 would wrap it to -1.
bool InRange(const json& v, int64_t lo, uint64_t hi) {
  if (v.is_number_unsigned()) {
    uint64_t u = v.get<uint64_t>();
    return u <= hi && (lo <= 0 || u >= static_cast<uint64_t>(lo));
  }
  if (!v.is_number_integer()) return false;  // floats, strings, ...
  int64_t s = v.get<int64_t>();
  return s >= lo && (s < 0 || static_cast<uint64_t>(s) <= hi);
}

template <typename T>
Field<T> Make(std::string_view key, std::string_view flag, Reload reload) {
  Field<T> f;
  f.key = key;
  f.flag = flag;
  f.reload = reload;
  return f;
}

template <typename T, typename M>
Field<T> Integer(std::string_view key, M T::*member, int64_t lo, uint64_t hi, Reload reload,
                 std::string_view flag = {}) {
  Field<T> f = Make<T>(key, flag, reload);
  f.numeric = true;
  f.parse = [member, lo, hi](const json& v, T* out) -> Status {
    if (!InRange(v, lo, hi)) return InvalidArgument("expected an integer in " + Range(lo, hi));
    out->*member = static_cast<M>(v.get<int64_t>());  // in range: fits
    return Status::Ok();
  };
  f.dump = [member](const T& o) { return json(o.*member); };
  return f;
}

template <typename T>
Field<T> String(std::string_view key, std::string T::*member, Reload reload,
                std::string_view flag = {}, bool allow_empty = true) {
  Field<T> f = Make<T>(key, flag, reload);
  f.parse = [member, allow_empty](const json& v, T* out) -> Status {
    if (!v.is_string()) return InvalidArgument("expected a string");
    if (!allow_empty && v.get<std::string>().empty()) return InvalidArgument("must not be empty");
    out->*member = v.get<std::string>();
    return Status::Ok();
  };
  f.dump = [member](const T& o) { return json(o.*member); };
  return f;
}

template <typename T>
Field<T> OneOf(std::string_view key, std::string T::*member, std::vector<std::string> choices,
               Reload reload, std::string_view flag = {}) {
  Field<T> f = String(key, member, reload, flag);
  f.parse = [member, choices](const json& v, T* out) -> Status {
    std::string all;
    for (const std::string& c : choices) {
      if (v.is_string() && v.get<std::string>() == c) {
        out->*member = c;
        return Status::Ok();
      }
      all += (all.empty() ? "" : ", ") + c;
    }
    return InvalidArgument("expected one of " + all);
  };
  return f;
}

template <typename T>
Field<T> Boolean(std::string_view key, bool T::*member, Reload reload) {
  Field<T> f = Make<T>(key, {}, reload);
  f.parse = [member](const json& v, T* out) -> Status {
    if (!v.is_boolean()) return InvalidArgument("expected true or false");
    out->*member = v.get<bool>();
    return Status::Ok();
  };
  f.dump = [member](const T& o) { return json(o.*member); };
  return f;
}

Status CheckAtomName(const std::string& name);

// An atom name (a registered name or a pg scope): what CheckAtomName allows.
Field<Options> AtomName(std::string_view key, std::string Options::*member) {
  Field<Options> f = Make<Options>(key, {}, Reload::kRestart);
  f.parse = [member](const json& v, Options* out) -> Status {
    if (!v.is_string() || v.get<std::string>().empty()) return InvalidArgument("expected a non-empty string");
    HB_RETURN_IF_ERROR(CheckAtomName(v.get<std::string>()));
    out->*member = v.get<std::string>();
    return Status::Ok();
  };
  f.dump = [member](const Options& o) { return json(o.*member); };
  return f;
}

// "global": how the node takes part in kernel's global once visible. Only
// "passive" is implemented; "full" is refused with the reason (README).
Field<Options> GlobalMode() {
  Field<Options> f = Make<Options>("global", {}, Reload::kRestart);
  f.parse = [](const json& v, Options* out) -> Status {
    if (v.is_string() && v.get<std::string>() == "passive") {
      out->global_mode = "passive";
      return Status::Ok();
    }
    if (v.is_string() && v.get<std::string>() == "full") {
      return InvalidArgument(
          "\"full\" is not supported by this release: a leaked lock on this node would freeze "
          "global cluster-wide (README \"Visible node, global and pg\"); use \"passive\"");
    }
    return InvalidArgument("expected \"passive\"");
  };
  f.dump = [](const Options& o) { return json(o.global_mode); };
  return f;
}

// "global_groups": {"Group": ["node@host", ...]}, as kernel's parameter.
Field<Options> GlobalGroups() {
  Field<Options> f = Make<Options>("global_groups", {}, Reload::kRestart);
  f.parse = [](const json& v, Options* out) -> Status {
    if (!v.is_object()) return InvalidArgument("expected an object of group -> [node]");
    std::map<std::string, std::vector<std::string>> groups;
    for (auto it = v.begin(); it != v.end(); ++it) {
      HB_RETURN_IF_ERROR(CheckAtomName(it.key()));
      if (!it.value().is_array() || it.value().empty()) {
        return InvalidArgument("group '" + it.key() + "': expected a non-empty array of nodes");
      }
      for (const json& n : it.value()) {
        if (!n.is_string() || n.get<std::string>().find('@') == std::string::npos) {
          return InvalidArgument("group '" + it.key() + "': nodes are \"name@host\" strings");
        }
        groups[it.key()].push_back(n.get<std::string>());
      }
    }
    out->global_groups = std::move(groups);
    return Status::Ok();
  };
  f.dump = [](const Options& o) { return json(o.global_groups); };
  return f;
}

template <typename T>
Field<T> StringList(std::string_view key, std::vector<std::string> T::*member, Reload reload) {
  Field<T> f = Make<T>(key, {}, reload);
  f.parse = [member](const json& v, T* out) -> Status {
    if (!v.is_array()) return InvalidArgument("expected an array of strings");
    std::vector<std::string> list;
    for (const json& e : v) {
      if (!e.is_string() || e.get<std::string>().empty()) {
        return InvalidArgument("entries are non-empty strings");
      }
      list.push_back(e.get<std::string>());
    }
    out->*member = std::move(list);
    return Status::Ok();
  };
  f.dump = [member](const T& o) { return json(o.*member); };
  return f;
}

Field<ModelConfig> Devices() {
  Field<ModelConfig> f = Make<ModelConfig>("devices", {}, Reload::kLive);
  f.parse = [](const json& v, ModelConfig* m) -> Status {
    if (!v.is_array() || v.empty()) return InvalidArgument("expected a non-empty array");
    std::vector<int> devices;
    for (const json& d : v) {
      if (!InRange(d, -1, 255)) {
        return InvalidArgument("devices are -1 (CPU) or a GPU ordinal 0..255");
      }
      devices.push_back(static_cast<int>(d.get<int64_t>()));
    }
    m->devices = std::move(devices);
    return Status::Ok();
  };
  f.dump = [](const ModelConfig& m) { return json(m.devices); };
  return f;
}

Field<ModelConfig> CpuAffinity() {
  Field<ModelConfig> f = Make<ModelConfig>("cpu_affinity", {}, Reload::kLive);
  f.parse = [](const json& v, ModelConfig* m) -> Status {
    if (!v.is_array()) return InvalidArgument("expected an array of CPU numbers");
    std::vector<int> cpus;
    for (const json& c : v) {
      if (!InRange(c, 0, 1023)) return InvalidArgument("CPU numbers are 0..1023");
      cpus.push_back(static_cast<int>(c.get<int64_t>()));
    }
    m->cpu_affinity = std::move(cpus);
    return Status::Ok();
  };
  f.dump = [](const ModelConfig& m) { return json(m.cpu_affinity); };
  return f;
}

// The keys that only a child process can honour.
Status CheckIsolation(const ModelConfig& m, const std::string& where) {
  if (m.isolation == "process") {
    if (m.memory_limit_bytes != 0 && m.memory_limit_bytes < (uint64_t{16} << 20)) {
      return KeyError(where + "memory_limit_bytes", "0 (none) or at least 16777216 (16 MiB)");
    }
    return Status::Ok();
  }
  if (m.memory_limit_bytes != 0) {
    return KeyError(where + "memory_limit_bytes", "needs \"isolation\": \"process\"");
  }
  if (!m.cpu_affinity.empty()) {
    return KeyError(where + "cpu_affinity", "needs \"isolation\": \"process\"");
  }
  return Status::Ok();
}

Field<ModelConfig> PluginOptions() {
  Field<ModelConfig> f = Make<ModelConfig>("options", {}, Reload::kLive);
  f.parse = [](const json& v, ModelConfig* m) -> Status {
    if (!v.is_object()) return InvalidArgument("expected an object");
    m->options_json = v.dump();
    return Status::Ok();
  };
  f.dump = [](const ModelConfig& m) { return json::parse(m.options_json, nullptr, false); };
  return f;
}

// Model and module names become atoms: 1..255 characters.
Status CheckAtomName(const std::string& name) {
  if (name.empty() || name.size() > 255) return InvalidArgument("names are 1..255 bytes");
  return Status::Ok();
}

Field<Options> Models() {
  Field<Options> f = Make<Options>("models", {}, Reload::kLive);
  f.parse = [](const json& v, Options* o) -> Status {
    if (!v.is_object()) return InvalidArgument("expected an object of models by name");
    std::vector<ModelConfig> models;
    for (auto it = v.begin(); it != v.end(); ++it) {
      ModelConfig m;
      m.name = it.key();
      std::string where = "models." + m.name;
      Status named = CheckAtomName(m.name);
      if (!named.ok()) return KeyError(where, named.message());
      HB_RETURN_IF_ERROR(ApplyJson(it.value(), &m, where + "."));
      if (m.plugin.empty()) return KeyError(where + ".plugin", "missing");
      HB_RETURN_IF_ERROR(CheckIsolation(m, where + "."));
      models.push_back(std::move(m));
    }
    o->models = std::move(models);
    return Status::Ok();
  };
  f.dump = [](const Options& o) {
    json j = json::object();
    for (const ModelConfig& m : o.models) j[m.name] = DumpJson(m);
    return j;
  };
  return f;
}

Field<Options> Routes() {
  Field<Options> f = Make<Options>("routes", {}, Reload::kLive);
  f.parse = [](const json& v, Options* o) -> Status {
    if (!v.is_object()) return InvalidArgument("expected an object of module -> model");
    std::map<std::string, std::string> routes;
    for (auto it = v.begin(); it != v.end(); ++it) {
      Status named = CheckAtomName(it.key());
      if (!named.ok()) return KeyError("routes." + it.key(), named.message());
      if (!it.value().is_string()) return KeyError("routes." + it.key(), "expected a model name");
      routes[it.key()] = it.value().get<std::string>();
    }
    o->routes = std::move(routes);
    o->routes_named = true;
    return Status::Ok();
  };
  f.dump = [](const Options& o) { return json(o.routes); };
  return f;
}

Field<Options> ClassifierRoutes() {
  Field<Options> f = Make<Options>("classifier_routes", {}, Reload::kRestart);
  f.parse = [](const json& v, Options* o) -> Status {
    if (!v.is_object()) return InvalidArgument("expected an object of module -> classifier head");
    std::map<std::string, std::string> routes;
    for (auto it = v.begin(); it != v.end(); ++it) {
      Status named = CheckAtomName(it.key());
      if (!named.ok()) return KeyError("classifier_routes." + it.key(), named.message());
      if (!it.value().is_string() || it.value().get<std::string>().empty()) {
        return KeyError("classifier_routes." + it.key(), "expected a classifier head name");
      }
      routes[it.key()] = it.value().get<std::string>();
    }
    o->classifier_routes = std::move(routes);
    return Status::Ok();
  };
  f.dump = [](const Options& o) { return json(o.classifier_routes); };
  return f;
}

// "tls": one object, parsed whole so that its presence turns TLS on and a
// reload sees every TLS setting as one value.
Status ParseTlsKey(const std::string& key, const json& v, TlsOptions* t) {
  auto text = [&](std::string* out) -> Status {
    if (!v.is_string() || v.get<std::string>().empty()) return InvalidArgument("expected a path");
    *out = v.get<std::string>();
    return Status::Ok();
  };
  auto boolean = [&](bool* out) -> Status {
    if (!v.is_boolean()) return InvalidArgument("expected true or false");
    *out = v.get<bool>();
    return Status::Ok();
  };
  auto names = [&](std::vector<std::string>* out, bool versions) -> Status {
    if (!v.is_array()) return InvalidArgument("expected an array of strings");
    std::vector<std::string> list;
    for (const json& e : v) {
      if (!e.is_string() || e.get<std::string>().empty()) {
        return InvalidArgument("entries are non-empty strings");
      }
      std::string n = e.get<std::string>();
      if (versions && n != "tlsv1.2" && n != "tlsv1.3") {
        return InvalidArgument("'" + n + "' is not one of tlsv1.2, tlsv1.3");
      }
      list.push_back(n);
    }
    if (versions && list.empty()) return InvalidArgument("expected at least one version");
    *out = std::move(list);
    return Status::Ok();
  };
  if (key == "certfile") return text(&t->certfile);
  if (key == "keyfile") return text(&t->keyfile);
  if (key == "cacertfile") return text(&t->cacertfile);
  if (key == "cacertdir") return text(&t->cacertdir);
  if (key == "crl_file") return text(&t->crl_file);
  if (key == "fail_if_no_peer_cert") return boolean(&t->fail_if_no_peer_cert);
  if (key == "node_name_check") return boolean(&t->node_name_check);
  if (key == "versions") return names(&t->versions, true);
  if (key == "ciphers") return names(&t->ciphers, false);
  if (key == "verify") {
    if (v == "verify_peer" || v == "verify_none") return text(&t->verify);
    return InvalidArgument("expected one of verify_peer, verify_none");
  }
  return InvalidArgument("unknown key");
}

Field<Options> Tls() {
  Field<Options> f = Make<Options>("tls", {}, Reload::kLive);
  f.parse = [](const json& v, Options* o) -> Status {
    if (v.is_null()) {
      o->tls = TlsOptions();
      return Status::Ok();
    }
    if (!v.is_object()) return InvalidArgument("expected an object");
    TlsOptions t;
    t.enabled = true;
    for (auto it = v.begin(); it != v.end(); ++it) {
      Status s = ParseTlsKey(it.key(), it.value(), &t);
      if (!s.ok()) return KeyError("tls." + it.key(), s.message());
    }
    if (t.certfile.empty()) return KeyError("tls.certfile", "missing");
    if (t.verify == "verify_peer" && t.cacertfile.empty() && t.cacertdir.empty()) {
      return KeyError("tls", "verify_peer needs cacertfile or cacertdir");
    }
    o->tls = std::move(t);
    return Status::Ok();
  };
  f.dump = [](const Options& o) -> json {
    const TlsOptions& t = o.tls;
    if (!t.enabled) return nullptr;
    json j = {{"certfile", t.certfile},
              {"verify", t.verify},
              {"fail_if_no_peer_cert", t.fail_if_no_peer_cert},
              {"versions", t.versions},
              {"node_name_check", t.node_name_check}};
    for (auto [k, v] : {std::pair{"keyfile", &t.keyfile}, {"cacertfile", &t.cacertfile},
                        {"cacertdir", &t.cacertdir}, {"crl_file", &t.crl_file}}) {
      if (!v->empty()) j[k] = *v;
    }
    if (!t.ciphers.empty()) j["ciphers"] = t.ciphers;
    return j;
  };
  return f;
}

Field<Options> Cookie() {
  Field<Options> f = String<Options>("cookie", &Options::cookie, Reload::kRestart, "--cookie");
  f.secret = true;
  return f;
}

}  // namespace

const std::vector<Field<Options>>& OptionFields() {
  using O = Options;
  constexpr Reload kLive = Reload::kLive, kRestart = Reload::kRestart;
  static const std::vector<Field<O>> kFields = {
      String<O>("sname", &O::sname, kRestart, "--sname", /*allow_empty=*/false),
      String<O>("name", &O::name, kRestart, "--name"),
      Cookie(),
      String<O>("cookie_file", &O::cookie_file, kRestart, "--cookie-file"),
      String<O>("bind_address", &O::bind_address, kRestart),
      Integer<O>("port", &O::port, 0, 65535, kRestart, "--port"),
      OneOf<O>("log_level", &O::log_level, {"debug", "info", "warning", "warn", "error"}, kLive,
               "--log-level"),
      Integer<O>("net_ticktime_s", &O::net_ticktime_s, 1, 3600, kRestart),
      Integer<O>("handshake_timeout_ms", &O::handshake_timeout_ms, 100, 600000, kLive),
      Integer<O>("workers", &O::workers, 0, 1024, kRestart),
      Integer<O>("metrics_port", &O::metrics_port, -1, 65535, kRestart, "--metrics-port"),
      String<O>("metrics_address", &O::metrics_address, kRestart),
      Integer<O>("drain_timeout_s", &O::drain_timeout_s, 0, 3600, kLive),
      Integer<O>("max_request_texts", &O::max_request_texts, 1, 100000000, kLive),
      String<O>("plugin_dir", &O::plugin_dir, kRestart, "--plugin-dir"),
      StringList<O>("allowed_peers", &O::allowed_peers, kLive),
      Integer<O>("limits.max_packet_bytes", &O::max_packet_bytes, 1024, 1ull << 31, kLive),
      Integer<O>("limits.max_term_depth", &O::max_term_depth, 4, 10000, kLive),
      Integer<O>("limits.max_term_elements", &O::max_term_elements, 16, 1ull << 32, kLive),
      Integer<O>("limits.max_connections", &O::max_connections, 1, 1000000, kLive),
      Integer<O>("limits.max_inflight_per_peer", &O::max_inflight_per_peer, 1, 10000000, kLive),
      Integer<O>("limits.max_inflight_total", &O::max_inflight_total, 1, 100000000, kLive),
      String<O>("blas.coretype", &O::blas_coretype, kRestart, {}, /*allow_empty=*/false),
      Integer<O>("blas.threads", &O::blas_threads, 0, 1024, kRestart),
      Boolean<O>("hidden", &O::hidden, kRestart),
      GlobalMode(),
      GlobalGroups(),
      AtomName("pg_scope", &O::pg_scope),
      AtomName("model_process_prefix", &O::model_process_prefix),
      String<O>("state_dir", &O::state_dir, kRestart, "--state-dir"),
      Integer<O>("jobs.max_queued", &O::jobs_max_queued, 1, 1000000, kRestart),
      Integer<O>("jobs.max_running", &O::jobs_max_running, 1, 1024, kRestart),
      Integer<O>("jobs.keep_ms", &O::jobs_keep_ms, 0, 1ull << 40, kRestart),
      Integer<O>("jobs.keep_bytes", &O::jobs_keep_bytes, 0, 1ull << 40, kRestart),
      Tls(),
      Models(),
      Routes(),
      ClassifierRoutes(),
  };
  return kFields;
}

const std::vector<Field<ModelConfig>>& ModelFields() {
  using M = ModelConfig;
  constexpr Reload kLive = Reload::kLive;
  static const std::vector<Field<M>> kFields = {
      String<M>("plugin", &M::plugin, kLive, {}, /*allow_empty=*/false),
      PluginOptions(),
      Integer<M>("instances", &M::instances, 1, 64, kLive),
      Devices(),
      Integer<M>("max_batch_size", &M::max_batch_size, 1, 65536, kLive),
      Integer<M>("max_queue_delay_us", &M::max_queue_delay_us, 0, 10000000, kLive),
      Integer<M>("max_queue", &M::max_queue, 1, 10000000, kLive),
      Integer<M>("stuck_after_ms", &M::stuck_after_ms, 10, 3600000, kLive),
      Integer<M>("max_request_texts", &M::max_request_texts, 0, 100000000, kLive),
      Integer<M>("cache_bytes", &M::cache_bytes, 0, 1ull << 40, kLive),
      OneOf<M>("isolation", &M::isolation, {"none", "process"}, kLive),
      Integer<M>("memory_limit_bytes", &M::memory_limit_bytes, 0, 1ull << 44, kLive),
      CpuAffinity(),
      Integer<M>("max_restarts", &M::max_restarts, 0, 1000, kLive),
      Integer<M>("restart_window_ms", &M::restart_window_ms, 1000, 86400000, kLive),
      Integer<M>("restart_backoff_ms", &M::restart_backoff_ms, 1, 60000, kLive),
  };
  return kFields;
}

}  // namespace hb::config
