// BatchNorm1d and BatchNorm2d: PyTorch's torch/nn/modules/batchnorm.py, same names, buffers
// and defaults, so state dicts move between the two.
#pragma once

#include <cstdint>
#include <string>

#include "recur/nn/module.hpp"

namespace recur::nn {

// Normalises each channel (dim 1) with the batch's statistics in training and the running
// statistics in evaluation (recur::batch_norm). Parameters "weight" (ones) and "bias"
// (zeros) when affine; buffers "running_mean" (zeros), "running_var" (ones) and
// "num_batches_tracked" (int64 scalar, counts training batches) when track_running_stats.
// Without running statistics the batch's statistics are used in evaluation too.
class BatchNorm : public Module {
 public:
  Tensor forward(const Tensor& input) override;
  void reset_parameters();
  std::string extra_repr() const override;  // "20, eps=1e-05, momentum=0.1, affine=true, ..."

  const std::int64_t num_features;
  const double eps, momentum;
  const bool affine, track_running_stats;
  Tensor weight, bias;                                          // undefined unless affine
  Tensor running_mean, running_var, num_batches_tracked;  // undefined unless tracking

 protected:
  // expected_dims: the input ranks the subclass accepts, e.g. {2, 3}.
  BatchNorm(std::int64_t num_features, double eps, double momentum, bool affine, bool track_running_stats,
            std::initializer_list<int> expected_dims);

 private:
  std::vector<int> expected_dims_;
};

// Input (N, C) or (N, C, L).
class BatchNorm1d : public BatchNorm {
 public:
  explicit BatchNorm1d(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
                       bool track_running_stats = true)
      : BatchNorm(num_features, eps, momentum, affine, track_running_stats, {2, 3}) {}
};

// Input (N, C, H, W).
class BatchNorm2d : public BatchNorm {
 public:
  explicit BatchNorm2d(std::int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true,
                       bool track_running_stats = true)
      : BatchNorm(num_features, eps, momentum, affine, track_running_stats, {4}) {}
};

}  // namespace recur::nn
