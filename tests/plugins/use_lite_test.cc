// use_lite: tokenizer ids and embeddings against the TF.js reference
// (tests/plugins/fixtures/use_lite_reference.json, made by
// scripts/gen-use-lite-fixtures), plus the plugin through dlopen + the ABI.
//
// Needs the model files: $HB_USE_LITE_DIR, default <build>/models/use_lite
// (scripts/fetch-use-lite fills it). Without them these tests fail, saying so.
#include <dlfcn.h>

#include <catch2/catch.hpp>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <sys/stat.h>
#include <vector>

#include "hornbeam/plugin.h"
#include "plugins/use_lite/model.h"
#include "plugins/use_lite/tokenizer.h"
#include "tests/plugins/use_lite_test_util.h"


namespace {

using hornbeam::use_lite::Model;
using hornbeam::use_lite::Tokenizer;
using hornbeam::use_lite::Workspace;

struct Reference {
  std::string text;
  std::vector<int32_t> ids;
  std::vector<float> vector;
};

std::string ModelDir() { return hb::testing::UseLiteModelDir(); }

bool Exists(const std::string& path) {
  struct stat st;
  return stat(path.c_str(), &st) == 0;
}

// Fails the calling test (with how to fix it) when the model is not there.
void RequireModelFiles() {
  const std::string dir = ModelDir();
  if (!Exists(dir + "/model.json") || !Exists(dir + "/vocab.json")) {
    FAIL("USE Lite model files not found in " << dir << ": run scripts/fetch-use-lite " << dir
                                              << " (or set HB_USE_LITE_DIR to a directory it "
                                                 "filled)");
  }
}

const std::vector<Reference>& References() {
  static const std::vector<Reference> references = [] {
    std::ifstream in(HB_USE_LITE_FIXTURE);
    REQUIRE(in.good());
    nlohmann::json j = nlohmann::json::parse(in);
    std::vector<Reference> out;
    for (const auto& s : j.at("sentences")) {
      out.push_back({s.at("text").get<std::string>(), s.at("ids").get<std::vector<int32_t>>(),
                     s.at("vector").get<std::vector<float>>()});
    }
    return out;
  }();
  return references;
}

const Reference& ReferenceFor(const std::string& text) {
  for (const Reference& r : References()) {
    if (r.text == text) return r;
  }
  FAIL("no fixture sentence " << text);
  throw std::logic_error("unreachable");
}

struct Loaded {
  Tokenizer tokenizer;
  Model model;
};

const Loaded& Load() {
  RequireModelFiles();
  static const std::unique_ptr<Loaded> loaded = [] {
    auto l = std::make_unique<Loaded>();
    std::string error;
    if (!l->tokenizer.LoadFile(ModelDir() + "/vocab.json", &error) ||
        !l->model.Load(ModelDir(), &error)) {
      FAIL("loading " << ModelDir() << ": " << error);
    }
    return l;
  }();
  return *loaded;
}

using hb::testing::Cosine;

std::vector<float> EmbedIds(const Model& model, const std::vector<std::vector<int32_t>>& ids) {
  std::vector<std::span<const int32_t>> spans(ids.begin(), ids.end());
  std::vector<float> out(ids.size() * model.output_dim());
  Workspace ws;
  model.Embed(spans, out.data(), &ws);
  return out;
}

std::vector<float> EmbedText(const Loaded& l, const std::string& text) {
  std::vector<int32_t> ids;
  std::string error;
  REQUIRE(l.tokenizer.Encode(text, &ids, &error));
  return EmbedIds(l.model, {ids});
}

}  // namespace

TEST_CASE("tokenizer matches the TF.js Tokenizer on every fixture", "[use_lite]") {
  const Loaded& l = Load();
  REQUIRE(References().size() >= 50);
  for (const Reference& r : References()) {
    std::vector<int32_t> ids;
    std::string error;
    INFO("text: " << r.text);
    REQUIRE(l.tokenizer.Encode(r.text, &ids, &error));
    CHECK(ids == r.ids);
  }
}

TEST_CASE("tokenizer rejects malformed UTF-8", "[use_lite]") {
  const Loaded& l = Load();
  std::vector<int32_t> ids;
  std::string error;
  for (const char* bad : {"\xff", "abc\xc3", "\xed\xa0\x80", "\xc0\xaf", "\xf4\x90\x80\x80"}) {
    INFO("bytes: " << bad);
    CHECK_FALSE(l.tokenizer.Encode(bad, &ids, &error));
    CHECK(error.find("UTF-8") != std::string::npos);
  }
  CHECK(l.tokenizer.Encode("", &ids, &error));
  CHECK(ids.empty());
}

