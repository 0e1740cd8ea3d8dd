// Shapes and views: reshape, transpose, expand, slicing, concatenation and splitting.
//
// A view is a new Tensor over the same storage with its own shape, strides and offset;
// nothing is copied (reshape copies only when no strides can describe the result, and cat
// and stack build a new tensor). Each view records a node that maps the gradient back.
#include <algorithm>
#include <utility>

#include "ops/op_helpers.hpp"

namespace recur {
namespace ops {
namespace {

Tensor alias(const Tensor& x, const Shape& shape, const Shape& strides, std::int64_t offset) {
  return Tensor::make_view(x.storage(), shape, strides, offset, x.dtype());
}

// A dimension of x; rank 0 has none (normalize_dim would accept 0 and -1 for it).
int existing_dim(const char* op, const Tensor& x, int dim) {
  check_defined(op, x);
  RECUR_CHECK(x.dim() > 0, op << ": expected a tensor with at least one dimension, got shape " << x.shape());
  return normalize_dim(dim, x.dim(), op);
}

// Product of extents, refusing negatives and overflow (a wrapped count could match a wrong shape).
std::int64_t checked_numel(const char* op, const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t e : shape) {
    RECUR_CHECK(e >= 0, op << ": negative extent in shape " << shape);
    RECUR_CHECK(!__builtin_mul_overflow(n, e, &n), op << ": shape " << shape << " has too many elements");
  }
  return n;
}

// `shape` with its -1 extent (at most one) replaced so that it holds `x`'s elements.
Shape infer_shape(const char* op, const Tensor& x, const Shape& shape) {
  Shape out = shape;
  int infer = -1;
  std::int64_t known = 1;
  for (int d = 0; d < shape.ndim; ++d) {
    if (shape[d] == -1) {
      RECUR_CHECK(infer < 0, op << ": only one extent may be -1, got shape " << shape);
      infer = d;
      continue;
    }
    RECUR_CHECK(shape[d] >= 0, op << ": invalid extent " << shape[d] << " in shape " << shape);
    RECUR_CHECK(!__builtin_mul_overflow(known, shape[d], &known), op << ": shape " << shape << " has too many elements");
  }
  std::int64_t n = x.numel();
  if (infer >= 0) {
    RECUR_CHECK(known != 0 && n % known == 0,
                op << ": cannot reshape a tensor of shape " << x.shape() << " (" << n << " elements) into " << shape);
    out[infer] = n / known;
  } else {
    RECUR_CHECK(known == n, op << ": cannot reshape a tensor of shape " << x.shape() << " (" << n
                               << " elements) into " << shape << " (" << known << " elements)");
  }
  return out;
}

// Strides that let a tensor (old_shape, old_strides) be read as new_shape without copying,
// PyTorch's computeStride: old dims that are contiguous with each other form chunks, and
// each chunk must be covered exactly by a run of new dims. False when no such strides exist.
bool view_strides(const Shape& old_shape, const Shape& old_strides, const Shape& new_shape, Shape* new_strides) {
  *new_strides = contiguous_strides(new_shape);
  if (old_shape.numel() == 0) return true;  // no element is ever read: any strides do
  if (old_shape.ndim == 0) return true;     // one element: contiguous strides reach it
  int view_d = new_shape.ndim - 1;
  std::int64_t chunk_base_stride = old_strides[old_shape.ndim - 1];
  std::int64_t tensor_numel = 1, view_numel = 1;
  for (int tensor_d = old_shape.ndim - 1; tensor_d >= 0; --tensor_d) {
    tensor_numel *= old_shape[tensor_d];
    // A chunk ends where the next outer dim does not continue this one's memory.
    bool chunk_ends = tensor_d == 0 || (old_shape[tensor_d - 1] != 1 &&
                                        old_strides[tensor_d - 1] != tensor_numel * chunk_base_stride);
    if (!chunk_ends) continue;
    while (view_d >= 0 && (view_numel < tensor_numel || new_shape[view_d] == 1)) {
      (*new_strides)[view_d] = view_numel * chunk_base_stride;
      view_numel *= new_shape[view_d];
      --view_d;
    }
    if (view_numel != tensor_numel) return false;
    if (tensor_d > 0) {
      chunk_base_stride = old_strides[tensor_d - 1];
      tensor_numel = 1;
      view_numel = 1;
    }
  }
  return view_d == -1;
}

// ---- reshape, view, flatten, squeeze, unsqueeze: y = x read in another shape;  dx = reshape(g, x.shape)
struct ReshapeBackward final : Node {
  const char* name() const override { return op_name; }
  TensorList apply(TensorList&& g) override { return {reshape(g[0], input_shape)}; }
  const char* op_name = "reshape";
  Shape input_shape;
};

Tensor reshape_alias(const char* op, const Tensor& x, const Shape& shape, const Shape& strides) {
  Tensor y = alias(x, shape, strides, x.offset());
  if (auto node = make_node<ReshapeBackward>({x})) {
    node->op_name = op;
    node->input_shape = x.shape();
    record(node, {x}, {y});
  }
  return y;
}

// reshape's work under the name of the op the user called; copies only if allow_copy.
Tensor reshape_as(const char* op, const Tensor& x, const Shape& requested, bool allow_copy) {
  check_defined(op, x);
  Shape shape = infer_shape(op, x, requested);
  Shape strides;
  if (view_strides(x.shape(), x.strides(), shape, &strides)) return reshape_alias(op, x, shape, strides);
  RECUR_CHECK(allow_copy, op << ": a tensor of shape " << x.shape() << " and strides " << x.strides()
                             << " cannot be viewed as shape " << shape
                             << " without copying; use reshape (or contiguous() first)");
  return reshape_alias(op, clone(x), shape, contiguous_strides(shape));
}

// ---- transpose: dx = transpose(g, dim0, dim1)
struct TransposeBackward final : Node {
  const char* name() const override { return "transpose"; }
  TensorList apply(TensorList&& g) override { return {transpose(g[0], dim0, dim1)}; }
  int dim0 = 0, dim1 = 0;
};

// ---- permute: y.dim(i) = x.dim(dims[i]);  dx = permute(g, inverse) with inverse[dims[i]] = i
struct PermuteBackward final : Node {
  const char* name() const override { return "permute"; }
  TensorList apply(TensorList&& g) override { return {permute(g[0], inverse)}; }
  std::vector<int> inverse;
};

// ---- expand: y = x broadcast to a larger shape;  dx = sum_to(g, x.shape)
struct ExpandBackward final : Node {
  const char* name() const override { return "expand"; }
  TensorList apply(TensorList&& g) override { return {sum_to(g[0], input_shape)}; }
  Shape input_shape;
};

// ---- narrow, slice, select, split, chunk: y = x[.., start : : step, ..] (select also drops
// the dim);  dx = zeros(x.shape) with g written into the same window of it
struct SliceBackward final : Node {
  const char* name() const override { return op_name; }
  TensorList apply(TensorList&& g) override {
    Tensor dx = zeros(input_shape, g[0].dtype(), g[0].device());
    if (g[0].numel() == 0) return {dx};
    Shape dense = contiguous_strides(input_shape);
    Shape strides;
    for (int d = 0; d < input_shape.ndim; ++d) {
      if (d == dim && removes_dim) continue;
      strides.push_back(d == dim ? dense[d] * step : dense[d]);
    }
    Tensor window = Tensor::make_view(dx.storage(), g[0].shape(), strides, start * dense[dim], dx.dtype());
    backend_of(dx).copy(view_of(window), view_of(g[0]));
    return {dx};
  }
  const char* op_name = "slice";
  Shape input_shape;
  int dim = 0;
  std::int64_t start = 0, step = 1;
  bool removes_dim = false;
};

// The view of x at start, start+step, ... (length elements) along dim d, already checked.
Tensor slice_view(const char* op, const Tensor& x, int d, std::int64_t start, std::int64_t length,
                  std::int64_t step, bool removes_dim) {
  Shape shape, strides;
  for (int i = 0; i < x.dim(); ++i) {
    if (i == d && removes_dim) continue;
    shape.push_back(i == d ? length : x.size(i));
    strides.push_back(i == d ? x.stride(i) * step : x.stride(i));
  }
  // An empty window may start one past the end; its offset is never read.
  Tensor y = alias(x, shape, strides, x.offset() + start * x.stride(d));
  if (auto node = make_node<SliceBackward>({x})) {
    node->op_name = op;
    node->input_shape = x.shape();
    node->dim = d;
    node->start = start;
    node->step = step;
    node->removes_dim = removes_dim;
    record(node, {x}, {y});
  }
  return y;
}

// ---- cat: y = [x0; x1; ...] along dim;  dx_i = narrow(g, dim, offset_i, size_i)
struct CatBackward final : Node {
  const char* name() const override { return "cat"; }
  TensorList apply(TensorList&& g) override {
    TensorList dx(sizes.size());
    std::int64_t offset = 0;
    for (std::size_t i = 0; i < sizes.size(); ++i) {
      if (next_edges[i].node) dx[i] = narrow(g[0], dim, offset, sizes[i]);
      offset += sizes[i];
    }
    return dx;
  }
  int dim = 0;
  std::vector<std::int64_t> sizes;
};

// Every tensor of a list is defined and shares the first one's dtype and device.
void check_list(const char* op, const std::vector<Tensor>& tensors) {
  RECUR_CHECK(!tensors.empty(), op << ": expected a non-empty list of tensors");
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    RECUR_CHECK(tensors[i].defined(), op << ": tensor " << i << " is undefined");
    const Tensor& a = tensors[0];
    const Tensor& b = tensors[i];
    RECUR_CHECK(a.dtype() == b.dtype(), op << ": tensor " << i << " is " << b.dtype() << " " << b.shape()
                                           << ", but tensor 0 is " << a.dtype() << " " << a.shape());
    RECUR_CHECK(a.device() == b.device(), op << ": tensor " << i << " is on " << b.device() << " "
                                             << b.shape() << ", but tensor 0 is on " << a.device());
  }
}

std::vector<Tensor> split_as(const char* op, const Tensor& x, std::int64_t split_size, int d) {
  std::int64_t size = x.size(d);
  std::vector<Tensor> pieces;
  if (size == 0) pieces.push_back(slice_view(op, x, d, 0, 0, 1, false));  // one empty piece, as PyTorch
  for (std::int64_t start = 0; start < size; start += split_size)
    pieces.push_back(slice_view(op, x, d, start, std::min(split_size, size - start), 1, false));
  return pieces;
}

}  // namespace
}  // namespace ops

