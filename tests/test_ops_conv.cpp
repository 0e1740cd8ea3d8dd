// conv2d, max_pool2d, avg_pool2d and batch_norm: values and gradients against PyTorch on
// small examples, conv2d against a plain-loop float64 reference at sizes that run on several
// threads, float64 gradchecks of every option, and every error.
//
// The PyTorch numbers pasted below were computed with PyTorch 1.13 (/usr/bin/python3) in
// float64, from inputs built by the same formula as seq() here:
//   def seq(shape, a, b, m, scale, shift):
//       return torch.tensor([((i * a + b) % m) * scale - shift for i in range(math.prod(shape))],
//                           dtype=torch.float64).reshape(shape)
// Gradients are those of loss = (y * seq(y.shape, 3, 2, 7, 0.5, 1.5)).sum() (see backprop_probe);
// each test names the torch call it reproduces.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <limits>
#include <sstream>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

Tensor seq(const Shape& shape, std::int64_t a, std::int64_t b, std::int64_t m, double scale, double shift) {
  std::vector<double> v(shape.numel());
  for (std::size_t i = 0; i < v.size(); ++i)
    v[i] = static_cast<double>((static_cast<std::int64_t>(i) * a + b) % m) * scale - shift;
  return from_vector(v, shape);
}

// The inputs the PyTorch examples use.
Tensor seq_x(const Shape& shape) { return seq(shape, 7, 3, 11, 0.25, 1.25); }
Tensor seq_w(const Shape& shape) { return seq(shape, 5, 1, 7, 0.5, 1.5); }
Tensor seq_b(const Shape& shape) { return seq(shape, 3, 0, 5, 0.5, 1.0); }
Tensor seq_running_mean() { return seq({3}, 1, 0, 3, 0.5, 0.0); }  // 0, 0.5, 1
Tensor seq_running_var() { return seq({3}, 1, 1, 3, 1.0, 0.0); }   // 1, 2, 0

// loss = sum(y * probe), probe = seq(y.shape, 3, 2, 7, 0.5, 1.5); backward.
void backprop_probe(const Tensor& y) { sum(mul(y, seq(y.shape(), 3, 2, 7, 0.5, 1.5))).backward(); }

// ---- a plain-loop conv2d and its gradients, the reference for the im2col + GEMM kernels
struct ConvCase {
  Size2 stride = 1, padding = 0, dilation = 1;
};

struct Dims {
  std::int64_t n, c, h, w, o, kh, kw, oh, ow;
};

Dims dims_of(const Tensor& x, const Tensor& w, const ConvCase& k) {
  Dims d{x.size(0), x.size(1), x.size(2), x.size(3), w.size(0), w.size(2), w.size(3), 0, 0};
  d.oh = (d.h + 2 * k.padding.h - k.dilation.h * (d.kh - 1) - 1) / k.stride.h + 1;
  d.ow = (d.w + 2 * k.padding.w - k.dilation.w * (d.kw - 1) - 1) / k.stride.w + 1;
  return d;
}

// Calls f(n, o, c, oh, ow, i, j, input_index) for every multiply-add the convolution does
// (input_index -1 where the tap falls on padding).
template <class F>
void for_each_tap(const Dims& d, const ConvCase& k, F&& f) {
  for (std::int64_t n = 0; n < d.n; ++n)
    for (std::int64_t o = 0; o < d.o; ++o)
      for (std::int64_t c = 0; c < d.c; ++c)
        for (std::int64_t oh = 0; oh < d.oh; ++oh)
          for (std::int64_t ow = 0; ow < d.ow; ++ow)
            for (std::int64_t i = 0; i < d.kh; ++i)
              for (std::int64_t j = 0; j < d.kw; ++j) {
                std::int64_t ih = oh * k.stride.h - k.padding.h + i * k.dilation.h;
                std::int64_t iw = ow * k.stride.w - k.padding.w + j * k.dilation.w;
                bool inside = ih >= 0 && ih < d.h && iw >= 0 && iw < d.w;
                f(n, o, c, oh, ow, i, j, inside ? ((n * d.c + c) * d.h + ih) * d.w + iw : -1);
              }
}

Tensor reference_conv2d(const Tensor& x, const Tensor& w, const Tensor& b, const ConvCase& k) {
  Dims d = dims_of(x, w, k);
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>(), bv = b.to_vector<double>();
  std::vector<double> y(d.n * d.o * d.oh * d.ow);
  for (std::int64_t n = 0; n < d.n; ++n)
    for (std::int64_t o = 0; o < d.o; ++o)
      for (std::int64_t p = 0; p < d.oh * d.ow; ++p) y[(n * d.o + o) * d.oh * d.ow + p] = bv[o];
  for_each_tap(d, k, [&](auto n, auto o, auto c, auto oh, auto ow, auto i, auto j, std::int64_t xi) {
    if (xi >= 0) y[((n * d.o + o) * d.oh + oh) * d.ow + ow] += wv[((o * d.c + c) * d.kh + i) * d.kw + j] * xv[xi];
  });
  return from_vector(y, {d.n, d.o, d.oh, d.ow});
}

struct ConvGrads {
  Tensor dx, dw, db;
};

ConvGrads reference_conv2d_backward(const Tensor& x, const Tensor& w, const Tensor& dy, const ConvCase& k) {
  Dims d = dims_of(x, w, k);
  std::vector<double> xv = x.to_vector<double>(), wv = w.to_vector<double>(), g = dy.to_vector<double>();
  std::vector<double> dx(xv.size(), 0.0), dw(wv.size(), 0.0), db(d.o, 0.0);
  for (std::int64_t n = 0; n < d.n; ++n)
    for (std::int64_t o = 0; o < d.o; ++o)
      for (std::int64_t p = 0; p < d.oh * d.ow; ++p) db[o] += g[(n * d.o + o) * d.oh * d.ow + p];
  for_each_tap(d, k, [&](auto n, auto o, auto c, auto oh, auto ow, auto i, auto j, std::int64_t xi) {
    if (xi < 0) return;
    double gy = g[((n * d.o + o) * d.oh + oh) * d.ow + ow];
    std::int64_t wi = ((o * d.c + c) * d.kh + i) * d.kw + j;
    dx[xi] += wv[wi] * gy;
    dw[wi] += xv[xi] * gy;
  });
  return {from_vector(dx, x.shape()), from_vector(dw, w.shape()), from_vector(db, {d.o})};
}

}  // namespace

