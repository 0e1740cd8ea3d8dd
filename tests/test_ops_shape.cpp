// Shape and view ops: values, storage sharing, copies only where needed, float64 gradient
// checks (including non-contiguous inputs and negative dims), and errors for bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <string>
#include <vector>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

namespace recur {
namespace {

using testing::HasSubstr;

std::vector<float> values(const Tensor& t) { return t.to_vector<float>(); }

// A non-contiguous float64 leaf of `shape`: the transpose of a dense (shape[1], shape[0], ...) tensor.
Tensor transposed_leaf(const Shape& shape, std::uint64_t seed = 2) {
  Shape swapped = shape;
  std::swap(swapped[0], swapped[1]);
  Generator gen(seed);
  Tensor x = transpose(normal(swapped, 0, 1, DType::Float64, &gen), 0, 1).detach();
  EXPECT_FALSE(x.is_contiguous());
  x.set_requires_grad();
  return x;
}

bool shares_storage(const Tensor& a, const Tensor& b) { return a.storage() == b.storage(); }

// ---------------------------------------------------------------- reshape and view

TEST(Reshape, ValuesAndInferredExtent) {
  Tensor x = iota({2, 3});
  Tensor y = reshape(x, {3, -1});
  EXPECT_EQ(y.shape(), Shape({3, 2}));
  EXPECT_EQ(values(y), values(x));
  EXPECT_EQ(reshape(x, {-1}).shape(), Shape({6}));
}

TEST(Reshape, ScalarToAndFrom) {
  Tensor s = scalar_tensor(5);
  Tensor one = reshape(s, {1, 1});
  EXPECT_EQ(one.shape(), Shape({1, 1}));
  EXPECT_TRUE(shares_storage(s, one));
  Tensor back = reshape(one, {});
  EXPECT_EQ(back.dim(), 0);
  EXPECT_EQ(back.item(), 5);
}

TEST(Reshape, ContiguousInputIsAViewThatSharesStorage) {
  Tensor x = iota({2, 3});
  Tensor y = reshape(x, {3, 2});
  EXPECT_TRUE(shares_storage(x, y));
  fill_(select(y, 0, 2), -1);  // y[2, :] is x's last two elements
  EXPECT_EQ(values(x), (std::vector<float>{0, 1, 2, 3, -1, -1}));
}

TEST(Reshape, NonContiguousInputCopiesWhenStridesCannotDescribeIt) {
  Tensor x = iota({2, 3});
  Tensor xt = t(x);  // (3, 2) with strides (1, 3)
  Tensor y = reshape(xt, {6});
  EXPECT_FALSE(shares_storage(x, y));
  EXPECT_EQ(values(y), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_TRUE(y.is_contiguous());
}

TEST(Reshape, NonContiguousInputStaysAViewWhenStridesAllow) {
  Tensor x = iota({2, 3, 4});
  Tensor y = transpose(x, 0, 1);  // (3, 2, 4), strides (4, 12, 1): the last dim is still dense
  Tensor z = reshape(y, {3, 2, 2, 2});
  EXPECT_TRUE(shares_storage(x, z));
  EXPECT_EQ(values(z), values(y));
  Tensor w = reshape(y, {3, 8});  // merging dims 1 and 2 needs a copy
  EXPECT_FALSE(shares_storage(x, w));
  EXPECT_EQ(values(w), values(y));
  // A slice whose rows are dense can be flattened row-wise without copying.
  Tensor rows = slice(iota({4, 6}), 1, 0, 4);  // (4, 4) with strides (6, 1)
  Tensor split_rows = reshape(rows, {4, 2, 2});
  EXPECT_TRUE(shares_storage(rows, split_rows));
  EXPECT_EQ(values(split_rows), values(rows));
}

TEST(Reshape, ExpandedInputKeepsStrideZero) {
  Tensor x = expand(iota({1, 3}), {4, 3});
  Tensor y = reshape(x, {2, 2, 3});
  EXPECT_TRUE(shares_storage(x, y));
  EXPECT_EQ(values(y), values(x));
}

TEST(Reshape, EmptyTensors) {
  Tensor x = zeros({0, 3});
  EXPECT_EQ(reshape(x, {3, 0, 2}).shape(), Shape({3, 0, 2}));
  EXPECT_EQ(reshape(x, {0}).shape(), Shape({0}));
}

TEST(View, SharesStorageAndRefusesToCopy) {
  Tensor x = iota({4, 3});
  Tensor v = view(x, {2, 6});
  EXPECT_TRUE(shares_storage(x, v));
  EXPECT_EQ(values(v), values(x));
  expect_error([&] { view(t(x), {12}); }, {"view", "[3, 4]", "[12]", "reshape"});
}

TEST(Reshape, Errors) {
  Tensor x = iota({2, 3});
  expect_error([&] { reshape(x, {4, 2}); }, {"reshape", "[2, 3]", "[4, 2]"});
  expect_error([&] { reshape(x, {-1, -1}); }, {"reshape", "only one", "[-1, -1]"});
  expect_error([&] { reshape(x, {4, -1}); }, {"reshape", "[2, 3]", "[4, -1]"});
  expect_error([&] { reshape(x, {-2, -3}); }, {"reshape", "-2"});
  expect_error([&] { reshape(zeros({0, 3}), {-1, 0}); }, {"reshape", "[0, 3]", "[-1, 0]"});
  expect_error([&] { reshape(Tensor(), {1}); }, {"reshape", "undefined"});
  expect_error([&] { view(x, {7}); }, {"view", "[2, 3]", "[7]"});
}

TEST(Reshape, Gradients) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return reshape(in[0], {3, -1}); }, {random_leaf({2, 3})});
  // Non-contiguous input: reshape copies, and the gradient still flows back through the copy.
  expect_gradcheck([](const std::vector<Tensor>& in) { return reshape(in[0], {6}); }, {transposed_leaf({3, 2})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return mul(view(in[0], {4, 2}), in[0].dim() * 1.5); },
                   {random_leaf({2, 4})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return reshape(in[0], {}); }, {random_leaf({1, 1})});
}

