// Model::Load: reads the TF.js graph model (model.json + weight shards) and
// pulls out the tensors the fixed forward pass in model.cc needs, checking
// every shape so a different model fails here, loudly, instead of computing
// nonsense.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>

#include "plugins/use_lite/model.h"

namespace hornbeam::use_lite {
namespace {

constexpr char kApply[] = "module_apply_default/Encoder_en/KonaTransformer/";
constexpr char kStack[] = "module_apply_default/Encoder_en/KonaTransformer/Encode/TransformerStack/";
constexpr char kEncode[] = "module_apply_default/Encoder_en/KonaTransformer/Encode/";
constexpr char kModule[] = "module/Encoder_en/KonaTransformer/Encode/";

struct TensorRef {
  std::string dtype;
  std::vector<int64_t> shape;
  const char* data = nullptr;
  size_t count = 0;
};

bool ReadFile(const std::string& path, std::string* out) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return false;
  std::ostringstream buffer;
  buffer << in.rdbuf();
  *out = std::move(buffer).str();
  return static_cast<bool>(in) || in.eof();
}

std::string ShapeString(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) {
    if (i > 0) s += ',';
    s += std::to_string(shape[i]);
  }
  return s + "]";
}

// Looks tensors up by name with shape checks; the first failure sticks in
// error_ so the loader can chain many lookups and test once.
class TensorTable {
 public:
  std::map<std::string, TensorRef> tensors;
  std::string error;

  std::vector<float> Floats(const std::string& name, std::vector<int64_t> shape) {
    const TensorRef* t = Find(name, "float32");
    if (t == nullptr) return {};
    if (!shape.empty() && t->shape != shape) {
      Fail("tensor " + name + " has shape " + ShapeString(t->shape) + ", expected " +
           ShapeString(shape));
      return {};
    }
    std::vector<float> v(t->count);
    std::memcpy(v.data(), t->data, t->count * sizeof(float));
    return v;
  }
  const std::vector<int64_t>& Shape(const std::string& name) {
    static const std::vector<int64_t> kNone;
    const TensorRef* t = Find(name, "");
    return t ? t->shape : kNone;
  }
  float Float(const std::string& name) {
    std::vector<float> v = Floats(name, {});
    return v.size() == 1 ? v[0] : (Fail(name + " is not a scalar"), 0.0f);
  }
  std::vector<int32_t> Ints(const std::string& name) {
    const TensorRef* t = Find(name, "int32");
    if (t == nullptr) return {};
    std::vector<int32_t> v(t->count);
    std::memcpy(v.data(), t->data, t->count * sizeof(int32_t));
    return v;
  }
  void Fail(const std::string& message) {
    if (error.empty()) error = message;
  }

 private:
  const TensorRef* Find(const std::string& name, const std::string& dtype) {
    auto it = tensors.find(name);
    if (it == tensors.end()) {
      Fail("model.json has no weight " + name);
      return nullptr;
    }
    if (!dtype.empty() && it->second.dtype != dtype) {
      Fail("weight " + name + " is " + it->second.dtype + ", expected " + dtype);
      return nullptr;
    }
    return &it->second;
  }
};

// The ops this forward pass implements, with their counts in the USE Lite
// graph; a graph with other counts is a different architecture.
bool CheckGraph(const nlohmann::json& nodes, std::string* error) {
  const std::map<std::string, int> expected = {
      {"BatchMatMul", 4}, {"Conv2D", 4}, {"MatMul", 6}, {"Softmax", 2}, {"Relu", 2},
      {"Tanh", 1},        {"Sin", 1},    {"Cos", 1},    {"Rsqrt", 5},   {"Placeholder", 2}};
  std::map<std::string, int> seen;
  for (const auto& node : nodes) {
    if (node.contains("op") && node["op"].is_string()) ++seen[node["op"].get<std::string>()];
  }
  for (const auto& [op, count] : expected) {
    if (seen[op] != count) {
      *error = "model.json is not the USE Lite graph this plugin implements (" + op + " x" +
               std::to_string(seen[op]) + ", expected x" + std::to_string(count) + ")";
      return false;
    }
  }
  return true;
}

