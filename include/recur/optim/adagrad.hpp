// Adagrad, as torch.optim.Adagrad in PyTorch 1.13:
//   g = g + weight_decay p
//   sum = sum + g g                    (sum starts at initial_accumulator_value)
//   p = p - clr g / (sqrt(sum) + eps),  clr = lr / (1 + (step - 1) lr_decay)
//
// min-char-rnn's AdaGrad (mem += dparam²; param += -lr dparam / sqrt(mem + 1e-8)) is the
// same rule with eps inside the square root: Adagrad(params, {.lr = 0.1, .eps = 1e-8,
// .eps_inside_sqrt = true}) reproduces it exactly.
#pragma once

#include "recur/optim/optimizer.hpp"

namespace recur::optim {

// State per parameter: step, sum (made at construction, as PyTorch does).
// Requires every option >= 0.
using Adagrad = BasicOptimizer<AdagradOptions>;

}  // namespace recur::optim