using namespace ops;

Tensor reshape(const Tensor& x, const Shape& shape) { return reshape_as("reshape", x, shape, true); }
Tensor view(const Tensor& x, const Shape& shape) { return reshape_as("view", x, shape, false); }

Tensor flatten(const Tensor& x, int start_dim, int end_dim) {
  check_defined("flatten", x);
  if (x.dim() == 0) return reshape_as("flatten", x, {1}, true);  // as PyTorch: a scalar becomes [1]
  int start = normalize_dim(start_dim, x.dim(), "flatten");
  int end = normalize_dim(end_dim, x.dim(), "flatten");
  RECUR_CHECK(start <= end, "flatten: start_dim " << start_dim << " comes after end_dim " << end_dim
                                                  << " for a tensor of shape " << x.shape());
  Shape shape;
  for (int d = 0; d < start; ++d) shape.push_back(x.size(d));
  std::int64_t merged = 1;
  for (int d = start; d <= end; ++d) merged *= x.size(d);
  shape.push_back(merged);
  for (int d = end + 1; d < x.dim(); ++d) shape.push_back(x.size(d));
  return reshape_as("flatten", x, shape, true);
}

Tensor squeeze(const Tensor& x, int dim) {
  int d = existing_dim("squeeze", x, dim);
  RECUR_CHECK(x.size(d) == 1, "squeeze: dimension " << dim << " of shape " << x.shape() << " has extent "
                                                    << x.size(d) << ", expected 1");
  Shape shape, strides;
  for (int i = 0; i < x.dim(); ++i) {
    if (i == d) continue;
    shape.push_back(x.size(i));
    strides.push_back(x.stride(i));
  }
  return reshape_alias("squeeze", x, shape, strides);
}

