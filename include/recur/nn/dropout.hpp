// Dropout (PyTorch's nn.Dropout): active only in training mode.
#pragma once

#include <string>

#include "recur/core/random.hpp"
#include "recur/nn/module.hpp"

namespace recur::nn {

// In training mode, zeroes each element with probability p and scales the others by
// 1 / (1 - p) (recur::dropout); in evaluation mode returns its input unchanged.
//
// Randomness: each training-mode forward draws one Bernoulli mask from `generator` if one
// was given (it must outlive the module), else from recur::default_generator() at the time
// of the call. A mask of n elements consumes ceil(n / 2) Philox counter blocks, so the
// masks are fixed by the generator's seed and the order of forward calls, whatever the
// thread count, and a checkpoint of the generator's (seed, offset) resumes them exactly.
// Requires 0 <= p < 1.
class Dropout : public Module {
 public:
  explicit Dropout(double p = 0.5, Generator* generator = nullptr);
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;  // "p=0.5"

  const double p;
  Generator* generator;  // null: recur::default_generator()
};

}  // namespace recur::nn
