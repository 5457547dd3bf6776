#include "daemon/classifier_head.h"

#include <dirent.h>
#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/log.h"
#include "daemon/job_store.h"
#include "ei_bridge/term_validator.h"

namespace hb {
namespace {

Term Atom(const char* a) { return Term::Atom(a); }

const Term* MapGet(const Term& m, const char* key) {
  for (size_t i = 0; i + 1 < m.size(); i += 2) {
    if (m[i].is_atom(key)) return &m[i + 1];
  }
  return nullptr;
}

Term Floats(const std::vector<float>& v) {
  return Term::Binary(std::string_view(reinterpret_cast<const char*>(v.data()),
                                       v.size() * sizeof(float)));
}

bool ReadFloats(const Term* t, size_t n, std::vector<float>* out) {
  if (t == nullptr || !t->is_binary() || t->text().size() != n * sizeof(float)) return false;
  out->resize(n);
  std::memcpy(out->data(), t->text().data(), n * sizeof(float));
  return true;
}

}  // namespace

bool ValidHeadName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

Term HeadToTerm(const ClassifierHead& h) {
  return Term::Map({
      {Atom("name"), Term::Binary(h.name)},
      {Atom("embedder"), Term::Binary(h.embedder)},
      {Atom("labels"), Term::List(h.labels)},
      {Atom("dim"), Term::Int(h.model.dim)},
      {Atom("weights"), Floats(h.model.weights)},
      {Atom("bias"), Floats(h.model.bias)},
      {Atom("accuracy"), Term::Float(h.accuracy)},
      {Atom("examples"), Term::Int(h.examples)},
      {Atom("trained_at"), Term::Int(h.trained_at)},
  });
}

Result<ClassifierHead> HeadFromTerm(const Term& t) {
  ClassifierHead h;
  const Term* name = MapGet(t, "name");
  const Term* embedder = MapGet(t, "embedder");
  const Term* labels = MapGet(t, "labels");
  const Term* dim = MapGet(t, "dim");
  const Term* accuracy = MapGet(t, "accuracy");
  const Term* examples = MapGet(t, "examples");
  const Term* trained_at = MapGet(t, "trained_at");
  if (!t.is_map() || !name || !name->is_binary() || !ValidHeadName(name->text()) || !embedder ||
      !embedder->is_binary() || !labels || !labels->is_proper_list() || labels->size() < 2 ||
      !dim || !dim->is_int() || dim->int_value() <= 0 || dim->int_value() > (1 << 20) ||
      !accuracy || accuracy->type() != Term::Type::kFloat || !examples || !examples->is_int() ||
      !trained_at || !trained_at->is_int()) {
    return InvalidArgument("not a classifier head");
  }
  h.name = name->text();
  h.embedder = embedder->text();
  h.labels = labels->items();
  h.model.dim = static_cast<uint32_t>(dim->int_value());
  h.model.classes = static_cast<uint32_t>(h.labels.size());
  if (!ReadFloats(MapGet(t, "weights"), size_t{h.model.dim} * h.model.classes, &h.model.weights) ||
      !ReadFloats(MapGet(t, "bias"), h.model.classes, &h.model.bias)) {
    return InvalidArgument("classifier head weights do not match its shape");
  }
  h.accuracy = accuracy->float_value();
  h.examples = examples->int_value();
  h.trained_at = trained_at->int_value();
  return h;
}

Status SaveHead(const std::string& state_dir, const ClassifierHead& h) {
  std::string dir = state_dir + "/heads";
  if (::mkdir(dir.c_str(), 0700) != 0 && errno != EEXIST) {
    return Internal("cannot create " + dir + ": " + std::strerror(errno));
  }
  Result<std::string> bytes = EncodeWithVersion(HeadToTerm(h));
  if (!bytes.ok()) return bytes.status();
  return WriteFileAtomically(dir + "/" + h.name + ".head", *bytes);
}

std::vector<ClassifierHead> LoadHeads(const std::string& state_dir) {
  std::vector<ClassifierHead> out;
  std::string dir = state_dir + "/heads";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return out;
  std::vector<std::string> names;
  while (dirent* e = ::readdir(d)) names.emplace_back(e->d_name);
  ::closedir(d);
  for (const std::string& file : names) {
    if (file.size() <= 5 || file.compare(file.size() - 5, 5, ".head") != 0) continue;
    std::ifstream in(dir + "/" + file, std::ios::binary);
    std::stringstream buf;
    buf << in.rdbuf();
    std::string bytes = buf.str();
    size_t off = 0;
    TermLimits limits;
    limits.max_elements = 1u << 24;
    Result<Term> t = DecodeVersioned(bytes, &off, limits);
    Result<ClassifierHead> h = t.ok() ? HeadFromTerm(*t) : Result<ClassifierHead>(t.status());
    if (!h.ok() || file != h->name + ".head") {
      HB_LOG_WARN("classifier: skipping unreadable head " + dir + "/" + file);
      continue;
    }
    out.push_back(std::move(*h));
  }
  return out;
}

}  // namespace hb
