// Losses: values against float64 references computed here, every reduction, ignore_index,
// gradients through recur::gradcheck, and bad targets.
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

Tensor i64(const std::vector<std::int64_t>& values) { return from_vector(values, {}); }

const Reduction kAllReductions[] = {Reduction::Mean, Reduction::Sum, Reduction::None};

// Per-sample cross-entropy of logits (N, C) in float64: logsumexp(row) - row[target].
std::vector<double> reference_cross_entropy(const Tensor& logits, const std::vector<std::int64_t>& target) {
  std::vector<double> v = logits.to_vector<double>();
  std::int64_t n = logits.size(0), c = logits.size(1);
  std::vector<double> out;
  for (std::int64_t i = 0; i < n; ++i) {
    double mx = -INFINITY;
    for (std::int64_t j = 0; j < c; ++j) mx = std::max(mx, v[i * c + j]);
    double s = 0;
    for (std::int64_t j = 0; j < c; ++j) s += std::exp(v[i * c + j] - mx);
    out.push_back(mx + std::log(s) - v[i * c + target[i]]);
  }
  return out;
}

}  // namespace

// ------------------------------------------------------------------ mse

TEST(MseLoss, Reductions) {
  Tensor x = f64({1, 2, 3, 4}, {2, 2});
  Tensor t = f64({0, 2, 5, 1}, {2, 2});
  expect_values(mse_loss(x, t), {(1 + 0 + 4 + 9) / 4.0});
  expect_values(mse_loss(x, t, Reduction::Sum), {14});
  Tensor none = mse_loss(x, t, Reduction::None);
  EXPECT_EQ(none.shape(), (Shape{2, 2}));
  expect_values(none, {1, 0, 4, 9});
  EXPECT_EQ(mse_loss(x, t).shape(), Shape{});
}

TEST(MseLossGrad, InputAndTarget) {
  Tensor x = leaf(randn64({3, 4}, 1)), t = leaf(randn64({3, 4}, 2));
  for (Reduction r : kAllReductions)
    expect_gradcheck([r](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1], r); }, {x, t});
  Tensor xt = leaf(transpose(randn64({4, 3}, 3), 0, 1));
  expect_gradcheck([](const std::vector<Tensor>& in) { return mse_loss(in[0], in[1]); }, {xt, randn64({3, 4}, 4)});
}

// ------------------------------------------------------------------ binary cross-entropy with logits

TEST(BceWithLogits, ValuesMatchReference) {
  Tensor x = f64({-2, 0, 0.5, 3, -40, 40}, {2, 3});
  Tensor t = f64({0, 1, 0.3, 1, 0, 1}, {2, 3});
  std::vector<double> xv = x.to_vector<double>(), tv = t.to_vector<double>(), expected;
  for (std::size_t i = 0; i < xv.size(); ++i) {
    double s = 1 / (1 + std::exp(-xv[i]));
    // The naive formula, fine in float64 for these values except the two extremes.
    double l = std::fabs(xv[i]) > 30 ? 0 : -(tv[i] * std::log(s) + (1 - tv[i]) * std::log(1 - s));
    expected.push_back(l);
  }
  expect_values(binary_cross_entropy_with_logits(x, t, Reduction::None), expected, 1e-12);
  double total = 0;
  for (double e : expected) total += e;
  expect_values(binary_cross_entropy_with_logits(x, t, Reduction::Sum), {total}, 1e-12);
  expect_values(binary_cross_entropy_with_logits(x, t), {total / 6}, 1e-12);
}

TEST(BceWithLogits, StableForHugeLogitsInFloat32) {
  Tensor x = tensor({-1000, 1000, 100});
  Tensor t = tensor({1, 0, 1});
  std::vector<float> l = binary_cross_entropy_with_logits(x, t, Reduction::None).to_vector<float>();
  EXPECT_FLOAT_EQ(l[0], 1000);
  EXPECT_FLOAT_EQ(l[1], 1000);
  EXPECT_FLOAT_EQ(l[2], 0);
}

TEST(BceWithLogitsGrad, LogitsAndTargets) {
  Tensor x = leaf(randn64({3, 4}, 10, 2)), t = leaf(randn64({3, 4}, 11));
  for (Reduction r : kAllReductions)
    expect_gradcheck(
        [r](const std::vector<Tensor>& in) { return binary_cross_entropy_with_logits(in[0], sigmoid(in[1]), r); },
        {x, t});
  Tensor xt = leaf(transpose(randn64({4, 3}, 12), 0, 1));
  Tensor targets = uniform({3, 4}, 0, 1, DType::Float64);
  expect_gradcheck([&](const std::vector<Tensor>& in) { return binary_cross_entropy_with_logits(in[0], targets); },
                   {xt});
}