// Each manifest group's weights are packed back to back across its shards.
// `groups` keeps the bytes the table's tensors point into.
bool ReadWeights(const std::string& dir, const nlohmann::json& manifest,
                 const std::string& json_path, std::vector<std::string>* groups,
                 TensorTable* table, std::string* error) {
  try {
    for (const auto& group : manifest) {
      std::string data;
      for (const auto& path : group.at("paths")) {
        std::string shard;
        std::string shard_path = dir + "/" + path.get<std::string>();
        if (!ReadFile(shard_path, &shard)) {
          *error = "cannot read weight shard " + shard_path;
          return false;
        }
        data += shard;
      }
      groups->push_back(std::move(data));
      const std::string& bytes = groups->back();
      size_t offset = 0;
      for (const auto& w : group.at("weights")) {
        TensorRef t;
        t.dtype = w.at("dtype").get<std::string>();
        t.shape = w.at("shape").get<std::vector<int64_t>>();
        if (w.contains("quantization") || (t.dtype != "float32" && t.dtype != "int32")) {
          *error = json_path + ": weight " + w.at("name").get<std::string>() +
                   " is quantized or not float32/int32; unsupported";
          return false;
        }
        t.count = 1;
        for (int64_t d : t.shape) t.count *= static_cast<size_t>(d);
        if (offset + t.count * 4 > bytes.size()) {
          *error = json_path + ": weight shards are shorter than the manifest says";
          return false;
        }
        t.data = bytes.data() + offset;
        offset += t.count * 4;
        table->tensors[w.at("name").get<std::string>()] = t;
      }
    }
  } catch (const nlohmann::json::exception& e) {
    *error = json_path + ": malformed weightsManifest: " + e.what();
    return false;
  }
  return true;
}

// Dimensions come from the tensors themselves; false when their ranks are
// not USE Lite's.
bool ReadDims(TensorTable& table, ModelDims* dims) {
  const std::string stack = kStack;
  const auto& emb_shape = table.Shape("module/Embeddings_en");
  const auto& ffn_shape =
      table.Shape(stack + "Layer_1/TransformerLayer/FFN/conv1/Tensordot/Reshape_1");
  if (emb_shape.size() != 2 || ffn_shape.size() != 2) return false;
  dims->vocab_rows = static_cast<int>(emb_shape[0]);
  dims->embed_dim = static_cast<int>(emb_shape[1]);
  dims->model_dim = static_cast<int>(ffn_shape[0]);
  dims->ffn_dim = static_cast<int>(ffn_shape[1]);
  std::vector<int32_t> heads = table.Ints(stack +
      "Layer_1/TransformerLayer/MultiheadAttention/split_heads/split_last_dimension/Reshape/shape/2");
  dims->heads = heads.empty() ? 0 : heads[0];
  std::vector<int32_t> max_len = table.Ints(std::string(kApply) + "ClipToMaxLength/Less/y");
  dims->max_length = max_len.empty() ? 0 : max_len[0];
  dims->ln_epsilon =
      table.Float(stack + "Layer_1/TransformerLayer/FFN/layer_prepostprocess/layer_norm/Cast/x");
  dims->l2_epsilon =
      table.Float("module_apply_default/Encoder_en/hidden_layers/l2_normalize/Maximum/y");
  return true;
}

// Layer `l`'s weights; shape mismatches are recorded in table.error.
void ReadLayer(TensorTable& table, const ModelDims& dims, int l, LayerWeights* w) {
  const std::string n = "Layer_" + std::to_string(l) + "/TransformerLayer/";
  const std::string enc = kEncode + n, mod = kModule + n, stk = kStack + n;
  const std::string norm = "layer_prepostprocess/layer_norm/";
  const std::string concat = "/ConcatPartitions/concat";
  w->in_dim = l == 0 ? dims.embed_dim : dims.model_dim;
  const int64_t in = w->in_dim, d = dims.model_dim, f = dims.ffn_dim;
  std::vector<int32_t> split = table.Ints(stk + "MultiheadAttention/Const");
  w->attn_dim = split.size() == 3 ? split[0] : 0;
  const int64_t a = w->attn_dim;
  if (split.size() != 3 || split[1] != a || split[2] != a || dims.heads <= 0 ||
      a % dims.heads != 0) {
    table.Fail("unexpected attention split in layer " + std::to_string(l));
  }
  w->query_scale = table.Float(stk + "MultiheadAttention/mul/y");
  w->ln_attn_scale = table.Floats(enc + norm + "layer_norm_scale" + concat, {in});
  w->ln_attn_bias = table.Floats(enc + norm + "layer_norm_bias" + concat, {in});
  w->qkv_kernel = table.Floats(mod + "MultiheadAttention/qkv_transform_single/kernel/part_0",
                               {1, 1, in, 3 * a});
  w->qkv_bias = table.Floats(enc + "MultiheadAttention/qkv_transform_single/bias" + concat,
                             {3 * a});
  w->out_kernel = table.Floats(mod + "MultiheadAttention/output_transform_single/kernel/part_0",
                               {1, 1, a, d});
  w->out_bias = table.Floats(enc + "MultiheadAttention/output_transform_single/bias" + concat, {d});
  if (l == 0) {
    // AdjustResidualInput: the 256-wide input needs a projection to join
    // the 512-wide residual stream.
    w->residual_kernel = table.Floats(enc + "dense/kernel" + concat, {in, d});
    w->residual_bias = table.Floats(enc + "dense/bias" + concat, {d});
  }
  w->ln_ffn_scale = table.Floats(enc + "FFN/" + norm + "layer_norm_scale" + concat, {d});
  w->ln_ffn_bias = table.Floats(enc + "FFN/" + norm + "layer_norm_bias" + concat, {d});
  w->ffn1_kernel = table.Floats(stk + "FFN/conv1/Tensordot/Reshape_1", {d, f});
  w->ffn1_bias = table.Floats(enc + "FFN/conv1/bias" + concat, {f});
  w->ffn2_kernel = table.Floats(stk + "FFN/conv2/Tensordot/Reshape_1", {f, d});
  w->ffn2_bias = table.Floats(enc + "FFN/conv2/bias" + concat, {d});
}

