// Autograd controls and the gradient checker.
//
// Every op records, when grad mode is on and an input requires grad, a node holding the
// tensors its backward needs. Tensor::backward() walks those nodes once in topological
// order, accumulates gradients into the leaves' grad(), and frees the graph.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "recur/core/tensor.hpp"

namespace recur {

bool is_grad_enabled();
void set_grad_enabled(bool enabled);

// Disables recording for its lifetime (inference, optimizer updates), then restores the
// previous mode. Thread-local, like PyTorch's.
class NoGradGuard {
 public:
  NoGradGuard() : previous_(is_grad_enabled()) { set_grad_enabled(false); }
  ~NoGradGuard() { set_grad_enabled(previous_); }
  NoGradGuard(const NoGradGuard&) = delete;
  NoGradGuard& operator=(const NoGradGuard&) = delete;

 private:
  bool previous_;
};

// Calls hook(leaf) when a backward pass has finished with leaf's gradient: every
// contribution of that pass, summed, has been added to leaf.grad(). Runs once per pass that
// reaches the leaf, inside backward, while the rest of the pass is still to run (PyTorch's
// register_post_accumulate_grad_hook); data-parallel training starts sending gradients there.
// Requires: leaf is a leaf tensor. Returns a key for remove_post_accumulate_grad_hook.
using GradHook = std::function<void(const Tensor& leaf)>;
std::uint64_t add_post_accumulate_grad_hook(const Tensor& leaf, GradHook hook);
// Removes the hook that `key` names; nothing if there is none.
void remove_post_accumulate_grad_hook(const Tensor& leaf, std::uint64_t key);

struct GradcheckOptions {
  double eps = 1e-6;        // central-difference step
  double tolerance = 1e-6;  // largest accepted error, see GradcheckResult::max_error
};

struct GradcheckResult {
  bool ok = false;
  // max over all Jacobian entries of |analytic - numeric| / max(1, |numeric|): a relative
  // error for large entries, an absolute one near zero.
  double max_error = 0;
  std::string report;  // which input and element was worst, with both values
};

// Compares autograd's Jacobian of fn at `inputs` with central finite differences, one
// input element at a time and one output element at a time.
// Requires: every input is float64 (the check is meaningless in float32) and fn is
// deterministic. Inputs with requires_grad() false are held constant. fn may return a
// tensor of any shape.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, GradcheckOptions options = {});

}  // namespace recur
