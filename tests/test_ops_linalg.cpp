// matmul and linear: values against a float64 reference computed here (plain loops),
// every layout the gemm path distinguishes (contiguous, transposed, sliced, expanded,
// batched, shared operands, vectors), gradients through recur::gradcheck, and bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;
using testing::HasSubstr;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

// Reference product of (batch..., m, k) and (batch..., k, n) or (k, n), any layouts, in
// float64 with plain loops over row-major copies.
Tensor reference_matmul(const Tensor& a, const Tensor& b) {
  std::vector<double> av = a.to_vector<double>(), bv = b.to_vector<double>();
  std::int64_t m = a.size(-2), k = a.size(-1), n = b.size(-1);
  std::int64_t batch = a.numel() / (m * k);
  bool b_shared = b.dim() == 2;
  Shape shape;
  for (int d = 0; d + 2 < a.dim(); ++d) shape.push_back(a.size(d));
  shape.push_back(m);
  shape.push_back(n);
  std::vector<double> c(batch * m * n, 0.0);
  for (std::int64_t p = 0; p < batch; ++p)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (std::int64_t l = 0; l < k; ++l)
          s += av[p * m * k + i * k + l] * bv[(b_shared ? 0 : p * k * n) + l * n + j];
        c[p * m * n + i * n + j] = s;
      }
  return from_vector(c, shape);
}

}  // namespace

// ------------------------------------------------------------------ matmul values

TEST(Matmul, SmallHandComputed) {
  Tensor a = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = f64({7, 8, 9, 10, 11, 12}, {3, 2});
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 2}));
  expect_close_rel(c, f64({58, 64, 139, 154}, {2, 2}));
  // float32 too.
  Tensor c32 = matmul(tensor({{1, 2, 3}, {4, 5, 6}}), tensor({{7, 8}, {9, 10}, {11, 12}}));
  EXPECT_EQ(c32.dtype(), DType::Float32);
  EXPECT_EQ(c32.to_vector<float>(), (std::vector<float>{58, 64, 139, 154}));
}

TEST(Matmul, TransposedAndSlicedOperands) {
  Tensor a = randn64({5, 4}, 1), b = randn64({6, 5}, 2);
  Tensor at = transpose(a, 0, 1);  // (4, 5) with strides (1, 4)
  Tensor bt = transpose(b, 0, 1);  // (5, 6)
  expect_close_rel(matmul(at, bt), reference_matmul(at, bt));
  expect_close_rel(matmul(at, randn64({5, 3}, 3)), reference_matmul(at, randn64({5, 3}, 3)));
  // Row slices keep a leading dimension larger than the row: lda = 8.
  Tensor wide = randn64({4, 8}, 4);
  Tensor left = narrow(wide, 1, 2, 5);  // (4, 5), strides (8, 1)
  expect_close_rel(matmul(left, bt), reference_matmul(left, bt));
  // A column-strided slice is neither layout: copied, still right.
  Tensor stepped = slice(randn64({4, 10}, 5), 1, 0, 10, 2);  // (4, 5), strides (10, 2)
  expect_close_rel(matmul(stepped, bt), reference_matmul(stepped, bt));
  // A broadcast (stride 0) operand.
  Tensor row = expand(randn64({1, 5}, 6), {4, 5});
  expect_close_rel(matmul(row, bt), reference_matmul(row, bt));
}

TEST(Matmul, Batched) {
  Tensor a = randn64({2, 3, 4, 5}, 7), b = randn64({2, 3, 5, 6}, 8);
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{2, 3, 4, 6}));
  expect_close_rel(c, reference_matmul(a, b));
  // Per-batch transposed operands.
  Tensor at = transpose(randn64({2, 5, 4}, 9), 1, 2);  // (2, 4, 5)
  Tensor bt = transpose(randn64({2, 6, 5}, 10), 1, 2);  // (2, 5, 6)
  expect_close_rel(matmul(at, bt), reference_matmul(at, bt));
  // Batch dims that are not nested (a permuted batch) take the copy path.
  Tensor ap = permute(randn64({4, 2, 5}, 11), {1, 0, 2});  // (2, 4, 5)
  expect_close_rel(matmul(ap, bt), reference_matmul(ap, bt));
}

