// Classifier heads (daemon/softmax.h, daemon/classifier_head.h): the trainer
// learns a separable problem and stops when told; a head survives its file
// round trip and a damaged one is refused. The Erlang-facing behaviour
// (ml:train/1 on the topic set) is in tests/integration/hb_train_tests.erl.
#include <catch2/catch.hpp>
#include <stdlib.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "daemon/classifier_head.h"
#include "daemon/softmax.h"

namespace hb {
namespace {

// Three clusters around (1,0), (0,1) and (-1,-1), 30 points each.
void Clusters(std::vector<float>* x, std::vector<uint32_t>* y) {
  const float centres[3][2] = {{1, 0}, {0, 1}, {-1, -1}};
  for (int i = 0; i < 90; ++i) {
    uint32_t c = static_cast<uint32_t>(i % 3);
    float jitter = 0.2f * std::sin(static_cast<float>(i));
    x->push_back(centres[c][0] + jitter);
    x->push_back(centres[c][1] - jitter);
    y->push_back(c);
  }
}

TEST_CASE("softmax: learns separable clusters, probabilities sum to one", "[classifier]") {
  std::vector<float> x;
  std::vector<uint32_t> y;
  Clusters(&x, &y);
  SoftmaxModel m;
  std::vector<double> losses;
  SoftmaxOptions o;
  o.epochs = 40;
  REQUIRE(TrainSoftmax(x.data(), y.data(), y.size(), 2, 3, o,
                       [&](uint32_t, double loss) { losses.push_back(loss); return true; }, &m));
  REQUIRE(losses.size() == 40);
  CHECK(losses.back() < losses.front() / 4);
  for (size_t i = 0; i < y.size(); ++i) CHECK(m.Predict(&x[i * 2]) == y[i]);
  float p[3];
  m.Scores(&x[0], p);
  CHECK(std::abs(p[0] + p[1] + p[2] - 1.0f) < 1e-5f);
}

TEST_CASE("softmax: returning false from on_epoch stops the training", "[classifier]") {
  std::vector<float> x;
  std::vector<uint32_t> y;
  Clusters(&x, &y);
  SoftmaxModel m;
  SoftmaxOptions o;
  o.epochs = 1000;
  uint32_t seen = 0;
  CHECK_FALSE(TrainSoftmax(x.data(), y.data(), y.size(), 2, 3, o,
                           [&](uint32_t epoch, double) { seen = epoch; return epoch < 3; }, &m));
  CHECK(seen == 3);
}

ClassifierHead Head() {
  ClassifierHead h;
  h.name = "topics";
  h.embedder = "default";
  h.labels = {Term::Atom("a"), Term::Binary("b")};
  h.model.dim = 3;
  h.model.classes = 2;
  h.model.weights = {1, 2, 3, 4, 5, 6};
  h.model.bias = {0.5f, -0.5f};
  h.accuracy = 0.75;
  h.examples = 12;
  h.trained_at = 1234;
  return h;
}

TEST_CASE("classifier head: saved and loaded unchanged, damaged files skipped", "[classifier]") {
  char tmpl[] = "/tmp/hb_heads_test.XXXXXX";
  std::string dir = mkdtemp(tmpl);
  REQUIRE(SaveHead(dir, Head()).ok());
  { std::ofstream(dir + "/heads/broken.head") << "not a term"; }
  std::vector<ClassifierHead> loaded = LoadHeads(dir);
  REQUIRE(loaded.size() == 1);
  const ClassifierHead& h = loaded[0];
  CHECK(h.name == "topics");
  CHECK(h.embedder == "default");
  CHECK(h.labels == Head().labels);
  CHECK(h.model.weights == Head().model.weights);
  CHECK(h.model.bias == Head().model.bias);
  CHECK(h.accuracy == 0.75);
  CHECK(h.trained_at == 1234);
  std::filesystem::remove_all(dir);
}

TEST_CASE("classifier head: weights that do not match the shape are refused", "[classifier]") {
  ClassifierHead h = Head();
  h.model.weights.pop_back();
  CHECK_FALSE(HeadFromTerm(HeadToTerm(h)).ok());
  CHECK_FALSE(ValidHeadName("../etc"));
  CHECK_FALSE(ValidHeadName(""));
  CHECK(ValidHeadName("topics_v2-1"));
}

}  // namespace
}  // namespace hb
