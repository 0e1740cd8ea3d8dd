#include "ops/op_helpers.hpp"

namespace recur::ops {

void check_defined(const char* op, const Tensor& t) {
  RECUR_CHECK(t.defined(), op << ": an operand is an undefined tensor");
}

void check_floating(const char* op, const Tensor& t) {
  check_defined(op, t);
  RECUR_CHECK(is_floating(t.dtype()), op << ": expected a float32 or float64 tensor, got " << t.dtype()
                                         << " of shape " << t.shape());
}

void check_int64(const char* op, const char* what, const Tensor& t) {
  check_defined(op, t);
  RECUR_CHECK(t.dtype() == DType::Int64, op << ": " << what << " must be int64, got " << t.dtype()
                                            << " of shape " << t.shape());
}

void check_compatible(const char* op, const Tensor& a, const Tensor& b) {
  check_defined(op, a);
  check_defined(op, b);
  RECUR_CHECK(a.device() == b.device(), op << ": operands are on different devices (" << a.device() << " "
                                           << a.shape() << " and " << b.device() << " " << b.shape() << ")");
  RECUR_CHECK(a.dtype() == b.dtype(), op << ": operands have different dtypes (" << a.dtype() << " "
                                         << a.shape() << " and " << b.dtype() << " " << b.shape() << ")");
}

void check_writable(const char* op, const Tensor& t) {
  check_defined(op, t);
  RECUR_CHECK(!(is_grad_enabled() && t.requires_grad()),
              op << ": cannot write in place into a tensor of shape " << t.shape()
                 << " that requires grad while grad mode is on (use NoGradGuard)");
}

std::pair<std::int64_t, std::int64_t> int_min_max(const Tensor& t) {
  Tensor min_max = empty({2}, DType::Int64, t.device());
  backend_of(t).int_min_max(view_of(min_max), view_of(t));
  const std::vector<std::int64_t> values = min_max.to_vector<std::int64_t>();
  return {values[0], values[1]};
}

Tensor dense(const Tensor& t) {
  if (t.is_contiguous()) return t.detach();
  Tensor out = empty(t.shape(), t.dtype(), t.device());
  if (out.numel() > 0) backend_of(t).copy(view_of(out), view_of(t));
  return out;
}

Tensor sum_to(const Tensor& grad, const Shape& shape) {
  if (grad.shape() == shape) return grad;
  // Reduce over leading dims that `shape` lacks and over dims where it has extent 1.
  int lead = grad.dim() - shape.ndim;
  Shape kept;  // grad's rank, 1 where reduced
  for (int d = 0; d < grad.dim(); ++d) {
    bool reduce = d < lead || shape[d - lead] == 1;
    kept.push_back(reduce ? 1 : grad.size(d));
  }
  Tensor out = empty(kept, grad.dtype(), grad.device());
  backend_of(grad).reduce(ReduceOp::Sum, view_of(out), view_of(grad));
  return Tensor::make_view(out.storage(), shape, contiguous_strides(shape), 0, out.dtype());
}

}  // namespace recur::ops
