// Losses: mse, binary cross-entropy with logits, negative log-likelihood, cross-entropy.
// Each computes an elementwise (or per-sample) loss and then applies the reduction with
// the differentiable sum/mean, so the reduction's backward is shared.
#include <vector>

#include "ops/op_helpers.hpp"

namespace recur {
namespace ops {
namespace {

Tensor reduce_loss(const Tensor& loss, Reduction reduction) {
  if (reduction == Reduction::Mean) return mean(loss);
  if (reduction == Reduction::Sum) return sum(loss);
  return loss;
}

void check_same_shape(const char* op, const Tensor& input, const Tensor& target) {
  check_floating(op, input), check_floating(op, target);
  check_compatible(op, input, target);
  RECUR_CHECK(input.shape() == target.shape(), op << ": input of shape " << input.shape() << " and target of shape "
                                                  << target.shape() << " differ; expected equal shapes");
}

// ---- binary cross-entropy with logits, elementwise:
//   l = max(x, 0) - x t + log(1 + exp(-|x|))   (never exponentiates a large positive)
//   dl/dx = sigmoid(x) - t,   dl/dt = -x
struct BceWithLogitsBackward final : Node {
  const char* name() const override { return "binary_cross_entropy_with_logits"; }
  TensorList apply(TensorList&& g) override {
    Tensor x = logits.get(name()), t = target.get(name());
    Tensor dx, dt;
    if (next_edges[0].node) dx = mul(g[0], sub(sigmoid(x), t));
    if (next_edges[1].node) dt = neg(mul(g[0], x));
    return {dx, dt};
  }
  void release_saved() override { logits.reset(), target.reset(); }
  SavedTensor logits, target;
};

// Checks logp (N, C) and target (N) int64 with every value in [0, C) or == ignore_index,
// naming `op`. Returns how many targets are not ignored (the Mean divisor).
// `classes` is input's second extent, or given (linear_cross_entropy's input is (N, K)).
std::int64_t check_targets(const char* op, const Tensor& input, const Tensor& target, std::int64_t ignore_index,
                           std::int64_t classes = -1) {
  check_floating(op, input);
  check_int64(op, "target", target);
  RECUR_CHECK(input.device() == target.device(), op << ": input is on " << input.device() << " but target is on "
                                                    << target.device());
  RECUR_CHECK(input.dim() == 2, op << ": expected input of shape (N, " << (classes < 0 ? "C" : "K") << "), got "
                                   << input.shape());
  const std::int64_t n = input.size(0);
  if (classes < 0) classes = input.size(1);
  RECUR_CHECK(target.dim() == 1 && target.size(0) == n, op << ": target of shape " << target.shape()
                                                           << " does not match input of shape " << input.shape()
                                                           << " (expected [" << n << "])");
  if (n == 0) return 0;
  const auto [lo, hi] = int_min_max(target);
  bool may_ignore = ignore_index >= lo && ignore_index <= hi;
  if (lo >= 0 && hi < classes && !may_ignore) return n;  // the common case: no scan on the host
  // Some target is ignored or out of range: find which, on the CPU.
  std::vector<std::int64_t> values = target.to_vector<std::int64_t>();
  std::int64_t count = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t v = values[i];
    if (v == ignore_index) continue;
    RECUR_CHECK(v >= 0 && v < classes, op << ": target " << v << " at position " << i << " is out of range for "
                                          << classes << " classes (expected 0.." << classes - 1
                                          << " or ignore_index " << ignore_index << ")");
    ++count;
  }
  return count;
}

// ---- nll per sample: l_i = -logp[i, t_i] (0 where ignored);  dlogp[i, t_i] = -g_i
struct NllLossBackward final : Node {
  const char* name() const override { return "nll_loss"; }
  TensorList apply(TensorList&& g) override {
    Tensor t = target.get(name());
    Tensor dlogp = empty(logp_shape, g[0].dtype(), g[0].device());
    backend_of(dlogp).nll_loss_backward(view_of(dlogp), view_of(g[0]), view_of(t), ignore_index);
    return {dlogp};
  }
  void release_saved() override { target.reset(); }
  SavedTensor target;
  Shape logp_shape;
  std::int64_t ignore_index = -100;
};

// Per-sample losses reduced; `count` targets are not ignored.
Tensor reduce_nll(const Tensor& loss, Reduction reduction, std::int64_t count) {
  // Mean over the targets not ignored; with none left, 0 * (1/0) = NaN as in PyTorch.
  if (reduction == Reduction::Mean) return mul(sum(loss), 1.0 / static_cast<double>(count));
  return reduce_loss(loss, reduction);
}

// nll_loss on checked operands; `count` targets are not ignored.
Tensor nll_checked(const Tensor& logp, const Tensor& target, Reduction reduction, std::int64_t ignore_index,
                   std::int64_t count) {
  Tensor loss = empty({logp.size(0)}, logp.dtype(), logp.device());
  if (logp.size(0) > 0) backend_of(logp).nll_loss(view_of(loss), view_of(logp), view_of(target), ignore_index);
  if (auto node = make_node<NllLossBackward>({logp})) {
    node->target = target;
    node->logp_shape = logp.shape();
    node->ignore_index = ignore_index;
    record(node, {logp}, {loss});
  }
  return reduce_nll(loss, reduction, count);
}

}  // namespace
}  // namespace ops