// Timing signal rows for every position the graph can see: the graph
// multiplies in float32 and takes sin/cos of that float.
std::vector<float> TimingTable(const ModelDims& dims, const std::vector<float>& inv_timescales) {
  const int half = dims.embed_dim / 2;
  std::vector<float> timing(static_cast<size_t>(dims.max_length) * dims.embed_dim, 0.0f);
  for (int p = 0; p < dims.max_length; ++p) {
    for (int i = 0; i < half; ++i) {
      float angle = static_cast<float>(p) * inv_timescales[i];
      timing[static_cast<size_t>(p) * dims.embed_dim + i] = static_cast<float>(std::sin(angle));
      timing[static_cast<size_t>(p) * dims.embed_dim + half + i] =
          static_cast<float>(std::cos(angle));
    }
  }
  return timing;
}

// What the graph gives an all-padding row: l2n(tanh(bias)).
std::vector<float> EmptyEmbedding(const std::vector<float>& tanh_bias, float l2_epsilon) {
  std::vector<float> empty(tanh_bias.size());
  double norm = 0;
  for (size_t i = 0; i < empty.size(); ++i) {
    empty[i] = std::tanh(tanh_bias[i]);
    norm += static_cast<double>(empty[i]) * empty[i];
  }
  float inv = static_cast<float>(1.0 / std::sqrt(std::max<double>(norm, l2_epsilon)));
  for (float& v : empty) v *= inv;
  return empty;
}

}  // namespace

bool Model::Load(const std::string& dir, std::string* error) {
  const std::string json_path = dir + "/model.json";
  std::string text;
  if (!ReadFile(json_path, &text)) {
    *error = "cannot read " + json_path;
    return false;
  }
  nlohmann::json model = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!model.is_object() || !model.contains("weightsManifest") ||
      !model["weightsManifest"].is_array() || !model.contains("modelTopology") ||
      !model["modelTopology"].contains("node")) {
    *error = json_path + " is not a TF.js graph model (no modelTopology/weightsManifest)";
    return false;
  }
  if (!CheckGraph(model["modelTopology"]["node"], error)) {
    *error = json_path + ": " + *error;
    return false;
  }
  std::vector<std::string> groups;
  TensorTable table;
  if (!ReadWeights(dir, model["weightsManifest"], json_path, &groups, &table, error)) return false;
  if (!ReadDims(table, &dims_)) {
    *error = json_path + ": " + (table.error.empty() ? "unexpected tensor ranks" : table.error);
    return false;
  }
  const int64_t e = dims_.embed_dim, d = dims_.model_dim;
  embeddings_ = table.Floats("module/Embeddings_en", {dims_.vocab_rows, e});
  for (int l = 0; l < 2; ++l) ReadLayer(table, dims_, l, &layers_[l]);
  tanh_kernel_ = table.Floats("module/Encoder_en/hidden_layers/tanh_layer_0/weights", {d, d});
  tanh_bias_ = table.Floats("module/Encoder_en/hidden_layers/tanh_layer_0/bias", {d});
  std::vector<float> inv_timescales = table.Floats(
      std::string(kStack) + "Layer_0/AddTimingSignal/TimingSignal/ExpandDims_1", {1, e / 2});
  if (dims_.max_length <= 0 || dims_.embed_dim % 2 != 0) table.Fail("bad max length / width");
  if (!table.error.empty()) {
    *error = json_path + ": " + table.error;
    return false;
  }
  timing_ = TimingTable(dims_, inv_timescales);
  empty_ = EmptyEmbedding(tanh_bias_, dims_.l2_epsilon);
  return true;
}

}  // namespace hornbeam::use_lite
