// Reductions: sum, mean, max/min (with indices), argmax.
#include <sstream>
#include <string>

#include "ops/op_helpers.hpp"

namespace recur {
namespace ops {
namespace {

std::string dims_str(const std::vector<int>& dims) {
  std::ostringstream os;
  os << '[';
  for (std::size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
  os << ']';
  return os.str();
}

// Which dims of x a reduction over `dims` removes. An empty list means every dim, as in
// PyTorch's sum(dim=[]). Negative dims count from the end; a dim named twice is an error.
struct ReducedDims {
  bool reduced[kMaxDims] = {};
  std::int64_t count = 1;  // elements folded into each output element (mean's divisor)
};

ReducedDims reduced_dims(const char* op, const Tensor& x, const std::vector<int>& dims) {
  ReducedDims r;
  if (dims.empty()) {
    for (int d = 0; d < x.dim(); ++d) r.reduced[d] = true;
  }
  for (int dim : dims) {
    int d = normalize_dim(dim, x.dim(), op);
    if (x.dim() == 0) continue;  // dim 0 / -1 of a scalar: nothing to fold
    RECUR_CHECK(!r.reduced[d], op << ": dimension " << d << " appears more than once in dims " << dims_str(dims)
                                  << " for a tensor of shape " << x.shape());
    r.reduced[d] = true;
  }
  for (int d = 0; d < x.dim(); ++d)
    if (r.reduced[d]) r.count *= x.size(d);
  return r;
}

Shape keepdim_shape(const Shape& shape, const ReducedDims& r) {
  Shape kept;
  for (int d = 0; d < shape.ndim; ++d) kept.push_back(r.reduced[d] ? 1 : shape[d]);
  return kept;
}

Shape output_shape(const Shape& shape, const ReducedDims& r, bool keepdim) {
  if (keepdim) return keepdim_shape(shape, r);
  Shape out;
  for (int d = 0; d < shape.ndim; ++d)
    if (!r.reduced[d]) out.push_back(shape[d]);
  return out;
}

// The gradient g of a reduction's output seen with x's shape: a stride-0 view along the
// reduced dims (PyTorch's expand), so no pass over x-sized memory happens here.
// g has either the keepdim shape or the shape with the reduced dims removed.
Tensor expand_back(const Tensor& g, const ReducedDims& r, const Shape& x_shape) {
  bool keepdim = g.dim() == x_shape.ndim;
  Shape strides;
  int gd = 0;
  for (int d = 0; d < x_shape.ndim; ++d) {
    if (r.reduced[d]) {
      strides.push_back(0);
      if (keepdim) ++gd;
    } else {
      strides.push_back(g.stride(gd++));
    }
  }
  return Tensor::make_view(g.storage(), x_shape, strides, g.offset(), g.dtype());
}

// ---- sum, mean: y = sum_R x (/ |R|);  dx = expand(g) (/ |R|)
struct SumMeanBackward final : Node {
  const char* name() const override { return is_mean ? "mean" : "sum"; }
  TensorList apply(TensorList&& g) override {
    Tensor grad = is_mean ? mul(g[0], 1.0 / static_cast<double>(reduced.count)) : g[0];
    return {expand_back(grad, reduced, x_shape)};
  }
  bool is_mean = false;
  ReducedDims reduced;
  Shape x_shape;
};

Tensor sum_or_mean(const char* op, const Tensor& x, const ReducedDims& r, bool keepdim, bool is_mean) {
  check_floating(op, x);
  Tensor y = empty(output_shape(x.shape(), r, keepdim), x.dtype(), x.device());
  // The kernel wants the keepdim shape; y's buffer is the same either way.
  backend::View dst = view_of(y);
  dst.shape = keepdim_shape(x.shape(), r);
  dst.strides = contiguous_strides(dst.shape);
  backend_of(x).reduce(is_mean ? ReduceOp::Mean : ReduceOp::Sum, dst, view_of(x));
  if (auto node = make_node<SumMeanBackward>({x})) {
    node->is_mean = is_mean;
    node->reduced = r;
    node->x_shape = x.shape();
    record(node, {x}, {y});
  }
  return y;
}

// x as a 1-D view of all its elements (a copy only when x's strides do not allow it).
Tensor flat_detached(const Tensor& x) {
  Tensor d = x.detach();
  if (d.is_contiguous()) return Tensor::make_view(d.storage(), {x.numel()}, {1}, d.offset(), d.dtype());
  Tensor copy = empty({x.numel()}, x.dtype(), x.device());
  backend::View dst = view_of(copy);
  dst.shape = x.shape();
  dst.strides = contiguous_strides(x.shape());
  backend_of(x).copy(dst, view_of(x));
  return copy;
}

// ---- max over all elements: y = x[i*] (first maximum);  dx = g at i*, 0 elsewhere
struct MaxAllBackward final : Node {
  const char* name() const override { return "max"; }
  TensorList apply(TensorList&& g) override {
    Tensor dx = empty(x_shape, g[0].dtype(), g[0].device());
    backend::Backend& be = backend_of(dx);
    be.fill(view_of(dx), 0);
    backend::View flat = view_of(dx), src = view_of(g[0]), idx = view_of(index);
    flat.shape = {dx.numel()};
    flat.strides = {1};
    src.shape = {1};
    src.strides = {1};
    idx.shape = {1};
    idx.strides = {1};
    be.index_add(flat, 0, idx, src);
    return {dx};
  }
  Shape x_shape;
  Tensor index;  // int64, one element; not user-visible, so never modified
};

// ---- max/min along dim: y = x[.., i*, ..];  dx = scatter of g to i* along dim
struct ArgReduceBackward final : Node {
  const char* name() const override { return is_max ? "max" : "min"; }
  TensorList apply(TensorList&& g) override {
    Tensor dx = empty(x_shape, g[0].dtype(), g[0].device());
    backend::Backend& be = backend_of(dx);
    be.fill(view_of(dx), 0);
    // g and indices seen with the keepdim shape (extent 1 at dim).
    Tensor g_keep = expand_back(g[0], reduced, keep_shape);
    be.scatter_add(view_of(dx), dim, view_of(indices), view_of(g_keep));
    return {dx};
  }
  bool is_max = true;
  int dim = 0;
  ReducedDims reduced;
  Shape x_shape, keep_shape;
  Tensor indices;  // keepdim shape; internal, never modified in place
};

// Values and indices of the max or min of x along dim (x of rank >= 1).
ValuesIndices arg_reduce(const char* op, bool is_max, const Tensor& x, int dim, bool keepdim, bool want_values) {
  check_floating(op, x);
  int d = normalize_dim(dim, x.dim(), op);
  if (x.dim() == 0) {
    // A scalar is its own max, at index 0 (as PyTorch).
    ValuesIndices out;
    if (want_values) out.values = x;
    out.indices = empty({}, DType::Int64, x.device());
    backend_of(x).fill(view_of(out.indices), 0);
    return out;
  }
  RECUR_CHECK(x.size(d) > 0, op << ": cannot reduce over dimension " << d << " of extent 0 in shape " << x.shape());
  ReducedDims r;
  r.reduced[d] = true;
  r.count = x.size(d);
  Shape keep = keepdim_shape(x.shape(), r);
  Shape out_shape = output_shape(x.shape(), r, keepdim);

  Tensor indices = empty(keep, DType::Int64, x.device());
  Tensor values;
  backend::View values_view;
  values_view.dtype = x.dtype();
  values_view.shape = keep;
  values_view.strides = contiguous_strides(keep);
  if (want_values) {
    values = empty(keep, x.dtype(), x.device());
    values_view = view_of(values);
  }
  backend_of(x).arg_reduce(is_max, values_view, view_of(indices), view_of(x), d);

  ValuesIndices out;
  auto reshaped = [&](const Tensor& t) {
    return keepdim ? t : Tensor::make_view(t.storage(), out_shape, contiguous_strides(out_shape), 0, t.dtype());
  };
  out.indices = reshaped(indices);
  if (!want_values) return out;
  out.values = reshaped(values);
  if (auto node = make_node<ArgReduceBackward>({x})) {
    node->is_max = is_max;
    node->dim = d;
    node->reduced = r;
    node->x_shape = x.shape();
    node->keep_shape = keep;
    node->indices = indices;
    record(node, {x}, {out.values});
  }
  return out;
}

}  // namespace
}  // namespace ops

using namespace ops;

Tensor sum(const Tensor& x) {
  check_floating("sum", x);
  return sum_or_mean("sum", x, reduced_dims("sum", x, {}), false, false);
}

Tensor sum(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  check_floating("sum", x);
  return sum_or_mean("sum", x, reduced_dims("sum", x, dims), keepdim, false);
}

Tensor mean(const Tensor& x) {
  check_floating("mean", x);
  return sum_or_mean("mean", x, reduced_dims("mean", x, {}), false, true);
}

Tensor mean(const Tensor& x, const std::vector<int>& dims, bool keepdim) {
  check_floating("mean", x);
  return sum_or_mean("mean", x, reduced_dims("mean", x, dims), keepdim, true);
}

Tensor max(const Tensor& x) {
  check_floating("max", x);
  RECUR_CHECK(x.numel() > 0, "max: cannot take the max of an empty tensor of shape " << x.shape());
  Tensor flat = flat_detached(x);
  Tensor value = empty({}, x.dtype(), x.device());
  Tensor index = empty({}, DType::Int64, x.device());
  backend::View values_view = view_of(value), index_view = view_of(index);
  values_view.shape = index_view.shape = {1};
  values_view.strides = index_view.strides = {1};
  backend_of(x).arg_reduce(true, values_view, index_view, view_of(flat), 0);
  if (auto node = make_node<MaxAllBackward>({x})) {
    node->x_shape = x.shape();
    node->index = index;
    record(node, {x}, {value});
  }
  return value;
}

ValuesIndices max(const Tensor& x, int dim, bool keepdim) { return arg_reduce("max", true, x, dim, keepdim, true); }
ValuesIndices min(const Tensor& x, int dim, bool keepdim) { return arg_reduce("min", false, x, dim, keepdim, true); }

Tensor argmax(const Tensor& x, int dim, bool keepdim) {
  return arg_reduce("argmax", true, x, dim, keepdim, false).indices;
}

Tensor argmax(const Tensor& x) {
  check_floating("argmax", x);
  RECUR_CHECK(x.numel() > 0, "argmax: cannot take the argmax of an empty tensor of shape " << x.shape());
  Tensor flat = flat_detached(x);
  Tensor index = empty({}, DType::Int64, x.device());
  backend::View values_view, index_view = view_of(index);
  values_view.dtype = x.dtype();
  values_view.shape = index_view.shape = {1};
  values_view.strides = index_view.strides = {1};
  backend_of(x).arg_reduce(true, values_view, index_view, view_of(flat), 0);
  return index;
}

}  // namespace recur
