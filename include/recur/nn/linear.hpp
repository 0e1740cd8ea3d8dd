// Linear, Flatten and Identity: the layers of PyTorch's torch/nn/modules/linear.py and
// flatten.py, with PyTorch's parameter names, shapes, defaults and initialisation.
#pragma once

#include <cstdint>
#include <string>

#include "recur/nn/module.hpp"

namespace recur::nn {

// y = x W^T + b (recur::linear). Parameters "weight" (out_features, in_features) and, when
// bias is true, "bias" (out_features); both start as U(-1/sqrt(in_features), 1/sqrt(in_features)),
// as PyTorch's kaiming_uniform_(weight, a = sqrt(5)) and its bias rule, drawn from
// default_generator(). Requires in_features, out_features >= 1.
class Linear : public Module {
 public:
  Linear(std::int64_t in_features, std::int64_t out_features, bool bias = true);

  // input (..., in_features) -> (..., out_features).
  Tensor forward(const Tensor& input) override;
  // Draws the parameters again with PyTorch's default initialisation.
  void reset_parameters();
  std::string extra_repr() const override;  // "in_features=784, out_features=300, bias=true"

  const std::int64_t in_features;
  const std::int64_t out_features;
  Tensor weight;
  Tensor bias;  // undefined when constructed with bias = false
};

// Flattens dimensions start_dim..end_dim into one (recur::flatten). PyTorch's defaults keep
// the batch dimension: (N, C, H, W) -> (N, C*H*W).
class Flatten : public Module {
 public:
  explicit Flatten(int start_dim = 1, int end_dim = -1) : start_dim(start_dim), end_dim(end_dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;  // "start_dim=1, end_dim=-1"

  const int start_dim;
  const int end_dim;
};

// Returns its input unchanged: a placeholder, e.g. to remove a layer from a Sequential.
class Identity : public Module {
 public:
  Tensor forward(const Tensor& input) override { return input; }
};

}  // namespace recur::nn