// ------------------------------------------------------------------ conv2d values

TEST(Conv2d, MatchesPyTorchWithBias) {
  // F.conv2d(x, w, b) for x = seq_x((2, 2, 5, 5)), w = seq_w((3, 2, 3, 3)), b = seq_b((3,)).
  Tensor x = leaf(seq_x({2, 2, 5, 5})), w = leaf(seq_w({3, 2, 3, 3})), b = leaf(seq_b({3}));
  Tensor y = conv2d(x, w, b);
  EXPECT_EQ(y.shape(), (Shape{2, 3, 3, 3}));
  expect_values_rel(y, {
    4.0, -3.375, -3.875, -1.25, -0.375, -6.375, -1.0, 4.0, -3.375, 1.125, -2.875, -1.375, 0.375, 4.625,
    0.625, 3.75, 1.125, -2.875, -2.5, 3.0, 3.0, 3.0, -2.5, 1.625, 1.625, -2.5, 3.0, -0.375, -6.375, -4.125,
    4.0, -3.375, -3.875, -1.25, -0.375, -6.375, 4.625, 0.625, -4.75, 1.125, -2.875, -1.375, 0.375, 4.625,
    0.625, -2.5, 1.625, -5.25, -2.5, 3.0, 3.0, 3.0, -2.5, 1.625});
  backprop_probe(y);
  expect_values_rel(x.grad(), {
    -0.25, -4.25, 8.0, -1.75, -1.25, 2.25, -2.0, -2.5, -0.25, -1.25, 0.25, -0.75, -0.75, 7.5, -2.0, -2.0,
    0.25, 1.25, -2.75, 0.25, -1.0, -0.25, 3.0, -4.25, 2.0, 0.5, 4.0, -4.5, -1.0, 0.75, -0.5, 2.5, -5.25,
    5.0, 3.75, -1.5, 0.25, 2.25, -3.5, -1.75, 2.5, -1.75, -0.75, -2.25, 0.25, 3.5, -2.0, 0.0, 4.0, -1.0,
    -2.25, 3.25, -3.75, 2.5, 0.5, 3.0, -0.25, -1.25, -1.5, 0.0, -2.0, -2.25, 1.5, -0.25, 1.75, 1.25, 1.75,
    -2.25, 1.0, -1.25, 1.25, -1.75, -1.25, 3.25, -2.5, 0.5, -2.0, 3.75, -3.25, -0.75, 0.75, -1.75, 1.0,
    -4.0, 3.75, 2.25, 0.25, 1.5, 4.25, -2.5, -2.5, 2.5, -2.75, -1.0, -2.5, -1.0, 4.0, 0.0, -2.0, 3.5});
  expect_values_rel(w.grad(), {
    1.75, -1.125, -1.25, -4.375, 5.125, 2.25, -5.0, 1.75, -1.125, 1.375, 1.25, -4.375, -4.75, 4.75, -5.0,
    -1.25, 1.375, 1.25, -2.0, -1.5, 1.75, -5.0, 7.875, -1.25, -1.125, -2.0, -1.5, -1.875, 0.0, -5.0, -4.875,
    8.0, -1.125, 1.75, -1.875, 0.0, -4.0, -0.125, 6.5, -3.875, 2.75, -3.0, 4.5, -4.0, -0.125, -3.375, 0.5,
    -3.875, -3.25, 3.375, 4.5, 6.5, -3.375, 0.5});
  expect_values_rel(b.grad(), {1.5, -0.5, -2.5});
}

TEST(Conv2d, MatchesPyTorchStridePaddingDilation) {
  // F.conv2d(x, w, None, stride=(2, 1), padding=(1, 2), dilation=(2, 1)),
  // x = seq_x((1, 2, 7, 6)), w = seq_w((2, 2, 3, 2)).
  Tensor x = leaf(seq_x({1, 2, 7, 6})), w = leaf(seq_w({2, 2, 3, 2}));
  Tensor y = conv2d(x, w, Tensor(), {2, 1}, {1, 2}, {2, 1});
  EXPECT_EQ(y.shape(), (Shape{1, 2, 3, 9}));
  expect_values_rel(y, {
    0.0, 1.75, 0.75, -1.5, 1.75, 0.875, 1.375, -4.25, 0.0, 0.0, -1.625, 0.625, 1.625, -1.5, 3.625, -3.625,
    1.75, 0.0, 0.0, 0.75, -0.75, -2.25, 1.75, -2.5, 2.875, -1.875, 0.0, 0.0, -2.875, 2.125, -0.75, -2.25,
    1.75, -2.5, 1.875, 0.0, 0.0, 1.75, -3.25, -2.5, 3.75, -5.125, 2.5, -0.5, 0.0, 0.0, 0.625, -2.625, 4.25,
    -2.625, 1.5, 1.5, 0.25, 0.0});
  backprop_probe(y);
  expect_values_rel(x.grad(), {
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -0.5, -4.5, 7.25, -3.75, 1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.25,
    4.5, -0.25, -1.5, -1.0, 3.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 2.0, -5.0, 2.0, 0.25, 0.25, 0.25, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -2.75, 3.5, -2.5, -5.0, 6.5, -3.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, -2.25, -4.75, 6.75, -2.75, 1.75, -2.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 4.0, 0.25, -1.75, -0.25,
    -0.5, -0.75, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0});
  expect_values_rel(w.grad(), {
    0.125, -2.375, -0.75, -1.5, 2.0, 2.125, -2.25, -0.125, 0.375, -1.0, -1.0, -1.75, -2.375, -2.25, -1.5,
    2.125, 2.125, 2.25, -0.125, 0.25, -1.0, 0.25, -1.75, 2.75});
}

