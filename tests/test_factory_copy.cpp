// Factories, copies, dtype conversion and in-place updates: values, reproducible random
// fills, storage versions, autograd where it applies, and errors for bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
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
std::vector<double> doubles(const Tensor& t) { return t.to_vector<double>(); }
std::vector<std::int64_t> ints(const Tensor& t) { return t.to_vector<std::int64_t>(); }

double mean_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

// ---------------------------------------------------------------- constant factories

TEST(Factory, ZerosOnesFull) {
  Tensor z = zeros({2, 3});
  EXPECT_EQ(z.shape(), Shape({2, 3}));
  EXPECT_EQ(z.dtype(), DType::Float32);
  EXPECT_EQ(values(z), std::vector<float>(6, 0));
  EXPECT_EQ(doubles(ones({2}, DType::Float64)), (std::vector<double>{1, 1}));
  EXPECT_EQ(ints(full({3}, 7, DType::Int64)), (std::vector<std::int64_t>{7, 7, 7}));
  EXPECT_EQ(full({}, 2.5).item(), 2.5);
  EXPECT_EQ(zeros({0, 4}).numel(), 0);
  EXPECT_FALSE(zeros({2}).requires_grad());
  Tensor like = ones_like(zeros({2, 2}, DType::Float64));
  EXPECT_EQ(like.dtype(), DType::Float64);
  EXPECT_EQ(doubles(like), std::vector<double>(4, 1));
  EXPECT_EQ(values(zeros_like(t(ones({2, 3})))), std::vector<float>(6, 0));
  EXPECT_EQ(zeros_like(t(ones({2, 3}))).shape(), Shape({3, 2}));
}

TEST(Factory, ConstantErrors) {
  expect_error([] { zeros({2, -1}); }, {"zeros", "negative", "[2, -1]"});
  expect_error([] { full({2}, NAN, DType::Int64); }, {"full", "nan", "int64"});
  expect_error([] { full({2}, 1e30, DType::Int64); }, {"full", "int64"});
  expect_error([] { ones({1ll << 40, 1ll << 40}); }, {"ones", "too many elements"});
  expect_error([] { zeros_like(Tensor()); }, {"zeros_like", "undefined"});
}