TEST_CASE("embeddings match the TF.js reference (cosine >= 0.999)", "[use_lite]") {
  const Loaded& l = Load();
  const int dim = l.model.output_dim();
  REQUIRE(dim == 512);
  for (const Reference& r : References()) {
    INFO("text: " << r.text);
    REQUIRE(r.vector.size() == static_cast<size_t>(dim));
    std::vector<float> v = EmbedIds(l.model, {r.ids});
    CHECK(Cosine(v.data(), r.vector.data(), dim) >= 0.999);
  }
}

TEST_CASE("paraphrases score above unrelated sentences", "[use_lite]") {
  const Loaded& l = Load();
  const int dim = l.model.output_dim();
  auto cos = [&](const std::string& a, const std::string& b) {
    std::vector<float> va = EmbedText(l, a), vb = EmbedText(l, b);
    return Cosine(va.data(), vb.data(), dim);
  };
  const double guitar = cos("A man is playing a guitar.", "Someone plays the guitar.");
  const double stock = cos("A man is playing a guitar.", "The stock market fell sharply today.");
  CHECK(guitar == Approx(0.748).margin(0.01));  // what TF.js gives
  CHECK(stock < 0.2);
  CHECK(guitar > stock + 0.4);
  CHECK(cos("How old are you?", "What is your age?") >
        cos("How old are you?", "The weather is lovely this afternoon."));
  CHECK(cos("The cat sat on the mat.", "A cat is sitting on a rug.") >
        cos("The cat sat on the mat.", "Quantum chromodynamics describes the strong interaction."));
  CHECK(cos("The weather is lovely this afternoon.", "It is sunny and warm outside today.") >
        cos("The weather is lovely this afternoon.", "I like to eat pizza with my friends."));
}

TEST_CASE("empty text gives a finite unit vector", "[use_lite]") {
  const Loaded& l = Load();
  std::vector<float> v = EmbedIds(l.model, {{}});
  double norm = 0;
  for (float x : v) {
    REQUIRE(std::isfinite(x));
    norm += static_cast<double>(x) * x;
  }
  CHECK(norm == Approx(1.0).margin(1e-5));
  CHECK(v == l.model.empty_embedding());
  // The reference's empty-text row (TF.js's all-padding row) agrees.
  CHECK(Cosine(v.data(), ReferenceFor("").vector.data(), v.size()) >= 0.999);
}

TEST_CASE("batch results equal single results", "[use_lite]") {
  const Loaded& l = Load();
  const int dim = l.model.output_dim();
  std::vector<std::vector<int32_t>> all;
  for (const Reference& r : References()) all.push_back(r.ids);
  std::vector<float> batch = EmbedIds(l.model, all);
  // Small chunks: texts spread over many internal passes.
  Model chunked_model_view = l.model;
  chunked_model_view.set_chunk_tokens(16);
  std::vector<float> chunked = EmbedIds(chunked_model_view, all);
  for (size_t i = 0; i < all.size(); ++i) {
    INFO("text: " << References()[i].text);
    std::vector<float> single = EmbedIds(l.model, {all[i]});
    for (int c = 0; c < dim; ++c) {
      REQUIRE(batch[i * dim + c] == Approx(single[c]).margin(1e-5));
      REQUIRE(chunked[i * dim + c] == Approx(single[c]).margin(1e-5));
    }
  }
}

TEST_CASE("reads only the first max_length tokens", "[use_lite]") {
  const Loaded& l = Load();
  const int max_length = l.model.dims().max_length;
  REQUIRE(max_length == 128);
  const Reference* longest = &References()[0];
  for (const Reference& r : References()) {
    if (r.ids.size() > longest->ids.size()) longest = &r;
  }
  REQUIRE(longest->ids.size() > static_cast<size_t>(max_length));
  std::vector<int32_t> head(longest->ids.begin(), longest->ids.begin() + max_length);
  std::vector<float> full = EmbedIds(l.model, {longest->ids});
  std::vector<float> cut = EmbedIds(l.model, {head});
  CHECK(full == cut);
}

// ---- The plugin, through dlopen and the C ABI only. ----------------------