// Threaded sizes (several images per thread), one image (GEMMs threaded by BLAS instead),
// strided / padded / dilated and 1x1 kernels: forward and every gradient against the
// plain loops, in float64 and float32.
TEST(Conv2d, MatchesReferenceAtThreadedSizes) {
  struct Case {
    Shape x, w;
    ConvCase k;
  };
  const std::vector<Case> cases = {
      {{16, 3, 11, 10}, {4, 3, 3, 2}, {{2, 1}, {1, 1}, {1, 2}}},
      {{1, 3, 30, 28}, {5, 3, 5, 5}, {1, 2, 1}},
      {{32, 8, 6, 6}, {5, 8, 1, 1}, {}},           // 1x1: the image is its own columns matrix
      {{20, 1, 28, 28}, {6, 1, 5, 5}, {}},         // LeNet conv1
      {{20, 6, 12, 12}, {16, 6, 5, 5}, {}},        // LeNet conv2
  };
  std::uint64_t seed = 100;
  for (const Case& c : cases) {
    SCOPED_TRACE(testing::Message() << "x " << c.x << " w " << c.w << " stride " << c.k.stride << " padding "
                                    << c.k.padding << " dilation " << c.k.dilation);
    Tensor x = randn64(c.x, seed++), w = randn64(c.w, seed++), b = randn64({c.w[0]}, seed++);
    Tensor expected = reference_conv2d(x, w, b, c.k);
    Tensor dy = randn64(expected.shape(), seed++);
    ConvGrads ref = reference_conv2d_backward(x, w, dy, c.k);
    for (DType dtype : {DType::Float64, DType::Float32}) {
      // float32: sums of up to ~10^4 products of unit normals, some cancelling to near 0.
      const double tol = dtype == DType::Float64 ? 1e-12 : 1e-4;
      Tensor xd = leaf(to_dtype(x.detach(), dtype)), wd = leaf(to_dtype(w.detach(), dtype));
      Tensor bd = leaf(to_dtype(b.detach(), dtype));
      Tensor y = conv2d(xd, wd, bd, c.k.stride, c.k.padding, c.k.dilation);
      expect_close_rel(y, expected, tol);
      y.backward(to_dtype(dy, dtype));
      expect_close_rel(xd.grad(), ref.dx, tol);
      expect_close_rel(wd.grad(), ref.dw, tol);
      expect_close_rel(bd.grad(), ref.db, tol);
    }
  }
}

TEST(Conv2d, GradientOfOneOperandOnly) {
  Tensor x = randn64({3, 2, 6, 6}, 1), w = randn64({4, 2, 3, 3}, 2), dy = randn64({3, 4, 4, 4}, 3);
  ConvGrads ref = reference_conv2d_backward(x, w, dy, {});
  Tensor xl = leaf(clone(x));
  conv2d(xl, w).backward(dy);  // weight constant: only the input's gradient
  expect_close_rel(xl.grad(), ref.dx);
  Tensor wl = leaf(clone(w));
  conv2d(x, wl).backward(dy);  // input constant (conv1 of a network): only the weight's
  expect_close_rel(wl.grad(), ref.dw);
}

TEST(Conv2d, UnbatchedAndNonContiguousInput) {
  Tensor x = randn64({2, 5, 6}, 4), w = randn64({3, 2, 2, 3}, 5), b = randn64({3}, 6);
  Tensor y3 = conv2d(x, w, b, 2, 1);
  EXPECT_EQ(y3.shape(), (Shape{3, 3, 3}));
  Tensor y4 = conv2d(reshape(x, {1, 2, 5, 6}), w, b, 2, 1);
  expect_close_rel(y3, reshape(y4, {3, 3, 3}));
  // A transposed (non-contiguous) input gives the result of its contiguous copy.
  Tensor xt = transpose(randn64({2, 2, 6, 5}, 7), 2, 3);
  ASSERT_FALSE(xt.is_contiguous());
  expect_close_rel(conv2d(xt, w, b), conv2d(contiguous(xt), w, b));
}

TEST(Conv2d, NoGraphWithoutGradients) {
  Tensor y = conv2d(randn64({1, 1, 4, 4}, 8), randn64({1, 1, 2, 2}, 9));
  EXPECT_FALSE(y.requires_grad());
  NoGradGuard no_grad;
  Tensor w = leaf(randn64({1, 1, 2, 2}, 10));
  EXPECT_FALSE(conv2d(randn64({1, 1, 4, 4}, 11), w).requires_grad());
}

// ------------------------------------------------------------------ conv2d gradients

TEST(Conv2dGrad, WithBias) {
  Fn fn = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2]); };
  expect_gradcheck(fn, {leaf(randn64({2, 2, 5, 5}, 20)), leaf(randn64({3, 2, 3, 3}, 21)), leaf(randn64({3}, 22))});
}

TEST(Conv2dGrad, StridePaddingDilationWithoutBias) {
  Fn fn = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], Tensor(), {2, 1}, {1, 2}, {2, 1}); };
  expect_gradcheck(fn, {leaf(randn64({2, 2, 7, 6}, 23)), leaf(randn64({2, 2, 3, 2}, 24))});
}

TEST(Conv2dGrad, StrideLargerThanKernel) {
  Fn fn = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], 3, {0, 1}); };
  expect_gradcheck(fn, {leaf(randn64({2, 2, 8, 7}, 25)), leaf(randn64({2, 2, 2, 2}, 26)), leaf(randn64({2}, 27))});
}

TEST(Conv2dGrad, PointwiseKernel) {
  Fn fn = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2]); };
  expect_gradcheck(fn, {leaf(randn64({2, 3, 4, 4}, 28)), leaf(randn64({2, 3, 1, 1}, 29)), leaf(randn64({2}, 30))});
}

TEST(Conv2dGrad, UnbatchedInput) {
  Fn fn = [](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], 2, 1); };
  expect_gradcheck(fn, {leaf(randn64({2, 5, 5}, 31)), leaf(randn64({3, 2, 2, 2}, 32)), leaf(randn64({3}, 33))});
}

TEST(Conv2dGrad, NonContiguousOperands) {
  Fn fn = [](const std::vector<Tensor>& in) {
    return conv2d(transpose(in[0], 2, 3), transpose(in[1], 0, 1), in[2], 1, 1);
  };
  // x (2, 2, 5, 4) seen as (2, 2, 4, 5); weight (2, 3, 3, 3) seen as (3, 2, 3, 3).
  expect_gradcheck(fn, {leaf(randn64({2, 2, 5, 4}, 34)), leaf(randn64({2, 3, 3, 3}, 35)), leaf(randn64({3}, 36))});
}

// ------------------------------------------------------------------ conv2d errors

TEST(Conv2dErrors, Ranks) {
  Tensor w = randn64({2, 1, 3, 3}, 40);
  expect_error([&] { conv2d(randn64({5, 5}, 41), w); },
               {"conv2d", "expected a 3-D (C, H, W) or 4-D (N, C, H, W) input", "[5, 5]"});
  expect_error([&] { conv2d(randn64({1, 1, 5, 5}, 42), randn64({2, 3, 3}, 43)); },
               {"conv2d", "weight must be 4-D", "[2, 3, 3]"});
}