// ---------------------------------------------------------------- flatten, squeeze, unsqueeze

TEST(Flatten, MergesARangeOfDims) {
  Tensor x = iota({2, 3, 4});
  EXPECT_EQ(flatten(x).shape(), Shape({24}));
  EXPECT_EQ(flatten(x, 1).shape(), Shape({2, 12}));
  EXPECT_EQ(flatten(x, 0, -2).shape(), Shape({6, 4}));
  EXPECT_EQ(flatten(x, -2, -2).shape(), Shape({2, 3, 4}));
  EXPECT_EQ(flatten(scalar_tensor(3)).shape(), Shape({1}));
  EXPECT_TRUE(shares_storage(x, flatten(x, 1)));
  EXPECT_EQ(values(flatten(t(iota({2, 3})))), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  expect_error([&] { flatten(x, 2, 1); }, {"flatten", "start_dim 2", "end_dim 1", "[2, 3, 4]"});
  expect_error([&] { flatten(x, 3); }, {"flatten", "dimension 3", "rank 3"});
  expect_gradcheck([](const std::vector<Tensor>& in) { return flatten(in[0], -2); }, {transposed_leaf({3, 2, 2})});
}

TEST(Squeeze, RemovesAUnitDim) {
  Tensor x = iota({2, 1, 3});
  Tensor y = squeeze(x, 1);
  EXPECT_EQ(y.shape(), Shape({2, 3}));
  EXPECT_TRUE(shares_storage(x, y));
  EXPECT_EQ(squeeze(x, -2).shape(), Shape({2, 3}));
  EXPECT_EQ(values(y), values(x));
  expect_error([&] { squeeze(x, 0); }, {"squeeze", "dimension 0", "[2, 1, 3]", "extent 2"});
  expect_error([&] { squeeze(x, 3); }, {"squeeze", "dimension 3", "rank 3"});
  expect_error([&] { squeeze(scalar_tensor(1), 0); }, {"squeeze", "[]"});
  expect_gradcheck([](const std::vector<Tensor>& in) { return squeeze(in[0], -1); }, {random_leaf({3, 1})});
}

TEST(Unsqueeze, InsertsAUnitDim) {
  Tensor x = iota({2, 3});
  EXPECT_EQ(unsqueeze(x, 0).shape(), Shape({1, 2, 3}));
  EXPECT_EQ(unsqueeze(x, 1).shape(), Shape({2, 1, 3}));
  EXPECT_EQ(unsqueeze(x, 2).shape(), Shape({2, 3, 1}));
  EXPECT_EQ(unsqueeze(x, -1).shape(), Shape({2, 3, 1}));
  EXPECT_EQ(unsqueeze(x, -3).shape(), Shape({1, 2, 3}));
  EXPECT_EQ(unsqueeze(scalar_tensor(4), 0).shape(), Shape({1}));
  EXPECT_TRUE(unsqueeze(x, 1).is_contiguous());
  EXPECT_TRUE(shares_storage(x, unsqueeze(x, 1)));
  expect_error([&] { unsqueeze(x, 3); }, {"unsqueeze", "dimension 3", "-3..2"});
  expect_error([&] { unsqueeze(x, -4); }, {"unsqueeze", "dimension -4"});
  expect_error([&] { unsqueeze(zeros({1, 1, 1, 1, 1, 1, 1, 1}), 0); }, {"unsqueeze", "maximum", "8"});
  expect_gradcheck([](const std::vector<Tensor>& in) { return unsqueeze(in[0], -2); }, {transposed_leaf({2, 3})});
}

// ---------------------------------------------------------------- transpose, t, permute

TEST(Transpose, SwapsDimsAsAView) {
  Tensor x = iota({2, 3});
  Tensor y = transpose(x, 0, -1);
  EXPECT_EQ(y.shape(), Shape({3, 2}));
  EXPECT_EQ(values(y), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  EXPECT_TRUE(shares_storage(x, y));
  fill_(select(y, 0, 1), 9);  // y[1, :] is x[:, 1]
  EXPECT_EQ(values(x), (std::vector<float>{0, 9, 2, 3, 9, 5}));
  EXPECT_EQ(values(t(iota({2, 2}))), (std::vector<float>{0, 2, 1, 3}));
  expect_error([&] { transpose(x, 0, 2); }, {"transpose", "dimension 2", "rank 2"});
  expect_error([&] { t(iota({2, 2, 2})); }, {"t:", "2-D", "[2, 2, 2]"});
  expect_error([&] { t(iota({4})); }, {"t:", "2-D", "[4]"});
}

TEST(Transpose, Gradients) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return transpose(in[0], -1, 0); }, {random_leaf({2, 3, 2})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return t(in[0]); }, {transposed_leaf({3, 2})});
  // The transposed view feeds a later op: its gradient must come back in x's layout.
  expect_gradcheck([](const std::vector<Tensor>& in) { return mul(t(in[0]), in[1]); },
                   {random_leaf({2, 3}, 3), random_leaf({3, 2}, 4)});
}