TEST(Factory, Arange) {
  Tensor a = arange(4);
  EXPECT_EQ(a.dtype(), DType::Int64);
  EXPECT_EQ(ints(a), (std::vector<std::int64_t>{0, 1, 2, 3}));
  EXPECT_EQ(arange(0).numel(), 0);
  EXPECT_EQ(values(arange(3, DType::Float32)), (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(values(arange(1, 2, 0.25)), (std::vector<float>{1, 1.25, 1.5, 1.75}));
  EXPECT_EQ(arange(0, 1, 0.3).numel(), 4);  // 0, 0.3, 0.6, 0.9
  EXPECT_EQ(doubles(arange(5, 0, -2, DType::Float64)), (std::vector<double>{5, 3, 1}));
  EXPECT_EQ(ints(arange(-2, 2, 1, DType::Int64)), (std::vector<std::int64_t>{-2, -1, 0, 1}));
  EXPECT_EQ(arange(2, 2, 1).numel(), 0);
  expect_error([] { arange(-3); }, {"arange", "end -3"});
  expect_error([] { arange(0, 1, 0); }, {"arange", "step", "non-zero"});
  expect_error([] { arange(0, 5, -1); }, {"arange", "step -1", "start 0", "end 5"});
  expect_error([] { arange(0, INFINITY, 1); }, {"arange", "finite"});
  expect_error([] { arange(0, 1e300, 1e-300); }, {"arange", "too many elements"});
}

TEST(Factory, FromVectorAndLiterals) {
  Tensor f = from_vector(std::vector<float>{1, 2, 3, 4, 5, 6}, {2, 3});
  EXPECT_EQ(f.shape(), Shape({2, 3}));
  EXPECT_EQ(values(f), (std::vector<float>{1, 2, 3, 4, 5, 6}));
  Tensor d = from_vector(std::vector<double>{0.5, 1.5});
  EXPECT_EQ(d.dtype(), DType::Float64);
  EXPECT_EQ(d.shape(), Shape({2}));
  Tensor i = from_vector(std::vector<std::int64_t>{7}, Shape{});
  EXPECT_EQ(i.shape(), Shape({1}));  // an empty shape means 1-D
  EXPECT_EQ(from_vector(std::vector<float>{}).shape(), Shape({0}));
  EXPECT_EQ(from_vector(std::vector<float>{}, {3, 0}).shape(), Shape({3, 0}));

  Tensor v = tensor({1, 2, 3});
  EXPECT_EQ(v.shape(), Shape({3}));
  EXPECT_EQ(v.dtype(), DType::Float32);
  Tensor m = tensor({{1, 2}, {3, 4}, {5, 6}}, DType::Float64);
  EXPECT_EQ(m.shape(), Shape({3, 2}));
  EXPECT_EQ(doubles(m), (std::vector<double>{1, 2, 3, 4, 5, 6}));
  EXPECT_EQ(ints(tensor({-1, 4}, DType::Int64)), (std::vector<std::int64_t>{-1, 4}));
  Tensor s = scalar_tensor(3.5, DType::Float64);
  EXPECT_EQ(s.dim(), 0);
  EXPECT_EQ(s.item(), 3.5);

  expect_error([] { from_vector(std::vector<float>{1, 2, 3}, {2, 2}); }, {"from_vector", "3 values", "[2, 2]"});
  expect_error([] { from_vector(std::vector<double>{1, 2}, {-1, -2}); }, {"from_vector", "negative", "[-1, -2]"});
  expect_error([] { tensor({{1, 2}, {3}}); }, {"tensor", "row 1", "1 values", "2"});
  expect_error([] { tensor({1, NAN}, DType::Int64); }, {"tensor", "nan", "int64"});
  expect_error([] { scalar_tensor(INFINITY, DType::Int64); }, {"scalar_tensor", "inf", "int64"});
}

// ---------------------------------------------------------------- random factories

TEST(Random, SameSeedSameNumbers) {
  Generator a(42), b(42), c(43);
  std::vector<float> ua = values(uniform({5, 7}, -1, 1, DType::Float32, &a));
  std::vector<float> ub = values(uniform({5, 7}, -1, 1, DType::Float32, &b));
  std::vector<float> uc = values(uniform({5, 7}, -1, 1, DType::Float32, &c));
  EXPECT_EQ(ua, ub);
  EXPECT_NE(ua, uc);
  for (float v : ua) {
    EXPECT_GE(v, -1);
    EXPECT_LT(v, 1);
  }
  EXPECT_EQ(doubles(normal({9}, 1, 2, DType::Float64, &a)), doubles(normal({9}, 1, 2, DType::Float64, &b)));
  EXPECT_EQ(values(bernoulli({9}, 0.3, DType::Float32, &a)), values(bernoulli({9}, 0.3, DType::Float32, &b)));
}

TEST(Random, ReservesCeilHalfBlocksAndContinuesTheStream) {
  Generator gen(7);
  uniform({5}, 0, 1, DType::Float32, &gen);
  EXPECT_EQ(gen.offset(), 3u);
  normal({4}, 0, 1, DType::Float64, &gen);
  EXPECT_EQ(gen.offset(), 5u);
  bernoulli({1}, 0.5, DType::Float32, &gen);
  EXPECT_EQ(gen.offset(), 6u);
  uniform({0}, 0, 1, DType::Float32, &gen);
  EXPECT_EQ(gen.offset(), 6u);
  // Two fills of 4 read the same stream as one fill of 8.
  Generator one(9), two(9);
  std::vector<double> whole = doubles(normal({8}, 0, 1, DType::Float64, &one));
  std::vector<double> first = doubles(normal({4}, 0, 1, DType::Float64, &two));
  std::vector<double> second = doubles(normal({4}, 0, 1, DType::Float64, &two));
  first.insert(first.end(), second.begin(), second.end());
  EXPECT_EQ(whole, first);
}

TEST(Random, DefaultGeneratorFollowsManualSeed) {
  manual_seed(123);
  std::vector<float> a = values(normal({6}));
  manual_seed(123);
  std::vector<float> b = values(normal({6}));
  EXPECT_EQ(a, b);
  EXPECT_EQ(default_generator().offset(), 3u);
}

TEST(Random, Distributions) {
  Generator gen(5);
  std::vector<double> n = doubles(normal({20000}, 2, 3, DType::Float64, &gen));
  double m = mean_of(n), var = 0;
  for (double x : n) var += (x - m) * (x - m);
  var /= static_cast<double>(n.size());
  EXPECT_NEAR(m, 2, 0.1);
  EXPECT_NEAR(std::sqrt(var), 3, 0.1);
  std::vector<double> u = doubles(uniform({20000}, 3, 5, DType::Float64, &gen));
  EXPECT_NEAR(mean_of(u), 4, 0.05);
  std::vector<double> b = doubles(bernoulli({20000}, 0.25, DType::Float64, &gen));
  for (double x : b) EXPECT_TRUE(x == 0 || x == 1);
  EXPECT_NEAR(mean_of(b), 0.25, 0.02);
  EXPECT_EQ(values(bernoulli({50}, 0, DType::Float32, &gen)), std::vector<float>(50, 0));
  EXPECT_EQ(values(bernoulli({50}, 1, DType::Float32, &gen)), std::vector<float>(50, 1));
  EXPECT_EQ(values(normal({4}, 1.5, 0, DType::Float32, &gen)), std::vector<float>(4, 1.5));
}

TEST(Random, Errors) {
  expect_error([] { uniform({2}, 1, 0); }, {"uniform", "low 1", "high 0"});
  expect_error([] { uniform({2}, 0, 1, DType::Int64); }, {"uniform", "int64"});
  expect_error([] { normal({2}, 0, -1); }, {"normal", "stddev -1"});
  expect_error([] { normal({2}, NAN, 1); }, {"normal", "mean nan"});
  expect_error([] { bernoulli({2}, 1.5); }, {"bernoulli", "1.5"});
  expect_error([] { bernoulli({2}, NAN); }, {"bernoulli", "nan"});
  expect_error([] { uniform({-2}); }, {"uniform", "negative", "[-2]"});
}

// ---------------------------------------------------------------- clone, contiguous, to_dtype

TEST(Clone, DenseCopyWithItsOwnStorage) {
  Tensor x = iota({2, 3});
  Tensor y = clone(t(x));
  EXPECT_NE(y.storage(), x.storage());
  EXPECT_TRUE(y.is_contiguous());
  EXPECT_EQ(values(y), (std::vector<float>{0, 3, 1, 4, 2, 5}));
  fill_(y, 0);
  EXPECT_EQ(values(x)[1], 1);
  expect_error([] { clone(Tensor()); }, {"clone", "undefined"});
  expect_gradcheck([](const std::vector<Tensor>& in) { return clone(t(in[0])); }, {random_leaf({2, 3})});
}

TEST(Contiguous, ReturnsTheTensorItselfWhenAlreadyDense) {
  Tensor x = iota({2, 3});
  EXPECT_TRUE(contiguous(x).is_same(x));
  EXPECT_TRUE(x.contiguous().is_same(x));
  Tensor xt = t(x);
  Tensor c = xt.contiguous();
  EXPECT_FALSE(c.is_same(xt));
  EXPECT_NE(c.storage(), x.storage());
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_EQ(values(c), values(xt));
  EXPECT_EQ(values(contiguous(slice(iota({6}), 0, 0, 6, 2))), (std::vector<float>{0, 2, 4}));
  expect_gradcheck([](const std::vector<Tensor>& in) { return contiguous(slice(in[0], -1, 0, 3, 2)); },
                   {random_leaf({2, 3})});
  expect_gradcheck([](const std::vector<Tensor>& in) { return t(in[0]).contiguous(); }, {random_leaf({2, 3})});
}

TEST(ToDtype, ConvertsAndKeepsTheSameDtypeAsIs) {
  Tensor x = tensor({1.75, -2.5, 3});
  EXPECT_TRUE(to_dtype(x, DType::Float32).is_same(x));
  EXPECT_EQ(doubles(to_dtype(x, DType::Float64)), (std::vector<double>{1.75, -2.5, 3}));
  EXPECT_EQ(ints(to_dtype(x, DType::Int64)), (std::vector<std::int64_t>{1, -2, 3}));  // truncates toward zero
  EXPECT_EQ(values(to_dtype(arange(3), DType::Float32)), (std::vector<float>{0, 1, 2}));
  EXPECT_EQ(to_dtype(t(ones({2, 3})), DType::Float64).shape(), Shape({3, 2}));
  expect_error([] { to_dtype(Tensor(), DType::Float32); }, {"to_dtype", "undefined"});
}

TEST(ToDtype, GradientConvertsBack) {
  Tensor x = from_vector(std::vector<double>{1, 2, 3});
  x.set_requires_grad();
  Tensor y = to_dtype(x, DType::Float32);
  EXPECT_TRUE(y.requires_grad());
  y.backward(tensor({0.5, -1, 2}));
  EXPECT_EQ(x.grad().dtype(), DType::Float64);
  EXPECT_EQ(doubles(x.grad()), (std::vector<double>{0.5, -1, 2}));
  EXPECT_FALSE(to_dtype(x, DType::Int64).requires_grad());  // no gradient through integers
  // A finite-difference check through float32 would measure float32 rounding, not the
  // gradient, so the other direction is checked by value too.
  Tensor single = from_vector(std::vector<float>{1, 2});
  single.set_requires_grad();
  to_dtype(t(reshape(single, {1, 2})), DType::Float64).backward(from_vector(std::vector<double>{3, 4}, {2, 1}));
  EXPECT_EQ(single.grad().dtype(), DType::Float32);
  EXPECT_EQ(values(single.grad()), (std::vector<float>{3, 4}));
}

// ---------------------------------------------------------------- in-place updates

TEST(InPlace, CopyBroadcastsAndConverts) {
  Tensor dst = zeros({2, 3});
  std::uint64_t v0 = dst.storage()->version();
  copy_(dst, from_vector(std::vector<double>{1, 2, 3}));
  EXPECT_EQ(values(dst), (std::vector<float>{1, 2, 3, 1, 2, 3}));
  EXPECT_GT(dst.storage()->version(), v0);
  copy_(t(dst), iota({3, 2}));  // a non-contiguous destination
  EXPECT_EQ(values(dst), (std::vector<float>{0, 2, 4, 1, 3, 5}));
  copy_(select(dst, 0, 1), scalar_tensor(9));  // through a view
  EXPECT_EQ(values(dst), (std::vector<float>{0, 2, 4, 9, 9, 9}));
  Tensor ints_dst = zeros({2}, DType::Int64);
  copy_(ints_dst, tensor({2.9, -1.5}));
  EXPECT_EQ(ints(ints_dst), (std::vector<std::int64_t>{2, -1}));
}

TEST(InPlace, CopyBetweenOverlappingViewsReadsTheOldValues) {
  Tensor x = iota({5});
  copy_(slice(x, 0, 1, 5), slice(x, 0, 0, 4));  // x[1:] = x[:-1]
  EXPECT_EQ(values(x), (std::vector<float>{0, 0, 1, 2, 3}));
  Tensor m = iota({2, 2});
  copy_(m, t(m));  // in-place transpose
  EXPECT_EQ(values(m), (std::vector<float>{0, 2, 1, 3}));
}

TEST(InPlace, FillZeroAddMul) {
  Tensor x = zeros({2, 2});
  std::uint64_t v0 = x.storage()->version();
  fill_(x, 1.5);
  EXPECT_EQ(values(x), std::vector<float>(4, 1.5));
  add_(x, tensor({1, 2}), 2);  // broadcast over rows
  EXPECT_EQ(values(x), (std::vector<float>{3.5, 5.5, 3.5, 5.5}));
  add_(x, x);  // the same view on both sides
  EXPECT_EQ(values(x), (std::vector<float>{7, 11, 7, 11}));
  add_(x, from_vector(std::vector<double>{1}));  // converted to the destination's dtype
  EXPECT_EQ(values(x), (std::vector<float>{8, 12, 8, 12}));
  mul_(x, 0.5);
  EXPECT_EQ(values(x), (std::vector<float>{4, 6, 4, 6}));
  add_(select(x, 1, 0), scalar_tensor(1));  // through a strided view
  EXPECT_EQ(values(x), (std::vector<float>{5, 6, 5, 6}));
  zero_(x);
  EXPECT_EQ(values(x), std::vector<float>(4, 0));
  EXPECT_EQ(x.storage()->version(), v0 + 7);

  Tensor counts = arange(3);
  add_(counts, arange(3), 2);
  mul_(counts, 3);
  EXPECT_EQ(ints(counts), (std::vector<std::int64_t>{0, 9, 18}));
  fill_(expand(zeros({1}), {4}), 2);  // every alias gets the same value: allowed
}

TEST(InPlace, SavedTensorsNoticeTheWrite) {
  Tensor x = from_vector(std::vector<double>{1, 2});
  x.set_requires_grad();
  Tensor y = mul(x, x);  // saves x
  {
    NoGradGuard no_grad;
    add_(x, from_vector(std::vector<double>{1, 1}));  // allowed without grad mode...
  }
  expect_error([&] { y.backward(ones({2}, DType::Float64)); }, {"mul", "modified in place"});  // ...but noticed
}

TEST(InPlace, Errors) {
  Tensor x = zeros({2, 3});
  expect_error([&] { copy_(x, zeros({3, 2})); }, {"copy_", "[3, 2]", "[2, 3]"});
  expect_error([&] { copy_(x, zeros({4, 2, 3})); }, {"copy_", "[4, 2, 3]", "[2, 3]"});
  expect_error([&] { copy_(expand(zeros({1}), {3}), tensor({1, 2, 3})); }, {"copy_", "[3]", "stride 0"});
  expect_error([&] { copy_(x, Tensor()); }, {"copy_", "undefined"});
  expect_error([&] { add_(x, zeros({3, 3})); }, {"add_", "[3, 3]", "[2, 3]"});
  expect_error([&] { add_(arange(3), arange(3), 0.5); }, {"add_", "alpha 0.5", "int64"});
  expect_error([&] { add_(expand(zeros({1}), {3}), ones({3})); }, {"add_", "stride 0"});
  expect_error([&] { mul_(arange(3), 0.5); }, {"mul_", "factor 0.5", "int64"});
  expect_error([&] { fill_(arange(3), NAN); }, {"fill_", "nan", "int64"});
  expect_error([&] { uniform_(arange(3), 0, 1); }, {"uniform_", "int64", "[3]"});
  expect_error([&] { uniform_(x, 2, 1); }, {"uniform_", "low 2", "high 1"});
  expect_error([&] { normal_(x, 0, -2); }, {"normal_", "stddev -2"});
  expect_error([&] { zero_(Tensor()); }, {"zero_", "undefined"});

  Tensor p = zeros({2}, DType::Float64);
  p.set_requires_grad();
  for (auto fn : std::vector<std::function<void()>>{
           [&] { copy_(p, ones({2}, DType::Float64)); }, [&] { fill_(p, 1); }, [&] { zero_(p); },
           [&] { add_(p, p); }, [&] { mul_(p, 2); }, [&] { uniform_(p, 0, 1); }, [&] { normal_(p, 0, 1); }})
    expect_error(fn, {"[2]", "requires grad", "NoGradGuard"});
  NoGradGuard no_grad;  // optimizers update parameters this way
  fill_(p, 3);
  add_(p, ones({2}, DType::Float64), -1);
  EXPECT_EQ(doubles(p), (std::vector<double>{2, 2}));
}

TEST(InPlace, RandomFillsAreReproducibleForAnyLayout) {
  Generator a(11), b(11);
  Tensor dense = zeros({3, 2});
  uniform_(dense, -2, 2, &a);
  Tensor base = zeros({2, 3});
  Tensor strided = t(base);  // (3, 2), non-contiguous
  uniform_(strided, -2, 2, &b);
  EXPECT_EQ(values(strided), values(dense));  // same numbers in the same logical order
  EXPECT_EQ(a.offset(), 3u);
  normal_(dense, 0, 1, &a);
  normal_(strided, 0, 1, &b);
  EXPECT_EQ(values(strided), values(dense));
  // The factory and the in-place fill draw the same numbers from the same state.
  Generator c(11), d(11);
  Tensor filled = zeros({3, 2});
  uniform_(filled, -2, 2, &d);
  EXPECT_EQ(values(uniform({3, 2}, -2, 2, DType::Float32, &c)), values(filled));
}

}  // namespace
}  // namespace recur