TEST(Matmul, SharedRightOperand) {
  Tensor a = randn64({3, 4, 5}, 12), w = randn64({5, 6}, 13);
  Tensor c = matmul(a, w);
  EXPECT_EQ(c.shape(), (Shape{3, 4, 6}));
  expect_close_rel(c, reference_matmul(a, w));
  expect_close_rel(matmul(a, transpose(randn64({6, 5}, 14), 0, 1)),
                   reference_matmul(a, transpose(randn64({6, 5}, 14), 0, 1)));
  // A batch that cannot be folded into rows (per-batch transposed) still works.
  Tensor at = transpose(randn64({3, 5, 4}, 15), 1, 2);
  expect_close_rel(matmul(at, w), reference_matmul(at, w));
}

TEST(Matmul, SharedLeftOperand) {
  Tensor a = randn64({4, 5}, 16), b = randn64({3, 5, 6}, 17);
  Tensor c = matmul(a, b);
  EXPECT_EQ(c.shape(), (Shape{3, 4, 6}));
  Tensor expected = reference_matmul(expand(unsqueeze(a, 0), {3, 4, 5}), b);
  expect_close_rel(c, expected);
}

TEST(Matmul, VectorsLikePyTorch) {
  Tensor v = f64({1, 2, 3}, {3});
  Tensor m = f64({1, 0, 0, 1, 1, 1}, {3, 2});
  Tensor vm = matmul(v, m);
  EXPECT_EQ(vm.shape(), (Shape{2}));
  expect_close_rel(vm, f64({4, 5}, {2}));
  Tensor mv = matmul(transpose(m, 0, 1), v);
  EXPECT_EQ(mv.shape(), (Shape{2}));
  expect_close_rel(mv, f64({4, 5}, {2}));
  Tensor dot = matmul(v, v);
  EXPECT_EQ(dot.shape(), Shape{});
  EXPECT_DOUBLE_EQ(dot.item(), 14);
  Tensor batched = matmul(randn64({2, 4, 3}, 18), v);
  EXPECT_EQ(batched.shape(), (Shape{2, 4}));
  EXPECT_EQ(matmul(v, randn64({2, 3, 5}, 19)).shape(), (Shape{2, 5}));
}

TEST(Matmul, EmptyExtents) {
  Tensor c = matmul(zeros({3, 0}, DType::Float64), zeros({0, 4}, DType::Float64));
  EXPECT_EQ(c.shape(), (Shape{3, 4}));
  for (double v : c.to_vector<double>()) EXPECT_EQ(v, 0);
  EXPECT_EQ(matmul(zeros({0, 3}), zeros({3, 4})).shape(), (Shape{0, 4}));
  EXPECT_EQ(matmul(zeros({2, 0, 3}), zeros({2, 3, 4})).shape(), (Shape{2, 0, 4}));
}

TEST(Matmul, Float32MatchesFloat64Reference) {
  Tensor a = randn32({33, 65}, 20), b = randn32({65, 17}, 21);
  Tensor c = matmul(a, b);
  Tensor ref = reference_matmul(a, b);
  std::vector<float> got = c.to_vector<float>();
  std::vector<double> want = ref.to_vector<double>();
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], 1e-4);
}

// ------------------------------------------------------------------ matmul gradients

TEST(MatmulGrad, TwoD) {
  Tensor a = leaf(randn64({3, 4}, 30)), b = leaf(randn64({4, 2}, 31));
  Fn fn = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  expect_gradcheck(fn, {a, b});
  // Only one operand requires grad.
  expect_gradcheck(fn, {a, randn64({4, 2}, 32)});
  expect_gradcheck(fn, {randn64({3, 4}, 33), b});
}