TEST(Conv2dErrors, ChannelsAndBias) {
  expect_error([&] { conv2d(randn64({4, 3, 28, 28}, 44), randn64({6, 1, 5, 5}, 45)); },
               {"conv2d", "input of shape [4, 3, 28, 28] has 3 channels", "weight of shape [6, 1, 5, 5] expects 1"});
  expect_error([&] { conv2d(randn64({4, 1, 28, 28}, 46), randn64({6, 1, 5, 5}, 47), randn64({5}, 48)); },
               {"conv2d", "bias of shape [5]", "expected [6]"});
  expect_error([&] { conv2d(randn64({4, 1, 28, 28}, 49), randn32({6, 1, 5, 5}, 50)); },
               {"conv2d", "different dtypes"});
}

TEST(Conv2dErrors, OutputTooSmall) {
  expect_error([&] { conv2d(randn64({2, 1, 4, 4}, 51), randn64({6, 1, 5, 5}, 52)); },
               {"conv2d", "input of shape [2, 1, 4, 4]", "kernel (5, 5)", "stride (1, 1)", "padding (0, 0)",
                "dilation (1, 1)", "output of 0x0", "padded input 4x4 is smaller than the dilated kernel 5x5"});
  expect_error([&] { conv2d(randn64({1, 1, 6, 9}, 53), randn64({1, 1, 3, 3}, 54), Tensor(), 1, 0, {3, 1}); },
               {"conv2d", "output of 0x7", "dilated kernel 7x3"});
}

TEST(Conv2dErrors, StridePaddingDilation) {
  Tensor x = randn64({1, 1, 6, 6}, 55), w = randn64({1, 1, 3, 3}, 56);
  expect_error([&] { conv2d(x, w, Tensor(), {0, 1}); }, {"conv2d", "stride must be at least 1", "stride (0, 1)"});
  expect_error([&] { conv2d(x, w, Tensor(), 1, -1); }, {"conv2d", "padding must not be negative", "padding (-1, -1)"});
  expect_error([&] { conv2d(x, w, Tensor(), 1, 0, 0); }, {"conv2d", "dilation must be at least 1"});
}

// ------------------------------------------------------------------ pooling values

TEST(MaxPool2d, MatchesPyTorchWithPadding) {
  // F.max_pool2d(x, 3, 2, 1) for x = seq_x((1, 2, 5, 5)).
  Tensor x = leaf(seq_x({1, 2, 5, 5}));
  Tensor y = max_pool2d(x, 3, 2, 1);
  EXPECT_EQ(y.shape(), (Shape{1, 2, 3, 3}));
  expect_values_rel(y, {1.25, 1.25, 1.0, 1.0, 1.25, 0.75, 1.0, 1.25, 1.25,  //
                    1.0, 1.0, 1.25, 0.75, 1.0, 1.25, 1.25, 1.0, 1.0});
  backprop_probe(y);
  expect_values_rel(x.grad(), {
    0.0, 0.5, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -1.5, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.5, 0.0, 0.0, -0.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, -2.0, 0.0, 0.0, 1.5, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, -0.5, 0.0});
}

TEST(MaxPool2d, TiesGoToTheFirstMaximum) {
  // F.max_pool2d(ones(1, 1, 4, 4), 2) and F.max_pool2d(ones(1, 1, 3, 3), 2, 1), then .sum().backward().
  Tensor x = leaf(ones({1, 1, 4, 4}, DType::Float64));
  sum(max_pool2d(x, 2)).backward();
  expect_values_rel(x.grad(), {1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0});
  Tensor overlapping = leaf(ones({1, 1, 3, 3}, DType::Float64));
  sum(max_pool2d(overlapping, 2, 1)).backward();
  expect_values_rel(overlapping.grad(), {1, 1, 0, 1, 1, 0, 0, 0, 0});
}

TEST(MaxPool2d, NaNWinsAndPaddingNever) {
  // PyTorch: max_pool2d([[1, nan, 3, nan], [0, 5, -1, 2]], 2) is [nan, nan] with argmax [1, 3].
  const double nan = std::numeric_limits<double>::quiet_NaN();
  Tensor x = leaf(from_vector(std::vector<double>{1, nan, 3, nan, 0, 5, -1, 2}, {1, 1, 2, 4}));
  Tensor y = max_pool2d(x, 2);
  std::vector<double> values = y.to_vector<double>();
  ASSERT_EQ(values.size(), 2u);
  EXPECT_TRUE(std::isnan(values[0]) && std::isnan(values[1]));
  sum(y).backward();
  expect_values_rel(x.grad(), {0, 1, 0, 1, 0, 0, 0, 0});
  // All inputs negative: the padded border (implicitly -inf, not 0) is never the maximum.
  expect_values_rel(max_pool2d(full({1, 1, 3, 3}, -5, DType::Float64), 3, 2, 1), {-5, -5, -5, -5});
}

TEST(MaxPool2d, AllMinusInfinityAndNaNInOverlappingWindows) {
  // PyTorch: an all -inf window reports its first real element (2x2 windows, and 3x3 ones
  // clipped by padding); with overlapping windows each reports its last NaN, else its first
  // maximum: max_pool2d([[1, nan, 3], [nan, 5, -1], [0, 2, 7]], 2, 1) has argmax [[3, 1], [3, 8]].
  const double inf = std::numeric_limits<double>::infinity(), nan = std::numeric_limits<double>::quiet_NaN();
  Tensor a = leaf(full({1, 1, 4, 4}, -inf, DType::Float64));
  sum(max_pool2d(a, 2)).backward();
  expect_values_rel(a.grad(), {1, 0, 1, 0, 0, 0, 0, 0, 1, 0, 1, 0, 0, 0, 0, 0});
  Tensor b = leaf(full({1, 1, 3, 3}, -inf, DType::Float64));
  sum(max_pool2d(b, 3, 2, 1)).backward();
  expect_values_rel(b.grad(), {1, 1, 0, 1, 1, 0, 0, 0, 0});
  Tensor c = leaf(from_vector(std::vector<double>{1, nan, 3, nan, 5, -1, 0, 2, 7}, {1, 1, 3, 3}));
  Tensor y = max_pool2d(c, 2, 1);
  std::vector<double> values = y.to_vector<double>();
  EXPECT_TRUE(std::isnan(values[0]) && std::isnan(values[1]) && std::isnan(values[2]));
  EXPECT_EQ(values[3], 7);
  sum(y).backward();
  expect_values_rel(c.grad(), {0, 1, 0, 2, 0, 0, 0, 0, 1});
}

