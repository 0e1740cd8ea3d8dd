// Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW in PyTorch 1.13:
//   Adam:  g = g + weight_decay p          AdamW: p = (1 - lr weight_decay) p
//   m = beta1 m + (1 - beta1) g
//   v = beta2 v + (1 - beta2) g g
//   vmax = max(vmax, v), used in place of v below (amsgrad)
//   p = p - lr / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps),  t = the parameter's step
#pragma once

#include "recur/optim/optimizer.hpp"

namespace recur::optim {

// State per parameter: step, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad).
// Requires lr, eps, weight_decay >= 0 and both betas in [0, 1).
using Adam = BasicOptimizer<AdamOptions>;
using AdamW = BasicOptimizer<AdamWOptions>;

}  // namespace recur::optim