TEST(MatmulGrad, NonContiguousOperands) {
  Fn fn = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  Tensor at = leaf(transpose(randn64({4, 3}, 34), 0, 1));  // (3, 4) transposed
  Tensor bt = leaf(transpose(randn64({2, 4}, 35), 0, 1));  // (4, 2) transposed
  expect_gradcheck(fn, {at, bt});
  Tensor as = leaf(slice(randn64({3, 8}, 36), 1, 0, 8, 2));  // (3, 4), strides (8, 2)
  Tensor bn = leaf(narrow(randn64({4, 5}, 37), 1, 1, 2));    // (4, 2), strides (5, 1)
  expect_gradcheck(fn, {as, bn});
  // The gradient reaching matmul is a broadcast view (from sum).
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum(matmul(in[0], in[1])); }, {at, bn});
}

TEST(MatmulGrad, Batched) {
  Fn fn = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  expect_gradcheck(fn, {leaf(randn64({2, 3, 4}, 40)), leaf(randn64({2, 4, 2}, 41))});
  expect_gradcheck(fn, {leaf(randn64({2, 2, 2, 3}, 42)), leaf(randn64({2, 2, 3, 2}, 43))});
  expect_gradcheck(fn, {leaf(transpose(randn64({2, 4, 3}, 44), 1, 2)), leaf(transpose(randn64({2, 2, 4}, 45), 1, 2))});
}

TEST(MatmulGrad, SharedOperandsSumOverTheBatch) {
  Fn fn = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  // Right operand shared, batch foldable into rows.
  expect_gradcheck(fn, {leaf(randn64({2, 3, 4}, 50)), leaf(randn64({4, 2}, 51))});
  // Right operand shared, left not foldable (transposed per batch), right transposed.
  expect_gradcheck(fn, {leaf(transpose(randn64({2, 4, 3}, 52), 1, 2)), leaf(transpose(randn64({2, 4}, 53), 0, 1))});
  // Left operand shared.
  expect_gradcheck(fn, {leaf(randn64({3, 4}, 54)), leaf(randn64({2, 4, 2}, 55))});
  expect_gradcheck(fn, {leaf(transpose(randn64({4, 3}, 56), 0, 1)), leaf(randn64({2, 2, 4, 2}, 57))});
}

TEST(MatmulGrad, Vectors) {
  Fn fn = [](const std::vector<Tensor>& in) { return matmul(in[0], in[1]); };
  expect_gradcheck(fn, {leaf(randn64({4}, 60)), leaf(randn64({4, 3}, 61))});
  expect_gradcheck(fn, {leaf(randn64({3, 4}, 62)), leaf(randn64({4}, 63))});
  expect_gradcheck(fn, {leaf(randn64({4}, 64)), leaf(randn64({4}, 65))});
  expect_gradcheck(fn, {leaf(randn64({2, 3, 4}, 66)), leaf(randn64({4}, 67))});
  expect_gradcheck(fn, {leaf(randn64({4}, 68)), leaf(randn64({2, 4, 3}, 69))});
}

TEST(MatmulGrad, UsedTwiceAndChained) {
  Tensor a = leaf(randn64({3, 3}, 70));
  Tensor b = leaf(randn64({3, 2}, 71));
  expect_gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], matmul(in[0], in[1])); }, {a, b});
  expect_gradcheck([](const std::vector<Tensor>& in) { return matmul(in[0], transpose(in[0], 0, 1)); }, {a});
}

// ------------------------------------------------------------------ linear