TEST(Permute, ReordersDims) {
  Tensor x = iota({2, 3, 4});
  Tensor y = permute(x, {2, 0, 1});
  EXPECT_EQ(y.shape(), Shape({4, 2, 3}));
  EXPECT_TRUE(shares_storage(x, y));
  std::vector<float> v = values(y);
  // y[k, i, j] = x[i, j, k] = 12 i + 4 j + k
  EXPECT_EQ(v[0 * 6 + 1 * 3 + 2], 12 * 1 + 4 * 2 + 0);
  EXPECT_EQ(v[3 * 6 + 0 * 3 + 1], 12 * 0 + 4 * 1 + 3);
  EXPECT_EQ(permute(x, {-1, -3, -2}).shape(), Shape({4, 2, 3}));
  expect_error([&] { permute(x, {0, 1}); }, {"permute", "[0, 1]", "[2, 3, 4]"});
  expect_error([&] { permute(x, {0, 1, 1}); }, {"permute", "dimension 1", "twice", "[0, 1, 1]"});
  expect_error([&] { permute(x, {0, 1, 3}); }, {"permute", "dimension 3"});
  expect_gradcheck([](const std::vector<Tensor>& in) { return permute(in[0], {1, -1, 0}); }, {transposed_leaf({3, 2, 2})});
}

// ---------------------------------------------------------------- expand

TEST(Expand, BroadcastsWithStrideZero) {
  Tensor x = iota({3, 1});
  Tensor y = expand(x, {2, 3, 4});
  EXPECT_EQ(y.shape(), Shape({2, 3, 4}));
  EXPECT_EQ(y.stride(0), 0);
  EXPECT_EQ(y.stride(2), 0);
  EXPECT_TRUE(shares_storage(x, y));
  std::vector<float> v = values(y);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 4; ++k) EXPECT_EQ(v[i * 12 + j * 4 + k], j);
  EXPECT_EQ(expand(x, {-1, 5}).shape(), Shape({3, 5}));
  EXPECT_EQ(expand(scalar_tensor(2), {2, 2}).shape(), Shape({2, 2}));
  fill_(x, 7);
  EXPECT_EQ(values(y)[23], 7);  // writes to x are seen through the expanded view
}

