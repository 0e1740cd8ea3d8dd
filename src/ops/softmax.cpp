// softmax and log_softmax along one dimension: forward and backward kernels of the backend.
#include "ops/op_helpers.hpp"

namespace recur {
namespace ops {
namespace {

// A scalar is treated as a 1-element vector along dim 0 (softmax of it is 1).
backend::View at_least_1d(backend::View v) {
  if (v.shape.ndim == 0) {
    v.shape = {1};
    v.strides = {1};
  }
  return v;
}

// ---- softmax:     dx = y * (g - sum_dim(g * y))
//      log_softmax: dx = g - exp(y) * sum_dim(g)
// Both need only the output y.
struct SoftmaxBackward final : Node {
  const char* name() const override { return log ? "log_softmax" : "softmax"; }
  TensorList apply(TensorList&& g) override {
    Tensor yv = y.get(name());
    Tensor dx = empty(yv.shape(), yv.dtype(), yv.device());
    backend_of(dx).softmax_backward(at_least_1d(view_of(dx)), at_least_1d(view_of(g[0])), at_least_1d(view_of(yv)),
                                    dim, log);
    return {dx};
  }
  void release_saved() override { y.reset(); }
  bool log = false;
  int dim = 0;
  SavedTensor y;
};

Tensor softmax_impl(const char* op, const Tensor& x, int dim, bool log) {
  check_floating(op, x);
  int d = normalize_dim(dim, x.dim(), op);
  Tensor y = empty(x.shape(), x.dtype(), x.device());
  backend_of(x).softmax(at_least_1d(view_of(y)), at_least_1d(view_of(x)), d, log);
  if (auto node = make_node<SoftmaxBackward>({x})) {
    node->log = log;
    node->dim = d;
    node->y = y;
    record(node, {x}, {y});
  }
  return y;
}

}  // namespace
}  // namespace ops

Tensor softmax(const Tensor& x, int dim) { return ops::softmax_impl("softmax", x, dim, false); }
Tensor log_softmax(const Tensor& x, int dim) { return ops::softmax_impl("log_softmax", x, dim, true); }

}  // namespace recur
