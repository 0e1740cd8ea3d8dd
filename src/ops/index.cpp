// Indexing: index_select, gather, embedding, one_hot, unique.
//
// Kernels trust their indices, so every op range-checks them first with the backend's
// int_min_max (one pass on the device, two numbers back to the host) and names the first
// bad value it finds.
#include <string>
#include <unordered_map>
#include <vector>

#include "ops/op_helpers.hpp"

namespace recur {
namespace ops {
namespace {

// Sets *bad to a value of index outside [0, size) and returns true, if there is one.
bool find_out_of_range(const Tensor& index, std::int64_t size, std::int64_t* bad) {
  if (index.numel() == 0) return false;
  const auto [lo, hi] = int_min_max(index);
  if (lo < 0) *bad = lo;
  else if (hi >= size) *bad = hi;
  else return false;
  return true;
}

std::string expected_range(std::int64_t size) {
  return size > 0 ? "expected 0.." + std::to_string(size - 1) : "it is empty";
}

void check_same_device(const char* op, const Tensor& x, const Tensor& index) {
  RECUR_CHECK(x.device() == index.device(), op << ": input " << x.shape() << " is on " << x.device()
                                               << " but index " << index.shape() << " is on " << index.device());
}

// x needs a dimension to index into; a scalar has none.
int indexed_dim(const char* op, const Tensor& x, int dim) {
  RECUR_CHECK(x.dim() > 0, op << ": expected an input with at least one dimension, got shape " << x.shape());
  return normalize_dim(dim, x.dim(), op);
}

// indices.shape + [extent]: the result shape of embedding and one_hot.
Shape with_trailing(const char* op, const Tensor& indices, std::int64_t extent) {
  RECUR_CHECK(indices.dim() < kMaxDims, op << ": indices of shape " << indices.shape() << " already have the maximum of "
                                           << kMaxDims << " dimensions");
  Shape shape = indices.shape();
  shape.push_back(extent);
  std::int64_t n = 1;
  for (std::int64_t e : shape)
    RECUR_CHECK(!__builtin_mul_overflow(n, e, &n), op << ": result shape " << shape << " has too many elements");
  return shape;
}

// ---- index_select: y[.., i, ..] = x[.., index[i], ..];  dx = zeros(x.shape).index_add_(dim, index, g)
struct IndexSelectBackward final : Node {
  const char* name() const override { return "index_select"; }
  TensorList apply(TensorList&& g) override {
    Tensor dx = zeros(input_shape, g[0].dtype(), g[0].device());
    if (g[0].numel() > 0) backend_of(dx).index_add(view_of(dx), dim, view_of(index.get("index_select")), view_of(g[0]));
    return {dx};
  }
  void release_saved() override { index.reset(); }
  SavedTensor index;
  Shape input_shape;
  int dim = 0;
};

// ---- gather: y[i][j] = x[i][index[i][j]] (dim 1);  dx = zeros(x.shape).scatter_add_(dim, index, g)
struct GatherBackward final : Node {
  const char* name() const override { return "gather"; }
  TensorList apply(TensorList&& g) override {
    Tensor dx = zeros(input_shape, g[0].dtype(), g[0].device());
    if (g[0].numel() > 0) backend_of(dx).scatter_add(view_of(dx), dim, view_of(index.get("gather")), view_of(g[0]));
    return {dx};
  }
  void release_saved() override { index.reset(); }
  SavedTensor index;
  Shape input_shape;
  int dim = 0;
};

// ---- embedding: y[n, :] = weight[idx[n], :] over the flattened indices;
//      dweight = zeros(weight.shape).index_add_(0, idx, g viewed as (n, D))
struct EmbeddingBackward final : Node {
  const char* name() const override { return "embedding"; }
  TensorList apply(TensorList&& g) override {
    Tensor dw = zeros(weight_shape, g[0].dtype(), g[0].device());
    Tensor flat = flat_indices.get("embedding");
    if (flat.numel() == 0 || weight_shape[1] == 0) return {dw};
    Tensor rows = reshape(g[0], {flat.numel(), weight_shape[1]});
    backend_of(dw).index_add(view_of(dw), 0, view_of(flat), view_of(rows));
    return {dw};
  }
  void release_saved() override { flat_indices.reset(); }
  SavedTensor flat_indices;  // 1-D
  Shape weight_shape;
};

}  // namespace
}  // namespace ops

using namespace ops;

Tensor index_select(const Tensor& x, int dim, const Tensor& index) {
  check_defined("index_select", x);
  check_int64("index_select", "index", index);
  check_same_device("index_select", x, index);
  int d = indexed_dim("index_select", x, dim);
  RECUR_CHECK(index.dim() == 1, "index_select: index must be 1-D, got shape " << index.shape());
  std::int64_t bad = 0;
  RECUR_CHECK(!find_out_of_range(index, x.size(d), &bad),
              "index_select: index " << bad << " is out of range for dimension " << dim << " of size " << x.size(d)
                                     << " in shape " << x.shape() << " (" << expected_range(x.size(d)) << ")");
  Shape shape = x.shape();
  shape[d] = index.numel();
  Tensor y = empty(shape, x.dtype(), x.device());
  if (y.numel() > 0) backend_of(x).index_select(view_of(y), view_of(x), d, view_of(index));
  if (auto node = make_node<IndexSelectBackward>({x})) {
    node->index = index;
    node->input_shape = x.shape();
    node->dim = d;
    record(node, {x}, {y});
  }
  return y;
}

Tensor gather(const Tensor& x, int dim, const Tensor& index) {
  check_defined("gather", x);
  check_int64("gather", "index", index);
  check_same_device("gather", x, index);
  int d = indexed_dim("gather", x, dim);
  RECUR_CHECK(index.dim() == x.dim(), "gather: index of shape " << index.shape() << " must have the rank of the input's shape "
                                                                << x.shape());
  for (int k = 0; k < x.dim(); ++k)
    RECUR_CHECK(k == d || index.size(k) <= x.size(k),
                "gather: index of shape " << index.shape() << " is larger than the input's shape " << x.shape()
                                          << " in dimension " << k);
  std::int64_t bad = 0;
  RECUR_CHECK(!find_out_of_range(index, x.size(d), &bad),
              "gather: index " << bad << " is out of range for dimension " << dim << " of size " << x.size(d)
                               << " in shape " << x.shape() << " (" << expected_range(x.size(d)) << ")");
  Tensor y = empty(index.shape(), x.dtype(), x.device());
  if (y.numel() > 0) backend_of(x).gather(view_of(y), view_of(x), d, view_of(index));
  if (auto node = make_node<GatherBackward>({x})) {
    node->index = index;
    node->input_shape = x.shape();
    node->dim = d;
    record(node, {x}, {y});
  }
  return y;
}

Tensor embedding(const Tensor& weight, const Tensor& indices) {
  check_defined("embedding", weight);
  check_int64("embedding", "indices", indices);
  check_same_device("embedding", weight, indices);
  RECUR_CHECK(weight.dim() == 2, "embedding: weight must be 2-D (num_embeddings, embedding_dim), got shape "
                                     << weight.shape());
  std::int64_t rows = weight.size(0), width = weight.size(1);
  Shape shape = with_trailing("embedding", indices, width);
  std::int64_t bad = 0;
  RECUR_CHECK(!find_out_of_range(indices, rows, &bad),
              "embedding: index " << bad << " is out of range for a weight with " << rows << " rows ("
                                  << expected_range(rows) << ")");
  std::int64_t n = indices.numel();
  Tensor flat = reshape(indices, {n});  // a view unless indices are strided oddly; int64 records nothing
  Tensor y = empty(shape, weight.dtype(), weight.device());
  if (y.numel() > 0) {
    Tensor y_rows = Tensor::make_view(y.storage(), {n, width}, {width, 1}, 0, y.dtype());
    backend_of(weight).index_select(view_of(y_rows), view_of(weight), 0, view_of(flat));
  }
  if (auto node = make_node<EmbeddingBackward>({weight})) {
    node->flat_indices = flat;
    node->weight_shape = weight.shape();
    record(node, {weight}, {y});
  }
  return y;
}

Tensor one_hot(const Tensor& indices, std::int64_t num_classes) {
  check_int64("one_hot", "indices", indices);
  RECUR_CHECK(num_classes > 0, "one_hot: num_classes " << num_classes << " must be positive");
  Shape shape = with_trailing("one_hot", indices, num_classes);
  std::int64_t bad = 0;
  RECUR_CHECK(!find_out_of_range(indices, num_classes, &bad),
              "one_hot: index " << bad << " is out of range for " << num_classes << " classes ("
                                << expected_range(num_classes) << ")");
  Tensor y = zeros(shape, DType::Float32, indices.device());
  std::int64_t n = indices.numel();
  if (n == 0) return y;
  // y viewed as (n, C) gets a 1 at column indices[i] of row i: scatter_add of ones along dim 1.
  Tensor y_rows = Tensor::make_view(y.storage(), {n, num_classes}, {num_classes, 1}, 0, y.dtype());
  Tensor columns = reshape(indices, {n, 1});
  Tensor ones_src = ones({n, 1}, DType::Float32, indices.device());
  backend_of(y).scatter_add(view_of(y_rows), 1, view_of(columns), view_of(ones_src));
  return y;
}

UniqueResult unique(const Tensor& x) {
  check_int64("unique", "x", x);
  const std::vector<std::int64_t> all = x.to_vector<std::int64_t>();
  std::vector<std::int64_t> values, inverse(all.size());
  std::unordered_map<std::int64_t, std::int64_t> place;
  for (std::size_t i = 0; i < all.size(); ++i) {
    const auto [at, added] = place.try_emplace(all[i], static_cast<std::int64_t>(values.size()));
    if (added) values.push_back(all[i]);
    inverse[i] = at->second;
  }
  return {from_vector(values, {static_cast<std::int64_t>(values.size())}, x.device()),
          from_vector(inverse, x.shape(), x.device())};
}

}  // namespace recur
