// RMSprop, as torch.optim.RMSprop in PyTorch 1.13:
//   g = g + weight_decay p
//   v = alpha v + (1 - alpha) g g
//   r = sqrt(v - a a) + eps with a = alpha a + (1 - alpha) g (centered),  else r = sqrt(v) + eps
//   b = momentum b + g / r;  p = p - lr b  (momentum > 0),  else p = p - lr g / r
#pragma once

#include "recur/optim/optimizer.hpp"

namespace recur::optim {

// State per parameter: step, square_avg, momentum_buffer (momentum > 0), grad_avg (centered).
// Requires every option >= 0.
using RMSprop = BasicOptimizer<RMSpropOptions>;

}  // namespace recur::optim
