// Elementwise ops, activations (softmax included) and dropout: values against a float64
// reference computed here, gradients through recur::gradcheck, and bad input.
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

// Uniform in [low, high) with each element pushed at least `gap` away from every kink.
Tensor away_from(const Shape& shape, std::uint64_t seed, double low, double high, std::vector<double> kinks,
                 double gap = 0.05) {
  Generator gen(seed);
  Tensor t = uniform(shape, low, high, DType::Float64, &gen);
  double* p = t.data<double>();
  for (std::int64_t i = 0; i < t.numel(); ++i)
    for (double k : kinks)
      if (std::fabs(p[i] - k) < gap) p[i] = k + (p[i] < k ? -gap : gap);
  return t;
}

// Applies f to every element of x (row-major order): the float64 reference.
std::vector<double> map(const Tensor& x, const std::function<double(double)>& f) {
  std::vector<double> v = x.to_vector<double>();
  for (double& e : v) e = f(e);
  return v;
}

// A (3, 4) non-contiguous float64 leaf: the transpose of a (4, 3) tensor.
Tensor transposed_leaf(std::uint64_t seed, double low = -2, double high = 2, std::vector<double> kinks = {}) {
  Tensor base = away_from({4, 3}, seed, low, high, kinks);
  Tensor v = transpose(base, 0, 1);
  EXPECT_FALSE(v.is_contiguous());
  return leaf(v);
}

// A (3, 2) non-contiguous leaf: every other column of a (3, 4) tensor.
Tensor sliced_leaf(std::uint64_t seed, double low = -2, double high = 2, std::vector<double> kinks = {}) {
  Tensor base = away_from({3, 4}, seed, low, high, kinks);
  Tensor v = slice(base, 1, 0, 4, 2);
  EXPECT_FALSE(v.is_contiguous());
  return leaf(v);
}

}  // namespace

// ------------------------------------------------------------------ values

TEST(Elementwise, BinaryValuesWithBroadcasting) {
  Tensor a = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor b = f64({10, 20, 30}, {3});
  Tensor c = f64({2, 4}, {2, 1});
  expect_values(add(a, b), {11, 22, 33, 14, 25, 36});
  expect_values(sub(b, a), {9, 18, 27, 6, 15, 24});
  expect_values(mul(a, c), {2, 4, 6, 16, 20, 24});
  expect_values(div(c, a), {2, 1, 2.0 / 3, 1, 0.8, 4.0 / 6});
  // Both operands broadcast: (2, 1) with (3) gives (2, 3).
  Tensor both = add(c, b);
  EXPECT_EQ(both.shape(), (Shape{2, 3}));
  expect_values(both, {12, 22, 32, 14, 24, 34});
  expect_values(a + b, add(a, b).to_vector<double>());
  expect_values(a - 1.5, {-0.5, 0.5, 1.5, 2.5, 3.5, 4.5});
  expect_values(2.0 * a, {2, 4, 6, 8, 10, 12});
  expect_values(a / 2.0, {0.5, 1, 1.5, 2, 2.5, 3});
  expect_values(1.0 - a, {0, -1, -2, -3, -4, -5});
  expect_values(6.0 / a, {6, 3, 2, 1.5, 1.2, 1});
  expect_values(-a, {-1, -2, -3, -4, -5, -6});
  expect_values(rsub(a, 10), {9, 8, 7, 6, 5, 4});
  expect_values(rdiv(a, 12), {12, 6, 4, 3, 2.4, 2});
}

