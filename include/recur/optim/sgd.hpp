// SGD: stochastic gradient descent with optional momentum (heavy-ball or Nesterov),
// dampening and L2 weight decay, as torch.optim.SGD in PyTorch 1.13:
//   d = g + weight_decay p
//   b = d on a parameter's first step, then b = momentum b + (1 - dampening) d
//   d = d + momentum b (nesterov)  or  d = b  (when momentum != 0)
//   p = p - lr d
#pragma once

#include "recur/optim/optimizer.hpp"

namespace recur::optim {

// State per parameter: step, momentum_buffer (when momentum != 0, after the first step).
// Requires lr set and >= 0, momentum >= 0, weight_decay >= 0, and for nesterov momentum > 0
// with zero dampening.
using SGD = BasicOptimizer<SGDOptions>;

}  // namespace recur::optim
