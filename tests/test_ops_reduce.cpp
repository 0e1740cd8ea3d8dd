// Reductions: sum, mean, max, min, argmax. Values on small hand-computed examples,
// gradients through recur::gradcheck, and bad dims.
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

std::vector<std::int64_t> ints(const Tensor& t) { return t.to_vector<std::int64_t>(); }

// [[[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]], [[12, ...]]]: shape (2, 3, 4).
Tensor counting() { return reshape(arange(0, 24, 1, DType::Float64), {2, 3, 4}); }

}  // namespace

// ------------------------------------------------------------------ sum / mean

TEST(Reduce, SumAndMeanOverAll) {
  Tensor x = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor s = sum(x);
  EXPECT_EQ(s.shape(), Shape{});
  EXPECT_DOUBLE_EQ(s.item(), 21);
  EXPECT_DOUBLE_EQ(mean(x).item(), 3.5);
  EXPECT_FLOAT_EQ(static_cast<float>(sum(tensor({{1, 2}, {3, 4}})).item()), 10.0f);
  // A scalar sums to itself.
  EXPECT_DOUBLE_EQ(sum(scalar_tensor(2.5, DType::Float64)).item(), 2.5);
}

TEST(Reduce, SumOverDims) {
  Tensor x = counting();
  Tensor s0 = sum(x, {0});
  EXPECT_EQ(s0.shape(), (Shape{3, 4}));
  expect_values(s0, {12, 14, 16, 18, 20, 22, 24, 26, 28, 30, 32, 34});
  Tensor s1 = sum(x, {1}, true);
  EXPECT_EQ(s1.shape(), (Shape{2, 1, 4}));
  expect_values(s1, {12, 15, 18, 21, 48, 51, 54, 57});
  Tensor s_last = sum(x, {-1});
  EXPECT_EQ(s_last.shape(), (Shape{2, 3}));
  expect_values(s_last, {6, 22, 38, 54, 70, 86});
  Tensor s02 = sum(x, {0, 2});
  EXPECT_EQ(s02.shape(), (Shape{3}));
  expect_values(s02, {60, 92, 124});
  Tensor s_all_keep = sum(x, {0, 1, 2}, true);
  EXPECT_EQ(s_all_keep.shape(), (Shape{1, 1, 1}));
  expect_values(s_all_keep, {276});
  // An empty list reduces every dim, as PyTorch does.
  EXPECT_EQ(sum(x, {}).shape(), Shape{});
}

TEST(Reduce, MeanOverDims) {
  Tensor x = counting();
  expect_values(mean(x, {0}), {6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17});
  Tensor m = mean(x, {-2, 0}, true);
  EXPECT_EQ(m.shape(), (Shape{1, 1, 4}));
  expect_values(m, {10, 11, 12, 13});
  EXPECT_DOUBLE_EQ(mean(x).item(), 11.5);
}

TEST(Reduce, NonContiguousInput) {
  Tensor x = transpose(f64({1, 2, 3, 4, 5, 6}, {2, 3}), 0, 1);  // [[1, 4], [2, 5], [3, 6]]
  expect_values(sum(x, {1}), {5, 7, 9});
  expect_values(mean(x, {0}), {2, 5});
  auto [values, indices] = max(x, 0);
  expect_values(values, {3, 6});
  EXPECT_EQ(ints(indices), (std::vector<std::int64_t>{2, 2}));
  EXPECT_DOUBLE_EQ(max(x).item(), 6);
  EXPECT_EQ(argmax(x).item(), 5);  // flat index into x as laid out row-major: [1, 4, 2, 5, 3, 6]
}

// ------------------------------------------------------------------ max / min / argmax

TEST(Reduce, MaxMinAlongDim) {
  Tensor x = f64({3, 1, 4, 1, 5, 9, 2, 6, 5}, {3, 3});
  auto mx = max(x, 1);
  EXPECT_EQ(mx.values.shape(), (Shape{3}));
  expect_values(mx.values, {4, 9, 6});
  EXPECT_EQ(ints(mx.indices), (std::vector<std::int64_t>{2, 2, 1}));
  EXPECT_EQ(mx.indices.dtype(), DType::Int64);
  auto mn = min(x, 0, true);
  EXPECT_EQ(mn.values.shape(), (Shape{1, 3}));
  expect_values(mn.values, {1, 1, 4});
  EXPECT_EQ(ints(mn.indices), (std::vector<std::int64_t>{1, 0, 0}));
  auto last = max(x, -1, true);
  EXPECT_EQ(last.indices.shape(), (Shape{3, 1}));
  // Ties resolve to the first index.
  auto tie = max(f64({2, 7, 7, 1}, {4}), 0);
  EXPECT_EQ(tie.indices.item(), 1);
  EXPECT_EQ(tie.values.shape(), Shape{});
}