TEST(MaxPool2d, StrideDefaultsToKernelAndUnbatchedInput) {
  Tensor x = randn64({2, 3, 6, 7}, 60);
  expect_close_rel(max_pool2d(x, {2, 3}), max_pool2d(x, {2, 3}, {2, 3}));
  EXPECT_EQ(max_pool2d(x, {2, 3}).shape(), (Shape{2, 3, 3, 2}));
  Tensor x3 = randn64({3, 6, 7}, 61);
  Tensor y3 = max_pool2d(x3, 2);
  EXPECT_EQ(y3.shape(), (Shape{3, 3, 3}));
  expect_close_rel(y3, reshape(max_pool2d(reshape(x3, {1, 3, 6, 7}), 2), {3, 3, 3}));
  expect_close_rel(to_dtype(max_pool2d(to_dtype(x, DType::Float32), 3, 2, 1), DType::Float64), max_pool2d(x, 3, 2, 1),
               1e-7);
}

TEST(AvgPool2d, MatchesPyTorchCountIncludePad) {
  // F.avg_pool2d(x, 3, 2, 1, count_include_pad=True) for x = seq_x((1, 2, 5, 5)).
  Tensor x = leaf(seq_x({1, 2, 5, 5}));
  Tensor y = avg_pool2d(x, 3, 2, 1);
  expect_values_rel(y, {
    -0.027777777777778, 0.027777777777778, -0.138888888888889, 0.0, 0.027777777777778, -0.166666666666667,
    0.027777777777778, 0.111111111111111, 0.222222222222222, -0.138888888888889, -0.138888888888889,
    0.055555555555556, -0.166666666666667, -0.222222222222222, -0.027777777777778, 0.222222222222222,
    -0.055555555555556, 0.111111111111111});
  backprop_probe(y);
  expect_values_rel(x.grad(), {
    -0.055555555555556, 0.055555555555556, 0.111111111111111, 0.0, -0.111111111111111, 0.0,
    -0.055555555555556, -0.055555555555556, -0.166666666666667, -0.111111111111111, 0.055555555555556,
    -0.111111111111111, -0.166666666666667, -0.166666666666667, 0.0, 0.222222222222222, 0.0,
    -0.222222222222222, -0.111111111111111, 0.111111111111111, 0.166666666666667, 0.111111111111111,
    -0.055555555555556, 0.055555555555556, 0.111111111111111, -0.111111111111111, -0.055555555555556,
    0.055555555555556, -0.111111111111111, -0.166666666666667, -0.111111111111111, 0.111111111111111,
    0.222222222222222, 0.0, -0.222222222222222, 0.0, 0.166666666666667, 0.166666666666667,
    0.111111111111111, -0.055555555555556, 0.111111111111111, 0.166666666666667, 0.055555555555556,
    0.055555555555556, 0.0, 0.111111111111111, 0.0, -0.111111111111111, -0.055555555555556,
    0.055555555555556});
}

TEST(AvgPool2d, MatchesPyTorchExcludingPad) {
  // F.avg_pool2d(x, 3, 2, 1, count_include_pad=False) for x = seq_x((1, 2, 5, 5)).
  Tensor x = leaf(seq_x({1, 2, 5, 5}));
  Tensor y = avg_pool2d(x, 3, 2, 1, false);
  expect_values_rel(y, {
    -0.0625, 0.041666666666667, -0.3125, 0.0, 0.027777777777778, -0.25, 0.0625, 0.166666666666667, 0.5,
    -0.3125, -0.208333333333333, 0.125, -0.25, -0.222222222222222, -0.041666666666667, 0.5,
    -0.083333333333333, 0.25});
  backprop_probe(y);
  expect_values_rel(x.grad(), {
    -0.125, 0.041666666666667, 0.166666666666667, -0.083333333333333, -0.25, -0.041666666666667,
    -0.041666666666667, 0.0, -0.25, -0.25, 0.083333333333333, -0.083333333333333, -0.166666666666667,
    -0.166666666666667, 0.0, 0.458333333333333, 0.208333333333333, -0.25, 0.0, 0.25, 0.375,
    0.291666666666667, -0.083333333333333, 0.166666666666667, 0.25, -0.25, -0.166666666666667,
    0.083333333333333, -0.291666666666667, -0.375, -0.25, 0.0, 0.25, -0.208333333333333, -0.458333333333333,
    0.0, 0.166666666666667, 0.166666666666667, 0.083333333333333, -0.083333333333333, 0.25, 0.25, 0.0,
    0.041666666666667, 0.041666666666667, 0.25, 0.083333333333333, -0.166666666666667, -0.041666666666667,
    0.125});
}

TEST(AvgPool2d, MatchesPyTorchRectangularWindow) {
  // F.avg_pool2d(x, (2, 3), (1, 2), (1, 1)) for x = seq_x((2, 1, 4, 6)).
  Tensor y = avg_pool2d(seq_x({2, 1, 4, 6}), {2, 3}, {1, 2}, {1, 1});
  EXPECT_EQ(y.shape(), (Shape{2, 1, 5, 3}));
  expect_values_rel(y, {
    0.125, 0.125, 0.041666666666667, 0.083333333333333, 0.0, -0.166666666666667, 0.208333333333333,
    -0.041666666666667, -0.208333333333333, 0.333333333333333, -0.083333333333333, 0.208333333333333,
    0.083333333333333, -0.166666666666667, 0.208333333333333, -0.083333333333333, 0.041666666666667,
    -0.041666666666667, -0.333333333333333, -0.166666666666667, 0.125, -0.208333333333333,
    -0.208333333333333, 0.083333333333333, -0.083333333333333, 0.208333333333333, 0.041666666666667, -0.125,
    0.208333333333333, 0.125});
}

