// nn::init: PyTorch's gains and fans (values printed by torch.nn.init in PyTorch 1.13),
// the distributions' bounds and moments within tolerances set by the sample size,
// orthogonality and PyTorch's sign convention, reproducibility, and errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;
namespace init = recur::nn::init;
using init::FanMode;
using init::Nonlinearity;

namespace {

// For n draws: the sample mean is within 5 standard errors of the true one, the sample
// standard deviation within 2% (its relative standard error is below 0.3% at n >= 1e5).
void expect_moments(const Tensor& t, double mean, double stddev) {
  Moments m = moments(t);
  EXPECT_NEAR(m.mean, mean, 5 * stddev / std::sqrt(static_cast<double>(t.numel())));
  EXPECT_NEAR(m.stddev, stddev, 0.02 * stddev);
}

void expect_uniform(const Tensor& t, double low, double high) {
  Moments m = moments(t);
  EXPECT_GE(m.min, low);
  EXPECT_LT(m.max, high);
  EXPECT_LT(m.min, low + 0.001 * (high - low));  // the draws fill the interval
  EXPECT_GT(m.max, high - 0.001 * (high - low));
  expect_moments(t, (low + high) / 2, (high - low) / std::sqrt(12.0));
}

// (rows, cols) matrix product of a (rows x k) and the transpose of b (cols x k), in double.
std::vector<double> a_times_bt(const std::vector<double>& a, const std::vector<double>& b, std::int64_t rows,
                               std::int64_t cols, std::int64_t k) {
  std::vector<double> c(rows * cols, 0.0);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j)
      for (std::int64_t l = 0; l < k; ++l) c[i * cols + j] += a[i * k + l] * b[j * k + l];
  return c;
}

std::vector<double> transpose(const std::vector<double>& a, std::int64_t rows, std::int64_t cols) {
  std::vector<double> t(a.size());
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) t[j * rows + i] = a[i * cols + j];
  return t;
}

// Checks that the rows of w (rows <= cols) or its columns (rows >= cols) are orthogonal
// with norm `gain`, after flattening w to (size(0), numel / size(0)).
void expect_orthogonal(const Tensor& w, double gain, double tol) {
  std::int64_t rows = w.size(0), cols = w.numel() / rows;
  std::vector<double> v = w.to_vector<double>();
  std::vector<double> gram = rows <= cols
                                 ? a_times_bt(v, v, rows, rows, cols)
                                 : a_times_bt(transpose(v, rows, cols), transpose(v, rows, cols), cols, cols, rows);
  std::int64_t n = std::min(rows, cols);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      EXPECT_NEAR(gram[i * n + j], i == j ? gain * gain : 0.0, tol) << "(" << i << ", " << j << ")";
}

}  // namespace

// ------------------------------------------------------------------ gains and fans

TEST(Init, GainsArePyTorchs) {
  // torch.nn.init.calculate_gain in PyTorch 1.13.
  EXPECT_EQ(init::calculate_gain(Nonlinearity::Linear), 1);
  EXPECT_EQ(init::calculate_gain(Nonlinearity::Sigmoid), 1);
  EXPECT_DOUBLE_EQ(init::calculate_gain(Nonlinearity::Tanh), 1.6666666666666667);
  EXPECT_DOUBLE_EQ(init::calculate_gain(Nonlinearity::ReLU), 1.4142135623730951);
  EXPECT_DOUBLE_EQ(init::calculate_gain(Nonlinearity::LeakyReLU), 1.4141428569978354);
  EXPECT_DOUBLE_EQ(init::calculate_gain(Nonlinearity::LeakyReLU, 0.2), 1.3867504905630728);
  EXPECT_DOUBLE_EQ(init::calculate_gain(Nonlinearity::LeakyReLU, std::sqrt(5.0)), std::sqrt(1.0 / 3));
  EXPECT_EQ(init::calculate_gain(Nonlinearity::SELU), 0.75);
}