TEST(Elementwise, UnaryValuesMatchStd) {
  Tensor x = away_from({2, 5}, 1, 0.1, 3, {});
  Tensor s = away_from({2, 5}, 2, -3, 3, {});
  expect_values(exp(x), map(x, [](double v) { return std::exp(v); }));
  expect_values(log(x), map(x, [](double v) { return std::log(v); }));
  expect_values(sqrt(x), map(x, [](double v) { return std::sqrt(v); }));
  expect_values(pow(x, 2.5), map(x, [](double v) { return std::pow(v, 2.5); }), 1e-10);
  expect_values(abs(s), map(s, [](double v) { return std::fabs(v); }));
  expect_values(neg(s), map(s, [](double v) { return -v; }));
  expect_values(clamp(s, -1, 0.5), map(s, [](double v) { return std::min(std::max(v, -1.0), 0.5); }));
  expect_values(sigmoid(s), map(s, [](double v) { return 1 / (1 + std::exp(-v)); }));
  expect_values(tanh(s), map(s, [](double v) { return std::tanh(v); }));
  expect_values(relu(s), map(s, [](double v) { return v > 0 ? v : 0; }));
  expect_values(leaky_relu(s, 0.2), map(s, [](double v) { return v > 0 ? v : 0.2 * v; }));
  expect_values(step(s), map(s, [](double v) { return v > 0 ? 1 : 0; }));
}

TEST(Elementwise, ValuesOnNonContiguousInput) {
  Tensor base = f64({1, 2, 3, 4, 5, 6}, {2, 3});
  Tensor t = transpose(base, 0, 1);  // [[1, 4], [2, 5], [3, 6]]
  expect_values(mul(t, 2.0), {2, 8, 4, 10, 6, 12});
  expect_values(add(t, f64({100, 200}, {2})), {101, 204, 102, 205, 103, 206});
}

TEST(Elementwise, Float32SigmoidIsStableForLargeInputs) {
  Tensor x = tensor({-100, -20, 0, 20, 100});
  std::vector<float> y = sigmoid(x).to_vector<float>();
  EXPECT_NEAR(y[0], 0, 1e-30);  // exp(-100) is a denormal, or flushed to zero
  EXPECT_FLOAT_EQ(y[2], 0.5f);
  EXPECT_FLOAT_EQ(y[4], 1);
  for (float v : y) EXPECT_FALSE(std::isnan(v));
}

// ------------------------------------------------------------------ gradients

TEST(ElementwiseGrad, AddSubMulDivBroadcastBothWays) {
  Tensor a = leaf(randn64({2, 3}, 1));
  Tensor row = leaf(randn64({3}, 2));
  Tensor col = leaf(randn64({2, 1}, 3));
  Tensor positive = leaf(away_from({3}, 4, 0.5, 2, {}));
  expect_gradcheck([](const std::vector<Tensor>& in) { return add(in[0], in[1]); }, {a, row});
  expect_gradcheck([](const std::vector<Tensor>& in) { return add(in[1], in[0]); }, {a, row});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sub(in[0], in[1]); }, {a, col});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sub(in[1], in[0]); }, {a, col});
  expect_gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {a, row});
  expect_gradcheck([](const std::vector<Tensor>& in) { return mul(in[1], in[0]); }, {a, col});
  expect_gradcheck([](const std::vector<Tensor>& in) { return div(in[0], in[1]); }, {a, positive});
  expect_gradcheck([](const std::vector<Tensor>& in) { return div(in[1], add(mul(in[0], in[0]), 1.0)); },
                   {a, row});
  // (2, 1) with (3): both operands are broadcast.
  expect_gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {col, row});
  // Same tensor on both sides.
  expect_gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[0]); }, {a});
}

TEST(ElementwiseGrad, OnlyOneOperandRequiresGrad) {
  Tensor a = leaf(randn64({2, 3}, 5));
  Tensor constant = randn64({2, 3}, 6);
  expect_gradcheck([&](const std::vector<Tensor>& in) { return mul(in[0], constant); }, {a});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return div(constant, add(exp(in[0]), 0.5)); }, {a});
}

TEST(ElementwiseGrad, ScalarVariants) {
  Tensor x = leaf(away_from({2, 3}, 7, 0.5, 2, {}));
  expect_gradcheck([](const std::vector<Tensor>& in) { return add(in[0], 3.0); }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], -2.5); }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return rsub(in[0], 1.0); }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return rdiv(in[0], 3.0); }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return in[0] / 4.0 - 1.0; }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return 2.0 / in[0] + 1.0 * in[0]; }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return 5.0 - in[0]; }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return neg(in[0]); }, {x});
  expect_gradcheck([](const std::vector<Tensor>& in) { return -in[0]; }, {x});
}