TEST(Reduce, MaxOverAllAndArgmax) {
  Tensor x = f64({3, 1, 4, 1, 5, 9, 2, 6, 5}, {3, 3});
  Tensor m = max(x);
  EXPECT_EQ(m.shape(), Shape{});
  EXPECT_DOUBLE_EQ(m.item(), 9);
  Tensor flat = argmax(x);
  EXPECT_EQ(flat.shape(), Shape{});
  EXPECT_EQ(flat.dtype(), DType::Int64);
  EXPECT_EQ(flat.item(), 5);
  EXPECT_EQ(ints(argmax(x, 0)), (std::vector<std::int64_t>{0, 2, 1}));
  Tensor keep = argmax(x, 1, true);
  EXPECT_EQ(keep.shape(), (Shape{3, 1}));
  EXPECT_EQ(ints(keep), (std::vector<std::int64_t>{2, 2, 1}));
  EXPECT_FLOAT_EQ(static_cast<float>(max(tensor({-3, -1, -2})).item()), -1.0f);
}

// ------------------------------------------------------------------ gradients

TEST(ReduceGrad, SumAndMean) {
  Tensor x = leaf(randn64({2, 3, 4}, 1));
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum(in[0]); }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return mean(in[0]); }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum(in[0], {1}); }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum(in[0], {0, 2}, true); }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return mean(in[0], {-1}); }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return mean(in[0], {2, 0}, true); }, {x});
  // The expanded gradient flowing into a further op.
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum(mul(sum(in[0], {1}, true), in[0])); }, {x});
}

TEST(ReduceGrad, NonContiguousInput) {
  Tensor base = randn64({4, 3}, 2);
  Tensor t = leaf(transpose(base, 0, 1));
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum(in[0], {0}); }, {t});
  expect_gradcheck([](const std::vector<Tensor>& in) { return mean(in[0], {1}, true); }, {t});
  expect_gradcheck([](const std::vector<Tensor>& in) { return max(in[0], 1).values; }, {t});
  expect_gradcheck([](const std::vector<Tensor>& in) { return max(in[0]); }, {t});
  Tensor s = leaf(slice(randn64({3, 6}, 3), 1, 1, 6, 2));
  expect_gradcheck([](const std::vector<Tensor>& in) { return min(in[0], 0).values; }, {s});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sum(in[0]); }, {s});
}

TEST(ReduceGrad, MaxMin) {
  Tensor x = leaf(randn64({3, 4}, 4));  // distinct values with probability one
  expect_gradcheck([](const std::vector<Tensor>& in) { return max(in[0]); }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return max(in[0], 0).values; }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return max(in[0], 1, true).values; }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return min(in[0], -1).values; }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return min(in[0], 0, true).values; }, {x});
}

TEST(ReduceGrad, MaxSendsGradientToTheFirstMaximum) {
  Tensor x = leaf(f64({1, 5, 5, 2}, {2, 2}));
  max(x).backward();
  expect_values(x.grad(), {0, 1, 0, 0});
  Tensor y = leaf(f64({4, 4, 1, 3, 0, 3}, {2, 3}));
  sum(max(y, 1).values).backward();
  expect_values(y.grad(), {1, 0, 0, 1, 0, 0});
}

TEST(ReduceGrad, IndicesDoNotRequireGrad) {
  Tensor x = leaf(randn64({2, 3}, 5));
  auto r = max(x, 1);
  EXPECT_TRUE(r.values.requires_grad());
  EXPECT_FALSE(r.indices.requires_grad());
  EXPECT_FALSE(argmax(x, 0).requires_grad());
}

// ------------------------------------------------------------------ bad input

TEST(ReduceErrors, DimOutOfRange) {
  Tensor x = zeros({2, 3});
  expect_error([&] { sum(x, {2}); }, {"sum", "dimension 2", "rank 2"});
  expect_error([&] { mean(x, {-3}); }, {"mean", "dimension -3"});
  expect_error([&] { max(x, 5); }, {"max", "dimension 5"});
  expect_error([&] { min(x, -4); }, {"min", "dimension -4"});
  expect_error([&] { argmax(x, 2); }, {"argmax", "dimension 2"});
}

TEST(ReduceErrors, DuplicateDims) {
  Tensor x = zeros({2, 3, 4});
  expect_error([&] { sum(x, {1, -2}); }, {"sum", "more than once", "[1, -2]", "[2, 3, 4]"});
  expect_error([&] { mean(x, {0, 0}); }, {"mean", "more than once"});
}

TEST(ReduceErrors, EmptyAndIntegerInputs) {
  expect_error([] { max(zeros({0, 3})); }, {"max", "empty", "[0, 3]"});
  expect_error([] { argmax(zeros({0})); }, {"argmax", "empty"});
  expect_error([] { max(zeros({2, 0}), 1); }, {"max", "extent 0", "[2, 0]"});
  expect_error([] { sum(zeros({3}, DType::Int64)); }, {"sum", "int64"});
  EXPECT_THROW(mean(Tensor()), Error);
}
