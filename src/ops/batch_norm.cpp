// batch_norm: PyTorch's F.batch_norm for (N, C), (N, C, L) and (N, C, H, W) inputs.
//
// The input is seen as (N, C, L), L the product of the dims after C; every statistic is per
// channel over its n = N*L values. The running statistics are buffers: the kernel updates
// them in place, outside autograd, and their version is bumped as for any in-place write.
#include "ops/window.hpp"

namespace recur {
namespace ops {
namespace {

// ---- batch_norm: y = x^ * w + b,  x^ = (x - mean) * invstd, per channel
//   db = sum(dy),  dw = sum(dy * x^)
//   training (mean, invstd of the batch depend on x):
//     dx = w * invstd * (dy - sum(dy)/n - x^ * sum(dy * x^)/n)
//   eval (running statistics, constants):  dx = w * invstd * dy
struct BatchNormBackward final : Node {
  const char* name() const override { return "batch_norm"; }
  TensorList apply(TensorList&& g) override {
    Tensor xv = x.get("batch_norm"), w = weight.get("batch_norm");
    Tensor m = mean.get("batch_norm"), is = invstd.get("batch_norm");
    Tensor dy = reshaped(dense(g[0]), xv.shape());
    Tensor dx, dw, db;
    backend::View dx_view, dw_view, db_view;
    if (next_edges[0].node) dx = empty(x_shape, xv.dtype(), xv.device()), dx_view = view_of(reshaped(dx, xv.shape()));
    if (next_edges[1].node) dw = empty(m.shape(), xv.dtype(), xv.device()), dw_view = view_of(dw);
    if (next_edges[2].node) db = empty(m.shape(), xv.dtype(), xv.device()), db_view = view_of(db);
    backend_of(xv).batch_norm_backward(dx_view, dw_view, db_view, view_of(dy), view_of(xv), view_of(m),
                                       view_of(is), w.defined() ? view_of(w) : backend::View{}, training);
    return {dx, dw, db};
  }
  void release_saved() override { x.reset(), weight.reset(), mean.reset(), invstd.reset(); }
  SavedTensor x;  // dense, as (N, C, L)
  SavedTensor weight, mean, invstd;
  Shape x_shape;
  bool training = true;
};

backend::View optional_view(const Tensor& t) { return t.defined() ? view_of(t) : backend::View{}; }

// A per-channel operand: undefined, or 1-D with C entries on x's device and dtype.
void check_per_channel(const char* what, const Tensor& t, const Tensor& x) {
  if (!t.defined()) return;
  check_floating("batch_norm", t);
  check_compatible("batch_norm", x, t);
  RECUR_CHECK(t.dim() == 1 && t.size(0) == x.size(1), "batch_norm: " << what << " of shape " << t.shape()
                                                          << " does not match the " << x.size(1)
                                                          << " channels of input of shape " << x.shape()
                                                          << " (expected [" << x.size(1) << "])");
}

}  // namespace
}  // namespace ops

using namespace ops;

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum, double eps) {
  check_floating("batch_norm", x);
  RECUR_CHECK(x.dim() >= 2, "batch_norm: expected an input of at least 2 dimensions (N, C, ...), got shape "
                                << x.shape());
  check_per_channel("running_mean", running_mean, x);
  check_per_channel("running_var", running_var, x);
  check_per_channel("weight", weight, x);
  check_per_channel("bias", bias, x);
  RECUR_CHECK(training || (running_mean.defined() && running_var.defined()),
              "batch_norm: evaluation mode (training false) needs running_mean and running_var");
  RECUR_CHECK(eps >= 0, "batch_norm: eps " << eps << " must not be negative");
  const std::int64_t batch = x.size(0), channels = x.size(1);
  std::int64_t inner = 1;
  for (int d = 2; d < x.dim(); ++d) inner *= x.size(d);
  RECUR_CHECK(!training || batch * inner > 1, "batch_norm: expected more than 1 value per channel when training, "
                                              "got input of shape " << x.shape());
  const bool update = training && (running_mean.defined() || running_var.defined());
  if (training) {
    if (running_mean.defined()) check_writable("batch_norm", running_mean);
    if (running_var.defined()) check_writable("batch_norm", running_var);
  }

  Tensor input = reshaped(dense(x), {batch, channels, inner});
  Tensor mean = empty({channels}, x.dtype(), x.device());
  Tensor invstd = empty({channels}, x.dtype(), x.device());
  backend::Backend& backend = backend_of(x);
  backend.batch_norm_stats(view_of(mean), view_of(invstd), view_of(input), optional_view(running_mean),
                           optional_view(running_var), training, momentum, eps);
  if (update) {
    if (running_mean.defined()) running_mean.storage()->bump_version();
    if (running_var.defined()) running_var.storage()->bump_version();
  }
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  backend.batch_norm(view_of(reshaped(y, input.shape())), view_of(input), view_of(mean), view_of(invstd),
                     optional_view(weight), optional_view(bias));

  if (auto node = make_node<BatchNormBackward>({x, weight, bias})) {
    node->x = input;
    node->weight = weight;
    node->mean = mean;
    node->invstd = invstd;
    node->x_shape = x.shape();
    node->training = training;
    record(node, {x, weight, bias}, {y});
  }
  return y;
}

}  // namespace recur