TEST(ElementwiseGrad, UnaryFunctions) {
  Tensor positive = leaf(away_from({2, 3}, 8, 0.3, 2.5, {}));
  Tensor any = leaf(away_from({2, 3}, 9, -2, 2, {0}));
  expect_gradcheck([](const std::vector<Tensor>& in) { return exp(in[0]); }, {any});
  expect_gradcheck([](const std::vector<Tensor>& in) { return log(in[0]); }, {positive});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sqrt(in[0]); }, {positive});
  expect_gradcheck([](const std::vector<Tensor>& in) { return pow(in[0], 3.0); }, {any});
  expect_gradcheck([](const std::vector<Tensor>& in) { return pow(in[0], -1.5); }, {positive});
  expect_gradcheck([](const std::vector<Tensor>& in) { return pow(in[0], 0.5); }, {positive});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sigmoid(in[0]); }, {any});
  expect_gradcheck([](const std::vector<Tensor>& in) { return tanh(in[0]); }, {any});
  expect_gradcheck([](const std::vector<Tensor>& in) { return abs(in[0]); }, {any});
  expect_gradcheck([](const std::vector<Tensor>& in) { return relu(in[0]); }, {any});
  expect_gradcheck([](const std::vector<Tensor>& in) { return leaky_relu(in[0], 0.1); }, {any});
  Tensor around = leaf(away_from({3, 4}, 10, -2, 2, {-1, 0.5}));
  expect_gradcheck([](const std::vector<Tensor>& in) { return clamp(in[0], -1, 0.5); }, {around});
}

TEST(ElementwiseGrad, NonContiguousInputs) {
  Tensor t = transposed_leaf(11, -2, 2, {0});
  Tensor s = sliced_leaf(12, 0.3, 2, {});
  Tensor row = leaf(randn64({4}, 13));
  expect_gradcheck([](const std::vector<Tensor>& in) { return add(in[0], in[1]); }, {t, row});
  expect_gradcheck([](const std::vector<Tensor>& in) { return mul(in[0], in[1]); }, {t, row});
  expect_gradcheck([](const std::vector<Tensor>& in) { return div(in[1], in[0]); }, {s, leaf(randn64({3, 1}, 14))});
  expect_gradcheck([](const std::vector<Tensor>& in) { return exp(in[0]); }, {t});
  expect_gradcheck([](const std::vector<Tensor>& in) { return log(in[0]); }, {s});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sqrt(in[0]); }, {s});
  expect_gradcheck([](const std::vector<Tensor>& in) { return pow(in[0], 2.0); }, {t});
  expect_gradcheck([](const std::vector<Tensor>& in) { return tanh(in[0]); }, {t});
  expect_gradcheck([](const std::vector<Tensor>& in) { return sigmoid(in[0]); }, {t});
  expect_gradcheck([](const std::vector<Tensor>& in) { return relu(in[0]); }, {t});
  expect_gradcheck([](const std::vector<Tensor>& in) { return abs(in[0]); }, {t});
  expect_gradcheck([](const std::vector<Tensor>& in) { return leaky_relu(in[0], 0.3); }, {t});
  expect_gradcheck([](const std::vector<Tensor>& in) { return neg(in[0]); }, {t});
  Tensor c = transposed_leaf(15, -2, 2, {-0.5, 1});
  expect_gradcheck([](const std::vector<Tensor>& in) { return clamp(in[0], -0.5, 1); }, {c});
}

TEST(ElementwiseGrad, Composite) {
  Tensor x = leaf(randn64({3, 2}, 16));
  Tensor w = leaf(randn64({2}, 17));
  expect_gradcheck(
      [](const std::vector<Tensor>& in) { return tanh(add(mul(in[0], in[1]), sigmoid(in[0]))) * exp(in[1]); },
      {x, w});
}