TEST(Expand, ErrorsAndGradients) {
  Tensor x = iota({3, 1});
  expect_error([&] { expand(x, {2, 4}); }, {"expand", "[3, 1]", "[2, 4]", "dimension 0"});
  expect_error([&] { expand(x, {5}); }, {"expand", "[3, 1]", "[5]", "fewer"});
  expect_error([&] { expand(x, {-1, 3, 2}); }, {"expand", "-1", "[-1, 3, 2]"});
  expect_error([&] { expand(x, {3, -2}); }, {"expand", "[3, -2]"});
  expect_gradcheck([](const std::vector<Tensor>& in) { return expand(in[0], {2, 3, 4}); }, {random_leaf({3, 1})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return expand(narrow(in[0], 1, 1, 1), {2, -1, 3}); },
                   {transposed_leaf({3, 2})});
}

// ---------------------------------------------------------------- narrow, slice, select

TEST(Narrow, WindowAlongADim) {
  Tensor x = iota({3, 4});
  Tensor y = narrow(x, 1, 1, 2);
  EXPECT_EQ(y.shape(), Shape({3, 2}));
  EXPECT_EQ(values(y), (std::vector<float>{1, 2, 5, 6, 9, 10}));
  EXPECT_TRUE(shares_storage(x, y));
  fill_(y, -1);
  EXPECT_EQ(values(x), (std::vector<float>{0, -1, -1, 3, 4, -1, -1, 7, 8, -1, -1, 11}));
  EXPECT_EQ(values(narrow(iota({5}), 0, -2, 2)), (std::vector<float>{3, 4}));
  EXPECT_EQ(narrow(iota({5}), 0, 5, 0).numel(), 0);
  expect_error([&] { narrow(x, 1, 3, 2); }, {"narrow", "length 2", "start 3", "size 4"});
  expect_error([&] { narrow(x, 0, 4, 0); }, {"narrow", "start 4", "size 3"});
  expect_error([&] { narrow(x, 0, 0, -1); }, {"narrow", "length -1"});
  expect_error([&] { narrow(x, 2, 0, 1); }, {"narrow", "dimension 2", "rank 2"});
  expect_error([&] { narrow(scalar_tensor(1), 0, 0, 1); }, {"narrow", "[]"});
  expect_gradcheck([](const std::vector<Tensor>& in) { return narrow(in[0], -1, 1, 2); }, {transposed_leaf({3, 4})});
}

TEST(Slice, StepAndNegativeBounds) {
  Tensor x = iota({10});
  EXPECT_EQ(values(slice(x, 0, 1, 8, 3)), (std::vector<float>{1, 4, 7}));
  EXPECT_EQ(values(slice(x, 0, -3, 10)), (std::vector<float>{7, 8, 9}));
  EXPECT_EQ(values(slice(x, 0, 2, -5, 2)), (std::vector<float>{2, 4}));
  EXPECT_EQ(values(slice(x, 0, -100, 2)), (std::vector<float>{0, 1}));   // clamped as in Python
  EXPECT_EQ(values(slice(x, 0, 8, 100)), (std::vector<float>{8, 9}));
  EXPECT_EQ(slice(x, 0, 5, 3).numel(), 0);
  EXPECT_EQ(slice(x, 0, 10, 20).numel(), 0);
  Tensor m = iota({3, 4});
  Tensor y = slice(m, -1, 0, 4, 2);
  EXPECT_EQ(y.shape(), Shape({3, 2}));
  EXPECT_EQ(values(y), (std::vector<float>{0, 2, 4, 6, 8, 10}));
  EXPECT_TRUE(shares_storage(m, y));
  fill_(y, 0.5);
  EXPECT_EQ(values(m)[2], 0.5f);
  EXPECT_EQ(values(m)[3], 3.0f);
  expect_error([&] { slice(x, 0, 0, 5, 0); }, {"slice", "step 0"});
  expect_error([&] { slice(x, 0, 0, 5, -1); }, {"slice", "step -1"});
  expect_error([&] { slice(x, 1, 0, 5); }, {"slice", "dimension 1", "rank 1"});
}

