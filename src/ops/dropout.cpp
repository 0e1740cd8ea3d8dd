// Dropout: y = x * m / (1 - p) with m ~ Bernoulli(1 - p);  dx = g * m / (1 - p).
// The scaled mask is one tensor, so mul's backward (which saves it) is the whole story.

#include "ops/op_helpers.hpp"

namespace recur {

Tensor dropout(const Tensor& x, double p, bool training, Generator* gen) {
  ops::check_floating("dropout", x);
  RECUR_CHECK(p >= 0 && p < 1, "dropout: probability p = " << p << " is outside [0, 1)");
  if (!training || p == 0) return x;
  Tensor mask = bernoulli(x.shape(), 1 - p, x.dtype(), gen ? gen : &default_generator(), x.device());
  {
    NoGradGuard no_grad;  // the mask is a constant, never part of the graph
    mul_(mask, 1.0 / (1 - p));
  }
  return mul(x, mask);
}

}  // namespace recur
