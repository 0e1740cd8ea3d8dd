#include "recur/optim/clip.hpp"

#include <cmath>

#include "recur/autograd.hpp"
#include "recur/ops.hpp"

namespace recur::optim {
namespace {

std::vector<Tensor> defined_grads(const std::vector<Tensor>& params) {
  std::vector<Tensor> grads;
  for (const Tensor& p : params) {
    RECUR_CHECK(p.defined(), "gradient clipping: a parameter is an undefined tensor");
    Tensor g = p.grad();
    if (g.defined()) grads.push_back(g);
  }
  return grads;
}

// The p-norm of the gradients taken together: the p-norm of their p-norms, computed on
// their device and read back once.
double total_norm(const std::vector<Tensor>& grads, double p) { return norm_of(norms_of(grads, p), p); }

}  // namespace

double grad_norm(const std::vector<Tensor>& params) {
  const std::vector<Tensor> grads = defined_grads(params);
  return grads.empty() ? 0 : total_norm(grads, 2);
}

double clip_grad_norm_(const std::vector<Tensor>& params, double max_norm, double norm_type, bool error_if_nonfinite) {
  RECUR_CHECK(max_norm >= 0, "clip_grad_norm_: max_norm must be >= 0, got " << max_norm);
  RECUR_CHECK(norm_type > 0, "clip_grad_norm_: norm_type must be positive or infinity, got " << norm_type);
  const std::vector<Tensor> grads = defined_grads(params);
  if (grads.empty()) return 0;
  const double total = total_norm(grads, norm_type);
  RECUR_CHECK(!error_if_nonfinite || std::isfinite(total),
              "clip_grad_norm_: the total norm of order " << norm_type << " of the gradients is " << total
                                                          << ", so they cannot be clipped (error_if_nonfinite is set)");
  const double coef = max_norm / (total + 1e-6);
  if (coef >= 1) return total;  // also false for NaN: the gradients then become NaN, as in PyTorch
  NoGradGuard no_grad;
  for (const Tensor& g : grads) mul_(g, coef);
  return total;
}

double clip_grad_value_(const std::vector<Tensor>& params, double clip_value) {
  RECUR_CHECK(clip_value >= 0, "clip_grad_value_: clip_value must be >= 0, got " << clip_value);
  const std::vector<Tensor> grads = defined_grads(params);
  if (grads.empty()) return 0;
  const double total = total_norm(grads, 2);
  NoGradGuard no_grad;
  for (const Tensor& g : grads) clamp_(g, -clip_value, clip_value);
  return total;
}

}  // namespace recur::optim
