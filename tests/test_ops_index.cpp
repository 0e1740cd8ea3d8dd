// Indexing ops: values, float64 gradient checks (repeated indices accumulate), and clear
// errors for out-of-range indices, wrong dtypes and wrong ranks.
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

Tensor ids(const std::vector<std::int64_t>& v, const Shape& shape = {}) { return from_vector(v, shape); }

// ---------------------------------------------------------------- index_select

TEST(IndexSelect, PicksSlicesAlongADim) {
  Tensor x = iota({3, 4});
  EXPECT_EQ(values(index_select(x, 0, ids({2, 0, 2}))), (std::vector<float>{8, 9, 10, 11, 0, 1, 2, 3, 8, 9, 10, 11}));
  Tensor cols = index_select(x, -1, ids({3, 1}));
  EXPECT_EQ(cols.shape(), Shape({3, 2}));
  EXPECT_EQ(values(cols), (std::vector<float>{3, 1, 7, 5, 11, 9}));
  EXPECT_EQ(index_select(x, 0, ids({}, {0})).shape(), Shape({0, 4}));
  // Non-contiguous input and index.
  Tensor strided_index = slice(ids({1, 9, 0, 9, 2}), 0, 0, 5, 2);  // {1, 0, 2}
  EXPECT_EQ(values(index_select(t(x), 0, strided_index)), (std::vector<float>{1, 5, 9, 0, 4, 8, 2, 6, 10}));
  // int64 data works too.
  EXPECT_EQ(index_select(arange(5), 0, ids({4, 4})).to_vector<std::int64_t>(), (std::vector<std::int64_t>{4, 4}));
}

TEST(IndexSelect, Gradients) {
  Tensor index = ids({1, 0, 1, 1});  // repeated rows accumulate
  expect_gradcheck([&](const std::vector<Tensor>& in) { return index_select(in[0], 0, index); }, {random_leaf({2, 3})});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return index_select(t(in[0]), -1, index); },
                   {random_leaf({2, 3})});
}

TEST(IndexSelect, Errors) {
  Tensor x = iota({3, 4});
  expect_error([&] { index_select(x, 1, ids({0, 4})); },
               {"index_select", "index 4", "dimension 1", "size 4", "0..3"});
  expect_error([&] { index_select(x, 0, ids({-1})); }, {"index_select", "index -1", "size 3", "0..2"});
  expect_error([&] { index_select(x, 0, tensor({0, 1})); }, {"index_select", "int64", "float32", "[2]"});
  expect_error([&] { index_select(x, 0, ids({0, 1}, {1, 2})); }, {"index_select", "1-D", "[1, 2]"});
  expect_error([&] { index_select(x, 2, ids({0})); }, {"index_select", "dimension 2", "rank 2"});
  expect_error([&] { index_select(scalar_tensor(1), 0, ids({0})); }, {"index_select", "[]"});
  expect_error([&] { index_select(zeros({0, 2}), 0, ids({0})); }, {"index_select", "index 0", "size 0", "empty"});
  expect_error([&] { index_select(Tensor(), 0, ids({0})); }, {"index_select", "undefined"});
}

// ---------------------------------------------------------------- gather

TEST(Gather, PicksElementsAlongADim) {
  Tensor x = iota({2, 3});  // [[0, 1, 2], [3, 4, 5]]
  Tensor y = gather(x, 1, ids({2, 0, 1, 1}, {2, 2}));
  EXPECT_EQ(y.shape(), Shape({2, 2}));
  EXPECT_EQ(values(y), (std::vector<float>{2, 0, 4, 4}));
  Tensor z = gather(x, 0, ids({1, 0, 1}, {1, 3}));
  EXPECT_EQ(values(z), (std::vector<float>{3, 1, 5}));
  // index smaller than x outside dim, and along dim larger than x.
  EXPECT_EQ(values(gather(x, -1, ids({0, 0, 0, 0}, {1, 4}))), (std::vector<float>{0, 0, 0, 0}));
}

TEST(Gather, Gradients) {
  Tensor index = ids({0, 2, 2, 1, 1, 1}, {2, 3});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return gather(in[0], -1, index); }, {random_leaf({2, 3})});
  Tensor column = ids({2, 0, 2}, {3, 1});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return gather(t(in[0]), 1, column); }, {random_leaf({3, 3})});
}

TEST(Gather, Errors) {
  Tensor x = iota({2, 3});
  expect_error([&] { gather(x, 1, ids({0, 3}, {2, 1})); }, {"gather", "index 3", "dimension 1", "size 3", "0..2"});
  expect_error([&] { gather(x, 0, ids({-2}, {1, 1})); }, {"gather", "index -2", "size 2"});
  expect_error([&] { gather(x, 1, ids({0, 1})); }, {"gather", "[2]", "rank", "[2, 3]"});
  expect_error([&] { gather(x, 1, ids({0, 0, 0}, {3, 1})); }, {"gather", "[3, 1]", "larger", "dimension 0"});
  expect_error([&] { gather(x, 1, zeros({2, 1}, DType::Float64)); }, {"gather", "int64", "float64"});
  expect_error([&] { gather(x, 2, ids({0}, {1, 1})); }, {"gather", "dimension 2"});
}

// ---------------------------------------------------------------- embedding