Tensor unsqueeze(const Tensor& x, int dim) {
  check_defined("unsqueeze", x);
  RECUR_CHECK(x.dim() < kMaxDims, "unsqueeze: a tensor of shape " << x.shape() << " already has the maximum of "
                                                                   << kMaxDims << " dimensions");
  int d = normalize_dim(dim, x.dim() + 1, "unsqueeze");
  Shape shape, strides;
  for (int i = 0; i <= x.dim(); ++i) {
    if (i == d) {
      shape.push_back(1);
      // Any stride reads a dim of extent 1 correctly; this one keeps a contiguous x contiguous.
      strides.push_back(d < x.dim() ? x.size(d) * x.stride(d) : 1);
    }
    if (i < x.dim()) {
      shape.push_back(x.size(i));
      strides.push_back(x.stride(i));
    }
  }
  return reshape_alias("unsqueeze", x, shape, strides);
}

Tensor transpose(const Tensor& x, int dim0, int dim1) {
  check_defined("transpose", x);
  if (x.dim() == 0) {
    normalize_dim(dim0, 0, "transpose");
    normalize_dim(dim1, 0, "transpose");
    return reshape_alias("transpose", x, x.shape(), x.strides());
  }
  int d0 = normalize_dim(dim0, x.dim(), "transpose");
  int d1 = normalize_dim(dim1, x.dim(), "transpose");
  Shape shape = x.shape(), strides = x.strides();
  std::swap(shape[d0], shape[d1]);
  std::swap(strides[d0], strides[d1]);
  Tensor y = alias(x, shape, strides, x.offset());
  if (auto node = make_node<TransposeBackward>({x})) {
    node->dim0 = d0;
    node->dim1 = d1;
    record(node, {x}, {y});
  }
  return y;
}