TEST(Slice, Gradients) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return slice(in[0], 0, 1, 5, 2); }, {random_leaf({6, 2})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return slice(in[0], -1, -3, -1); }, {transposed_leaf({2, 4})});
  // A slice of a slice: the gradient lands in the right places of the original.
  expect_gradcheck([](const std::vector<Tensor>& in) { return slice(slice(in[0], 0, 1, 6, 2), 0, 1, 3); },
                   {random_leaf({7})});
}

TEST(Select, RemovesTheDim) {
  Tensor x = iota({3, 4});
  EXPECT_EQ(values(select(x, 0, 1)), (std::vector<float>{4, 5, 6, 7}));
  EXPECT_EQ(values(select(x, 1, -1)), (std::vector<float>{3, 7, 11}));
  EXPECT_EQ(select(x, 1, 0).shape(), Shape({3}));
  EXPECT_EQ(select(iota({3}), 0, 2).dim(), 0);
  EXPECT_EQ(select(iota({3}), 0, 2).item(), 2);
  EXPECT_TRUE(shares_storage(x, select(x, 0, 2)));
  expect_error([&] { select(x, 0, 3); }, {"select", "index 3", "size 3", "-3..2"});
  expect_error([&] { select(x, 1, -5); }, {"select", "index -5", "size 4"});
  expect_gradcheck([](const std::vector<Tensor>& in) { return select(in[0], -1, -2); }, {transposed_leaf({3, 4})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return select(select(in[0], 0, 1), 0, 0); },
                   {random_leaf({2, 3})});
}

// ---------------------------------------------------------------- cat and stack

TEST(Cat, ConcatenatesAlongADim) {
  Tensor a = iota({2, 2});
  Tensor b = add(iota({2, 3}), 10.0);
  Tensor y = cat({a, b}, 1);
  EXPECT_EQ(y.shape(), Shape({2, 5}));
  EXPECT_EQ(values(y), (std::vector<float>{0, 1, 10, 11, 12, 2, 3, 13, 14, 15}));
  EXPECT_EQ(values(cat({a, t(a)}, -2)), (std::vector<float>{0, 1, 2, 3, 0, 2, 1, 3}));
  EXPECT_EQ(cat({a, zeros({0, 2})}).shape(), Shape({2, 2}));
  EXPECT_FALSE(shares_storage(y, a));
  Tensor ints = cat({arange(3), arange(2)});
  EXPECT_EQ(ints.dtype(), DType::Int64);
  EXPECT_EQ(ints.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 2, 0, 1}));
}

TEST(Cat, Errors) {
  Tensor a = iota({2, 2});
  expect_error([&] { cat({}); }, {"cat", "non-empty"});
  expect_error([&] { cat({a, iota({3, 3})}, 1); }, {"cat", "tensor 1", "[3, 3]", "[2, 2]"});
  expect_error([&] { cat({a, iota({4})}); }, {"cat", "tensor 1", "[4]"});
  expect_error([&] { cat({a, zeros({2, 2}, DType::Float64)}); }, {"cat", "tensor 1", "float64", "float32"});
  expect_error([&] { cat({a, Tensor()}); }, {"cat", "tensor 1", "undefined"});
  expect_error([&] { cat({scalar_tensor(1), scalar_tensor(2)}); }, {"cat", "scalars"});
  expect_error([&] { cat({a, a}, 2); }, {"cat", "dimension 2", "rank 2"});
}

TEST(Cat, Gradients) {
  expect_gradcheck([](const std::vector<Tensor>& in) { return cat({in[0], in[1], in[2]}, -1); },
                   {random_leaf({2, 2}, 1), transposed_leaf({2, 3}, 2), random_leaf({2, 1}, 3)});
  // Only some inputs require grad; the same tensor twice accumulates.
  Tensor constant = zeros({1, 2}, DType::Float64);
  expect_gradcheck(
      [&](const std::vector<Tensor>& in) {
        return cat({in[0], constant, in[0]}, 0);
      },
      {random_leaf({2, 2})});
}

