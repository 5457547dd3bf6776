#include "daemon/ml_options.h"

namespace hb {
namespace {

Status Bool(const std::string& key, const Term& v, bool* out) {
  if (v.is_atom("true") || v.is_atom("false")) {
    *out = v.is_atom("true");
    return Status::Ok();
  }
  return InvalidArgument("option '" + key + "' must be true or false, got " + v.Describe(40));
}

Status Apply(const std::string& key, const Term& v, MlOptions* o) {
  if (key == "normalize") return Bool(key, v, &o->normalize);
  if (key == "truncate") return Bool(key, v, &o->truncate);
  if (key == "model") {
    if ((v.is_atom() || v.is_binary()) && !v.text().empty() && v.text().size() <= 255) {
      o->model = v.text();
      return Status::Ok();
    }
    return InvalidArgument("option 'model' must be a model name, got " + v.Describe(40));
  }
  if (key == "priority") {
    if (v.is_atom("interactive") || v.is_atom("bulk")) {
      o->priority = v.is_atom("bulk") ? Priority::kBulk : Priority::kInteractive;
      return Status::Ok();
    }
    return InvalidArgument("option 'priority' must be interactive or bulk, got " +
                           v.Describe(40));
  }
  return InvalidArgument("unknown option '" + key + "'");
}

}  // namespace

Result<MlOptions> ParseMlOptions(const Term& map) {
  if (!map.is_map()) return InvalidArgument("options must be a map, got " + map.Describe(40));
  MlOptions o;
  const std::vector<Term>& kv = map.items();
  for (size_t i = 0; i + 1 < kv.size(); i += 2) {
    if (!kv[i].is_atom()) return InvalidArgument("option keys are atoms, got " + kv[i].Describe(40));
    Status s = Apply(kv[i].text(), kv[i + 1], &o);
    if (!s.ok()) return s;
  }
  return o;
}

}  // namespace hb