using namespace ops;

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction) {
  check_same_shape("mse_loss", input, target);
  Tensor diff = sub(input, target);
  return reduce_loss(mul(diff, diff), reduction);
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target, Reduction reduction) {
  const char* op = "binary_cross_entropy_with_logits";
  check_same_shape(op, logits, target);
  Tensor loss;
  {
    NoGradGuard no_grad;  // the node below records the whole elementwise formula at once
    Tensor softplus_tail = log(add(exp(neg(abs(logits))), 1.0));
    loss = add(sub(relu(logits), mul(logits, target)), softplus_tail);
  }
  if (auto node = make_node<BceWithLogitsBackward>({logits, target})) {
    node->logits = logits;  // both gradients need x
    if (logits.requires_grad()) node->target = target;
    record(node, {logits, target}, {loss});
  }
  return reduce_loss(loss, reduction);
}

Tensor nll_loss(const Tensor& logp, const Tensor& target, Reduction reduction, std::int64_t ignore_index) {
  std::int64_t count = check_targets("nll_loss", logp, target, ignore_index);
  return nll_checked(logp, target, reduction, ignore_index, count);
}

Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction, std::int64_t ignore_index) {
  std::int64_t count = check_targets("cross_entropy", logits, target, ignore_index);
  if (autograd::any_requires_grad({logits}))
    return nll_checked(log_softmax(logits, 1), target, reduction, ignore_index, count);
  // No graph to keep: the losses straight from the logits, never writing (N, C) log-probabilities.
  Tensor loss = empty({logits.size(0)}, logits.dtype(), logits.device());
  if (logits.size(0) > 0)
    backend_of(logits).cross_entropy(view_of(loss), view_of(logits), view_of(target), ignore_index);
  return reduce_nll(loss, reduction, count);
}

Tensor linear_cross_entropy(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& target,
                            Reduction reduction, std::int64_t ignore_index) {
  const char* op = "linear_cross_entropy";
  check_linear(op, x, weight, bias);
  const std::int64_t count = check_targets(op, x, target, ignore_index, weight.size(0));
  if (autograd::any_requires_grad({x, weight, bias}))
    return cross_entropy(linear(x, weight, bias), target, reduction, ignore_index);
  // No graph to keep: the losses without storing the (N, C) logits.
  Tensor loss = empty({x.size(0)}, x.dtype(), x.device());
  if (x.size(0) > 0) {
    const Tensor dense_bias = bias.defined() ? dense(bias) : bias;
    backend_of(x).linear_cross_entropy(view_of(loss), view_of(dense(x)), view_of(dense(weight)),
                                       dense_bias.defined() ? view_of(dense_bias) : backend::View{}, view_of(target),
                                       ignore_index);
  }
  return reduce_nll(loss, reduction, count);
}

}  // namespace recur