TEST(Stack, AddsANewDim) {
  Tensor a = iota({2, 3});
  Tensor b = add(a, 100.0);
  Tensor y = stack({a, b});
  EXPECT_EQ(y.shape(), Shape({2, 2, 3}));
  EXPECT_EQ(values(select(y, 0, 1)), values(b));
  Tensor z = stack({a, b}, -1);
  EXPECT_EQ(z.shape(), Shape({2, 3, 2}));
  EXPECT_EQ(values(select(z, -1, 0)), values(a));
  EXPECT_EQ(stack({scalar_tensor(1), scalar_tensor(2)}).shape(), Shape({2}));
  expect_error([&] { stack({a, iota({3, 2})}); }, {"stack", "tensor 1", "[3, 2]", "[2, 3]"});
  expect_error([&] { stack({a, a}, 3); }, {"stack", "dimension 3"});
  expect_error([&] { stack({}); }, {"stack", "non-empty"});
  expect_gradcheck([](const std::vector<Tensor>& in) { return stack({in[0], in[1]}, 1); },
                   {random_leaf({2, 3}, 5), transposed_leaf({2, 3}, 6)});
}

// ---------------------------------------------------------------- split and chunk

TEST(Split, PiecesAreViews) {
  Tensor x = iota({5, 2});
  std::vector<Tensor> pieces = split(x, 2);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(pieces[0].shape(), Shape({2, 2}));
  EXPECT_EQ(pieces[2].shape(), Shape({1, 2}));
  EXPECT_EQ(values(pieces[1]), (std::vector<float>{4, 5, 6, 7}));
  for (const Tensor& p : pieces) EXPECT_TRUE(shares_storage(x, p));
  fill_(pieces[2], -3);
  EXPECT_EQ(values(x)[9], -3);
  std::vector<Tensor> columns = split(x, 1, -1);
  ASSERT_EQ(columns.size(), 2u);
  EXPECT_EQ(values(columns[1]), (std::vector<float>{1, 3, 5, 7, -3}));
  EXPECT_EQ(split(x, 10).size(), 1u);
  expect_error([&] { split(x, 0); }, {"split", "split_size 0"});
  expect_error([&] { split(x, 1, 2); }, {"split", "dimension 2"});
}

TEST(Chunk, CeilSizedPieces) {
  Tensor x = iota({7});
  std::vector<Tensor> pieces = chunk(x, 3);
  ASSERT_EQ(pieces.size(), 3u);
  EXPECT_EQ(values(pieces[0]), (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(values(pieces[2]), (std::vector<float>{6}));
  EXPECT_EQ(chunk(iota({4}), 4).size(), 4u);
  EXPECT_EQ(chunk(iota({6}), 4).size(), 3u);  // as PyTorch: ceil(6/4) = 2 per piece
  expect_error([&] { chunk(x, 0); }, {"chunk", "chunks 0"});
  expect_error([&] { chunk(x, -2); }, {"chunk", "chunks -2"});
}

TEST(SplitChunk, Gradients) {
  // Each piece is its own node; a function of all pieces checks every one of them.
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        std::vector<Tensor> p = split(in[0], 2, -1);
        return cat({mul(p[0], 2.0), p[1], mul(p[2], -1.0)}, -1);
      },
      {transposed_leaf({2, 5})});
  expect_gradcheck(
      [](const std::vector<Tensor>& in) {
        std::vector<Tensor> p = chunk(in[0], 2, 0);
        return mul(p[0], p[1]);
      },
      {random_leaf({4, 3})});
  // Only one piece used: the others contribute nothing.
  expect_gradcheck([](const std::vector<Tensor>& in) { return split(in[0], 1, 0)[1]; }, {random_leaf({3, 2})});
}

// ---------------------------------------------------------------- autograd through views

TEST(Views, BackwardAccumulatesIntoTheLeaf) {
  Tensor x = zeros({2, 3}, DType::Float64);
  x.set_requires_grad();
  // x[1, :] + x[0, :] through two different views, then a gradient of (1, 2, 3).
  Tensor y = add(select(x, 0, 1), select(t(x), 1, 0));
  EXPECT_TRUE(y.requires_grad());
  y.backward(from_vector(std::vector<double>{1, 2, 3}));
  EXPECT_EQ(x.grad().to_vector<double>(), (std::vector<double>{1, 2, 3, 1, 2, 3}));
}

TEST(Views, OfATensorThatRequiresGradRefuseInPlaceWrites) {
  Tensor x = zeros({2, 3}, DType::Float64);
  x.set_requires_grad();
  Tensor row = select(x, 0, 0);
  EXPECT_TRUE(row.requires_grad());
  expect_error([&] { fill_(row, 1); }, {"fill_", "[3]", "requires grad"});
}

}  // namespace
}  // namespace recur