// ------------------------------------------------------------------ softmax / log_softmax

TEST(Softmax, ValuesMatchReference) {
  Tensor x = f64({1, 2, 3, -1, 0, 1000}, {2, 3});
  std::vector<double> y = softmax(x, 1).to_vector<double>();
  double z = std::exp(1.0) + std::exp(2.0) + std::exp(3.0);
  EXPECT_NEAR(y[0], std::exp(1.0) / z, 1e-12);
  EXPECT_NEAR(y[2], std::exp(3.0) / z, 1e-12);
  EXPECT_NEAR(y[5], 1.0, 1e-12);  // stable for a huge logit
  EXPECT_NEAR(y[3], 0.0, 1e-12);
  std::vector<double> ly = log_softmax(x, -1).to_vector<double>();
  EXPECT_NEAR(ly[0], 1 - std::log(z), 1e-12);
  EXPECT_NEAR(ly[3], -1001, 1e-9);
  // Along dim 0 each column sums to one.
  std::vector<double> c = softmax(x, 0).to_vector<double>();
  for (int j = 0; j < 3; ++j) EXPECT_NEAR(c[j] + c[3 + j], 1.0, 1e-12);
}

TEST(Softmax, Float32RowsSumToOne) {
  Tensor x = normal({4, 7}, 0, 3);
  std::vector<float> y = softmax(x, 1).to_vector<float>();
  for (int i = 0; i < 4; ++i) {
    float s = 0;
    for (int j = 0; j < 7; ++j) s += y[i * 7 + j];
    EXPECT_NEAR(s, 1.0f, 1e-5f);
  }
}

TEST(SoftmaxGrad, EveryDimAndNonContiguous) {
  Tensor x = leaf(randn64({2, 3, 4}, 20));
  for (int dim : {0, 1, 2, -1}) {
    expect_gradcheck([dim](const std::vector<Tensor>& in) { return softmax(in[0], dim); }, {x});
    expect_gradcheck([dim](const std::vector<Tensor>& in) { return log_softmax(in[0], dim); }, {x});
  }
  Tensor t = transposed_leaf(21);
  expect_gradcheck([](const std::vector<Tensor>& in) { return softmax(in[0], 1); }, {t});
  expect_gradcheck([](const std::vector<Tensor>& in) { return log_softmax(in[0], 0); }, {t});
  // A gradient that is not all ones reaching the softmax.
  Tensor w = randn64({3, 4}, 22);
  expect_gradcheck([&](const std::vector<Tensor>& in) { return mul(softmax(in[0], 1), w); }, {t});
}

TEST(Softmax, BadDimensionIsAnError) {
  Tensor x = zeros({2, 3});
  try {
    softmax(x, 2);
    FAIL() << "expected recur::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("softmax"));
    EXPECT_THAT(e.what(), HasSubstr("dimension 2"));
  }
  EXPECT_THROW(log_softmax(x, -3), Error);
  EXPECT_THROW(softmax(zeros({2}, DType::Int64), 0), Error);
}

// ------------------------------------------------------------------ bad input

TEST(ElementwiseErrors, BroadcastingClashNamesOpAndShapes) {
  try {
    add(zeros({2, 3}), zeros({4}));
    FAIL() << "expected recur::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("add"));
    EXPECT_THAT(e.what(), HasSubstr("[2, 3]"));
    EXPECT_THAT(e.what(), HasSubstr("[4]"));
  }
  try {
    mul(zeros({2, 3}), zeros({3, 2}));
    FAIL() << "expected recur::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("mul"));
    EXPECT_THAT(e.what(), HasSubstr("[3, 2]"));
  }
}

TEST(ElementwiseErrors, DtypeMismatchNamesBothDtypes) {
  try {
    add(zeros({2}), zeros({2}, DType::Float64));
    FAIL() << "expected recur::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("add"));
    EXPECT_THAT(e.what(), HasSubstr("float32"));
    EXPECT_THAT(e.what(), HasSubstr("float64"));
  }
}