TEST(AvgPool2d, StrideDefaultsToKernelAndThreadedSizes) {
  Tensor x = randn64({64, 6, 24, 24}, 62);  // LeNet's first pooling: enough planes for every thread
  Tensor y = avg_pool2d(x, 2);
  EXPECT_EQ(y.shape(), (Shape{64, 6, 12, 12}));
  // Each output is the mean of its 2x2 block.
  Tensor blocks = reshape(x, {64, 6, 12, 2, 12, 2});
  expect_close_rel(y, mean(blocks, {3, 5}), 1e-12);
  Tensor m = max_pool2d(x, 2);
  expect_close_rel(m, max(max(blocks, 5).values, 3).values);
}

// ------------------------------------------------------------------ pooling gradients

TEST(PoolGrad, MaxPool) {
  // Random normal inputs have no ties, where the maximum (and its gradient) would jump.
  Fn padded = [](const std::vector<Tensor>& in) { return max_pool2d(in[0], 3, 2, 1); };
  expect_gradcheck(padded, {leaf(randn64({2, 2, 5, 6}, 70))});
  Fn rectangular = [](const std::vector<Tensor>& in) { return max_pool2d(in[0], {2, 3}, {1, 2}, {1, 1}); };
  expect_gradcheck(rectangular, {leaf(randn64({1, 2, 4, 7}, 71))});
  Fn unbatched = [](const std::vector<Tensor>& in) { return max_pool2d(in[0], 2); };
  expect_gradcheck(unbatched, {leaf(randn64({2, 4, 5}, 72))});
  Fn transposed = [](const std::vector<Tensor>& in) { return max_pool2d(transpose(in[0], 2, 3), 2, 1); };
  expect_gradcheck(transposed, {leaf(randn64({1, 2, 4, 5}, 73))});
}

TEST(PoolGrad, AvgPool) {
  for (bool count_include_pad : {true, false}) {
    SCOPED_TRACE(count_include_pad ? "count_include_pad" : "excluding padding");
    Fn padded = [=](const std::vector<Tensor>& in) { return avg_pool2d(in[0], 3, 2, 1, count_include_pad); };
    expect_gradcheck(padded, {leaf(randn64({2, 2, 5, 6}, 74))});
    Fn rectangular = [=](const std::vector<Tensor>& in) {
      return avg_pool2d(in[0], {2, 3}, {1, 2}, {1, 1}, count_include_pad);
    };
    expect_gradcheck(rectangular, {leaf(randn64({1, 2, 4, 7}, 75))});
  }
  Fn unbatched = [](const std::vector<Tensor>& in) { return avg_pool2d(in[0], 2); };
  expect_gradcheck(unbatched, {leaf(randn64({2, 4, 5}, 76))});
  Fn transposed = [](const std::vector<Tensor>& in) { return avg_pool2d(transpose(in[0], 2, 3), 2, 1); };
  expect_gradcheck(transposed, {leaf(randn64({1, 2, 4, 5}, 77))});
}

// ------------------------------------------------------------------ pooling errors

TEST(PoolErrors, RankKernelStride) {
  for (const char* name : {"max_pool2d", "avg_pool2d"}) {
    SCOPED_TRACE(name);
    bool is_max = std::string(name) == "max_pool2d";
    auto pool = [&](const Tensor& x, Size2 kernel, Size2 stride, Size2 padding) {
      return is_max ? max_pool2d(x, kernel, stride, padding) : avg_pool2d(x, kernel, stride, padding);
    };
    expect_error([&] { pool(randn64({4, 4}, 80), 2, 2, 0); },
                 {name, "expected a 3-D (C, H, W) or 4-D (N, C, H, W) input", "[4, 4]"});
    expect_error([&] { pool(randn64({1, 1, 4, 4}, 81), {0, 2}, 2, 0); }, {name, "kernel (0, 2) must be at least 1"});
    expect_error([&] { pool(randn64({1, 1, 4, 4}, 82), 2, {1, 0}, 0); }, {name, "stride (1, 0) must be at least 1"});
    expect_error([&] { pool(randn64({1, 1, 4, 4}, 83), 3, 1, 2); },
                 {name, "padding (2, 2) must be between 0 and half the kernel (3, 3)", "[1, 1, 4, 4]"});
    expect_error([&] { pool(randn64({1, 1, 4, 4}, 84), 2, 1, {0, -1}); }, {name, "padding (0, -1)"});
    expect_error([&] { pool(randn64({6, 2, 2}, 85), 3, 3, 0); },
                 {name, "input of shape [6, 2, 2]", "kernel (3, 3)", "stride (3, 3)", "padding (0, 0)",
                  "output of 0x0", "padded input 2x2 is smaller than the kernel"});
    expect_error([&] { pool(from_vector(std::vector<std::int64_t>{1, 2, 3, 4}, {1, 1, 2, 2}), 2, 2, 0); },
                 {name, "expected a float32 or float64 tensor"});
  }
}

// ------------------------------------------------------------------ batch_norm values

TEST(BatchNorm, TrainingMatchesPyTorch2d) {
  // rm, rv = seq_running_mean(), seq_running_var(); F.batch_norm(x, rm, rv, w, b, True, 0.1, 1e-5)
  // for x = seq_x((4, 3)), w = seq_w((3,)), b = seq_b((3,)).
  Tensor x = leaf(seq_x({4, 3})), w = leaf(seq_w({3})), b = leaf(seq_b({3}));
  Tensor rm = seq_running_mean(), rv = seq_running_var();
  Tensor y = batch_norm(x, rm, rv, w, b, true, 0.1, 1e-5);
  expect_values_rel(y, {
    -2.3415549297317, 2.51233239459755, 0.17077746486585, -1.447184976577233, 1.17077746486585,
    -0.276407511711383, -0.552815023422767, -0.17077746486585, -0.723592488288617, 0.3415549297317,
    -1.512332394597549, -1.17077746486585});
  expect_values_rel(rm, {-0.0875, 0.5375, 0.8875});
  expect_values_rel(rv, {0.910416666666667, 1.810416666666667, 0.010416666666667});
  EXPECT_FALSE(rm.requires_grad());
  backprop_probe(y);
  expect_values_rel(x.grad(), {
    2.50420152942175, 5.634582213989274, -1.252100764710875, -1.252129380886505, -7.512690436792139,
    0.626064690443253, -5.008460291194759, -1.878194071329758, 2.50423014559738, 3.756388142659516,
    3.756302294132625, -1.878194071329758});
  expect_values_rel(w.grad(), {0.223592488288617, 0.223592488288617, 0.223592488288617});
  expect_values_rel(b.grad(), {0.5, -0.5, -1.5});
}