TEST(BceWithLogitsGrad, ExactlyAtZeroIsSigmoidMinusTarget) {
  // At x = 0 the kinks of max(x, 0) and |x| cancel; the gradient is 0.5 - t.
  Tensor x = leaf(zeros({3}, DType::Float64));
  Tensor t = f64({0, 0.25, 1}, {3});
  binary_cross_entropy_with_logits(x, t, Reduction::Sum).backward();
  expect_values(x.grad(), {0.5, 0.25, -0.5});
}

// ------------------------------------------------------------------ nll_loss / cross_entropy

TEST(NllLoss, ValuesAndReductions) {
  Tensor logp = f64({-1, -2, -3, -0.5, -1.5, -2.5}, {2, 3});
  Tensor target = i64({2, 0});
  expect_values(nll_loss(logp, target, Reduction::None), {3, 0.5});
  expect_values(nll_loss(logp, target, Reduction::Sum), {3.5});
  expect_values(nll_loss(logp, target), {1.75});
}

TEST(NllLoss, IgnoreIndex) {
  Tensor logp = f64({-1, -2, -3, -0.5, -1.5, -2.5, -4, -5, -6}, {3, 3});
  Tensor target = i64({2, -100, 1});
  expect_values(nll_loss(logp, target, Reduction::None), {3, 0, 5});
  expect_values(nll_loss(logp, target, Reduction::Sum), {8});
  expect_values(nll_loss(logp, target), {4});  // divided by the two targets not ignored
  // An ignore_index inside the class range (padding id 0).
  Tensor pad = i64({0, 1, 0});
  expect_values(nll_loss(logp, pad, Reduction::Mean, 0), {1.5});
  // Every target ignored: Mean is NaN, like PyTorch.
  EXPECT_TRUE(std::isnan(nll_loss(logp, i64({-100, -100, -100})).item()));
  EXPECT_EQ(nll_loss(logp, i64({-100, -100, -100}), Reduction::Sum).item(), 0);
}

TEST(CrossEntropy, MatchesReference) {
  Tensor logits = randn64({5, 4}, 20, 3);
  std::vector<std::int64_t> target = {3, 0, 1, 1, 2};
  std::vector<double> ref = reference_cross_entropy(logits, target);
  expect_values(cross_entropy(logits, i64(target), Reduction::None), ref, 1e-12);
  double total = 0;
  for (double r : ref) total += r;
  expect_values(cross_entropy(logits, i64(target), Reduction::Sum), {total}, 1e-12);
  expect_values(cross_entropy(logits, i64(target)), {total / 5}, 1e-12);
  // With an ignored target.
  std::vector<std::int64_t> with_ignored = {3, 7, 1, 1, 2};
  double kept = total - ref[1];
  expect_values(cross_entropy(logits, i64(with_ignored), Reduction::Mean, 7), {kept / 4}, 1e-12);
  // float32 within float32 tolerance.
  Tensor logits32 = to_dtype(logits, DType::Float32);
  EXPECT_NEAR(cross_entropy(logits32, i64(target)).item(), total / 5, 1e-5);
}

// Without a graph cross_entropy reads the logits once (no log-probabilities written); its
// values are log_softmax + nll_loss's to the bit, on long rows split across threads, on
// strided rows, in both dtypes, with ignored targets.
TEST(CrossEntropy, WithoutAGraphEqualsLogSoftmaxThenNll) {
  NoGradGuard no_grad;
  const std::int64_t rows = 64, classes = 3001;
  std::vector<std::int64_t> targets(rows);
  for (std::int64_t i = 0; i < rows; ++i) targets[i] = i % 5 == 0 ? -100 : (i * 977) % classes;
  const Tensor target = i64(targets);
  for (DType dtype : {DType::Float32, DType::Float64}) {
    const Tensor logits = to_dtype(randn64({rows, classes}, 41, 4), dtype);
    const Tensor strided = transpose(to_dtype(randn64({classes, rows}, 42, 4), dtype), 0, 1);
    for (const Tensor& x : {logits, strided}) {
      SCOPED_TRACE(x.is_contiguous() ? "contiguous" : "strided");
      for (Reduction r : kAllReductions) {
        const std::vector<double> fused = to_dtype(cross_entropy(x, target, r), DType::Float64).to_vector<double>();
        const std::vector<double> two_step =
            to_dtype(nll_loss(log_softmax(x, 1), target, r), DType::Float64).to_vector<double>();
        EXPECT_EQ(fused, two_step);
      }
    }
  }
}

