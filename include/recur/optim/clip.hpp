// Gradient clipping, applied between backward() and the optimizer's step(). Parameters
// whose gradient is undefined are skipped. Both functions change the gradients in place
// and return the global L2 norm (or the requested norm) before clipping, so a training
// loop can log it.
#pragma once

#include <vector>

#include "recur/core/tensor.hpp"

namespace recur::optim {

// The L2 norm of all gradients taken together (0 if no gradient), changing nothing: what
// clip_grad_norm_ would compare with its max_norm.
double grad_norm(const std::vector<Tensor>& params);

// PyTorch's clip_grad_norm_: the norm of all gradients taken together, as if concatenated
// into one vector (norm_type > 0, or infinity for the largest |element|); when
// coef = max_norm / (total + 1e-6) is below 1 every gradient is multiplied by coef.
// A non-finite total is an Error if error_if_nonfinite; otherwise, as in PyTorch, the
// gradients are multiplied by the resulting coefficient (NaN, or 0 for an infinite norm).
// Requires max_norm >= 0. Returns the total norm before clipping (0 if no gradient).
double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type = 2.0,
                       bool error_if_nonfinite = false);

// Clamps every gradient element to [-clip_value, clip_value], the tutorials'
// np.clip(dparam, -5, 5). Requires clip_value >= 0. Returns the global L2 norm of the
// gradients before clipping (0 if no gradient); NaN elements stay NaN.
double clip_grad_value_(const std::vector<Tensor>& params, double clip_value);

}  // namespace recur::optim