TEST(ElementwiseErrors, IntegerAndUndefinedOperands) {
  try {
    exp(zeros({3}, DType::Int64));
    FAIL() << "expected recur::Error";
  } catch (const Error& e) {
    EXPECT_THAT(e.what(), HasSubstr("exp"));
    EXPECT_THAT(e.what(), HasSubstr("int64"));
  }
  EXPECT_THROW(tanh(Tensor()), Error);
  EXPECT_THROW(clamp(zeros({2}), 1, -1), Error);
}

// ------------------------------------------------------------------ dropout

TEST(Dropout, EvalAndZeroProbabilityReturnInput) {
  Tensor x = randn64({4, 5}, 30);
  EXPECT_TRUE(dropout(x, 0.5, false).is_same(x));
  EXPECT_TRUE(dropout(x, 0.0, true).is_same(x));
}

TEST(Dropout, TrainingZeroesAndScales) {
  Generator gen(123);
  Tensor x = ones({1000}, DType::Float64);
  std::vector<double> y = dropout(x, 0.25, true, &gen).to_vector<double>();
  int zeros_seen = 0;
  double total = 0;
  for (double v : y) {
    if (v == 0) ++zeros_seen;
    else EXPECT_NEAR(v, 1 / 0.75, 1e-12);
    total += v;
  }
  EXPECT_GT(zeros_seen, 180);
  EXPECT_LT(zeros_seen, 320);
  EXPECT_NEAR(total / 1000, 1.0, 0.1);  // the scaling keeps the mean
}

TEST(Dropout, MeanIsPreservedInFloat32) {
  Generator gen(5);
  Tensor x = full({100000}, 2.0);
  double m = mean(dropout(x, 0.5, true, &gen)).item();
  EXPECT_NEAR(m, 2.0, 0.05);
}

TEST(Dropout, SameSeedSameMask) {
  Tensor x = randn64({50}, 31);
  Generator g1(77), g2(77), g3(78);
  std::vector<double> a = dropout(x, 0.5, true, &g1).to_vector<double>();
  std::vector<double> b = dropout(x, 0.5, true, &g2).to_vector<double>();
  std::vector<double> c = dropout(x, 0.5, true, &g3).to_vector<double>();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // The generator advanced: the next mask differs.
  std::vector<double> d = dropout(x, 0.5, true, &g1).to_vector<double>();
  EXPECT_NE(a, d);
  // The default generator is used when none is given, and manual_seed fixes it.
  manual_seed(9);
  std::vector<double> e = dropout(x, 0.5, true).to_vector<double>();
  manual_seed(9);
  std::vector<double> f = dropout(x, 0.5, true).to_vector<double>();
  EXPECT_EQ(e, f);
}

TEST(Dropout, GradientIsTheScaledMask) {
  Tensor x = leaf(randn64({3, 4}, 32));
  Generator gen(0);
  auto fn = [&gen](const std::vector<Tensor>& in) {
    gen.set_state(42, 0);  // the same mask on every call
    return dropout(in[0], 0.4, true, &gen);
  };
  expect_gradcheck(fn, {x});
  // Non-contiguous input.
  Tensor t = transposed_leaf(33);
  expect_gradcheck(fn, {t});
}

TEST(Dropout, BadProbabilityIsAnError) {
  Tensor x = zeros({3});
  for (double p : {-0.1, 1.0, 1.5, std::nan("")}) {
    try {
      dropout(x, p, true);
      FAIL() << "expected recur::Error for p = " << p;
    } catch (const Error& e) {
      EXPECT_THAT(e.what(), HasSubstr("dropout"));
      EXPECT_THAT(e.what(), HasSubstr("p ="));
    }
  }
  EXPECT_THROW(dropout(zeros({3}, DType::Int64), 0.5, true), Error);
}