// linear_cross_entropy without a graph folds each row's log-sum-exp into the product and
// never stores the logits: it equals the two ops to rounding, in shapes that take every
// path of the CPU kernel (rows in blocks of 256 and tiles of 8 with partial ones, columns in
// blocks of 16 panels with a partial last panel), with and without bias, strided input,
// ignored targets, every reduction; and it does not depend on the thread count.
TEST(LinearCrossEntropy, WithoutAGraphEqualsLinearThenCrossEntropy) {
  NoGradGuard no_grad;
  struct Case {
    std::int64_t rows, in, classes;
  };
  for (const Case c : {Case{1, 5, 3}, Case{13, 7, 33}, Case{300, 24, 1201}, Case{9, 1, 40}}) {
    std::vector<std::int64_t> targets(c.rows);
    for (std::int64_t i = 0; i < c.rows; ++i) targets[i] = i % 7 == 3 ? -100 : (i * 977 + 11) % c.classes;
    const Tensor target = i64(targets);
    for (DType dtype : {DType::Float32, DType::Float64}) {
      SCOPED_TRACE(testing::Message() << c.rows << "x" << c.in << " by " << c.classes << ", " << dtype_name(dtype));
      const Tensor x = to_dtype(randn64({c.rows, c.in}, 51, 2), dtype);
      const Tensor strided = transpose(to_dtype(randn64({c.in, c.rows}, 52, 2), dtype), 0, 1);
      const Tensor weight = to_dtype(randn64({c.classes, c.in}, 53), dtype);
      const Tensor bias = to_dtype(randn64({c.classes}, 54), dtype);
      const double tolerance = dtype == DType::Float64 ? 1e-12 : 2e-6;
      for (const Tensor& input : {x, strided})
        for (const Tensor& b : {bias, Tensor()})
          for (Reduction r : kAllReductions) {
            const std::vector<double> fused =
                to_dtype(linear_cross_entropy(input, weight, b, target, r), DType::Float64).to_vector<double>();
            const std::vector<double> two_ops =
                to_dtype(cross_entropy(linear(input, weight, b), target, r), DType::Float64).to_vector<double>();
            ASSERT_EQ(fused.size(), two_ops.size());
            for (std::size_t i = 0; i < fused.size(); ++i)
              EXPECT_NEAR(fused[i], two_ops[i], tolerance * std::max(1.0, std::abs(two_ops[i]))) << "entry " << i;
          }
      const int threads = get_num_threads();
      set_num_threads(1);
      const std::vector<double> one = to_dtype(linear_cross_entropy(x, weight, bias, target, Reduction::None),
                                               DType::Float64).to_vector<double>();
      set_num_threads(2);
      const std::vector<double> two = to_dtype(linear_cross_entropy(x, weight, bias, target, Reduction::None),
                                               DType::Float64).to_vector<double>();
      set_num_threads(threads);
      EXPECT_EQ(one, two);
    }
  }
}

// Classes a -inf bias rules out (a mask) add nothing; a row whose logits are all -inf has
// no distribution, and its loss is NaN as the two ops give.
TEST(LinearCrossEntropy, InfiniteBiasMasksClasses) {
  NoGradGuard no_grad;
  const double inf = INFINITY;
  const Tensor x = tensor({{1.0, 2.0}, {0.5, -1.0}}, DType::Float64);
  const Tensor weight = tensor({{1.0, 0.0}, {0.0, 1.0}, {1.0, 1.0}}, DType::Float64);
  const Tensor masked = tensor({0.0, -inf, 0.0}, DType::Float64);
  const std::vector<double> l =
      linear_cross_entropy(x, weight, masked, i64({0, 2}), Reduction::None).to_vector<double>();
  EXPECT_NEAR(l[0], std::log(std::exp(1.0) + std::exp(3.0)) - 1.0, 1e-12);
  EXPECT_NEAR(l[1], std::log(std::exp(0.5) + std::exp(-0.5)) + 0.5, 1e-12);
  const Tensor all_masked = tensor({-inf, -inf, -inf}, DType::Float64);
  EXPECT_TRUE(std::isnan(linear_cross_entropy(x, weight, all_masked, i64({0, 1}), Reduction::None)
                             .to_vector<double>()[0]));
}

TEST(LinearCrossEntropyGrad, EveryOperandAndReduction) {
  Tensor x = leaf(randn64({5, 3}, 60)), weight = leaf(randn64({4, 3}, 61)), bias = leaf(randn64({4}, 62));
  Tensor target = i64({3, 0, -100, 1, 3});
  for (Reduction r : kAllReductions)
    expect_gradcheck(
        [&, r](const std::vector<Tensor>& in) { return linear_cross_entropy(in[0], in[1], in[2], target, r); },
        {x, weight, bias});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return linear_cross_entropy(in[0], in[1], Tensor(), target); },
                   {x, weight});
}