TEST(BatchNorm, TrainingMatchesPyTorch3dWithoutAffine) {
  // F.batch_norm(x, rm, rv, None, None, True, 0.3, 1e-3) for x = seq_x((2, 3, 4)).
  Tensor x = leaf(seq_x({2, 3, 4}));
  Tensor rm = seq_running_mean(), rv = seq_running_var();
  Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.3, 1e-3);
  expect_values_rel(y, {
    -0.936312076134789, 1.248416101513052, 0.0, -1.248416101513052, 1.338966083134055, -0.043192454294647,
    -1.425350991723349, 0.99342644877688, -0.075537664386991, -1.284140294578846, 0.8309143082569,
    -0.377688321934955, 1.248416101513052, 0.0, -1.248416101513052, 0.936312076134789, -0.043192454294647,
    -1.425350991723349, 0.99342644877688, -0.388732088651822, -1.284140294578846, 0.8309143082569,
    -0.377688321934955, 1.737366280900791});
  expect_values_rel(rm, {0.075, 0.359375, 0.64375});
  expect_values_rel(rv, {0.919642857142857, 1.579129464285714, 0.234375});
  backprop_probe(y);
  expect_values_rel(x.grad(), {
    -0.548690186053662, 0.419482889359953, -1.560520126891315, 0.828933212153099, -0.067598966123216,
    0.381159565621522, 0.82991809736626, 0.908439752705907, 1.182741833053843, -1.648236181538062,
    0.888770083614061, -1.942207930977843, -0.828933212153099, 1.560520126891315, -0.419482889359953,
    0.548690186053662, -1.00099897180718, -0.552240440062442, -0.473718784722795, -0.024960252978057,
    1.373270393941576, -0.319832546577794, 1.079298644501794, -0.613804296017576});
}

TEST(BatchNorm, EvalMatchesPyTorch4d) {
  // F.batch_norm(x, rm, rv, w, b, False, 0.1, 1e-5) for x = seq_x((2, 3, 2, 2)); channel 2 has
  // running variance 0, so only eps keeps it finite.
  Tensor x = leaf(seq_x({2, 3, 2, 2})), w = leaf(seq_w({3})), b = leaf(seq_b({3}));
  Tensor rm = seq_running_mean(), rv = seq_running_var();
  Tensor y = batch_norm(x, rm, rv, w, b, false, 0.1, 1e-5);
  expect_values_rel(y, {
    -0.50000249998125, -2.249993750046875, -1.249998750009375, -0.250003749971875, 1.030328760069668,
    -0.030328760069668, -1.090986280209003, 0.765164380034834, -198.1423537605237, -356.25623676894264,
    -79.55694150420948, -237.67082451262843, -2.249993750046875, -1.249998750009375, -0.250003749971875,
    -1.9999950000375, -0.030328760069668, -1.090986280209003, 0.765164380034834, -0.295493140104502,
    -356.25623676894264, -79.55694150420948, -237.67082451262843, 39.02847075210474});
  expect_values_rel(rm, {0, 0.5, 1});  // evaluation leaves the running statistics alone
  expect_values_rel(rv, {1, 2, 0});
  backprop_probe(y);
  expect_values_rel(x.grad(), {
    0.49999750001875, -0.9999950000375, 0.9999950000375, -0.49999750001875, -1.590986280209003, 0.0,
    1.590986280209003, -0.530328760069668, 158.11388300841895, -158.11388300841895, 79.05694150420948,
    -237.17082451262843, 0.0, -1.49999250005625, 0.49999750001875, -0.9999950000375, -1.060657520139336,
    0.530328760069668, -1.590986280209003, 0.0, 237.17082451262843, -79.05694150420948, 158.11388300841895,
    -158.11388300841895});
  expect_values_rel(w.grad(), {2.624986875098437, -2.651643800348339, -592.927061281571});
  expect_values_rel(b.grad(), {2.0, -2.5, 0.0});
}

TEST(BatchNorm, Float32TrainingMatchesPyTorch) {
  // rm, rv = zeros(3), ones(3); F.batch_norm(x, rm, rv, None, None, True, 0.1, 1e-5) for
  // x = seq_x((2, 3, 2, 2)).float() (printed as float64).
  Tensor x = to_dtype(seq_x({2, 3, 2, 2}), DType::Float32);
  Tensor rm = zeros({3}), rv = ones({3});
  Tensor y = batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.1, 1e-5);
  EXPECT_EQ(y.dtype(), DType::Float32);
  expect_values_rel(y, {
    -0.937035262584686, 1.249380350112915, 0.0, -1.249380350112915, 1.340234041213989, -0.0432333573699,
    -1.426700830459595, 0.994367241859436, -0.075592339038849, -1.285069704055786, 0.831515729427338,
    -0.377961695194244, 1.249380350112915, 0.0, -1.249380350112915, 0.937035262584686, -0.0432333573699,
    -1.426700830459595, 0.994367241859436, -0.389100223779678, -1.285069704055786, 0.831515729427338,
    -0.377961695194244, 1.738623857498169}, 1e-6);
  expect_values_rel(rm, {0.025000000372529, 0.003125000046566, -0.018750000745058}, 1e-7);
  expect_values_rel(rv, {0.973214268684387, 0.959709823131561, 0.978124976158142}, 1e-7);
}

TEST(BatchNorm, RunningStatisticsOptionalAndVersioned) {
  Tensor x = randn64({8, 4, 3}, 90);
  Tensor y = batch_norm(x, Tensor(), Tensor(), Tensor(), Tensor(), true, 0.1, 1e-5);
  // Normalised per channel: mean 0 and biased variance 1 - eps/(var + eps) ~ 1.
  Tensor m = mean(y, {0, 2}), v = mean(mul(y, y), {0, 2});
  for (double e : m.to_vector<double>()) EXPECT_NEAR(e, 0, 1e-12);
  for (double e : v.to_vector<double>()) EXPECT_NEAR(e, 1, 1e-3);
  // The update is an in-place write: a graph that saved the running mean notices.
  Tensor rm = zeros({4}, DType::Float64), rv = ones({4}, DType::Float64);
  Tensor s = leaf(randn64({4}, 91));
  Tensor uses_rm = mul(s, rm);
  batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.1, 1e-5);
  expect_error([&] { sum(uses_rm).backward(); }, {"modified in place"});
}