Tensor t(const Tensor& x) {
  check_defined("t", x);
  RECUR_CHECK(x.dim() == 2, "t: expected a 2-D tensor, got shape " << x.shape());
  return transpose(x, 0, 1);
}

Tensor permute(const Tensor& x, const std::vector<int>& dims) {
  check_defined("permute", x);
  auto describe = [&] {
    std::ostringstream os;
    os << '[';
    for (std::size_t i = 0; i < dims.size(); ++i) os << (i ? ", " : "") << dims[i];
    os << ']';
    return os.str();
  };
  RECUR_CHECK(static_cast<int>(dims.size()) == x.dim(), "permute: dims " << describe() << " name " << dims.size()
                                                                         << " dimensions, but the tensor of shape "
                                                                         << x.shape() << " has " << x.dim());
  Shape shape, strides;
  std::vector<int> inverse(dims.size(), -1);
  for (std::size_t i = 0; i < dims.size(); ++i) {
    int d = normalize_dim(dims[i], x.dim(), "permute");
    RECUR_CHECK(inverse[d] < 0, "permute: dimension " << d << " appears twice in dims " << describe());
    inverse[d] = static_cast<int>(i);
    shape.push_back(x.size(d));
    strides.push_back(x.stride(d));
  }
  Tensor y = alias(x, shape, strides, x.offset());
  if (auto node = make_node<PermuteBackward>({x})) {
    node->inverse = inverse;
    record(node, {x}, {y});
  }
  return y;
}

Tensor expand(const Tensor& x, const Shape& shape) {
  check_defined("expand", x);
  RECUR_CHECK(shape.ndim >= x.dim(), "expand: target shape " << shape << " has fewer dimensions than the input's shape "
                                                            << x.shape());
  int lead = shape.ndim - x.dim();
  Shape out_shape, strides;
  for (int i = 0; i < shape.ndim; ++i) {
    std::int64_t target = shape[i];
    if (i < lead) {
      RECUR_CHECK(target >= 0, "expand: extent " << target << " in target shape " << shape
                                                  << " is not allowed for a new leading dimension " << i);
      out_shape.push_back(target);
      strides.push_back(0);
      continue;
    }
    std::int64_t e = x.size(i - lead);
    if (target == -1) target = e;
    RECUR_CHECK(target >= 0 && (e == target || e == 1),
                "expand: the input's shape " << x.shape() << " cannot be expanded to " << shape << " (dimension " << i
                                             << ": " << e << " vs " << shape[i] << ")");
    out_shape.push_back(target);
    strides.push_back(e == target ? x.stride(i - lead) : 0);
  }
  checked_numel("expand", out_shape);
  Tensor y = alias(x, out_shape, strides, x.offset());
  if (auto node = make_node<ExpandBackward>({x})) {
    node->input_shape = x.shape();
    record(node, {x}, {y});
  }
  return y;
}

Tensor narrow(const Tensor& x, int dim, std::int64_t start, std::int64_t length) {
  int d = existing_dim("narrow", x, dim);
  std::int64_t size = x.size(d);
  RECUR_CHECK(start >= -size && start <= size, "narrow: start " << start << " is out of range for dimension " << dim
                                                                << " of size " << size << " (expected " << -size
                                                                << ".." << size << ")");
  if (start < 0) start += size;
  RECUR_CHECK(length >= 0 && length <= size - start,
              "narrow: length " << length << " from start " << start << " does not fit dimension " << dim
                                << " of size " << size << " in shape " << x.shape());
  return slice_view("narrow", x, d, start, length, 1, false);
}