TEST(LossErrors, LinearCrossEntropyOperands) {
  const Tensor x = randn64({3, 4}, 70), weight = randn64({5, 4}, 71);
  expect_error([&] { linear_cross_entropy(x, weight, Tensor(), i64({0, 5, 1})); },
               {"linear_cross_entropy", "target 5", "position 1", "5 classes"});
  expect_error([&] { linear_cross_entropy(x, randn64({5, 3}, 72), Tensor(), i64({0, 1, 1})); },
               {"linear_cross_entropy", "4 features", "[5, 3]"});
  expect_error([&] { linear_cross_entropy(x, weight, Tensor(), i64({0, 1})); },
               {"linear_cross_entropy", "target of shape [2]", "expected [3]"});
}

TEST(CrossEntropy, StableForHugeLogits) {
  Tensor logits = tensor({{1000, 0, -1000}, {0, 0, 0}});
  std::vector<float> l = cross_entropy(logits, i64({0, 2}), Reduction::None).to_vector<float>();
  EXPECT_NEAR(l[0], 0, 1e-6);
  EXPECT_NEAR(l[1], std::log(3.0), 1e-6);
}

TEST(NllLossGrad, AllReductionsAndIgnoreIndex) {
  Tensor logp = leaf(randn64({4, 3}, 30));
  Tensor target = i64({0, 2, -100, 1});
  for (Reduction r : kAllReductions)
    expect_gradcheck([&, r](const std::vector<Tensor>& in) { return nll_loss(in[0], target, r); }, {logp});
  Tensor lt = leaf(transpose(randn64({3, 4}, 31), 0, 1));
  expect_gradcheck([&](const std::vector<Tensor>& in) { return nll_loss(in[0], target); }, {lt});
}

TEST(CrossEntropyGrad, AllReductionsAndIgnoreIndex) {
  Tensor logits = leaf(randn64({4, 5}, 40, 2));
  Tensor target = i64({4, 0, 3, 3});
  for (Reduction r : kAllReductions)
    expect_gradcheck([&, r](const std::vector<Tensor>& in) { return cross_entropy(in[0], target, r); }, {logits});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], target, Reduction::Mean, 3); },
                   {logits});
  Tensor lt = leaf(transpose(randn64({5, 4}, 41), 0, 1));
  expect_gradcheck([&](const std::vector<Tensor>& in) { return cross_entropy(in[0], target); }, {lt});
}

TEST(CrossEntropyGrad, KnownGradient) {
  // d/dlogits of mean cross-entropy = (softmax - onehot) / N.
  Tensor logits = leaf(f64({0, 0, 0, 1, 2, 3}, {2, 3}));
  cross_entropy(logits, i64({1, 2})).backward();
  std::vector<double> g = logits.grad().to_vector<double>();
  EXPECT_NEAR(g[0], (1.0 / 3) / 2, 1e-12);
  EXPECT_NEAR(g[1], (1.0 / 3 - 1) / 2, 1e-12);
  double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(g[5], (std::exp(3.0) / z - 1) / 2, 1e-12);
}

// ------------------------------------------------------------------ bad input

TEST(LossErrors, CrossEntropyTargetOutOfRange) {
  Tensor logits = zeros({4, 5});
  expect_error([&] { cross_entropy(logits, i64({0, 1, 7, 2})); },
               {"cross_entropy", "target 7", "position 2", "5 classes"});
  expect_error([&] { cross_entropy(logits, i64({0, -1, 2, 2})); }, {"cross_entropy", "target -1", "position 1"});
  // An out-of-range target next to ignored ones is still found.
  expect_error([&] { cross_entropy(logits, i64({-100, 5, -100, 2})); }, {"cross_entropy", "target 5", "position 1"});
  expect_error([&] { nll_loss(logits, i64({9, 0, 0, 0})); }, {"nll_loss", "target 9", "position 0", "5 classes"});
}

TEST(LossErrors, TargetDtypeAndShape) {
  Tensor logits = zeros({4, 5});
  expect_error([&] { cross_entropy(logits, zeros({4})); }, {"cross_entropy", "target", "int64", "float32"});
  expect_error([&] { cross_entropy(logits, i64({0, 1, 2})); }, {"cross_entropy", "[3]", "[4, 5]"});
  expect_error([&] { nll_loss(zeros({4, 5, 2}), i64({0, 1, 2, 3})); }, {"nll_loss", "(N, C)", "[4, 5, 2]"});
  expect_error([&] { nll_loss(zeros({4, 5}, DType::Int64), i64({0, 1, 2, 3})); }, {"nll_loss", "int64"});
}

TEST(LossErrors, ElementwiseLossShapes) {
  expect_error([] { mse_loss(zeros({2, 3}), zeros({3, 2})); }, {"mse_loss", "[2, 3]", "[3, 2]"});
  expect_error([] { mse_loss(zeros({2}), zeros({2}, DType::Float64)); }, {"mse_loss", "float32", "float64"});
  expect_error([] { binary_cross_entropy_with_logits(zeros({4}), zeros({4, 1})); },
               {"binary_cross_entropy_with_logits", "[4]", "[4, 1]"});
}
