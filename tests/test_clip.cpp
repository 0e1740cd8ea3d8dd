// Gradient clipping: clip_grad_norm_ against PyTorch 1.13's torch.nn.utils.clip_grad_norm_
// (values from tests/reference/optim_reference.py, run with /usr/bin/python3: gradients
// 3 G0 (2, 3) and 3 G1 (4,), float32; the total norm first, then the clipped gradients),
// clip_grad_value_ against np.clip, and bad input.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;
using namespace recur::optim;

namespace {

const std::vector<double> kG0 = {0.3, -0.6, 0.9, 1.2, -0.15, 0.45};
const std::vector<double> kG1 = {-0.5, 0.25, 2.0, -1.0};

std::vector<Tensor> params_with_grads() {
  Tensor p0 = zeros({2, 3}), p1 = zeros({4});
  p0.set_requires_grad(), p1.set_requires_grad();
  p0.set_grad(mul(to_dtype(from_vector(kG0, {2, 3}), DType::Float32), 3.0));
  p1.set_grad(mul(to_dtype(from_vector(kG1, {4}), DType::Float32), 3.0));
  return {p0, p1};
}

std::vector<double> grads_of(const std::vector<Tensor>& params) {
  std::vector<double> out;
  for (const Tensor& p : params)
    for (double v : p.grad().to_vector<double>()) out.push_back(v);
  return out;
}

}  // namespace

TEST(Clip, GradNormMatchesPyTorch) {
  struct Case {
    double max_norm, norm_type;
    std::vector<double> norm_then_grads;
  };
  const std::vector<Case> cases = {
      {1.0, 2.0,
       {8.61031342, 0.104525805, -0.209051609, 0.313577384, 0.418103218, -0.0522629023, 0.156788692, -0.174209669,
        0.0871048346, 0.696838677, -0.348419338}},
      {100.0, 2.0, {8.61031342, 0.900000036, -1.80000007, 2.69999981, 3.60000014, -0.450000018, 1.3499999, -1.5, 0.75, 6, -3}},
      {2.0, 1.0,
       {22.0499992, 0.0816326514, -0.163265303, 0.244897932, 0.326530606, -0.0408163257, 0.122448966, -0.136054412,
        0.0680272058, 0.544217646, -0.272108823}},
      {3.0, INFINITY,
       {6, 0.449999958, -0.899999917, 1.34999979, 1.79999983, -0.224999979, 0.674999893, -0.749999881, 0.37499994,
        2.99999952, -1.49999976}},
      {1.5, 3.0,
       {6.85588646, 0.196911052, -0.393822104, 0.590733111, 0.787644207, -0.0984555259, 0.295366555, -0.328185081,
        0.164092541, 1.31274033, -0.656370163}},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE("max_norm " + std::to_string(c.max_norm) + ", norm_type " + std::to_string(c.norm_type));
    std::vector<Tensor> params = params_with_grads();
    const double norm = clip_grad_norm_(params, c.max_norm, c.norm_type);
    // PyTorch sums in float32; recur in float64: the same to float32 rounding.
    EXPECT_NEAR(norm, c.norm_then_grads[0], 1e-6 * c.norm_then_grads[0]);
    const std::vector<double> grads(c.norm_then_grads.begin() + 1, c.norm_then_grads.end());
    expect_allclose(grads_of(params), grads, 1e-6, 0);
  }
}

TEST(Clip, GradNormSkipsMissingGradientsAndLeavesSmallOnesAlone) {
  std::vector<Tensor> params = params_with_grads();
  Tensor frozen = ones({3});  // no gradient
  params.push_back(frozen);
  const std::vector<double> before = grads_of({params[0], params[1]});
  EXPECT_NEAR(clip_grad_norm_(params, 10), 8.61031342, 1e-5);
  EXPECT_EQ(grads_of({params[0], params[1]}), before);  // coef >= 1: untouched
  EXPECT_EQ(clip_grad_norm_({frozen}, 1), 0);
  EXPECT_EQ(clip_grad_value_({frozen}, 1), 0);
}

TEST(Clip, GradNormNonFinite) {
  std::vector<Tensor> params = params_with_grads();
  params[1].set_grad(tensor({1, NAN, 2, 3}));
  expect_error([&] { clip_grad_norm_(params, 1, 2, /*error_if_nonfinite=*/true); },
               {"clip_grad_norm_", "total norm of order 2", "nan", "error_if_nonfinite"});
  // Without the check, as PyTorch: the NaN coefficient reaches every gradient.
  EXPECT_TRUE(std::isnan(clip_grad_norm_(params, 1)));
  EXPECT_TRUE(std::isnan(params[0].grad().to_vector<float>()[0]));
}

TEST(Clip, GradValueClampsAndReportsTheL2Norm) {
  std::vector<Tensor> params = params_with_grads();  // 3 G: 0.9, -1.8, 2.7, 3.6, -0.45, 1.35 | -1.5, 0.75, 6, -3
  const double norm = clip_grad_value_(params, 2.0);
  EXPECT_NEAR(norm, 8.61031342, 1e-6);
  expect_allclose(grads_of(params), {0.9, -1.8, 2.0, 2.0, -0.45, 1.35, -1.5, 0.75, 2.0, -2.0}, 1e-7, 0);
  // min-char-rnn's np.clip(dparam, -5, 5) on a large gradient, float64.
  Tensor w = zeros({100000}, DType::Float64);
  w.set_requires_grad();
  Generator gen(1);
  w.set_grad(normal({100000}, 0, 4, DType::Float64, &gen));
  const std::vector<double> g = w.grad().to_vector<double>();
  double sq = 0;
  for (double v : g) sq += v * v;
  EXPECT_NEAR(clip_grad_value_({w}, 5), std::sqrt(sq), 1e-9 * std::sqrt(sq));
  const std::vector<double> clipped = w.grad().to_vector<double>();
  for (std::size_t i = 0; i < g.size(); ++i) ASSERT_EQ(clipped[i], std::min(5.0, std::max(-5.0, g[i]))) << i;
}

TEST(Clip, Errors) {
  std::vector<Tensor> params = params_with_grads();
  expect_error([&] { clip_grad_norm_(params, -1); }, {"clip_grad_norm_: max_norm must be >= 0, got -1"});
  expect_error([&] { clip_grad_norm_(params, 1, 0); }, {"clip_grad_norm_: norm_type must be positive or infinity"});
  expect_error([&] { clip_grad_value_(params, -5); }, {"clip_grad_value_: clip_value must be >= 0, got -5"});
  expect_error([&] { clip_grad_value_({Tensor()}, 5); }, {"gradient clipping: a parameter is an undefined tensor"});
}