TEST(Linear, ValuesAgainstMatmul) {
  Tensor x = randn64({4, 3}, 80), w = randn64({5, 3}, 81), b = randn64({5}, 82);
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.shape(), (Shape{4, 5}));
  Tensor ref = reference_matmul(x, transpose(w, 0, 1));
  std::vector<double> r = ref.to_vector<double>(), bv = b.to_vector<double>();
  for (std::size_t i = 0; i < r.size(); ++i) r[i] += bv[i % 5];
  expect_close_rel(y, from_vector(r, {4, 5}));
  expect_close_rel(linear(x, w), ref);
}

TEST(Linear, HandComputedWithBias) {
  Tensor x = f64({1, 2}, {2});
  Tensor w = f64({1, 0, 0, 1, 1, 1}, {3, 2});
  Tensor b = f64({10, 20, 30}, {3});
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.shape(), (Shape{3}));
  expect_close_rel(y, f64({11, 22, 33}, {3}));
}

TEST(Linear, AnyLeadingRank) {
  Tensor x = randn64({2, 3, 4}, 83), w = randn64({5, 4}, 84), b = randn64({5}, 85);
  Tensor y = linear(x, w, b);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 5}));
  Tensor flat = linear(reshape(x, {6, 4}), w, b);
  expect_close_rel(reshape(y, {6, 5}), flat);
  // A non-contiguous input (transposed leading dims) gives the same numbers.
  Tensor xt = transpose(randn64({3, 2, 4}, 86), 0, 1);
  expect_close_rel(linear(xt, w, b), linear(xt.contiguous(), w, b));
}

TEST(LinearGrad, AllInputs) {
  Fn with_bias = [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); };
  Fn no_bias = [](const std::vector<Tensor>& in) { return linear(in[0], in[1]); };
  expect_gradcheck(with_bias, {leaf(randn64({4, 3}, 90)), leaf(randn64({2, 3}, 91)), leaf(randn64({2}, 92))});
  expect_gradcheck(no_bias, {leaf(randn64({4, 3}, 93)), leaf(randn64({2, 3}, 94))});
  expect_gradcheck(with_bias, {leaf(randn64({2, 3, 3}, 95)), leaf(randn64({2, 3}, 96)), leaf(randn64({2}, 97))});
  expect_gradcheck(with_bias, {leaf(randn64({3}, 98)), leaf(randn64({2, 3}, 99)), leaf(randn64({2}, 100))});
  // Transposed weight and input, and only some inputs requiring grad.
  expect_gradcheck(with_bias, {leaf(transpose(randn64({3, 4}, 101), 0, 1)), leaf(transpose(randn64({3, 2}, 102), 0, 1)),
                               randn64({2}, 103)});
  expect_gradcheck(with_bias, {randn64({4, 3}, 104), randn64({2, 3}, 105), leaf(randn64({2}, 106))});
  expect_gradcheck(with_bias, {leaf(randn64({4, 3}, 107)), randn64({2, 3}, 108), randn64({2}, 109)});
}

// ------------------------------------------------------------------ constant weights

// Products by weights under a ConstantWeightsGuard (the CPU backend keeps their packed form)
// give the products without it, to rounding: every row count on both sides of the packed
// path's limit, the weight as linear's W^T and as matmul's right operand, a column block of
// it, and both float types.
TEST(ConstantWeights, ProductsEqualThoseWithoutTheGuard) {
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const double tolerance = dtype == DType::Float32 ? 2e-5 : 1e-12;
    Tensor w = to_dtype(randn64({96, 70}, 120), dtype), v = to_dtype(randn64({70, 40}, 121), dtype);
    for (std::int64_t rows : {1, 7, 32, 512, 513}) {
      Tensor x = to_dtype(randn64({rows, 70}, 122 + rows), dtype), y = to_dtype(randn64({rows, 96}, 123), dtype);
      Tensor expected[] = {linear(x, w), matmul(y, w), matmul(x, v), linear(x, narrow(w, 0, 10, 50)),
                           matmul(narrow(x, 1, 0, 33), narrow(v, 0, 37, 33))};
      ConstantWeightsGuard constant({w, v});
      for (int repeat = 0; repeat < 2; ++repeat) {  // the second time from the kept packs
        Tensor got[] = {linear(x, w), matmul(y, w), matmul(x, v), linear(x, narrow(w, 0, 10, 50)),
                        matmul(narrow(x, 1, 0, 33), narrow(v, 0, 37, 33))};
        for (int i = 0; i < 5; ++i)
          expect_close_rel(to_dtype(got[i], DType::Float64), to_dtype(expected[i], DType::Float64), tolerance);
      }
    }
  }
}

