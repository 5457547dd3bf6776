// hashembed: a weight-free text embedder, hornbeamd's built-in default.
//
// Each text becomes a bag of features -- lower-cased word unigrams and
// bigrams, and character trigrams of each word padded with boundary marks --
// hashed (64-bit FNV-1a) into `dim` buckets with a hash-derived sign (the
// "hashing trick"), then L2-normalised. It is deterministic across runs,
// machines and byte orders, needs no files, and texts sharing words or word
// pieces get high cosine similarity. An empty text embeds to the zero vector.
//
// Options (model config "options"): {"dim": 256} (8..65536).
#include <hornbeam/plugin.h>

#include <cctype>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <string>
#include <vector>

namespace {

constexpr uint32_t kDefaultDim = 256;
constexpr uint32_t kMaxBatch = 1024;
constexpr size_t kMaxBytes = 1 << 20;  // longer texts are cut here

struct Model {
  uint32_t dim = kDefaultDim;
};

uint64_t Fnv1a(const char* p, size_t n, uint64_t seed) {
  uint64_t h = 1469598103934665603ull ^ seed;
  for (size_t i = 0; i < n; ++i) {
    h ^= static_cast<uint8_t>(p[i]);
    h *= 1099511628211ull;
  }
  // Final avalanche so nearby inputs spread over buckets and signs.
  h ^= h >> 33;
  h *= 0xff51afd7ed558ccdull;
  h ^= h >> 33;
  return h;
}

void Add(std::vector<float>& v, const std::string& feature, uint64_t kind, float weight) {
  uint64_t h = Fnv1a(feature.data(), feature.size(), kind);
  uint32_t bucket = static_cast<uint32_t>(h % v.size());
  v[bucket] += (h >> 63) ? -weight : weight;
}

// Words: runs of ASCII alphanumerics or any non-ASCII bytes (so UTF-8 text in
// other scripts forms words too), ASCII lower-cased.
std::vector<std::string> Words(const char* text, size_t n) {
  std::vector<std::string> words;
  std::string cur;
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c >= 0x80 || std::isalnum(c)) {
      cur.push_back(static_cast<char>(c < 0x80 ? std::tolower(c) : c));
    } else if (!cur.empty()) {
      words.push_back(std::move(cur));
      cur.clear();
    }
  }
  if (!cur.empty()) words.push_back(std::move(cur));
  return words;
}

void Embed(const char* text, size_t n, float* out, uint32_t dim) {
  std::vector<float> v(dim, 0.0f);
  std::vector<std::string> words = Words(text, std::min(n, kMaxBytes));
  for (size_t i = 0; i < words.size(); ++i) {
    Add(v, words[i], 1, 1.0f);
    if (i + 1 < words.size()) Add(v, words[i] + " " + words[i + 1], 2, 0.7f);
    std::string padded = "<" + words[i] + ">";
    for (size_t k = 0; k + 3 <= padded.size(); ++k) Add(v, padded.substr(k, 3), 3, 0.5f);
  }
  double norm = 0;
  for (float x : v) norm += double{x} * x;
  float scale = norm > 0 ? static_cast<float>(1.0 / std::sqrt(norm)) : 0.0f;
  for (uint32_t k = 0; k < dim; ++k) out[k] = v[k] * scale;
}

void SetErr(char* err, size_t size, const char* msg) {
  if (err && size) snprintf(err, size, "%s", msg);
}

hb_status Init(const hb_host_api*, void** state, char*, size_t) {
  *state = nullptr;
  return HB_OK;
}
void Fini(void*) {}

hb_status ModelLoad(void*, const char*, const char* config, void** model, hb_model_caps* caps,
                    char* err, size_t err_size) {
  uint32_t dim = kDefaultDim;
  // The only option is small enough to read without a JSON library.
  if (const char* p = config ? strstr(config, "\"dim\"") : nullptr) {
    p = strchr(p, ':');
    long d = p ? strtol(p + 1, nullptr, 10) : 0;
    if (d < 8 || d > 65536) {
      SetErr(err, err_size, "option 'dim' must be an integer in 8..65536");
      return HB_ERR_INVALID_ARGUMENT;
    }
    dim = static_cast<uint32_t>(d);
  }
  Model* m = new (std::nothrow) Model;
  if (!m) return HB_ERR_RESOURCE;
  m->dim = dim;
  *model = m;
  caps->output_dim = dim;
  caps->max_batch_size = kMaxBatch;
  caps->max_tokens = 0;
  caps->needs_gpu = 0;
  caps->term_functions = nullptr;
  caps->description = "cpu (feature hashing)";
  return HB_OK;
}

void ModelUnload(void* model) { delete static_cast<Model*>(model); }

hb_status InstanceCreate(void* model, int32_t device, void** instance, char* err, size_t err_size) {
  if (device >= 0) {
    SetErr(err, err_size, "hashembed runs on the CPU only (device -1)");
    return HB_ERR_UNSUPPORTED;
  }
  *instance = model;  // stateless: the model is the instance
  return HB_OK;
}

void InstanceDestroy(void*) {}

// Embed allocates (feature strings, the accumulator): no exception may
// cross the C ABI, so running out of memory fails that text alone.
hb_status ExecuteText(void* instance, const hb_text_request* reqs, hb_text_result* results,
                      uint32_t count, char*, size_t) {
  const Model* m = static_cast<const Model*>(instance);
  for (uint32_t i = 0; i < count; ++i) {
    try {
      Embed(reqs[i].text, reqs[i].length, results[i].embedding, m->dim);
      results[i].status = HB_OK;
    } catch (const std::bad_alloc&) {
      results[i].status = HB_ERR_RESOURCE;
      SetErr(results[i].message, sizeof(results[i].message), "out of memory");
    } catch (...) {
      results[i].status = HB_ERR_INTERNAL;
      SetErr(results[i].message, sizeof(results[i].message), "unexpected exception");
    }
  }
  return HB_OK;
}

// Minor 0: hashembed uses nothing added after ABI 1.0 (it runs on no
// device), so 1.0 hosts load it too.
const hb_plugin_api kApi = {
    sizeof(hb_plugin_api), HB_PLUGIN_ABI_MAJOR, 0, "hashembed", "1.0.0",
    Init,                  Fini,                ModelLoad,           ModelUnload,
    InstanceCreate,        InstanceDestroy,     ExecuteText,         nullptr,
    nullptr,  // device_info (1.1): no device
    nullptr,  // count_tokens (1.2): reads every byte it is given, up to 1 MiB
};

}  // namespace

extern "C" HB_PLUGIN_EXPORT const hb_plugin_api* hb_plugin_get_api(uint32_t major, uint32_t) {
  return major == HB_PLUGIN_ABI_MAJOR ? &kApi : nullptr;
}