namespace {

struct TestHost {
  static void Log(void* ctx, hb_log_level, const char* msg) {
    static_cast<TestHost*>(ctx)->logs.emplace_back(msg);
  }
  static int IsCancelled(void*, uint64_t token) { return token == kCancelledToken ? 1 : 0; }
  static void* Alloc(void*, size_t size) { return std::malloc(size); }
  static constexpr uint64_t kCancelledToken = 99;

  hb_host_api api{sizeof(hb_host_api), HB_PLUGIN_ABI_MAJOR, HB_PLUGIN_ABI_MINOR, this,
                  &TestHost::Log,      &TestHost::IsCancelled, &TestHost::Alloc, nullptr};
  std::vector<std::string> logs;
};

struct Library {
  explicit Library(const char* path) : handle(dlopen(path, RTLD_NOW | RTLD_LOCAL)) {}
  ~Library() {
    if (handle != nullptr) dlclose(handle);
  }
  void* handle;
};

std::string ConfigFor(const std::string& dir) {
  return nlohmann::json{{"model_dir", dir}}.dump();
}

}  // namespace

TEST_CASE("plugin serves embeddings through the C ABI", "[use_lite][plugin]") {
  RequireModelFiles();
  Library lib(HB_USE_LITE_PLUGIN_PATH);
  INFO("dlopen " << HB_USE_LITE_PLUGIN_PATH << ": " << (lib.handle ? "" : dlerror()));
  REQUIRE(lib.handle != nullptr);
  auto get_api = reinterpret_cast<hb_plugin_get_api_fn>(dlsym(lib.handle, "hb_plugin_get_api"));
  REQUIRE(get_api != nullptr);

  // A host of another major is refused; ours is accepted.
  CHECK(get_api(HB_PLUGIN_ABI_MAJOR + 1, 0) == nullptr);
  CHECK(get_api(HB_PLUGIN_ABI_MAJOR - 1, 7) == nullptr);
  const hb_plugin_api* api = get_api(HB_PLUGIN_ABI_MAJOR, HB_PLUGIN_ABI_MINOR);
  REQUIRE(api != nullptr);
  CHECK(api->struct_size == sizeof(hb_plugin_api));
  CHECK(api->abi_major == HB_PLUGIN_ABI_MAJOR);
  CHECK(api->abi_minor <= HB_PLUGIN_ABI_MINOR);
  CHECK(std::string(api->name) == "use_lite");
  CHECK(api->execute_text != nullptr);

  TestHost host;
  char err[256] = "";
  void* plugin = nullptr;
  REQUIRE(api->init(&host.api, &plugin, err, sizeof(err)) == HB_OK);

  SECTION("bad configs fail model_load with a clear message") {
    void* model = nullptr;
    hb_model_caps caps{};
    caps.struct_size = sizeof(caps);
    CHECK(api->model_load(plugin, "m", "not json", &model, &caps, err, sizeof(err)) != HB_OK);
    CHECK(std::string(err).find("model_dir") != std::string::npos);
    CHECK(api->model_load(plugin, "m", ConfigFor("/nonexistent/use_lite").c_str(), &model, &caps,
                          err, sizeof(err)) != HB_OK);
    CHECK(std::string(err).find("scripts/fetch-use-lite") != std::string::npos);
    CHECK(std::string(err).find("model.json") != std::string::npos);
  }

  SECTION("a loaded model embeds a batch, failing bad requests alone") {
    void* model = nullptr;
    hb_model_caps caps{};
    caps.struct_size = sizeof(caps);
    INFO(err);
    REQUIRE(api->model_load(plugin, "use_lite", ConfigFor(ModelDir()).c_str(), &model, &caps, err,
                            sizeof(err)) == HB_OK);
    CHECK(caps.struct_size == sizeof(hb_model_caps));
    CHECK(caps.output_dim == 512);
    CHECK(caps.max_batch_size == 256);
    CHECK(caps.max_tokens == 128);
    CHECK(caps.needs_gpu == 0);
    CHECK(std::string(caps.description) == "cpu (OpenBLAS)");

    void* instance = nullptr;
    REQUIRE(api->instance_create(model, -1, &instance, err, sizeof(err)) == HB_OK);

    const std::string invalid = "ok \xff\xfe";
    std::vector<std::string> texts = {"A man is playing a guitar.", "", invalid,
                                      "Someone plays the guitar.", "cancel me"};
    std::vector<hb_text_request> requests;
    for (size_t i = 0; i < texts.size(); ++i) {
      requests.push_back({texts[i].data(), texts[i].size(), i == 4 ? TestHost::kCancelledToken : i});
    }
    std::vector<std::vector<float>> outputs(texts.size(), std::vector<float>(512, -7.0f));
    std::vector<hb_text_result> results(texts.size());
    for (size_t i = 0; i < texts.size(); ++i) results[i].embedding = outputs[i].data();
    REQUIRE(api->execute_text(instance, requests.data(), results.data(),
                              static_cast<uint32_t>(texts.size()), err, sizeof(err)) == HB_OK);
    CHECK(results[0].status == HB_OK);
    CHECK(results[1].status == HB_OK);
    CHECK(results[2].status == HB_ERR_INVALID_ARGUMENT);
    CHECK(std::string(results[2].message).find("UTF-8") != std::string::npos);
    CHECK(results[3].status == HB_OK);
    CHECK(results[4].status == HB_ERR_CANCELLED);
    for (size_t i : {0, 1, 3}) {
      INFO("text: " << texts[i]);
      CHECK(Cosine(outputs[i].data(), ReferenceFor(texts[i]).vector.data(), 512) >= 0.999);
      for (float x : outputs[i]) REQUIRE(std::isfinite(x));
    }

    // One request at a time gives the same numbers as the batch.
    hb_text_result single{};
    std::vector<float> single_out(512);
    single.embedding = single_out.data();
    REQUIRE(api->execute_text(instance, &requests[3], &single, 1, err, sizeof(err)) == HB_OK);
    for (int c = 0; c < 512; ++c) REQUIRE(single_out[c] == Approx(outputs[3][c]).margin(1e-5));

    // ABI 1.2 count_tokens: the tokens the model would read before cutting
    // to max_tokens, so a host can refuse what would be cut.
    REQUIRE(api->count_tokens != nullptr);
    uint32_t tokens = 0;
    REQUIRE(api->count_tokens(model, texts[0].data(), texts[0].size(), &tokens) == HB_OK);
    CHECK(tokens > 3);
    CHECK(tokens < caps.max_tokens);
    std::string long_text;
    for (int i = 0; i < 200; ++i) long_text += "word" + std::to_string(i) + " ";
    REQUIRE(api->count_tokens(model, long_text.data(), long_text.size(), &tokens) == HB_OK);
    CHECK(tokens > caps.max_tokens);
    CHECK(api->count_tokens(model, invalid.data(), invalid.size(), &tokens) ==
          HB_ERR_INVALID_ARGUMENT);

    // Over max_batch_size fails the batch, not the process.
    std::vector<hb_text_request> many(caps.max_batch_size + 1, requests[0]);
    std::vector<hb_text_result> many_results(many.size(), results[0]);
    CHECK(api->execute_text(instance, many.data(), many_results.data(),
                            static_cast<uint32_t>(many.size()), err,
                            sizeof(err)) == HB_ERR_INVALID_ARGUMENT);

    api->instance_destroy(instance);
    api->model_unload(model);
  }

  SECTION("a host table without is_cancelled is honoured") {
    TestHost old_host;
    old_host.api.struct_size = offsetof(hb_host_api, is_cancelled);
    void* old_plugin = nullptr;
    REQUIRE(api->init(&old_host.api, &old_plugin, err, sizeof(err)) == HB_OK);
    void* model = nullptr;
    hb_model_caps caps{};
    caps.struct_size = sizeof(caps);
    REQUIRE(api->model_load(old_plugin, "use_lite", ConfigFor(ModelDir()).c_str(), &model, &caps,
                            err, sizeof(err)) == HB_OK);
    void* instance = nullptr;
    REQUIRE(api->instance_create(model, -1, &instance, err, sizeof(err)) == HB_OK);
    const std::string text = "cancel me";
    hb_text_request request{text.data(), text.size(), TestHost::kCancelledToken};
    std::vector<float> out(512);
    hb_text_result result{};
    result.embedding = out.data();
    REQUIRE(api->execute_text(instance, &request, &result, 1, err, sizeof(err)) == HB_OK);
    CHECK(result.status == HB_OK);  // the plugin could not ask, so it ran
    api->instance_destroy(instance);
    api->model_unload(model);
    api->fini(old_plugin);
  }

  api->fini(plugin);
}
