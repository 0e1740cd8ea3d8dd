// Activation modules: each forward is the recur op of the same name, so Sequential can
// hold them. None has parameters.
#pragma once

#include <string>

#include "recur/nn/module.hpp"

namespace recur::nn {

class Sigmoid : public Module {  // 1 / (1 + exp(-x))
 public:
  Tensor forward(const Tensor& input) override;
};

class Tanh : public Module {
 public:
  Tensor forward(const Tensor& input) override;
};

class ReLU : public Module {  // max(x, 0)
 public:
  Tensor forward(const Tensor& input) override;
};

class LeakyReLU : public Module {  // x > 0 ? x : negative_slope * x
 public:
  explicit LeakyReLU(double negative_slope = 0.01) : negative_slope(negative_slope) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;  // "negative_slope=0.01"

  const double negative_slope;
};

// softmax / log_softmax along `dim` (negative counts from the end). PyTorch's implicit
// default dim is deprecated there, so here dim is required.
class Softmax : public Module {
 public:
  explicit Softmax(int dim) : dim(dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;  // "dim=1"

  const int dim;
};

class LogSoftmax : public Module {
 public:
  explicit LogSoftmax(int dim) : dim(dim) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;  // "dim=1"

  const int dim;
};

// The perceptron's threshold: x > 0 ? 1 : 0 (recur::step). For inference only: its
// derivative is zero almost everywhere, so the output records no autograd history and
// nothing before it gets a gradient through it. Train a perceptron with the perceptron
// rule, or train with Sigmoid and swap in Step to classify.
class Step : public Module {
 public:
  Tensor forward(const Tensor& input) override;
};

}  // namespace recur::nn