TEST(Init, FansOfLinearAndConvWeights) {
  // torch.nn.init._calculate_fan_in_and_fan_out: (784, 300), (25, 150), (150, 400).
  init::Fans linear = init::calculate_fan_in_and_fan_out(empty({300, 784}));
  EXPECT_EQ(linear.fan_in, 784);
  EXPECT_EQ(linear.fan_out, 300);
  init::Fans conv1 = init::calculate_fan_in_and_fan_out(empty({6, 1, 5, 5}));
  EXPECT_EQ(conv1.fan_in, 25);
  EXPECT_EQ(conv1.fan_out, 150);
  init::Fans conv2 = init::calculate_fan_in_and_fan_out(empty({16, 6, 5, 5}));
  EXPECT_EQ(conv2.fan_in, 150);
  EXPECT_EQ(conv2.fan_out, 400);
  expect_error([] { init::calculate_fan_in_and_fan_out(empty({5})); }, {"2 or more dimensions", "[5]"});
}

// ------------------------------------------------------------------ simple fills

TEST(Init, UniformNormalConstant) {
  Generator gen(1);
  expect_uniform(init::uniform_(empty({400, 500}), -2, 3, gen), -2, 3);
  expect_uniform(init::uniform_(empty({100000})), 0, 1);  // PyTorch's default U(0, 1)
  expect_moments(init::normal_(empty({400, 500}, DType::Float64), 1.5, 0.5, gen), 1.5, 0.5);

  Tensor c = init::constant_(empty({3, 2}), 0.25);
  EXPECT_EQ(c.to_vector<float>(), std::vector<float>(6, 0.25f));
  EXPECT_EQ(init::zeros_(c).to_vector<float>(), std::vector<float>(6, 0));
  EXPECT_EQ(init::ones_(c).to_vector<float>(), std::vector<float>(6, 1));
}

TEST(Init, FillsParametersWithoutRecordingHistory) {
  Tensor w = zeros({3, 4});
  w.set_requires_grad();
  ASSERT_TRUE(is_grad_enabled());
  Tensor same = init::kaiming_uniform_(w);
  EXPECT_TRUE(same.is_same(w));
  EXPECT_TRUE(w.requires_grad());
  EXPECT_TRUE(w.is_leaf());
  EXPECT_TRUE(is_grad_enabled());
  init::orthogonal_(w);
  init::constant_(w, 1);
  EXPECT_TRUE(w.is_leaf());
  EXPECT_EQ(sum(w).item(), 12);
}

TEST(Init, ReproducibleFromTheGeneratorOrTheSeed) {
  Generator a(5), b(5);
  EXPECT_EQ(init::xavier_normal_(empty({8, 8}), 1, a).to_vector<float>(),
            init::xavier_normal_(empty({8, 8}), 1, b).to_vector<float>());
  manual_seed(6);
  std::vector<float> first = init::kaiming_normal_(empty({8, 8})).to_vector<float>();
  manual_seed(6);
  EXPECT_EQ(init::kaiming_normal_(empty({8, 8})).to_vector<float>(), first);
  EXPECT_NE(init::kaiming_normal_(empty({8, 8})).to_vector<float>(), first);
}

// ------------------------------------------------------------------ Xavier and Kaiming

TEST(Init, XavierBoundsAndStd) {
  Generator gen(2);
  // (300, 784): std = sqrt(2 / 1084); uniform bound sqrt(3) std.
  double stddev = std::sqrt(2.0 / (784 + 300));
  expect_uniform(init::xavier_uniform_(empty({300, 784}), 1, gen), -std::sqrt(3.0) * stddev, std::sqrt(3.0) * stddev);
  expect_moments(init::xavier_normal_(empty({300, 784}), 1, gen), 0, stddev);
  // A gain scales the std; conv fans include the receptive field: (160, 60, 5, 5) has
  // fan_in 60 * 25 and fan_out 160 * 25.
  expect_moments(init::xavier_normal_(empty({160, 60, 5, 5}), init::calculate_gain(Nonlinearity::Tanh), gen), 0,
                 5.0 / 3 * std::sqrt(2.0 / (60 * 25 + 160 * 25)));
}

