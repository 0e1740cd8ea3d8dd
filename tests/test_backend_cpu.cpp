// The CPU backend, kernel by kernel, against plain reference loops in double precision.
//
// Inputs are Views over std::vector buffers (or recur::empty tensors), laid out
// contiguous, transposed, sliced and broadcast (stride 0), so every loop shape of every
// kernel runs. Large cases run the OpenMP paths and compare 1 thread with 2.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <limits>
#include <numbers>
#include <numeric>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "recur/core/error.hpp"
#include "recur/core/random.hpp"
#include "recur/core/tensor.hpp"
#include "recur/core/threading.hpp"

namespace recur::backend {
namespace {

Backend& cpu() { return backend_for(Device::cpu()); }

template <class T>
View make_view(T* data, const Shape& shape, const Shape& strides) {
  View v;
  v.data = data;
  v.dtype = dtype_of<std::remove_const_t<T>>();
  v.shape = shape;
  v.strides = strides;
  return v;
}
template <class T>
View contiguous(std::vector<T>& buf, const Shape& shape) {
  return make_view(buf.data(), shape, contiguous_strides(shape));
}

// Deterministic test values in [lo, hi).
template <class T>
std::vector<T> values(std::int64_t n, double lo = -2, double hi = 2, std::uint64_t seed = 1) {
  std::vector<T> out(n);
  for (std::int64_t i = 0; i < n; ++i) {
    auto w = philox4x32(seed, static_cast<std::uint64_t>(i));
    out[i] = static_cast<T>(lo + (hi - lo) * uniform_double(w[0], w[1]));
  }
  return out;
}

// Visits every multi-index of shape in row-major order.
void for_each_index(const Shape& shape, const std::function<void(const std::int64_t*)>& f) {
  if (shape.numel() == 0) return;
  std::int64_t idx[kMaxDims] = {};
  for (std::int64_t i = 0, n = shape.numel(); i < n; ++i) {
    f(idx);
    for (int d = shape.ndim - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

std::int64_t offset_of(const View& v, const std::int64_t* idx) {
  std::int64_t off = 0;
  for (int d = 0; d < v.shape.ndim; ++d) off += idx[d] * v.strides[d];
  return off;
}

double get(const View& v, const std::int64_t* idx) {
  std::int64_t off = offset_of(v, idx);
  switch (v.dtype) {
    case DType::Float32: return static_cast<const float*>(v.data)[off];
    case DType::Float64: return static_cast<const double*>(v.data)[off];
    case DType::Int64: return static_cast<double>(static_cast<const std::int64_t*>(v.data)[off]);
  }
  return 0;
}

// Elements of a view in row-major order, as doubles.
std::vector<double> to_doubles(const View& v) {
  std::vector<double> out;
  for_each_index(v.shape, [&](const std::int64_t* idx) { out.push_back(get(v, idx)); });
  return out;
}

// |got - want| <= atol + rtol |want|, elementwise, NaN matching NaN.
void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rtol, double atol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int failures = 0;
  for (std::size_t i = 0; i < got.size() && failures < 5; ++i) {
    bool ok = (std::isnan(got[i]) && std::isnan(want[i])) || got[i] == want[i] ||
              std::fabs(got[i] - want[i]) <= atol + rtol * std::fabs(want[i]);
    if (!ok) {
      ++failures;
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", expected " << want[i];
    }
  }
}

// Runs the test body with the given thread count, restoring the previous one.
struct ThreadCount {
  explicit ThreadCount(int n) : saved(get_num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(saved); }
  int saved;
};

// ---------------------------------------------------------------- views and dispatch

TEST(BackendViews, ViewOfAndBroadcast) {
  Tensor t = empty({3, 1, 4});
  View v = view_of(t);
  EXPECT_EQ(v.data, t.raw_data());
  EXPECT_EQ(v.shape, Shape({3, 1, 4}));
  EXPECT_TRUE(v.is_contiguous());
  View b = broadcast_view(t, {2, 3, 5, 4});
  EXPECT_EQ(b.shape, Shape({2, 3, 5, 4}));
  EXPECT_EQ(b.strides, Shape({0, 4, 0, 1}));
  EXPECT_FALSE(b.is_contiguous());
  View tr = make_view<float>(nullptr, {4, 3}, {1, 4});
  EXPECT_FALSE(tr.is_contiguous());
  EXPECT_TRUE(make_view<float>(nullptr, {1, 3}, {99, 1}).is_contiguous());
}

TEST(BackendViews, BackendForDevices) {
  Backend& a = backend_for(Device::cpu());
  Backend& b = backend_for(Device::cpu());
  EXPECT_EQ(&a, &b);
  try {
    backend_for(Device::cuda(0));
    ADD_FAILURE() << "expected recur::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("without CUDA support"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- copy and fill

TEST(BackendCopy, ContiguousTransposedSlicedBroadcast) {
  auto src = values<float>(24);
  std::vector<float> dst(24, 0);
  // Contiguous.
  cpu().copy(contiguous(dst, {2, 3, 4}), contiguous(src, {2, 3, 4}));
  EXPECT_EQ(dst, src);
  // Transposed source: dst[i][j] = src[j][i] for src (4, 6).
  View tr = make_view(src.data(), {6, 4}, {1, 6});
  cpu().copy(contiguous(dst, {6, 4}), tr);
  expect_close(to_doubles(contiguous(dst, {6, 4})), to_doubles(tr), 0, 0, "transposed copy");
  for (int i = 0; i < 6; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_EQ(dst[i * 4 + j], src[j * 6 + i]);
  // Sliced source: every other column of (4, 6).
  std::vector<float> small(12, 0);
  View sl = make_view(src.data() + 1, {4, 3}, {6, 2});
  cpu().copy(contiguous(small, {4, 3}), sl);
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(small[i * 3 + j], src[i * 6 + 1 + 2 * j]);
  // Broadcast source: one row repeated.
  View row = make_view(src.data(), {5, 4}, {0, 1});
  std::vector<float> rep(20, 0);
  cpu().copy(contiguous(rep, {5, 4}), row);
  for (int i = 0; i < 5; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_EQ(rep[i * 4 + j], src[j]);
  // A scalar broadcast everywhere, and a strided destination.
  std::vector<float> big(40, -1);
  View dst_strided = make_view(big.data(), {4, 5}, {10, 2});
  cpu().copy(dst_strided, make_view(src.data() + 3, {4, 5}, {0, 0}));
  for (int i = 0; i < 40; ++i) EXPECT_EQ(big[i], (i % 10) % 2 == 0 && i % 10 < 10 ? src[3] : -1.0f) << i;
}

TEST(BackendCopy, Int64AndDtypeConversion) {
  std::vector<std::int64_t> ints(12);
  std::iota(ints.begin(), ints.end(), -5);
  std::vector<std::int64_t> ints_out(12, 0);
  cpu().copy(contiguous(ints_out, {3, 4}), make_view(ints.data(), {3, 4}, {1, 3}));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_EQ(ints_out[i * 4 + j], ints[j * 3 + i]);

  std::vector<float> f(12);
  cpu().copy(contiguous(f, {12}), contiguous(ints, {12}));
  for (int i = 0; i < 12; ++i) EXPECT_EQ(f[i], static_cast<float>(ints[i]));

  auto src = values<double>(12, -3, 3);
  std::vector<float> f2(12);
  cpu().copy(contiguous(f2, {3, 4}), contiguous(src, {3, 4}));
  for (int i = 0; i < 12; ++i) EXPECT_EQ(f2[i], static_cast<float>(src[i]));
  std::vector<double> d(12);
  cpu().copy(contiguous(d, {3, 4}), contiguous(f2, {3, 4}));
  for (int i = 0; i < 12; ++i) EXPECT_EQ(d[i], static_cast<double>(f2[i]));
  std::vector<std::int64_t> truncated(12);
  cpu().copy(contiguous(truncated, {12}), contiguous(src, {12}));
  for (int i = 0; i < 12; ++i) EXPECT_EQ(truncated[i], static_cast<std::int64_t>(src[i]));
}

TEST(BackendCopy, LargeParallelMatchesSerial) {
  const std::int64_t r = 700, c = 900;
  auto src = values<float>(r * c);
  std::vector<float> one(r * c), two(r * c);
  {
    ThreadCount t(1);
    cpu().copy(contiguous(one, {c, r}), make_view(src.data(), {c, r}, {1, c}));
  }
  {
    ThreadCount t(2);
    cpu().copy(contiguous(two, {c, r}), make_view(src.data(), {c, r}, {1, c}));
  }
  EXPECT_EQ(one, two);
  EXPECT_EQ(one[5 * r + 7], src[7 * c + 5]);
}

TEST(BackendCopy, PermutedThreeDimsTiled) {
  // (6, 37, 45) seen as (45, 6, 37): the tiled transposing path with an outer dim.
  std::vector<std::int64_t> src(6 * 37 * 45);
  std::iota(src.begin(), src.end(), 0);
  View perm = make_view(src.data(), {45, 6, 37}, {1, 37 * 45, 45});
  std::vector<float> out(src.size());
  for (int threads : {1, 2}) {
    ThreadCount t(threads);
    cpu().copy(contiguous(out, {45, 6, 37}), perm);
    expect_close(to_doubles(contiguous(out, {45, 6, 37})), to_doubles(perm), 0, 0, "permuted copy");
  }
}

TEST(BackendCopy, EmptyViewsAreNoOps) {
  cpu().copy(make_view<float>(nullptr, {0, 3}, {3, 1}), make_view<float>(nullptr, {0, 3}, {3, 1}));
  cpu().fill(make_view<float>(nullptr, {4, 0}, {0, 1}), 1.0);
  cpu().unary(UnaryOp::Exp, make_view<float>(nullptr, {0}, {1}), make_view<float>(nullptr, {0}, {1}), {});
  cpu().reduce(ReduceOp::Sum, make_view<float>(nullptr, {0, 1}, {1, 1}), make_view<float>(nullptr, {0, 5}, {5, 1}));
  cpu().softmax(make_view<float>(nullptr, {0, 5}, {5, 1}), make_view<float>(nullptr, {0, 5}, {5, 1}), 1, false);
  cpu().fill_normal(make_view<float>(nullptr, {0}, {1}), 0, 1, 1, 0);
  cpu().gemm(false, false, 0, 4, 4, 1, nullptr, 4, nullptr, 4, 0, nullptr, 4, DType::Float32);
}

TEST(BackendFill, StridedAllDtypes) {
  std::vector<float> f(20, 0);
  cpu().fill(make_view(f.data(), {4, 2}, {5, 2}), 2.5);
  for (int i = 0; i < 20; ++i) EXPECT_EQ(f[i], (i % 5 == 0 || i % 5 == 2) && i < 20 ? 2.5f : 0.0f) << i;
  std::vector<double> d(7, 0);
  cpu().fill(contiguous(d, {7}), -1.25);
  for (double v : d) EXPECT_EQ(v, -1.25);
  std::vector<std::int64_t> n(6, 0);
  cpu().fill(contiguous(n, {2, 3}), 42);
  for (auto v : n) EXPECT_EQ(v, 42);
}

// ---------------------------------------------------------------- unary

double unary_reference(UnaryOp op, double x, Scalars s) {
  switch (op) {
    case UnaryOp::Neg: return -x;
    case UnaryOp::Exp: return std::exp(x);
    case UnaryOp::Log: return std::log(x);
    case UnaryOp::Sqrt: return std::sqrt(x);
    case UnaryOp::Abs: return std::fabs(x);
    case UnaryOp::Sign: return (x > 0) - (x < 0);
    case UnaryOp::Sigmoid: return 1 / (1 + std::exp(-x));
    case UnaryOp::Tanh: return std::tanh(x);
    case UnaryOp::Relu: return x > 0 ? x : 0;
    case UnaryOp::LeakyRelu: return x > 0 ? x : s.a * x;
    case UnaryOp::Pow: return std::pow(x, s.a);
    case UnaryOp::Clamp: return std::min(std::max(x, s.a), s.b);
    case UnaryOp::AddScalar: return x + s.a;
    case UnaryOp::MulScalar: return x * s.a;
    case UnaryOp::RSubScalar: return s.a - x;
    case UnaryOp::RDivScalar: return s.a / x;
    case UnaryOp::Step: return x > 0 ? 1 : 0;
  }
  return 0;
}

struct UnaryCase {
  UnaryOp op;
  Scalars s;
  double lo, hi;  // input range
  const char* name;
};

const UnaryCase kUnaryCases[] = {
    {UnaryOp::Neg, {}, -3, 3, "neg"},          {UnaryOp::Exp, {}, -20, 20, "exp"},
    {UnaryOp::Log, {}, 1e-3, 50, "log"},       {UnaryOp::Sqrt, {}, 0, 9, "sqrt"},
    {UnaryOp::Abs, {}, -3, 3, "abs"},          {UnaryOp::Sign, {}, -3, 3, "sign"},
    {UnaryOp::Sigmoid, {}, -20, 20, "sigmoid"}, {UnaryOp::Tanh, {}, -6, 6, "tanh"},
    {UnaryOp::Relu, {}, -3, 3, "relu"},        {UnaryOp::LeakyRelu, {0.1, 0}, -3, 3, "leaky_relu"},
    {UnaryOp::Pow, {2, 0}, -3, 3, "pow2"},     {UnaryOp::Pow, {0.5, 0}, 0, 3, "pow0.5"},
    {UnaryOp::Pow, {-1, 0}, 0.5, 3, "pow-1"},  {UnaryOp::Pow, {1.7, 0}, 0.1, 3, "pow1.7"},
    {UnaryOp::Pow, {3, 0}, -2, 2, "pow3"},     {UnaryOp::Clamp, {-0.5, 0.75}, -3, 3, "clamp"},
    {UnaryOp::AddScalar, {1.5, 0}, -3, 3, "add_scalar"}, {UnaryOp::MulScalar, {-2, 0}, -3, 3, "mul_scalar"},
    {UnaryOp::RSubScalar, {1, 0}, -3, 3, "rsub_scalar"}, {UnaryOp::RDivScalar, {2, 0}, 0.5, 3, "rdiv_scalar"},
    {UnaryOp::Step, {}, -3, 3, "step"},
};

template <class T>
void check_unary_layouts(double rtol) {
  for (const UnaryCase& c : kUnaryCases) {
    auto src = values<T>(60, c.lo, c.hi);
    src[0] = 0 > c.lo && 0 < c.hi ? T(0) : src[0];
    auto want_of = [&](const View& v) {
      std::vector<double> w = to_doubles(v);
      for (double& x : w) x = unary_reference(c.op, x, c.s);
      return w;
    };
    std::string name = std::string(c.name) + " " + dtype_name(dtype_of<T>());
    // Contiguous.
    std::vector<T> dst(60);
    cpu().unary(c.op, contiguous(dst, {6, 10}), contiguous(src, {6, 10}), c.s);
    expect_close(to_doubles(contiguous(dst, {6, 10})), want_of(contiguous(src, {6, 10})), rtol, 1e-30, name);
    // Transposed source.
    View tr = make_view(src.data(), {10, 6}, {1, 10});
    cpu().unary(c.op, contiguous(dst, {10, 6}), tr, c.s);
    expect_close(to_doubles(contiguous(dst, {10, 6})), want_of(tr), rtol, 1e-30, name + " transposed");
    // Broadcast row into a strided destination.
    std::vector<T> wide(120, T(-7));
    View bc = make_view(src.data(), {6, 10}, {0, 1});
    View dst_strided = make_view(wide.data(), {6, 10}, {20, 1});
    cpu().unary(c.op, dst_strided, bc, c.s);
    expect_close(to_doubles(dst_strided), want_of(bc), rtol, 1e-30, name + " broadcast");
    EXPECT_EQ(wide[10], T(-7));
  }
}

TEST(BackendUnary, AllOpsFloat32) { check_unary_layouts<float>(1e-6); }
TEST(BackendUnary, AllOpsFloat64) { check_unary_layouts<double>(1e-14); }

// The float32 exp / log / tanh / sigmoid approximations over their whole range, against
// double-precision references: relative error within 1e-6 (a few float ulps).
TEST(BackendUnary, Float32TranscendentalAccuracy) {
  std::vector<float> x;
  for (double v = -110; v <= 110; v += 0.0137) x.push_back(static_cast<float>(v));
  for (double v = -1; v <= 1; v += 1e-4) x.push_back(static_cast<float>(v));
  for (double v = 1e-30; v < 1e30; v *= 1.37) x.push_back(static_cast<float>(v));
  for (float v : {1e-40f, 1e-44f, 3e-39f, std::numeric_limits<float>::min(), std::numeric_limits<float>::max()})
    x.push_back(v);
  const std::int64_t n = static_cast<std::int64_t>(x.size());
  std::vector<float> y(n);
  struct Fn {
    UnaryOp op;
    double (*ref)(double);
    bool positive_only;
  };
  const Fn fns[] = {
      {UnaryOp::Exp, [](double v) { return std::exp(v); }, false},
      {UnaryOp::Tanh, [](double v) { return std::tanh(v); }, false},
      {UnaryOp::Sigmoid, [](double v) { return 1 / (1 + std::exp(-v)); }, false},
      {UnaryOp::Log, [](double v) { return std::log(v); }, true},
  };
  for (const Fn& fn : fns) {
    cpu().unary(fn.op, contiguous(y, {n}), contiguous(x, {n}), {});
    double worst = 0;
    float worst_x = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (fn.positive_only && x[i] <= 0) continue;
      double want = static_cast<double>(static_cast<float>(fn.ref(x[i])));
      double got = y[i];
      if (std::isinf(want) || want == 0 || std::fabs(want) < std::numeric_limits<float>::min()) {
        // Overflow, underflow and denormal results: within a denormal step, or exactly inf.
        if (std::isinf(want)) EXPECT_EQ(got, want) << "x = " << x[i];
        else EXPECT_NEAR(got, want, 3e-45 + 1e-6 * std::fabs(want)) << "x = " << x[i];
        continue;
      }
      double err = std::fabs(got - want) / std::fabs(want);
      if (err > worst) worst = err, worst_x = x[i];
    }
    EXPECT_LE(worst, 1e-6) << "op " << static_cast<int>(fn.op) << " worst at x = " << worst_x;
  }
}

TEST(BackendUnary, Float32SpecialValues) {
  const float inf = std::numeric_limits<float>::infinity(), nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> x = {inf, -inf, nan, 0.0f, -0.0f, 1e30f, -1e30f, 88.7f, -88.0f};
  std::vector<float> y(x.size());
  const std::int64_t n = static_cast<std::int64_t>(x.size());
  auto run = [&](UnaryOp op) {
    cpu().unary(op, contiguous(y, {n}), contiguous(x, {n}), {});
    return y;
  };
  auto e = run(UnaryOp::Exp);
  EXPECT_EQ(e[0], inf);
  EXPECT_EQ(e[1], 0.0f);
  EXPECT_TRUE(std::isnan(e[2]));
  EXPECT_EQ(e[3], 1.0f);
  EXPECT_EQ(e[5], inf);
  EXPECT_EQ(e[6], 0.0f);
  EXPECT_NEAR(e[7], std::exp(double{88.7f}), std::exp(double{88.7f}) * 1e-6);
  auto t = run(UnaryOp::Tanh);
  EXPECT_EQ(t[0], 1.0f);
  EXPECT_EQ(t[1], -1.0f);
  EXPECT_TRUE(std::isnan(t[2]));
  EXPECT_EQ(t[3], 0.0f);
  EXPECT_EQ(t[5], 1.0f);
  EXPECT_EQ(t[6], -1.0f);
  auto s = run(UnaryOp::Sigmoid);
  EXPECT_EQ(s[0], 1.0f);
  EXPECT_EQ(s[1], 0.0f);
  EXPECT_TRUE(std::isnan(s[2]));
  EXPECT_EQ(s[3], 0.5f);
  auto l = run(UnaryOp::Log);
  EXPECT_EQ(l[0], inf);
  EXPECT_TRUE(std::isnan(l[1]));
  EXPECT_TRUE(std::isnan(l[2]));
  EXPECT_EQ(l[3], -inf);
  EXPECT_EQ(l[4], -inf);
  auto r = run(UnaryOp::Relu);
  EXPECT_TRUE(std::isnan(r[2]));
  EXPECT_EQ(r[1], 0.0f);
}

TEST(BackendUnary, LargeParallelMatchesSerial) {
  const std::int64_t n = (1 << 20) + 37;
  auto src = values<float>(n, -10, 10);
  for (UnaryOp op : {UnaryOp::Exp, UnaryOp::Tanh, UnaryOp::Relu}) {
    std::vector<float> one(n), two(n);
    {
      ThreadCount t(1);
      cpu().unary(op, contiguous(one, {n}), contiguous(src, {n}), {});
    }
    {
      ThreadCount t(2);
      cpu().unary(op, contiguous(two, {n}), contiguous(src, {n}), {});
    }
    EXPECT_EQ(one, two);
  }
}

// ---------------------------------------------------------------- binary

double binary_reference(BinaryOp op, double a, double b, Scalars s) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Maximum: return std::max(a, b);
    case BinaryOp::Minimum: return std::min(a, b);
    case BinaryOp::AddScaled: return a + s.a * b;
    case BinaryOp::TanhBackward: return a * (1 - b * b);
    case BinaryOp::SigmoidBackward: return a * b * (1 - b);
    case BinaryOp::ReluBackward: return b > 0 ? a : 0;
    case BinaryOp::LeakyReluBackward: return b > 0 ? a : s.a * a;
    case BinaryOp::ClampBackward: return (b >= s.a && b <= s.b) ? a : 0;
    case BinaryOp::AbsBackward: return a * ((b > 0) - (b < 0));
  }
  return 0;
}

const BinaryOp kBinaryOps[] = {BinaryOp::Add,          BinaryOp::Sub,
                               BinaryOp::Mul,          BinaryOp::Div,
                               BinaryOp::Maximum,      BinaryOp::Minimum,
                               BinaryOp::AddScaled,
                               BinaryOp::TanhBackward, BinaryOp::SigmoidBackward,
                               BinaryOp::ReluBackward, BinaryOp::LeakyReluBackward,
                               BinaryOp::ClampBackward, BinaryOp::AbsBackward};

template <class T>
void check_binary(BinaryOp op, double rtol) {
  Scalars s{-0.5, 0.5};
  if (op == BinaryOp::LeakyReluBackward) s = {0.2, 0};
  if (op == BinaryOp::AddScaled) s = {2, 0};  // whole (int64), and exact in any precision
  auto a = values<T>(3 * 5 * 4 + 1, -2, 2, 1);  // one spare, for a view shifted by one
  auto b = values<T>(5 * 4, 0.25, 2, 2);
  if (op != BinaryOp::Div)
    for (std::size_t i = 0; i < b.size(); i += 3) b[i] = -b[i];
  if (!std::is_floating_point_v<T>)
    for (auto& v : b) v = static_cast<T>(static_cast<std::int64_t>(v) + 3);
  auto check = [&](const View& dst, const View& va, const View& vb, const std::string& what) {
    cpu().binary(op, dst, va, vb, s);
    std::vector<double> want;
    for_each_index(dst.shape, [&](const std::int64_t* idx) {
      want.push_back(binary_reference(op, get(va, idx), get(vb, idx), s));
    });
    expect_close(to_doubles(dst), want, rtol, 0, what + " op " + std::to_string(static_cast<int>(op)));
  };
  std::vector<T> out(60);
  // Same shape, contiguous.
  check(contiguous(out, {3, 5, 4}), contiguous(a, {3, 5, 4}), make_view(a.data() + 1, {3, 5, 4}, {20, 4, 1}),
        "contiguous");
  // b (5, 4) broadcast over the leading dim.
  check(contiguous(out, {3, 5, 4}), contiguous(a, {3, 5, 4}), make_view(b.data(), {3, 5, 4}, {0, 4, 1}), "broadcast");
  // a column (3, 1, 1) against b (1, 5, 4): both broadcast.
  check(contiguous(out, {3, 5, 4}), make_view(a.data(), {3, 5, 4}, {7, 0, 0}), make_view(b.data(), {3, 5, 4}, {0, 4, 1}),
        "both broadcast");
  // Scalar operands on either side.
  check(contiguous(out, {3, 5, 4}), contiguous(a, {3, 5, 4}), make_view(b.data() + 2, {3, 5, 4}, {0, 0, 0}),
        "scalar b");
  check(contiguous(out, {3, 5, 4}), make_view(b.data() + 2, {3, 5, 4}, {0, 0, 0}), contiguous(a, {3, 5, 4}),
        "scalar a");
  // Transposed a, strided destination.
  std::vector<T> wide(120, T(0));
  check(make_view(wide.data(), {4, 5}, {1, 8}), make_view(b.data(), {4, 5}, {1, 4}),
        make_view(a.data(), {4, 5}, {5, 1}), "transposed");
}

TEST(BackendBinary, AllOpsFloat32) {
  for (BinaryOp op : kBinaryOps) check_binary<float>(op, 1e-6);
}
TEST(BackendBinary, AllOpsFloat64) {
  // 1 - v^2 cancels near |v| = 1, where the kernel's fused multiply-add is the more exact.
  for (BinaryOp op : kBinaryOps) check_binary<double>(op, 1e-12);
}
TEST(BackendBinary, Int64Arithmetic) {
  for (BinaryOp op : {BinaryOp::Add, BinaryOp::Sub, BinaryOp::Mul, BinaryOp::AddScaled, BinaryOp::Maximum,
                      BinaryOp::Minimum})
    check_binary<std::int64_t>(op, 0);
}

TEST(BackendBinary, MaximumPropagatesNaN) {
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> a = {nan, 1, 2}, b = {1, nan, 3}, y(3);
  cpu().binary(BinaryOp::Maximum, contiguous(y, {3}), contiguous(a, {3}), contiguous(b, {3}), {});
  EXPECT_TRUE(std::isnan(y[0]));
  EXPECT_TRUE(std::isnan(y[1]));
  EXPECT_EQ(y[2], 3);
}

TEST(BackendBinary, LargeBroadcastParallelMatchesSerial) {
  const std::int64_t r = 1000, c = 513;
  auto a = values<float>(r * c), bias = values<float>(c);
  std::vector<float> one(r * c), two(r * c);
  View va = contiguous(a, {r, c}), vb = make_view(bias.data(), {r, c}, {0, 1});
  {
    ThreadCount t(1);
    cpu().binary(BinaryOp::Add, contiguous(one, {r, c}), va, vb, {});
  }
  {
    ThreadCount t(2);
    cpu().binary(BinaryOp::Add, contiguous(two, {r, c}), va, vb, {});
  }
  EXPECT_EQ(one, two);
  EXPECT_EQ(one[7 * c + 9], a[7 * c + 9] + bias[9]);
}

// ---------------------------------------------------------------- reductions

// Reference reduction of src over the dims where dst has extent 1.
std::vector<double> reduce_reference(ReduceOp op, const View& src, const Shape& out_shape) {
  Shape out_strides = contiguous_strides(out_shape);
  std::vector<double> acc(out_shape.numel(), op == ReduceOp::Max   ? -INFINITY
                                              : op == ReduceOp::Min ? INFINITY
                                                                    : 0.0);
  std::int64_t count = src.numel() / std::max<std::int64_t>(out_shape.numel(), 1);
  for_each_index(src.shape, [&](const std::int64_t* idx) {
    std::int64_t o = 0;
    for (int d = 0; d < src.shape.ndim; ++d) o += (out_shape[d] == 1 ? 0 : idx[d]) * out_strides[d];
    double v = get(src, idx);
    if (op == ReduceOp::Max) acc[o] = std::max(acc[o], v);
    else if (op == ReduceOp::Min) acc[o] = std::min(acc[o], v);
    else acc[o] += v;
  });
  if (op == ReduceOp::Mean)
    for (double& v : acc) v /= static_cast<double>(count);
  return acc;
}

template <class T>
void check_reduce(const View& src, const std::vector<int>& dims, double rtol, const std::string& what) {
  Shape out_shape = src.shape;
  for (int d : dims) out_shape[d] = 1;
  for (ReduceOp op : {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min}) {
    std::vector<T> out(out_shape.numel(), T(-99));
    cpu().reduce(op, contiguous(out, out_shape), src);
    expect_close(to_doubles(contiguous(out, out_shape)), reduce_reference(op, src, out_shape), rtol, 1e-5,
                 what + " op " + std::to_string(static_cast<int>(op)));
  }
}

template <class T>
void check_reduce_all_dims(double rtol) {
  auto buf = values<T>(2 * 3 * 4 * 5, -3, 3);
  View c = contiguous(buf, {2, 3, 4, 5});
  View perm = make_view(buf.data(), {5, 4, 3, 2}, {1, 5, 20, 60});  // fully transposed
  std::vector<std::vector<int>> dim_sets = {{0}, {1}, {2}, {3}, {0, 1}, {2, 3}, {0, 2}, {1, 3}, {0, 3}, {0, 1, 2, 3},
                                            {1, 2, 3}, {}};
  for (auto& dims : dim_sets) {
    std::string name;
    for (int d : dims) name += std::to_string(d);
    check_reduce<T>(c, dims, rtol, "contiguous dims " + name);
    check_reduce<T>(perm, dims, rtol, "permuted dims " + name);
  }
  // Broadcast input (stride 0) and a sliced one.
  check_reduce<T>(make_view(buf.data(), {3, 4, 5}, {0, 5, 1}), {0}, rtol, "broadcast dim 0");
  check_reduce<T>(make_view(buf.data() + 1, {6, 2}, {20, 3}), {1}, rtol, "sliced dim 1");
}

TEST(BackendReduce, SeveralDimsFloat32) { check_reduce_all_dims<float>(1e-5); }
TEST(BackendReduce, SeveralDimsFloat64) { check_reduce_all_dims<double>(1e-12); }

TEST(BackendReduce, RankZeroDestination) {
  auto buf = values<float>(30);
  std::vector<float> out(1);
  cpu().reduce(ReduceOp::Sum, make_view(out.data(), {}, {}), contiguous(buf, {5, 6}));
  double want = 0;
  for (float v : buf) want += v;
  EXPECT_NEAR(out[0], want, 1e-5);
}

TEST(BackendReduce, LargeRowsColumnsAndFull) {
  for (int threads : {1, 2}) {
    ThreadCount t(threads);
    const std::int64_t r = 1500, c = 700;
    auto buf = values<float>(r * c, -1, 1);
    View src = contiguous(buf, {r, c});
    check_reduce<float>(src, {0}, 1e-4, "columns " + std::to_string(threads));
    check_reduce<float>(src, {1}, 1e-4, "rows " + std::to_string(threads));
    check_reduce<float>(src, {0, 1}, 1e-4, "all " + std::to_string(threads));
    check_reduce<float>(make_view(buf.data(), {c, r}, {1, c}), {1}, 1e-4, "transposed rows " + std::to_string(threads));
  }
}

TEST(BackendReduce, FloatSumIsAccurate) {
  // 2^24 + many ones: a naive float accumulator stalls at 2^24.
  const std::int64_t n = 1 << 22;
  std::vector<float> buf(n, 1.0f);
  buf[0] = 16777216.0f;
  std::vector<float> out(1);
  cpu().reduce(ReduceOp::Sum, contiguous(out, {1}), contiguous(buf, {n}));
  // A naive float loop returns 2^24 (off by 4 million); blocked lanes lose at most the
  // ones added to the 2^24 lane within one short block.
  EXPECT_NEAR(out[0], 16777216.0 + (n - 1), 64.0);
}

TEST(BackendReduce, NaNPropagatesThroughMaxMin) {
  std::vector<float> buf = {1, 2, std::numeric_limits<float>::quiet_NaN(), 0, 5};
  std::vector<float> out(1);
  cpu().reduce(ReduceOp::Max, contiguous(out, {1}), contiguous(buf, {5}));
  EXPECT_TRUE(std::isnan(out[0]));
  cpu().reduce(ReduceOp::Min, contiguous(out, {1}), contiguous(buf, {5}));
  EXPECT_TRUE(std::isnan(out[0]));
}

TEST(BackendArgReduce, TiesTakeFirstIndex) {
  // (3, 4) with ties along both dims.
  std::vector<float> buf = {1, 5, 5, 0,
                            5, 2, 5, 0,
                            5, 5, 1, 0};
  View src = contiguous(buf, {3, 4});
  std::vector<float> vals(3);
  std::vector<std::int64_t> idx(3);
  cpu().arg_reduce(true, contiguous(vals, {3, 1}), contiguous(idx, {3, 1}), src, 1);
  EXPECT_EQ(idx, (std::vector<std::int64_t>{1, 0, 0}));
  EXPECT_EQ(vals, (std::vector<float>{5, 5, 5}));
  cpu().arg_reduce(false, contiguous(vals, {3, 1}), contiguous(idx, {3, 1}), src, 1);
  EXPECT_EQ(idx, (std::vector<std::int64_t>{3, 3, 3}));
  std::vector<float> v4(4);
  std::vector<std::int64_t> i4(4);
  cpu().arg_reduce(true, contiguous(v4, {1, 4}), contiguous(i4, {1, 4}), src, 0);
  EXPECT_EQ(i4, (std::vector<std::int64_t>{1, 0, 0, 0}));
  EXPECT_EQ(v4, (std::vector<float>{5, 5, 5, 0}));
  cpu().arg_reduce(false, contiguous(v4, {1, 4}), contiguous(i4, {1, 4}), src, 0);
  EXPECT_EQ(i4, (std::vector<std::int64_t>{0, 1, 2, 0}));
  // Null values or indices.
  cpu().arg_reduce(true, make_view<float>(nullptr, {3, 1}, {1, 1}), contiguous(idx, {3, 1}), src, 1);
  EXPECT_EQ(idx, (std::vector<std::int64_t>{1, 0, 0}));
  std::fill(vals.begin(), vals.end(), 0.0f);
  cpu().arg_reduce(true, contiguous(vals, {3, 1}), make_view<std::int64_t>(nullptr, {3, 1}, {1, 1}), src, 1);
  EXPECT_EQ(vals, (std::vector<float>{5, 5, 5}));
}

TEST(BackendArgReduce, MatchesReferenceOnTransposedDoubles) {
  auto buf = values<double>(4 * 6 * 5);
  View src = make_view(buf.data(), {5, 6, 4}, {1, 5, 30});
  for (int dim = 0; dim < 3; ++dim) {
    Shape out_shape = src.shape;
    out_shape[dim] = 1;
    std::vector<double> vals(out_shape.numel());
    std::vector<std::int64_t> idx(out_shape.numel());
    cpu().arg_reduce(false, contiguous(vals, out_shape), contiguous(idx, out_shape), src, dim);
    std::int64_t o = 0;
    for_each_index(out_shape, [&](const std::int64_t* pos) {
      std::int64_t p[kMaxDims];
      std::copy(pos, pos + 3, p);
      double best = INFINITY;
      std::int64_t best_k = -1;
      for (std::int64_t k = 0; k < src.shape[dim]; ++k) {
        p[dim] = k;
        if (get(src, p) < best) best = get(src, p), best_k = k;
      }
      EXPECT_EQ(idx[o], best_k);
      EXPECT_EQ(vals[o], best);
      ++o;
    });
  }
}

TEST(BackendArgReduce, NaNWins) {
  std::vector<float> buf = {1, std::numeric_limits<float>::quiet_NaN(), 7, std::numeric_limits<float>::quiet_NaN()};
  std::vector<float> v(1);
  std::vector<std::int64_t> i(1);
  cpu().arg_reduce(true, contiguous(v, {1}), contiguous(i, {1}), contiguous(buf, {4}), 0);
  EXPECT_EQ(i[0], 1);
  EXPECT_TRUE(std::isnan(v[0]));
  // Along dim 0 of (2, 2), the rows-side-by-side path: column 1 holds NaN, 7.
  std::vector<float> v2(2);
  std::vector<std::int64_t> i2(2);
  cpu().arg_reduce(false, contiguous(v2, {1, 2}), contiguous(i2, {1, 2}), contiguous(buf, {2, 2}), 0);
  EXPECT_EQ(i2, (std::vector<std::int64_t>{0, 0}));
  EXPECT_EQ(v2[0], 1);
  EXPECT_TRUE(std::isnan(v2[1]));
}

TEST(BackendIntMinMax, StridedInt64) {
  std::vector<std::int64_t> buf = {5, -100, 3, 100, -7, 1000, 2, 0};
  std::vector<std::int64_t> min_max(2);
  cpu().int_min_max(contiguous(min_max, {2}), make_view(buf.data(), {4}, {2}));
  EXPECT_EQ(min_max, (std::vector<std::int64_t>{-7, 5}));
  cpu().int_min_max(contiguous(min_max, {2}), contiguous(buf, {2, 4}));
  EXPECT_EQ(min_max, (std::vector<std::int64_t>{-100, 1000}));
}

// ---------------------------------------------------------------- softmax

std::vector<double> softmax_reference(const View& x, int dim, bool log) {
  std::vector<double> out(x.numel());
  Shape strides = contiguous_strides(x.shape);
  Shape rows = x.shape;
  rows[dim] = 1;
  for_each_index(rows, [&](const std::int64_t* pos) {
    std::int64_t p[kMaxDims];
    std::copy(pos, pos + x.shape.ndim, p);
    double m = -INFINITY, s = 0;
    for (std::int64_t k = 0; k < x.shape[dim]; ++k) p[dim] = k, m = std::max(m, get(x, p));
    for (std::int64_t k = 0; k < x.shape[dim]; ++k) p[dim] = k, s += std::exp(get(x, p) - m);
    for (std::int64_t k = 0; k < x.shape[dim]; ++k) {
      p[dim] = k;
      std::int64_t o = 0;
      for (int d = 0; d < x.shape.ndim; ++d) o += p[d] * strides[d];
      out[o] = log ? get(x, p) - m - std::log(s) : std::exp(get(x, p) - m) / s;
    }
  });
  return out;
}

std::vector<double> softmax_backward_reference(const View& dy, const View& y, int dim, bool log) {
  std::vector<double> out(y.numel());
  Shape strides = contiguous_strides(y.shape);
  Shape rows = y.shape;
  rows[dim] = 1;
  for_each_index(rows, [&](const std::int64_t* pos) {
    std::int64_t p[kMaxDims];
    std::copy(pos, pos + y.shape.ndim, p);
    double s = 0;
    for (std::int64_t k = 0; k < y.shape[dim]; ++k) p[dim] = k, s += log ? get(dy, p) : get(dy, p) * get(y, p);
    for (std::int64_t k = 0; k < y.shape[dim]; ++k) {
      p[dim] = k;
      std::int64_t o = 0;
      for (int d = 0; d < y.shape.ndim; ++d) o += p[d] * strides[d];
      out[o] = log ? get(dy, p) - std::exp(get(y, p)) * s : get(y, p) * (get(dy, p) - s);
    }
  });
  return out;
}

template <class T>
void check_softmax(double rtol) {
  auto x = values<T>(4 * 37 * 3, -8, 8);
  auto dy = values<T>(4 * 37 * 3, -1, 1, 7);
  std::vector<View> inputs = {contiguous(x, {4, 37, 3}), make_view(x.data(), {3, 37, 4}, {1, 3, 111})};
  for (const View& xv : inputs) {
    for (int dim = 0; dim < 3; ++dim) {
      for (bool log : {false, true}) {
        std::string what = std::string(log ? "log_softmax" : "softmax") + " dim " + std::to_string(dim);
        std::vector<T> y(xv.numel()), dx(xv.numel());
        View yv = contiguous(y, xv.shape);
        cpu().softmax(yv, xv, dim, log);
        expect_close(to_doubles(yv), softmax_reference(xv, dim, log), rtol, rtol, what);
        View dyv = make_view(dy.data(), xv.shape, xv.strides);  // dy laid out like x
        cpu().softmax_backward(contiguous(dx, xv.shape), dyv, yv, dim, log);
        expect_close(to_doubles(contiguous(dx, xv.shape)), softmax_backward_reference(dyv, yv, dim, log), rtol * 10,
                     rtol * 10, what + " backward");
      }
    }
  }
}

TEST(BackendSoftmax, ForwardBackwardFloat32) { check_softmax<float>(2e-6); }
TEST(BackendSoftmax, ForwardBackwardFloat64) { check_softmax<double>(1e-13); }

TEST(BackendSoftmax, LargeRowsAndExtremeValues) {
  const std::int64_t rows = 64, cols = 5000;
  auto x = values<float>(rows * cols, -30, 30);
  x[3] = -std::numeric_limits<float>::infinity();
  x[5] = 80;  // would overflow exp without the max shift
  std::vector<float> y(rows * cols);
  cpu().softmax(contiguous(y, {rows, cols}), contiguous(x, {rows, cols}), 1, false);
  expect_close(to_doubles(contiguous(y, {rows, cols})), softmax_reference(contiguous(x, {rows, cols}), 1, false), 2e-6,
               1e-12, "large softmax");  // x - max rounds in float: tiny values carry its error
  EXPECT_EQ(y[3], 0.0f);
  cpu().softmax(contiguous(y, {rows, cols}), contiguous(x, {rows, cols}), 1, true);
  expect_close(to_doubles(contiguous(y, {rows, cols})), softmax_reference(contiguous(x, {rows, cols}), 1, true), 1e-6,
               1e-5, "large log_softmax");
}

// ---------------------------------------------------------------- indexing

TEST(BackendIndex, IndexSelectAllDims) {
  auto src = values<float>(4 * 5 * 6);
  View s = contiguous(src, {4, 5, 6});
  std::vector<std::int64_t> index = {3, 0, 3, 1};
  for (int dim = 0; dim < 3; ++dim) {
    Shape out_shape = s.shape;
    out_shape[dim] = 4;
    std::vector<float> out(out_shape.numel());
    cpu().index_select(contiguous(out, out_shape), s, dim, contiguous(index, {4}));
    std::int64_t o = 0;
    for_each_index(out_shape, [&](const std::int64_t* pos) {
      std::int64_t p[3] = {pos[0], pos[1], pos[2]};
      p[dim] = index[pos[dim]];
      EXPECT_EQ(out[o++], get(s, p)) << "dim " << dim;
    });
  }
  // Embedding-like: many rows of a transposed int64 table, with a strided index.
  std::vector<std::int64_t> table(10 * 3);
  std::iota(table.begin(), table.end(), 100);
  std::vector<std::int64_t> idx = {9, -1, 0, -1, 4, -1};
  std::vector<std::int64_t> rows(3 * 3);
  View tt = make_view(table.data(), {10, 3}, {1, 10});
  cpu().index_select(contiguous(rows, {3, 3}), tt, 0, make_view(idx.data(), {3}, {2}));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) EXPECT_EQ(rows[i * 3 + j], table[j * 10 + idx[2 * i]]);
}

TEST(BackendIndex, IndexSelectLargeParallel) {
  const std::int64_t vocab = 1000, dimension = 64, count = 4000;
  auto table = values<double>(vocab * dimension);
  std::vector<std::int64_t> index(count);
  for (std::int64_t i = 0; i < count; ++i) index[i] = (i * 7919) % vocab;
  std::vector<double> out(count * dimension);
  ThreadCount t(2);
  cpu().index_select(contiguous(out, {count, dimension}), contiguous(table, {vocab, dimension}), 0,
                     contiguous(index, {count}));
  for (std::int64_t i = 0; i < count; i += 97)
    for (std::int64_t j = 0; j < dimension; ++j) EXPECT_EQ(out[i * dimension + j], table[index[i] * dimension + j]);
}

TEST(BackendIndex, IndexAddWithRepeats) {
  for (int threads : {1, 2}) {
    ThreadCount t(threads);
    for (int dim = 0; dim < 2; ++dim) {
      const std::int64_t n = 300;  // slices along dim in src
      Shape dst_shape = dim == 0 ? Shape{7, 129} : Shape{129, 7};
      Shape src_shape = dim == 0 ? Shape{n, 129} : Shape{129, n};
      std::vector<double> dst(7 * 129, 1.0);
      auto src = values<double>(n * 129);
      std::vector<std::int64_t> index(n);
      for (std::int64_t i = 0; i < n; ++i) index[i] = (i * 3) % 7;
      std::vector<double> want = dst;
      View sv = contiguous(src, src_shape);
      Shape dst_strides = contiguous_strides(dst_shape);
      for_each_index(src_shape, [&](const std::int64_t* p) {
        std::int64_t q[2] = {p[0], p[1]};
        q[dim] = index[p[dim]];
        want[q[0] * dst_strides[0] + q[1] * dst_strides[1]] += get(sv, p);
      });
      cpu().index_add(contiguous(dst, dst_shape), dim, contiguous(index, {n}), sv);
      expect_close(std::vector<double>(dst.begin(), dst.end()), want, 1e-12, 1e-12, "index_add dim " + std::to_string(dim));
    }
  }
}

TEST(BackendIndex, GatherAndScatterAdd) {
  auto src = values<float>(4 * 5);
  View s = contiguous(src, {4, 5});
  // gather along dim 1 with an index of shape (3, 2) (smaller than src off dim).
  std::vector<std::int64_t> index = {4, 0, 2, 2, 1, 3};
  std::vector<float> out(6);
  cpu().gather(contiguous(out, {3, 2}), s, 1, contiguous(index, {3, 2}));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 2; ++j) EXPECT_EQ(out[i * 2 + j], src[i * 5 + index[i * 2 + j]]);
  // gather along dim 0 through a transposed source.
  View st = make_view(src.data(), {5, 4}, {1, 5});
  std::vector<std::int64_t> index0 = {4, 0, 2, 1, 3, 3, 0, 1};
  std::vector<float> out0(8);
  cpu().gather(contiguous(out0, {2, 4}), st, 0, contiguous(index0, {2, 4}));
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_EQ(out0[i * 4 + j], src[j * 5 + index0[i * 4 + j]]);

  // scatter_add along dim 1 with repeated indices; then along dim 0.
  for (int dim = 0; dim < 2; ++dim) {
    std::vector<double> dst(4 * 5, 0.5);
    auto add = values<double>(3 * 4, -1, 1, 3);
    std::vector<std::int64_t> idx = {0, 1, 1, 3, 2, 2, 2, 0, 3, 3, 1, 0};
    Shape ishape = {3, 4};
    std::vector<double> want = dst;
    for (int i = 0; i < 3; ++i)
      for (int j = 0; j < 4; ++j) {
        std::int64_t r = dim == 0 ? idx[i * 4 + j] : i, c = dim == 0 ? j : idx[i * 4 + j];
        want[r * 5 + c] += add[i * 4 + j];
      }
    cpu().scatter_add(contiguous(dst, {4, 5}), dim, contiguous(idx, ishape), contiguous(add, ishape));
    expect_close(std::vector<double>(dst.begin(), dst.end()), want, 1e-14, 1e-14, "scatter_add dim " + std::to_string(dim));
  }
}

TEST(BackendIndex, ScatterAddLargeParallelMatchesSerial) {
  const std::int64_t rows = 2000, cols = 50, out_cols = 10;
  auto add = values<float>(rows * cols);
  std::vector<std::int64_t> idx(rows * cols);
  for (std::int64_t i = 0; i < rows * cols; ++i) idx[i] = (i * 13) % out_cols;
  std::vector<float> one(rows * out_cols, 0), two(rows * out_cols, 0);
  {
    ThreadCount t(1);
    cpu().scatter_add(contiguous(one, {rows, out_cols}), 1, contiguous(idx, {rows, cols}), contiguous(add, {rows, cols}));
  }
  {
    ThreadCount t(2);
    cpu().scatter_add(contiguous(two, {rows, out_cols}), 1, contiguous(idx, {rows, cols}), contiguous(add, {rows, cols}));
  }
  EXPECT_EQ(one, two);
}

// ---------------------------------------------------------------- nll loss

template <class T>
void check_nll() {
  const std::int64_t n = 6, c = 5, ignore = -100;
  auto logp = values<T>(n * c, -5, 0);
  std::vector<std::int64_t> target = {2, ignore, 0, 4, ignore, 1};
  std::vector<T> loss(n, T(9));
  cpu().nll_loss(contiguous(loss, {n}), contiguous(logp, {n, c}), contiguous(target, {n}), ignore);
  for (std::int64_t i = 0; i < n; ++i)
    EXPECT_EQ(loss[i], target[i] == ignore ? T(0) : -logp[i * c + target[i]]) << i;
  // Transposed logp.
  View lt = make_view(logp.data(), {n, c}, {1, n});
  cpu().nll_loss(contiguous(loss, {n}), lt, contiguous(target, {n}), ignore);
  for (std::int64_t i = 0; i < n; ++i)
    EXPECT_EQ(loss[i], target[i] == ignore ? T(0) : -logp[target[i] * n + i]) << i;

  // Backward with a per-row gradient and with a shared (stride-0) scale.
  auto grad = values<T>(n, 0.5, 1.5, 4);
  std::vector<T> dlogp(n * c, T(7));
  cpu().nll_loss_backward(contiguous(dlogp, {n, c}), contiguous(grad, {n}), contiguous(target, {n}), ignore);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < c; ++j)
      EXPECT_EQ(dlogp[i * c + j], (target[i] != ignore && target[i] == j) ? -grad[i] : T(0));
  cpu().nll_loss_backward(contiguous(dlogp, {n, c}), make_view(grad.data(), {n}, {0}), contiguous(target, {n}), ignore);
  for (std::int64_t i = 0; i < n; ++i)
    for (std::int64_t j = 0; j < c; ++j)
      EXPECT_EQ(dlogp[i * c + j], (target[i] != ignore && target[i] == j) ? -grad[0] : T(0));
  // A custom ignore_index that is also a valid class.
  std::vector<std::int64_t> target0 = {2, 0, 0, 4, 0, 1};
  cpu().nll_loss(contiguous(loss, {n}), contiguous(logp, {n, c}), contiguous(target0, {n}), 0);
  EXPECT_EQ(loss[2], T(0));
  EXPECT_EQ(loss[0], -logp[2]);
  EXPECT_EQ(loss[5], -logp[5 * c + 1]);
}

TEST(BackendNllLoss, ForwardBackwardWithIgnoreIndex) {
  check_nll<float>();
  check_nll<double>();
}

// ---------------------------------------------------------------- gemm

template <class T>
void check_gemm(bool ta, bool tb, std::int64_t batch, double rtol) {
  const std::int64_t m = 7, n = 9, k = 5;
  // Leading dimensions larger than the rows, as for sub-matrices of a wider buffer.
  const std::int64_t a_rows = ta ? k : m, a_cols = ta ? m : k, lda = a_cols + 3;
  const std::int64_t b_rows = tb ? n : k, b_cols = tb ? k : n, ldb = b_cols + 2;
  const std::int64_t ldc = n + 1;
  const std::int64_t sa = a_rows * lda + 4, sb = b_rows * ldb, sc = m * ldc + 1;
  auto a = values<T>(batch * sa, -1, 1, 11);
  auto b = values<T>(batch * sb, -1, 1, 12);
  auto c = values<T>(batch * sc, -1, 1, 13);
  const double alpha = 1.5, beta = -0.5;
  std::vector<double> want(c.begin(), c.end());
  for (std::int64_t p = 0; p < batch; ++p)
    for (std::int64_t i = 0; i < m; ++i)
      for (std::int64_t j = 0; j < n; ++j) {
        double s = 0;
        for (std::int64_t q = 0; q < k; ++q) {
          double av = ta ? a[p * sa + q * lda + i] : a[p * sa + i * lda + q];
          double bv = tb ? b[p * sb + j * ldb + q] : b[p * sb + q * ldb + j];
          s += av * bv;
        }
        want[p * sc + i * ldc + j] = alpha * s + beta * c[p * sc + i * ldc + j];
      }
  cpu().gemm(ta, tb, m, n, k, alpha, a.data(), lda, b.data(), ldb, beta, c.data(), ldc, dtype_of<T>(), batch, sa, sb,
             sc);
  expect_close(std::vector<double>(c.begin(), c.end()), want, rtol, rtol,
               std::string("gemm ta=") + (ta ? "1" : "0") + " tb=" + (tb ? "1" : "0") + " batch=" + std::to_string(batch));
}

TEST(BackendGemm, AllTransposesAndBatches) {
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (std::int64_t batch : {1, 3, 8}) {
        check_gemm<float>(ta, tb, batch, 1e-5);
        check_gemm<double>(ta, tb, batch, 1e-13);
      }
}

TEST(BackendGemm, BetaZeroIgnoresGarbageAndEmptyInnerDim) {
  std::vector<float> a = {1, 2, 3, 4}, b = {5, 6, 7, 8};
  std::vector<float> c(4, std::numeric_limits<float>::quiet_NaN());
  cpu().gemm(false, false, 2, 2, 2, 1, a.data(), 2, b.data(), 2, 0, c.data(), 2, DType::Float32);
  EXPECT_EQ(c, (std::vector<float>{19, 22, 43, 50}));
  // k == 0: C = beta * C.
  cpu().gemm(false, false, 2, 2, 0, 1, a.data(), 0, b.data(), 2, 0.5, c.data(), 2, DType::Float32);
  EXPECT_EQ(c, (std::vector<float>{9.5f, 11, 21.5f, 25}));
  // A single row with a leading dimension derived from a size-1 dim.
  std::vector<float> row(2);
  cpu().gemm(false, false, 1, 2, 2, 1, a.data(), 1, b.data(), 2, 0, row.data(), 1, DType::Float32);
  EXPECT_EQ(row, (std::vector<float>{19, 22}));
}

TEST(BackendGemm, LargeMatchesReference) {
  const std::int64_t m = 130, n = 150, k = 170;
  auto a = values<float>(m * k), b = values<float>(k * n);
  std::vector<float> c(m * n);
  cpu().gemm(false, true, m, n, k, 1, a.data(), k, b.data(), k, 0, c.data(), n, DType::Float32);
  for (std::int64_t i = 0; i < m; i += 13)
    for (std::int64_t j = 0; j < n; j += 7) {
      double s = 0;
      for (std::int64_t q = 0; q < k; ++q) s += static_cast<double>(a[i * k + q]) * b[j * k + q];
      EXPECT_NEAR(c[i * n + j], s, 1e-4);
    }
}

// ---------------------------------------------------------------- random fills

TEST(BackendRandom, SameNumbersForAnyThreadCount) {
  const std::int64_t n = (1 << 18) + 3;  // odd, and large enough to go parallel
  for (DType dtype : {DType::Float32, DType::Float64}) {
    for (int kind = 0; kind < 3; ++kind) {
      std::vector<double> results[2];
      for (int threads : {1, 2}) {
        ThreadCount t(threads);
        Tensor x = empty({n}, dtype);
        if (kind == 0) cpu().fill_uniform(view_of(x), -1, 3, 1234, 77);
        if (kind == 1) cpu().fill_normal(view_of(x), 0.5, 2, 1234, 77);
        if (kind == 2) cpu().fill_bernoulli(view_of(x), 0.3, 1234, 77);
        results[threads - 1] = x.to_vector<double>();
      }
      EXPECT_EQ(results[0], results[1]) << "kind " << kind << " " << dtype;
    }
  }
}

TEST(BackendRandom, ElementPairsComeFromPhiloxBlocks) {
  const std::uint64_t key = 99, first = 1000;
  Tensor f = empty({7}, DType::Float32);
  cpu().fill_uniform(view_of(f), 0, 1, key, first);
  auto fv = f.to_vector<float>();
  for (int j = 0; j < 4; ++j) {
    auto w = philox4x32(key, first + j);
    EXPECT_EQ(fv[2 * j], uniform_float(w[0]));
    if (2 * j + 1 < 7) {
      EXPECT_EQ(fv[2 * j + 1], uniform_float(w[1]));
    }
  }
  Tensor d = empty({4}, DType::Float64);
  cpu().fill_uniform(view_of(d), 0, 1, key, first);
  auto dv = d.to_vector<double>();
  for (int j = 0; j < 2; ++j) {
    auto w = philox4x32(key, first + j);
    EXPECT_EQ(dv[2 * j], uniform_double(w[0], w[1]));
    EXPECT_EQ(dv[2 * j + 1], uniform_double(w[2], w[3]));
  }
  // float32 normals: Box-Muller on u0 from words (0,1) and u1 = uniform_float(word 2).
  const std::int64_t n = 4000;
  Tensor g = empty({n}, DType::Float32);
  cpu().fill_normal(view_of(g), 1, 3, key, first);
  auto gv = g.to_vector<double>();
  for (std::int64_t j = 0; j < n / 2; ++j) {
    auto w = philox4x32(key, first + j);
    double r = std::sqrt(-2 * std::log(1 - uniform_double(w[0], w[1])));
    double theta = 2 * std::numbers::pi * uniform_float(w[2]);
    ASSERT_NEAR(gv[2 * j], 1 + 3 * r * std::cos(theta), 1e-5 * (1 + 3 * r)) << j;
    ASSERT_NEAR(gv[2 * j + 1], 1 + 3 * r * std::sin(theta), 1e-5 * (1 + 3 * r)) << j;
  }
  // A fill starting at block b continues a fill that started earlier.
  Tensor whole = empty({20}, DType::Float64), tail = empty({10}, DType::Float64);
  cpu().fill_normal(view_of(whole), 0, 1, key, first);
  cpu().fill_normal(view_of(tail), 0, 1, key, first + 5);
  auto wv = whole.to_vector<double>(), tv = tail.to_vector<double>();
  EXPECT_EQ(std::vector<double>(wv.begin() + 10, wv.end()), tv);
}

void moments(const std::vector<double>& v, double& mean, double& var) {
  mean = std::accumulate(v.begin(), v.end(), 0.0) / v.size();
  var = 0;
  for (double x : v) var += (x - mean) * (x - mean);
  var /= v.size() - 1;
}

TEST(BackendRandom, DistributionsHaveTheRightMoments) {
  const std::int64_t n = 200000;
  for (DType dtype : {DType::Float32, DType::Float64}) {
    Tensor x = empty({n}, dtype);
    double mean, var;
    cpu().fill_uniform(view_of(x), -1, 3, 5, 0);
    auto u = x.to_vector<double>();
    moments(u, mean, var);
    EXPECT_NEAR(mean, 1.0, 0.02);
    EXPECT_NEAR(var, 16.0 / 12.0, 0.02);
    EXPECT_GE(*std::min_element(u.begin(), u.end()), -1.0);
    EXPECT_LT(*std::max_element(u.begin(), u.end()), 3.0);

    cpu().fill_normal(view_of(x), 0.5, 2, 6, 0);
    auto g = x.to_vector<double>();
    moments(g, mean, var);
    EXPECT_NEAR(mean, 0.5, 0.03);
    EXPECT_NEAR(var, 4.0, 0.06);
    std::int64_t within = std::count_if(g.begin(), g.end(), [](double v) { return std::fabs(v - 0.5) < 2; });
    EXPECT_NEAR(static_cast<double>(within) / n, 0.6827, 0.005);  // one sigma

    cpu().fill_bernoulli(view_of(x), 0.3, 7, 0);
    auto b = x.to_vector<double>();
    for (double v : b) ASSERT_TRUE(v == 0 || v == 1);
    EXPECT_NEAR(std::accumulate(b.begin(), b.end(), 0.0) / n, 0.3, 0.005);
  }
}

}  // namespace
}  // namespace recur::backend