Tensor slice(const Tensor& x, int dim, std::int64_t start, std::int64_t end, std::int64_t step) {
  int d = existing_dim("slice", x, dim);
  RECUR_CHECK(step > 0, "slice: step " << step << " must be positive");
  std::int64_t size = x.size(d);
  // Python's rules: negative bounds count from the end, then both are clamped to [0, size].
  if (start < 0) start += size;
  if (end < 0) end += size;
  start = std::min(std::max<std::int64_t>(start, 0), size);
  end = std::min(std::max<std::int64_t>(end, 0), size);
  std::int64_t length = end > start ? (end - start - 1) / step + 1 : 0;
  return slice_view("slice", x, d, start, length, step, false);
}

Tensor select(const Tensor& x, int dim, std::int64_t index) {
  int d = existing_dim("select", x, dim);
  std::int64_t size = x.size(d);
  RECUR_CHECK(index >= -size && index < size, "select: index " << index << " is out of range for dimension " << dim
                                                               << " of size " << size << " (expected " << -size
                                                               << ".." << size - 1 << ")");
  if (index < 0) index += size;
  return slice_view("select", x, d, index, 1, 1, true);
}

Tensor cat(const std::vector<Tensor>& tensors, int dim) {
  check_list("cat", tensors);
  const Tensor& first = tensors[0];
  RECUR_CHECK(first.dim() > 0, "cat: tensor 0 has shape " << first.shape() << "; scalars cannot be concatenated");
  int d = normalize_dim(dim, first.dim(), "cat");
  Shape out_shape = first.shape();
  out_shape[d] = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const Tensor& x = tensors[i];
    bool match = x.dim() == first.dim();
    for (int k = 0; match && k < x.dim(); ++k) match = k == d || x.size(k) == first.size(k);
    RECUR_CHECK(match, "cat: tensor " << i << " has shape " << x.shape() << ", which does not match tensor 0's shape "
                                      << first.shape() << " outside dimension " << dim);
    out_shape[d] += x.size(d);
  }
  Tensor y = empty(out_shape, first.dtype(), first.device());
  std::int64_t offset = 0;
  for (const Tensor& x : tensors) {
    if (x.numel() > 0) {
      Tensor window = Tensor::make_view(y.storage(), x.shape(), y.strides(), offset * y.stride(d), y.dtype());
      backend_of(y).copy(view_of(window), view_of(x));
    }
    offset += x.size(d);
  }
  if (autograd::any_requires_grad(tensors)) {
    auto node = std::make_shared<CatBackward>();
    node->dim = d;
    for (const Tensor& x : tensors) node->sizes.push_back(x.size(d));
    record(node, tensors, {y});
  }
  return y;
}

Tensor stack(const std::vector<Tensor>& tensors, int dim) {
  check_list("stack", tensors);
  const Tensor& first = tensors[0];
  RECUR_CHECK(first.dim() < kMaxDims, "stack: tensors of shape " << first.shape() << " already have the maximum of "
                                                                 << kMaxDims << " dimensions");
  int d = normalize_dim(dim, first.dim() + 1, "stack");
  std::vector<Tensor> parts;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    RECUR_CHECK(tensors[i].shape() == first.shape(), "stack: tensor " << i << " has shape " << tensors[i].shape()
                                                                      << ", but tensor 0 has shape " << first.shape());
    parts.push_back(unsqueeze(tensors[i], d));
  }
  return cat(parts, d);
}

std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, int dim) {
  int d = existing_dim("split", x, dim);
  RECUR_CHECK(split_size > 0, "split: split_size " << split_size << " must be positive");
  return split_as("split", x, split_size, d);
}

std::vector<Tensor> chunk(const Tensor& x, int chunks, int dim) {
  int d = existing_dim("chunk", x, dim);
  RECUR_CHECK(chunks > 0, "chunk: chunks " << chunks << " must be positive");
  std::int64_t size = x.size(d);
  // As PyTorch: pieces of ceil(size / chunks), so there may be fewer than `chunks` of them.
  std::int64_t split_size = size == 0 ? 1 : (size + chunks - 1) / chunks;
  return split_as("chunk", x, split_size, d);
}

}  // namespace recur
