// Matrix products: matmul and linear. Every product goes through the backend's one gemm
// entry point; operands are described to it by pointer, leading dimension and a transpose
// flag, so a contiguous or simply transposed tensor is never copied.
#include <algorithm>

#include "ops/op_helpers.hpp"

namespace recur {
namespace ops {
namespace {

// A tensor as `batch` matrices of rows x cols. Row-major with leading dimension ld
// (element (i, j) at i*ld + j), or, when trans, stored transposed (element (i, j) at
// j*ld + i). Matrix b of the batch starts batch_stride elements after matrix 0.
struct Matrix {
  const char* data = nullptr;
  std::int64_t batch = 1, rows = 1, cols = 1;
  bool trans = false;
  std::int64_t ld = 1;
  std::int64_t batch_stride = 0;
  std::size_t elem = 4;
  Tensor holder;  // a dense copy, when the tensor's strides fit no such description

  Matrix at(std::int64_t b) const {
    Matrix m = *this;
    m.data = data + b * batch_stride * static_cast<std::int64_t>(elem);
    m.batch = 1;
    m.batch_stride = 0;
    return m;
  }
};

// Merges dims [begin, end) of t into one of extent `extent` stepped by `stride`; false when
// no single stride walks them in row-major order. Extent-1 dims never constrain.
bool merge_dims(const Tensor& t, int begin, int end, std::int64_t& extent, std::int64_t& stride) {
  extent = 1;
  stride = 0;
  std::int64_t next_stride = 0;  // what the next outer dim's stride must be
  bool any = false;
  for (int d = end - 1; d >= begin; --d) {
    std::int64_t e = t.size(d), s = t.stride(d);
    if (e == 1) continue;
    if (!any) {
      stride = s;
      any = true;
    } else if (s != next_stride) {
      return false;
    }
    extent *= e;
    next_stride = s * e;
  }
  return true;
}

// Describes t with dims [0, batch_end) as the batch, dims [batch_end, rank-1) merged into
// rows, and the last dim as columns. False when the strides allow no gemm operand.
bool describe(const Tensor& t, int batch_end, Matrix& m) {
  int last = t.dim() - 1;
  std::int64_t batch_stride = 0, rs = 0;
  if (!merge_dims(t, 0, batch_end, m.batch, batch_stride)) return false;
  if (!merge_dims(t, batch_end, last, m.rows, rs)) return false;
  m.cols = t.size(last);
  std::int64_t cs = t.stride(last);
  // A dim of extent 1 is never stepped along, so its stride is free: pick a legal one.
  if (m.cols == 1) cs = 1;
  if (m.rows == 1) rs = cs == 1 ? std::max<std::int64_t>(m.cols, 1) : 1;
  if (cs == 1 && rs >= std::max<std::int64_t>(m.cols, 1)) {
    m.trans = false;
    m.ld = rs;
  } else if (rs == 1 && cs >= std::max<std::int64_t>(m.rows, 1)) {
    m.trans = true;
    m.ld = cs;
  } else {
    return false;
  }
  m.batch_stride = m.batch == 1 ? 0 : batch_stride;
  m.elem = dtype_size(t.dtype());
  m.data = static_cast<const char*>(t.raw_data());
  return true;
}

// describe(), falling back to a dense copy (expanded or oddly strided views only).
Matrix matrix_of(const Tensor& t, int batch_end) {
  Matrix m;
  if (describe(t, batch_end, m)) return m;
  Tensor dense = empty(t.shape(), t.dtype(), t.device());
  backend_of(t).copy(view_of(dense), view_of(t));
  bool ok = describe(dense, batch_end, m);
  RECUR_CHECK(ok, "matmul: internal error, a dense tensor of shape " << t.shape() << " is not a gemm operand");
  m.holder = dense;
  return m;
}

// out (dense: `batch` blocks of m x n) = op(A) op(B), or += when accumulate, plus bias (null,
// or n dense values) on every row; ta / tb ask for the transpose of the operand as described.
// An operand with batch_stride 0 is shared by every product. Empty extents, which BLAS may
// reject, are handled here.
void gemm_into(const Tensor& out, const Matrix& a, bool ta, const Matrix& b, bool tb, std::int64_t m,
               std::int64_t n, std::int64_t k, std::int64_t batch, bool accumulate, const void* bias = nullptr) {
  if (m == 0 || n == 0 || batch == 0) return;
  if (k == 0 && !bias) {
    if (!accumulate) backend_of(out).fill(view_of(out), 0);
    return;
  }
  backend_of(out).gemm(a.trans != ta, b.trans != tb, m, n, k, 1.0, a.data, a.ld, b.data, b.ld, accumulate ? 1.0 : 0.0,
                       out.raw_data(), n, out.dtype(), batch, a.batch_stride, b.batch_stride, m * n, bias);
}

// out (m x n) = sum over the batch of op(A[i]) op(B[i]): the gradient of an operand that
// every product of the batch shared.
void gemm_summed(const Tensor& out, const Matrix& a, bool ta, const Matrix& b, bool tb, std::int64_t m,
                 std::int64_t n, std::int64_t k, std::int64_t batch) {
  if (batch == 0 || k == 0) {
    backend_of(out).fill(view_of(out), 0);
    return;
  }
  for (std::int64_t i = 0; i < batch; ++i) gemm_into(out, a.at(i), ta, b.at(i), tb, m, n, k, 1, i > 0);
}

// t with a unit dim inserted at d / removed at d: metadata only.
Tensor unsqueeze_view(const Tensor& t, int d) {
  Shape shape, strides;
  for (int i = 0; i <= t.dim(); ++i) {
    if (i == d) shape.push_back(1), strides.push_back(1);
    if (i < t.dim()) shape.push_back(t.size(i)), strides.push_back(t.stride(i));
  }
  return Tensor::make_view(t.storage(), shape, strides, t.offset(), t.dtype());
}

Tensor squeeze_view(const Tensor& t, int d) {
  Shape shape, strides;
  for (int i = 0; i < t.dim(); ++i)
    if (i != d) shape.push_back(t.size(i)), strides.push_back(t.stride(i));
  return Tensor::make_view(t.storage(), shape, strides, t.offset(), t.dtype());
}

// ---- matmul: C = A B per batch;  dA = dC B^T,  dB = A^T dC
// An operand shared by the whole batch (2-D) gets the sum over the batch.
struct MatmulBackward final : Node {
  const char* name() const override { return "matmul"; }
  TensorList apply(TensorList&& g) override {
    Tensor gc = g[0];
    if (a_vector) gc = unsqueeze_view(gc, gc.dim() - (b_vector ? 0 : 1));
    if (b_vector) gc = unsqueeze_view(gc, gc.dim());
    Tensor da, db;
    if (next_edges[0].node) {
      Tensor bv = b.get("matmul");
      da = empty(a_shape, gc.dtype(), gc.device());
      Matrix bm = matrix_of(bv, bv.dim() - 2);
      if (bv.dim() == 2) {
        // Every row of A (across the batch) met the same B: one product over all rows.
        Matrix dc = matrix_of(gc, 0);
        gemm_into(da, dc, false, bm, true, dc.rows, k, n, 1, false);
      } else if (a_shape.ndim == 2) {
        Matrix dc = matrix_of(gc, gc.dim() - 2);
        gemm_summed(da, dc, false, bm, true, m, k, n, batch);
      } else {
        Matrix dc = matrix_of(gc, gc.dim() - 2);
        gemm_into(da, dc, false, bm, true, m, k, n, batch, false);
      }
      if (a_vector) da = squeeze_view(da, 0);
    }
    if (next_edges[1].node) {
      Tensor av = a.get("matmul");
      db = empty(b_shape, gc.dtype(), gc.device());
      Matrix af;
      if (b_shape.ndim == 2 && describe(av, 0, af)) {
        // dB = sum_b A_b^T dC_b = A^T dC with the batch folded into A's rows: one product.
        Matrix dc = matrix_of(gc, 0);
        gemm_into(db, af, true, dc, false, k, n, af.rows, 1, false);
      } else {
        Matrix am = matrix_of(av, av.dim() - 2), dc = matrix_of(gc, gc.dim() - 2);
        if (b_shape.ndim == 2) gemm_summed(db, am, true, dc, false, k, n, m, batch);
        else gemm_into(db, am, true, dc, false, k, n, m, batch, false);
      }
      if (b_vector) db = squeeze_view(db, 1);
    }
    return {da, db};
  }
  void release_saved() override { a.reset(), b.reset(); }
  SavedTensor a, b;   // as 2-D or batched (1-D operands with their unit dim added)
  Shape a_shape, b_shape;  // likewise
  bool a_vector = false, b_vector = false;
  std::int64_t m = 0, n = 0, k = 0, batch = 1;
};

Shape batch_shape_of(const Tensor& t) {
  Shape s;
  for (int d = 0; d + 2 < t.dim(); ++d) s.push_back(t.size(d));
  return s;
}

// ---- linear: Y = X W^T + b, X seen as (N, in) with N all leading dims;
//      dX = dY W,  dW = dY^T X,  db = sum of dY over the leading dims
struct LinearBackward final : Node {
  const char* name() const override { return "linear"; }
  TensorList apply(TensorList&& g) override {
    Matrix dy = matrix_of(g[0], 0);
    Tensor dx, dw, db;
    if (next_edges[0].node) {
      Tensor w = weight.get("linear");
      dx = empty(x_shape, w.dtype(), w.device());
      Matrix wm = matrix_of(w, 0);
      gemm_into(dx, dy, false, wm, false, dy.rows, in, out, 1, false);
    }
    if (next_edges[1].node) {
      Tensor xv = x.get("linear");
      dw = empty({out, in}, xv.dtype(), xv.device());
      Matrix xm = matrix_of(xv, 0);
      gemm_into(dw, dy, true, xm, false, out, in, xm.rows, 1, false);
    }
    if (next_edges.size() > 2 && next_edges[2].node) db = sum_to(g[0], {out});
    return {dx, dw, db};
  }
  void release_saved() override { x.reset(), weight.reset(); }
  SavedTensor x, weight;
  Shape x_shape;
  std::int64_t in = 0, out = 0;
};

}  // namespace
}  // namespace ops

using namespace ops;

Tensor matmul(const Tensor& a, const Tensor& b) {
  check_floating("matmul", a), check_floating("matmul", b);
  check_compatible("matmul", a, b);
  RECUR_CHECK(a.dim() >= 1 && b.dim() >= 1, "matmul: operands must have at least one dimension, got shapes "
                                                << a.shape() << " and " << b.shape());
  // 1-D operands as in PyTorch: a vector on the left is a 1 x k row, on the right a
  // k x 1 column, and the unit dim is dropped from the result.
  bool a_vector = a.dim() == 1, b_vector = b.dim() == 1;
  Tensor a2 = a_vector ? unsqueeze_view(a.detach(), 0) : a.detach();
  Tensor b2 = b_vector ? unsqueeze_view(b.detach(), 1) : b.detach();
  RECUR_CHECK(a2.size(-1) == b2.size(-2), "matmul: inner dimensions differ: " << a.shape() << " x " << b.shape()
                                              << " (" << a2.size(-1) << " vs " << b2.size(-2) << ")");
  Shape batch_shape;
  if (a2.dim() > 2 && b2.dim() > 2) {
    RECUR_CHECK(batch_shape_of(a2) == batch_shape_of(b2),
                "matmul: batch dimensions differ: " << a.shape() << " x " << b.shape() << " (batch "
                    << batch_shape_of(a2) << " vs " << batch_shape_of(b2)
                    << "); expected equal batch extents or a 2-D operand");
    batch_shape = batch_shape_of(a2);
  } else {
    batch_shape = a2.dim() > 2 ? batch_shape_of(a2) : batch_shape_of(b2);
  }
  std::int64_t m = a2.size(-2), k = a2.size(-1), n = b2.size(-1), batch = batch_shape.numel();

  Shape full_shape = batch_shape;
  full_shape.push_back(m);
  full_shape.push_back(n);
  Tensor y = empty(full_shape, a.dtype(), a.device());
  Matrix bm = matrix_of(b2, b2.dim() - 2);
  Matrix am;
  if (b2.dim() == 2 && describe(a2, 0, am)) {
    // B shared: fold A's batch into its rows, one product (what nn.Linear on a sequence does).
    gemm_into(y, am, false, bm, false, am.rows, n, k, 1, false);
  } else {
    am = matrix_of(a2, a2.dim() - 2);
    gemm_into(y, am, false, bm, false, m, n, k, batch, false);
  }

  if (b_vector) y = squeeze_view(y, y.dim() - 1);
  if (a_vector) y = squeeze_view(y, y.dim() - (b_vector ? 1 : 2));
  if (auto node = make_node<MatmulBackward>({a, b})) {
    if (b.requires_grad()) node->a = a2;
    if (a.requires_grad()) node->b = b2;
    node->a_shape = a2.shape();
    node->b_shape = b2.shape();
    node->a_vector = a_vector;
    node->b_vector = b_vector;
    node->m = m, node->n = n, node->k = k, node->batch = batch;
    record(node, {a, b}, {y});
  }
  return y;
}

Shape ops::check_linear(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  check_floating(op, x), check_floating(op, weight);
  check_compatible(op, x, weight);
  RECUR_CHECK(weight.dim() == 2, op << ": weight must be 2-D (out_features, in_features), got shape "
                                    << weight.shape());
  RECUR_CHECK(x.dim() >= 1, op << ": input must have at least one dimension, got shape " << x.shape());
  std::int64_t out = weight.size(0), in = weight.size(1);
  RECUR_CHECK(x.size(-1) == in, op << ": input of shape " << x.shape() << " has " << x.size(-1)
                                   << " features (last dimension) but weight of shape " << weight.shape()
                                   << " expects " << in);
  if (bias.defined()) {
    check_compatible(op, x, bias);
    RECUR_CHECK(bias.dim() == 1 && bias.size(0) == out, op << ": bias of shape " << bias.shape()
                                                           << " does not match weight of shape " << weight.shape()
                                                           << " (expected [" << out << "])");
  }
  Shape y_shape;
  for (int d = 0; d + 1 < x.dim(); ++d) y_shape.push_back(x.size(d));
  y_shape.push_back(out);
  return y_shape;
}

namespace {

// y = x W^T (+ b) into y, which has linear's output shape and is contiguous.
void linear_into(const Tensor& y, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  Matrix xm = matrix_of(x, 0), wm = matrix_of(weight, 0);
  const Tensor dense_bias = bias.defined() ? bias.contiguous() : bias;
  gemm_into(y, xm, false, wm, true, xm.rows, weight.size(0), weight.size(1), 1, false,
            dense_bias.defined() ? dense_bias.raw_data() : nullptr);
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  Tensor y = empty(check_linear("linear", x, weight, bias), x.dtype(), x.device());
  linear_into(y, x, weight, bias);
  if (auto node = make_node<LinearBackward>({x, weight, bias})) {
    if (weight.requires_grad()) node->x = x;
    if (x.requires_grad()) node->weight = weight;
    node->x_shape = x.shape();
    node->in = weight.size(1);
    node->out = weight.size(0);
    record(node, {x, weight, bias}, {y});
  }
  return y;
}

void linear_(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const char* op = "linear_";
  const Shape y_shape = check_linear(op, x, weight, bias);
  check_compatible(op, x, out);
  RECUR_CHECK(out.shape() == y_shape && out.is_contiguous(),
              op << ": out must be contiguous of shape " << y_shape << ", got shape " << out.shape());
  check_writable(op, out);
  for (const Tensor* operand : {&x, &weight, &bias})
    RECUR_CHECK(!operand->defined() || operand->storage() != out.storage(),
                op << ": out shares memory with an operand; the product would read what it overwrites");
  RECUR_CHECK(!autograd::any_requires_grad({x, weight, bias}), op << ": not differentiable; run it under NoGradGuard");
  linear_into(out, x, weight, bias);
  out.storage()->bump_version();
}

}  // namespace recur
