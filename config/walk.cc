#include "config/walk.h"

#include <vector>

#include "config/fields.h"

namespace hb::config {
namespace {

using nlohmann::json;

template <typename T>
const Field<T>* Find(const std::vector<Field<T>>& fields, std::string_view key) {
  for (const Field<T>& f : fields) {
    if (f.key == key) return &f;
  }
  return nullptr;
}

// Whether `key` names a section: some field's key continues it with '.'.
template <typename T>
bool IsSection(const std::vector<Field<T>>& fields, std::string_view key) {
  for (const Field<T>& f : fields) {
    if (f.key.size() > key.size() && f.key.substr(0, key.size()) == key &&
        f.key[key.size()] == '.') {
      return true;
    }
  }
  return false;
}

template <typename T>
Status Walk(const std::vector<Field<T>>& fields, const json& obj, T* out,
            const std::string& prefix, const std::string& where) {
  if (!obj.is_object()) {
    std::string at = where + prefix;  // both end in '.' when not empty
    if (at.empty()) return InvalidArgument("config must be a JSON object");
    at.pop_back();
    return KeyError(at, "expected an object");
  }
  for (auto it = obj.begin(); it != obj.end(); ++it) {
    const std::string key = prefix + it.key();
    if (const Field<T>* f = Find(fields, key)) {
      Status s = f->parse(it.value(), out);
      if (s.ok()) continue;
      // Nested tables (models) name their own keys already.
      if (s.message().rfind("config key '", 0) == 0) return s;
      return KeyError(where + key, s.message());
    }
    if (IsSection(fields, key)) {
      HB_RETURN_IF_ERROR(Walk(fields, it.value(), out, key + ".", where));
      continue;
    }
    return KeyError(where + key, "unknown key");
  }
  return Status::Ok();
}

template <typename T>
json Dump(const std::vector<Field<T>>& fields, const T& value) {
  json j = json::object();
  for (const Field<T>& f : fields) {
    json* at = &j;
    std::string_view key = f.key;
    for (size_t dot; (dot = key.find('.')) != std::string_view::npos; key.remove_prefix(dot + 1)) {
      at = &(*at)[std::string(key.substr(0, dot))];
    }
    (*at)[std::string(key)] = f.dump(value);
  }
  return j;
}

}  // namespace

Status KeyError(std::string_view key, std::string_view what) {
  return InvalidArgument("config key '" + std::string(key) + "': " + std::string(what));
}

Status ApplyJson(const json& doc, Options* o) { return Walk(OptionFields(), doc, o, "", ""); }

Status ApplyJson(const json& doc, ModelConfig* m, const std::string& where) {
  return Walk(ModelFields(), doc, m, "", where);
}

json DumpJson(const Options& o) { return Dump(OptionFields(), o); }
json DumpJson(const ModelConfig& m) { return Dump(ModelFields(), m); }

}  // namespace hb::config
