// A softmax (multinomial logistic regression) classifier over fixed-size
// float vectors, trained with mini-batch gradient descent on the CPU. Used
// for the classifier heads ml:train/1 puts on top of an embedding model; the
// vectors are small (hundreds of floats) and the sets short (thousands), so
// plain loops train a head in well under a second.
//
// Thread: a SoftmaxModel is a value; Scores() is const and may run on any
// number of threads at once. TrainSoftmax runs on its caller's thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <vector>

namespace hb {

struct SoftmaxModel {
  uint32_t dim = 0;
  uint32_t classes = 0;
  std::vector<float> weights;  // classes x dim, row-major
  std::vector<float> bias;     // classes

  // Class probabilities of `x` (dim floats) into `out` (classes floats).
  void Scores(const float* x, float* out) const;
  // The most probable class of `x`.
  uint32_t Predict(const float* x) const;
};

struct SoftmaxOptions {
  uint32_t epochs = 30;
  double learning_rate = 0.5;
  double l2 = 1e-4;
  uint32_t batch_size = 32;
  uint64_t seed = 42;  // the order examples are visited in
};

// Trains on `n` rows of `x` (n x dim) with labels `y` (< classes). After
// each epoch `on_epoch(epoch, mean_loss)` runs; returning false stops the
// training (cancelled), and so does TrainSoftmax, with false.
bool TrainSoftmax(const float* x, const uint32_t* y, size_t n, uint32_t dim, uint32_t classes,
                  const SoftmaxOptions& options,
                  const std::function<bool(uint32_t, double)>& on_epoch, SoftmaxModel* out);

}  // namespace hb