TEST(BatchNorm, ThreadedSizesMatchTheFormula) {
  // LeNet-with-batch-norm sizes, (N, C, H, W) and (N, C), large enough that blocks of channels
  // go to several threads: values and gradients against the formula written with ops.
  for (Shape shape : {Shape{64, 6, 24, 24}, Shape{512, 96}}) {
    SCOPED_TRACE(testing::Message() << "shape " << shape);
    const std::int64_t c = shape[1];
    Shape per_channel = shape;  // (1, C, 1, 1) or (1, C)
    for (int d = 0; d < shape.ndim; ++d) per_channel[d] = d == 1 ? c : 1;
    std::vector<int> reduced = {0};
    for (int d = 2; d < shape.ndim; ++d) reduced.push_back(d);
    Tensor x = leaf(randn64(shape, 92)), w = leaf(randn64({c}, 93)), b = leaf(randn64({c}, 94));
    Tensor dy = randn64(shape, 95);
    Tensor y = batch_norm(x, Tensor(), Tensor(), w, b, true, 0.1, 1e-5);
    y.backward(dy);
    Tensor xr = leaf(x.detach()), wr = leaf(w.detach()), br = leaf(b.detach());
    Tensor mu = mean(xr, reduced, true);
    Tensor var = mean(mul(sub(xr, mu), sub(xr, mu)), reduced, true);
    Tensor normalised = div(sub(xr, mu), sqrt(add(var, 1e-5)));
    Tensor expected = add(mul(normalised, reshape(wr, per_channel)), reshape(br, per_channel));
    expected.backward(dy);
    expect_close_rel(y, expected, 1e-10);
    expect_close_rel(x.grad(), xr.grad(), 1e-10);
    expect_close_rel(w.grad(), wr.grad(), 1e-10);
    expect_close_rel(b.grad(), br.grad(), 1e-10);
  }
}

// ------------------------------------------------------------------ batch_norm gradients

TEST(BatchNormGrad, EveryRankModeAndAffine) {
  const std::vector<Shape> shapes = {{5, 3}, {3, 3, 4}, {2, 3, 2, 3}};
  std::uint64_t seed = 200;
  for (const Shape& shape : shapes)
    for (bool training : {true, false})
      for (bool affine : {true, false}) {
        SCOPED_TRACE(testing::Message() << "shape " << shape << (training ? " training" : " eval")
                                        << (affine ? " affine" : " no affine"));
        Tensor rm = randn64({3}, seed++), rv = add(abs(randn64({3}, seed++)), 0.5);
        Fn fn = [=](const std::vector<Tensor>& in) {
          return batch_norm(in[0], rm, rv, affine ? in[1] : Tensor(), affine ? in[2] : Tensor(), training, 0.1,
                            1e-5);
        };
        expect_gradcheck(fn, {leaf(randn64(shape, seed++)), leaf(randn64({3}, seed++)), leaf(randn64({3}, seed++))});
      }
}

TEST(BatchNormGrad, NonContiguousInput) {
  Fn fn = [](const std::vector<Tensor>& in) {
    return batch_norm(transpose(in[0], 0, 2), Tensor(), Tensor(), in[1], in[2], true, 0.1, 1e-5);
  };
  // (4, 3, 5) seen as (5, 3, 4).
  expect_gradcheck(fn, {leaf(randn64({4, 3, 5}, 300)), leaf(randn64({3}, 301)), leaf(randn64({3}, 302))});
}

// ------------------------------------------------------------------ batch_norm errors

TEST(BatchNormErrors, Shapes) {
  Tensor rm = zeros({3}, DType::Float64), rv = ones({3}, DType::Float64);
  expect_error([&] { batch_norm(randn64({3}, 310), rm, rv, Tensor(), Tensor(), true, 0.1, 1e-5); },
               {"batch_norm", "at least 2 dimensions (N, C, ...)", "[3]"});
  expect_error([&] { batch_norm(randn64({4, 5}, 311), rm, rv, Tensor(), Tensor(), true, 0.1, 1e-5); },
               {"batch_norm", "running_mean of shape [3]", "5 channels of input of shape [4, 5]"});
  expect_error([&] { batch_norm(randn64({4, 3}, 312), rm, rv, randn64({2}, 313), Tensor(), true, 0.1, 1e-5); },
               {"batch_norm", "weight of shape [2]", "expected [3]"});
  expect_error([&] { batch_norm(randn64({4, 3}, 314), rm, rv, Tensor(), randn64({3, 1}, 315), true, 0.1, 1e-5); },
               {"batch_norm", "bias of shape [3, 1]"});
  expect_error([&] { batch_norm(randn64({4, 3}, 316), zeros({3}), rv, Tensor(), Tensor(), true, 0.1, 1e-5); },
               {"batch_norm", "different dtypes"});
}

TEST(BatchNormErrors, ModesAndBuffers) {
  Tensor rm = zeros({3}, DType::Float64), rv = ones({3}, DType::Float64);
  expect_error([&] { batch_norm(randn64({4, 3}, 320), Tensor(), rv, Tensor(), Tensor(), false, 0.1, 1e-5); },
               {"batch_norm", "evaluation mode (training false) needs running_mean and running_var"});
  expect_error([&] { batch_norm(randn64({1, 3}, 321), rm, rv, Tensor(), Tensor(), true, 0.1, 1e-5); },
               {"batch_norm", "more than 1 value per channel when training", "[1, 3]"});
  // One value per channel is fine in evaluation.
  EXPECT_EQ(batch_norm(randn64({1, 3}, 322), rm, rv, Tensor(), Tensor(), false, 0.1, 1e-5).shape(), (Shape{1, 3}));
  Tensor trained = leaf(zeros({3}, DType::Float64));
  expect_error([&] { batch_norm(randn64({4, 3}, 323), trained, rv, Tensor(), Tensor(), true, 0.1, 1e-5); },
               {"batch_norm", "requires grad"});
  expect_error([&] { batch_norm(randn64({4, 3}, 324), rm, rv, Tensor(), Tensor(), true, 0.1, -1); },
               {"batch_norm", "eps -1 must not be negative"});
}

TEST(Size2, PrintsAsAPair) {
  std::ostringstream os;
  os << Size2(3) << " " << Size2(2, 5);
  EXPECT_EQ(os.str(), "(3, 3) (2, 5)");
  EXPECT_EQ(Size2(4), Size2(4, 4));
}