TEST(Init, KaimingBoundsAndStd) {
  Generator gen(3);
  // Defaults a = 0, FanIn, LeakyReLU: std = sqrt(2) / sqrt(fan_in).
  double stddev = std::sqrt(2.0) / std::sqrt(784.0);
  expect_uniform(init::kaiming_uniform_(empty({300, 784}), 0, FanMode::FanIn, Nonlinearity::LeakyReLU, gen),
                 -std::sqrt(3.0) * stddev, std::sqrt(3.0) * stddev);
  expect_moments(init::kaiming_normal_(empty({300, 784}), 0, FanMode::FanIn, Nonlinearity::ReLU, gen), 0, stddev);
  // FanOut of a conv weight (64, 32, 3, 3): fan_out = 64 * 9.
  expect_moments(init::kaiming_normal_(empty({64, 32, 3, 3}), 0, FanMode::FanOut, Nonlinearity::ReLU, gen), 0,
                 std::sqrt(2.0 / (64 * 9)));
  // a = sqrt(5) (nn.Linear's choice) gives the bound 1 / sqrt(fan_in).
  expect_uniform(
      init::kaiming_uniform_(empty({1000, 400}), std::sqrt(5.0), FanMode::FanIn, Nonlinearity::LeakyReLU, gen),
      -1.0 / 20, 1.0 / 20);
  // Tanh's gain, fan_in 400.
  expect_moments(init::kaiming_normal_(empty({1000, 400}), 0, FanMode::FanIn, Nonlinearity::Tanh, gen), 0,
                 5.0 / 3 / 20);
}

// ------------------------------------------------------------------ orthogonal

TEST(Init, OrthogonalSquareTallWideAndConv) {
  Generator gen(4);
  expect_orthogonal(init::orthogonal_(empty({64, 64}, DType::Float64), 1, gen), 1, 1e-12);
  expect_orthogonal(init::orthogonal_(empty({50, 20}, DType::Float64), 1, gen), 1, 1e-12);      // orthonormal columns
  expect_orthogonal(init::orthogonal_(empty({20, 50}, DType::Float64), 1, gen), 1, 1e-12);      // orthonormal rows
  expect_orthogonal(init::orthogonal_(empty({8, 3, 2, 2}, DType::Float64), 1, gen), 1, 1e-12);  // as (8, 12)
  expect_orthogonal(init::orthogonal_(empty({128, 32}), 1, gen), 1, 1e-5);                      // float32
  expect_orthogonal(init::orthogonal_(empty({30, 30}, DType::Float64), std::sqrt(2.0), gen), std::sqrt(2.0), 1e-12);
}

TEST(Init, OrthogonalFollowsPyTorchsSignConvention) {
  // PyTorch: A (the normal draws) = QR, then Q's columns times sign(diag(R)); so R = Q^T A
  // is upper triangular with a positive diagonal. The same generator state reproduces A.
  for (auto [rows, cols] : {std::pair<std::int64_t, std::int64_t>{7, 4}, {4, 7}, {5, 5}}) {
    SCOPED_TRACE(std::to_string(rows) + " x " + std::to_string(cols));
    Generator draw(8), fill(8);
    std::vector<double> a = normal({rows, cols}, 0, 1, DType::Float64, &draw).to_vector<double>();
    std::vector<double> w = init::orthogonal_(empty({rows, cols}, DType::Float64), 1, fill).to_vector<double>();
    // Tall orientation: Q (m x n), A (m x n), wide matrices factorise their transpose.
    bool wide = rows < cols;
    std::int64_t m = wide ? cols : rows, n = wide ? rows : cols;
    std::vector<double> q = wide ? transpose(w, rows, cols) : w;
    std::vector<double> at = wide ? a : transpose(a, rows, cols);         // A^T of the tall matrix (n x m)
    std::vector<double> r = a_times_bt(transpose(q, m, n), at, n, n, m);  // Q^T A (n x n)
    for (std::int64_t i = 0; i < n; ++i) {
      EXPECT_GT(r[i * n + i], 0) << i;
      for (std::int64_t j = 0; j < i; ++j) EXPECT_NEAR(r[i * n + j], 0, 1e-12) << i << ", " << j;
    }
  }
}

// ------------------------------------------------------------------ errors

TEST(Init, Errors) {
  expect_error([] { init::xavier_uniform_(empty({5})); }, {"2 or more dimensions", "[5]"});
  expect_error([] { init::kaiming_normal_(empty({5})); }, {"2 or more dimensions"});
  expect_error([] { init::orthogonal_(empty({5})); }, {"orthogonal_", "2 or more dimensions"});
  expect_error([] { init::kaiming_uniform_(empty({3, 0})); }, {"kaiming_uniform_", "fan", "[3, 0]"});
  expect_error([] { init::uniform_(empty({3}, DType::Int64)); }, {"init::uniform_", "floating", "int64"});
  expect_error([] { init::normal_(empty({3}), 0, -1); }, {"stddev"});
  expect_error([] { init::uniform_(empty({3}), 1, 0); }, {"low <= high"});
  expect_error([] { init::zeros_(Tensor()); }, {"undefined"});
}