// An op that writes a weight bumps its version and the next product packs it again; a
// write through the raw pointer, which the guard's contract rules out, goes unseen until
// the guard ends: the packs are kept, and they go with the guard.
TEST(ConstantWeights, InPlaceOpsAreSeenAndThePacksEndWithTheGuard) {
  Tensor w = randn32({64, 48}, 130), x = randn32({8, 48}, 131);
  const Tensor before = linear(x, w);
  {
    ConstantWeightsGuard constant({w});
    expect_close_rel(to_dtype(linear(x, w), DType::Float64), to_dtype(before, DType::Float64), 2e-5);
    add_(w, ones({64, 48}));
    const Tensor after_op = linear(x, w);
    expect_close_rel(to_dtype(after_op, DType::Float64),
                     to_dtype(add(before, sum(x, {1}, true)), DType::Float64), 2e-5);
    float* raw = w.data<float>();
    for (std::int64_t i = 0; i < w.numel(); ++i) raw[i] = 0;
    expect_close_rel(to_dtype(linear(x, w), DType::Float64), to_dtype(after_op, DType::Float64), 0);
    {
      ConstantWeightsGuard nested({w});  // the same weight again: still the outer guard's pack
      expect_close_rel(to_dtype(linear(x, w), DType::Float64), to_dtype(after_op, DType::Float64), 0);
    }
  }
  EXPECT_EQ(linear(x, w).to_vector<float>(), std::vector<float>(8 * 64, 0.0f));
}

// ------------------------------------------------------------------ bad input

TEST(LinalgErrors, MatmulInnerDimensionsDiffer) {
  expect_error([] { matmul(zeros({2, 3}), zeros({4, 5})); }, {"matmul", "[2, 3]", "[4, 5]", "3 vs 4"});
  expect_error([] { matmul(zeros({3}), zeros({4})); }, {"matmul", "[3]", "[4]"});
}

TEST(LinalgErrors, MatmulBatchAndRank) {
  expect_error([] { matmul(zeros({2, 3, 4}), zeros({3, 4, 5})); }, {"matmul", "batch", "[2, 3, 4]", "[3, 4, 5]"});
  expect_error([] { matmul(zeros({}), zeros({3})); }, {"matmul", "at least one dimension"});
}

TEST(LinalgErrors, MatmulDtypes) {
  expect_error([] { matmul(zeros({2, 2}), zeros({2, 2}, DType::Float64)); }, {"matmul", "float32", "float64"});
  expect_error([] { matmul(zeros({2, 2}, DType::Int64), zeros({2, 2}, DType::Int64)); }, {"matmul", "int64"});
}

TEST(LinalgErrors, LinearShapes) {
  expect_error([] { linear(zeros({4, 3}), zeros({2, 5})); }, {"linear", "[4, 3]", "[2, 5]"});
  expect_error([] { linear(zeros({4, 3}), zeros({3})); }, {"linear", "2-D", "[3]"});
  expect_error([] { linear(zeros({4, 3}), zeros({2, 3}), zeros({3})); }, {"linear", "bias", "[3]", "[2, 3]"});
  expect_error([] { linear(zeros({}), zeros({2, 3})); }, {"linear", "at least one dimension"});
  expect_error([] { linear(zeros({4, 3}), zeros({2, 3}, DType::Float64)); }, {"linear", "float32", "float64"});
}