TEST(Embedding, RowsForIndicesOfAnyShape) {
  Tensor weight = iota({4, 2});
  Tensor y = embedding(weight, ids({3, 0, 3, 1}, {2, 2}));
  EXPECT_EQ(y.shape(), Shape({2, 2, 2}));
  EXPECT_EQ(values(y), (std::vector<float>{6, 7, 0, 1, 6, 7, 2, 3}));
  Tensor single = embedding(weight, reshape(ids({2}), {}));  // a 0-d index gives one row
  EXPECT_EQ(single.shape(), Shape({2}));
  EXPECT_EQ(values(single), (std::vector<float>{4, 5}));
  EXPECT_EQ(embedding(weight, ids({}, {0})).shape(), Shape({0, 2}));
  // Non-contiguous indices and weight.
  Tensor strided = t(ids({0, 1, 2, 3}, {2, 2}));  // [[0, 2], [1, 3]]
  EXPECT_EQ(values(embedding(weight, strided)), (std::vector<float>{0, 1, 4, 5, 2, 3, 6, 7}));
  Tensor wt = t(iota({2, 4}));  // (4, 2): row r is (r, r + 4)
  EXPECT_EQ(values(embedding(wt, ids({1, 3}))), (std::vector<float>{1, 5, 3, 7}));
}

TEST(Embedding, Gradients) {
  Tensor indices = ids({1, 3, 1, 0, 1, 2}, {3, 2});  // row 1 three times
  expect_gradcheck([&](const std::vector<Tensor>& in) { return embedding(in[0], indices); }, {random_leaf({4, 3})});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return embedding(t(in[0]), t(indices)); },
                   {random_leaf({3, 4})});
  Tensor scalar_index = reshape(ids({2}), {});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return embedding(in[0], scalar_index); },
                   {random_leaf({4, 3})});
}

TEST(Embedding, GradientIsZeroForUnusedRows) {
  Tensor weight = zeros({5, 2}, DType::Float64);
  weight.set_requires_grad();
  Tensor y = embedding(weight, ids({4, 4, 1}));
  y.backward(ones({3, 2}, DType::Float64));
  EXPECT_EQ(weight.grad().to_vector<double>(), (std::vector<double>{0, 0, 1, 1, 0, 0, 0, 0, 2, 2}));
}

TEST(Embedding, Errors) {
  Tensor weight = zeros({10, 3});
  expect_error([&] { embedding(weight, ids({1, 12, 3})); },
               {"embedding: index 12 is out of range for a weight with 10 rows (expected 0..9)"});
  expect_error([&] { embedding(weight, ids({-1})); }, {"embedding", "index -1", "10 rows", "0..9"});
  expect_error([&] { embedding(weight, tensor({1, 2})); }, {"embedding", "int64", "float32", "[2]"});
  expect_error([&] { embedding(zeros({10}), ids({1})); }, {"embedding", "2-D", "[10]"});
  expect_error([&] { embedding(zeros({0, 3}), ids({0})); }, {"embedding", "index 0", "0 rows", "empty"});
  expect_error([&] { embedding(Tensor(), ids({0})); }, {"embedding", "undefined"});
  expect_error([&] { embedding(weight, zeros({1, 1, 1, 1, 1, 1, 1, 1}, DType::Int64)); }, {"embedding", "maximum"});
}

// ---------------------------------------------------------------- one_hot

TEST(OneHot, EncodesAsFloat32) {
  Tensor y = one_hot(ids({2, 0, 1, 2}, {2, 2}), 3);
  EXPECT_EQ(y.shape(), Shape({2, 2, 3}));
  EXPECT_EQ(y.dtype(), DType::Float32);
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(values(y), (std::vector<float>{0, 0, 1, 1, 0, 0, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(values(one_hot(reshape(ids({1}), {}), 2)), (std::vector<float>{0, 1}));
  EXPECT_EQ(one_hot(ids({}, {0}), 4).shape(), Shape({0, 4}));
  EXPECT_EQ(values(one_hot(slice(ids({1, 9, 0}), 0, 0, 3, 2), 2)), (std::vector<float>{0, 1, 1, 0}));
}

TEST(OneHot, Errors) {
  expect_error([&] { one_hot(ids({0, 7}), 5); }, {"one_hot", "index 7", "5 classes", "0..4"});
  expect_error([&] { one_hot(ids({-3}), 5); }, {"one_hot", "index -3", "5 classes"});
  expect_error([&] { one_hot(ids({0}), 0); }, {"one_hot", "num_classes 0"});
  expect_error([&] { one_hot(expand(ids({0}), {1ll << 30}), 1ll << 40); }, {"one_hot", "too many elements"});
  expect_error([&] { one_hot(tensor({0, 1}), 2); }, {"one_hot", "int64", "float32"});
}

// First appearance order; inverse in x's shape, and values[inverse] gives x back.
TEST(Unique, ValuesInFirstSeenOrderAndTheirPlaces) {
  const Tensor x = reshape(ids({7, 3, 7, 0, 3, 3}), {2, 3});
  const auto [values, inverse] = unique(x);
  EXPECT_EQ(values.to_vector<std::int64_t>(), (std::vector<std::int64_t>{7, 3, 0}));
  EXPECT_EQ(inverse.shape(), Shape({2, 3}));
  EXPECT_EQ(inverse.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 1, 0, 2, 1, 1}));
  EXPECT_EQ(unique(ids({}, {0})).values.numel(), 0);
  expect_error([&] { unique(tensor({0, 1})); }, {"unique", "int64", "float32"});
}

}  // namespace
}  // namespace recur
