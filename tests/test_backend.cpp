// Every Backend method, on every backend this build has, against a reference: one table of
// cases (ggml's test-backend-ops idea), one column per backend.
//
// Each TEST_P is a family of cases: host inputs, a run on a backend (buffers from its
// allocator, odd shapes, transposed / strided / broadcast / empty views), and a naive
// reference in double. The CPU backend is checked against the naive loops; any other
// backend against the CPU backend (see harness::Ops::check). A test reads
// Backend/Ops.<Family>/<backend>; adding a backend is adding an entry to
// harness::backends_under_test(), not a test. CPU-only properties (thread-count
// independence of the OpenMP paths) and the View helpers come last, as plain TESTs.
#include <gtest/gtest-spi.h>
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

#include "backend_harness.hpp"
#include "backend/backend.hpp"
#include "recur/core/error.hpp"
#include "recur/core/random.hpp"
#include "recur/core/tensor.hpp"
#include "recur/core/threading.hpp"

namespace recur::backend {
namespace {

using namespace harness;

const DType kFloatTypes[] = {DType::Float32, DType::Float64};
const double kNaN = std::numeric_limits<double>::quiet_NaN();
const double kInf = std::numeric_limits<double>::infinity();

std::string str(DType t) { return dtype_name(t); }
std::string str(const Shape& s) { return s.str(); }

// The usual tolerance of a float32 or float64 result.
Tol tol_for(DType dtype, Tol f32 = {1e-6, 1e-7}, Tol f64 = {1e-13, 1e-14}) {
  return dtype == DType::Float32 ? f32 : f64;
}
const Tol kExact = {0, 0};

// ---------------------------------------------------------------- copy and fill

// dst = src with dtype conversion: float -> int64 truncates, int64 -> float rounds.
TEST_P(Ops, Copy) {
  const DType all[] = {DType::Float32, DType::Float64, DType::Int64};
  struct Placement {
    const char* name;
    Shape shape;
    std::function<Arg(Backend&, DType, const std::vector<double>&)> src;
    Layout dst;
  };
  const Shape s = {3, 5, 7};
  const std::vector<Placement> placements = {
      {"contiguous", s, [&](Backend& b, DType t, const std::vector<double>& v) { return make_arg(b, t, s, v); },
       Layout::Contiguous},
      {"reversed src", s,
       [&](Backend& b, DType t, const std::vector<double>& v) { return make_arg(b, t, s, v, Layout::Reversed); },
       Layout::Contiguous},
      {"strided both", s,
       [&](Backend& b, DType t, const std::vector<double>& v) { return make_arg(b, t, s, v, Layout::Strided); },
       Layout::Strided},
      {"reversed to strided", s,
       [&](Backend& b, DType t, const std::vector<double>& v) { return make_arg(b, t, s, v, Layout::Reversed); },
       Layout::Strided},
      {"row broadcast", s,
       [&](Backend& b, DType t, const std::vector<double>& v) {
         return make_broadcast(b, t, {7}, std::vector<double>(v.begin(), v.begin() + 7), s);
       },
       Layout::Contiguous},
      {"scalar broadcast", s,
       [&](Backend& b, DType t, const std::vector<double>& v) {
         return make_broadcast(b, t, {1}, {v[3]}, s);
       },
       Layout::Strided},
      // (6, 37, 45) seen as (45, 6, 37): a transposing copy with an outer dim.
      {"permuted 3-d", {45, 6, 37},
       [&](Backend& b, DType t, const std::vector<double>& v) {
         return make_strided(b, t, {45, 6, 37}, {1, 37 * 45, 45}, 0, v);
       },
       Layout::Contiguous},
      {"empty", {0, 3}, [&](Backend& b, DType t, const std::vector<double>& v) { return make_arg(b, t, {0, 3}, v); },
       Layout::Contiguous},
      {"rank 0", {}, [&](Backend& b, DType t, const std::vector<double>& v) { return make_arg(b, t, {}, v); },
       Layout::Contiguous},
  };
  for (const Placement& p : placements)
    for (DType from : all)
      for (DType to : all) {
        const std::vector<double> x = random_values(p.shape.numel(), from, -300, 300, 5);
        auto run = [&](Backend& b) {
          Arg src = p.src(b, from, x);
          Arg dst = make_out(b, to, p.shape, p.dst);
          b.copy(dst.view, src.view);
          return Outputs{{"dst", read(dst)}};
        };
        auto naive = [&] {
          Arg src = p.src(cpu_reference(), from, x);  // the values the view reads
          std::vector<double> want = src.values;
          for (double& v : want) v = round_to(to, v);
          return Outputs{{"dst", want}};
        };
        check(std::string("copy ") + p.name + " " + str(from) + " -> " + str(to), run, naive, kExact);
      }
  // Values a float32 cannot hold exactly, and large int64 values, convert as static_cast does.
  const std::vector<double> wide = {0.1, -2.7, 1e10 + 0.5, 16777217, -0.0, 3.999999999};
  for (DType to : all) {
    auto run = [&](Backend& b) {
      Arg src = make_arg(b, DType::Float64, {6}, wide);
      Arg dst = make_out(b, to, {6});
      b.copy(dst.view, src.view);
      return Outputs{{"dst", read(dst)}};
    };
    auto naive = [&] {
      std::vector<double> want = wide;
      for (double& v : want) v = round_to(to, v);
      return Outputs{{"dst", want}};
    };
    check("copy float64 rounding -> " + str(to), run, naive, kExact);
  }
}

TEST_P(Ops, Fill) {
  for (DType t : {DType::Float32, DType::Float64, DType::Int64})
    for (Layout layout : {Layout::Contiguous, Layout::Strided})
      for (const Shape& shape : {Shape{4, 3}, Shape{5}, Shape{2, 0}, Shape{}}) {
        const double value = t == DType::Int64 ? 42 : -1.25;
        auto run = [&](Backend& b) {
          Arg dst = make_out(b, t, shape, layout);
          b.fill(dst.view, value);
          return Outputs{{"dst", read(dst)}};
        };
        auto naive = [&] { return Outputs{{"dst", std::vector<double>(shape.numel(), value)}}; };
        check("fill " + str(t) + " " + layout_name(layout) + " " + str(shape), run, naive, kExact);
      }
  // A float32 fill rounds the value.
  auto run = [&](Backend& b) {
    Arg dst = make_out(b, DType::Float32, {3});
    b.fill(dst.view, 0.1);
    return Outputs{{"dst", read(dst)}};
  };
  check("fill rounds", run, [] { return Outputs{{"dst", std::vector<double>(3, static_cast<float>(0.1))}}; }, kExact);
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

// Each op on a contiguous, a transposed, a strided and a broadcast source (a row repeated
// into a strided destination), and an empty one; odd extents throughout.
TEST_P(Ops, Unary) {
  const Shape shape = {7, 13};
  for (DType t : kFloatTypes)
    for (const UnaryCase& c : kUnaryCases) {
      std::vector<double> x = random_values(shape.numel(), t, c.lo, c.hi, 3);
      if (c.lo < 0 && c.hi > 0) x[0] = 0;
      const std::vector<double> row(x.begin(), x.begin() + 13);
      struct Placement {
        const char* name;
        Shape shape;
        std::function<Arg(Backend&)> src;
        Layout dst;
      };
      const std::vector<Placement> placements = {
          {"contiguous", shape, [&](Backend& b) { return make_arg(b, t, shape, x); }, Layout::Contiguous},
          {"transposed", shape, [&](Backend& b) { return make_arg(b, t, shape, x, Layout::Reversed); },
           Layout::Contiguous},
          {"strided", shape, [&](Backend& b) { return make_arg(b, t, shape, x, Layout::Strided); }, Layout::Strided},
          {"broadcast", shape, [&](Backend& b) { return make_broadcast(b, t, {13}, row, shape); }, Layout::Strided},
          {"empty", {0, 13}, [&](Backend& b) { return make_arg(b, t, {0, 13}, {}); }, Layout::Contiguous},
      };
      for (const Placement& p : placements) {
        auto run = [&](Backend& b) {
          Arg src = p.src(b);
          Arg dst = make_out(b, t, p.shape, p.dst);
          b.unary(c.op, dst.view, src.view, c.s);
          return Outputs{{"dst", read(dst)}};
        };
        auto naive = [&] {
          std::vector<double> want = p.src(cpu_reference()).values;
          for (double& v : want) v = unary_reference(c.op, v, c.s);
          return Outputs{{"dst", want}};
        };
        check(std::string(c.name) + " " + p.name + " " + str(t), run, naive, tol_for(t, {1e-6, 1e-30}, {1e-14, 1e-300}));
      }
    }
}

// The float32 exp / log / tanh / sigmoid over their whole range, against double-precision
// references: relative error within 1e-6 (a few float ulps); overflow, underflow and
// denormal results within a denormal step, or exactly inf.
TEST_P(Ops, UnaryFloat32TranscendentalAccuracy) {
  std::vector<double> x;
  for (double v = -110; v <= 110; v += 0.0137) x.push_back(static_cast<float>(v));
  for (double v = -1; v <= 1; v += 1e-4) x.push_back(static_cast<float>(v));
  for (double v = 1e-30; v < 1e30; v *= 1.37) x.push_back(static_cast<float>(v));
  for (float v : {1e-40f, 1e-44f, 3e-39f, std::numeric_limits<float>::min(), std::numeric_limits<float>::max()})
    x.push_back(v);
  const std::int64_t n = static_cast<std::int64_t>(x.size());
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
  Arg src = make_arg(be(), DType::Float32, {n}, x);
  for (const Fn& fn : fns) {
    Arg dst = make_out(be(), DType::Float32, {n});
    be().unary(fn.op, dst.view, src.view, {});
    std::vector<double> y = read(dst);
    double worst = 0, worst_x = 0;
    for (std::int64_t i = 0; i < n; ++i) {
      if (fn.positive_only && x[i] <= 0) continue;
      double want = static_cast<double>(static_cast<float>(fn.ref(x[i])));
      double got = y[i];
      if (std::isinf(want) || want == 0 || std::fabs(want) < std::numeric_limits<float>::min()) {
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

TEST_P(Ops, UnarySpecialValues) {
  const std::vector<double> x = {kInf, -kInf, kNaN, 0.0, -0.0, 1e30, -1e30, 88.7, -88.0};
  const std::int64_t n = static_cast<std::int64_t>(x.size());
  for (DType t : kFloatTypes) {
    Arg src = make_arg(be(), t, {n}, x);
    auto run = [&](UnaryOp op) {
      Arg dst = make_out(be(), t, {n});
      be().unary(op, dst.view, src.view, {});
      return read(dst);
    };
    SCOPED_TRACE(str(t));
    auto e = run(UnaryOp::Exp);
    EXPECT_EQ(e[0], kInf);
    EXPECT_EQ(e[1], 0.0);
    EXPECT_TRUE(std::isnan(e[2]));
    EXPECT_EQ(e[3], 1.0);
    if (t == DType::Float32) {
      EXPECT_EQ(e[5], kInf);
      EXPECT_EQ(e[6], 0.0);
    }
    EXPECT_NEAR(e[7], std::exp(src.values[7]), std::exp(src.values[7]) * 1e-6);
    auto th = run(UnaryOp::Tanh);
    EXPECT_EQ(th[0], 1.0);
    EXPECT_EQ(th[1], -1.0);
    EXPECT_TRUE(std::isnan(th[2]));
    EXPECT_EQ(th[3], 0.0);
    EXPECT_EQ(th[5], 1.0);
    EXPECT_EQ(th[6], -1.0);
    auto s = run(UnaryOp::Sigmoid);
    EXPECT_EQ(s[0], 1.0);
    EXPECT_EQ(s[1], 0.0);
    EXPECT_TRUE(std::isnan(s[2]));
    EXPECT_EQ(s[3], 0.5);
    auto l = run(UnaryOp::Log);
    EXPECT_EQ(l[0], kInf);
    EXPECT_TRUE(std::isnan(l[1]));
    EXPECT_TRUE(std::isnan(l[2]));
    EXPECT_EQ(l[3], -kInf);
    EXPECT_EQ(l[4], -kInf);
    auto r = run(UnaryOp::Relu);
    EXPECT_TRUE(std::isnan(r[2]));
    EXPECT_EQ(r[1], 0.0);
  }
}

// ---------------------------------------------------------------- binary

double binary_reference(BinaryOp op, double a, double b, Scalars s) {
  switch (op) {
    case BinaryOp::Add: return a + b;
    case BinaryOp::Sub: return a - b;
    case BinaryOp::Mul: return a * b;
    case BinaryOp::Div: return a / b;
    case BinaryOp::Maximum: return (a != a || b != b) ? kNaN : std::max(a, b);
    case BinaryOp::Minimum: return (a != a || b != b) ? kNaN : std::min(a, b);
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
const BinaryOp kInt64BinaryOps[] = {BinaryOp::Add,       BinaryOp::Sub,     BinaryOp::Mul,
                                    BinaryOp::AddScaled, BinaryOp::Maximum, BinaryOp::Minimum};

void check_binary(Ops& f, BinaryOp op, DType t, Tol tol);

// Each op on same-shape, broadcast (one side, both sides, a scalar on either side),
// transposed-into-strided and empty operands; float32, float64, and int64 where allowed.
TEST_P(Ops, Binary) {
  for (BinaryOp op : kBinaryOps) {
    // TanhBackward's 1 - v^2 cancels near |v| = 1, where a build with fused multiply-adds
    // is the more exact: an absolute margin of float32 rounding on |g v^2| <= 8 covers both.
    const double cancels = op == BinaryOp::TanhBackward ? 1e-6 : 0;
    check_binary(*this, op, DType::Float32, {1e-6, cancels});
    check_binary(*this, op, DType::Float64, {1e-12, cancels * 1e-9});
  }
  for (BinaryOp op : kInt64BinaryOps) check_binary(*this, op, DType::Int64, kExact);
}

void check_binary(Ops& f, BinaryOp op, DType t, Tol tol) {
  Scalars s{-0.5, 0.5};
  if (op == BinaryOp::LeakyReluBackward) s = {0.2, 0};
  if (op == BinaryOp::AddScaled) s = {2, 0};  // whole (int64), and exact in any precision
  const Shape shape = {3, 5, 7};
  std::vector<double> a = random_values(shape.numel(), t, -2, 2, 1);
  std::vector<double> b = random_values(shape.numel(), t, 0.25, 2, 2);
  if (op != BinaryOp::Div)
    for (std::size_t i = 0; i < b.size(); i += 3) b[i] = -b[i];
  if (t == DType::Int64) {
    a = random_values(shape.numel(), t, -50, 50, 1);
    b = random_values(shape.numel(), t, -50, 50, 2);
  }
  using Make = std::function<Arg(Backend&)>;
  struct Placement {
    const char* name;
    Shape shape;
    Make a, b;
    Layout dst;
  };
  const std::vector<double> b_row(b.begin(), b.begin() + 35), a_col(a.begin(), a.begin() + 3);
  const std::vector<Placement> placements = {
      {"contiguous", shape, [&](Backend& k) { return make_arg(k, t, shape, a); },
       [&](Backend& k) { return make_arg(k, t, shape, b); }, Layout::Contiguous},
      {"broadcast b", shape, [&](Backend& k) { return make_arg(k, t, shape, a); },
       [&](Backend& k) { return make_broadcast(k, t, {5, 7}, b_row, shape); }, Layout::Contiguous},
      {"both broadcast", shape, [&](Backend& k) { return make_broadcast(k, t, {3, 1, 1}, a_col, shape); },
       [&](Backend& k) { return make_broadcast(k, t, {1, 5, 7}, b_row, shape); }, Layout::Contiguous},
      {"scalar b", shape, [&](Backend& k) { return make_arg(k, t, shape, a); },
       [&](Backend& k) { return make_broadcast(k, t, {}, {b[2]}, shape); }, Layout::Contiguous},
      {"scalar a", shape, [&](Backend& k) { return make_broadcast(k, t, {}, {b[2]}, shape); },
       [&](Backend& k) { return make_arg(k, t, shape, a); }, Layout::Strided},
      {"transposed a, strided b and dst", shape, [&](Backend& k) { return make_arg(k, t, shape, a, Layout::Reversed); },
       [&](Backend& k) { return make_arg(k, t, shape, b, Layout::Strided); }, Layout::Strided},
      {"empty", {4, 0}, [&](Backend& k) { return make_arg(k, t, {4, 0}, {}); },
       [&](Backend& k) { return make_arg(k, t, {4, 0}, {}); }, Layout::Contiguous},
  };
  for (const Placement& p : placements) {
    auto run = [&](Backend& k) {
      Arg va = p.a(k), vb = p.b(k);
      Arg dst = make_out(k, t, p.shape, p.dst);
      k.binary(op, dst.view, va.view, vb.view, s);
      return Outputs{{"dst", read(dst)}};
    };
    auto naive = [&] {
      std::vector<double> va = p.a(cpu_reference()).values, vb = p.b(cpu_reference()).values, want;
      for (std::size_t i = 0; i < va.size(); ++i) want.push_back(round_to(t, binary_reference(op, va[i], vb[i], s)));
      return Outputs{{"dst", want}};
    };
    f.check("binary op " + std::to_string(static_cast<int>(op)) + " " + p.name + " " + str(t), run, naive, tol);
  }
}

// torch.maximum / minimum: NaN in either operand gives NaN.
TEST_P(Ops, BinaryNaN) {
  for (DType t : kFloatTypes)
    for (BinaryOp op : {BinaryOp::Maximum, BinaryOp::Minimum}) {
      const std::vector<double> a = {kNaN, 1, 2, -kInf}, b = {1, kNaN, 3, 0};
      auto run = [&](Backend& k) {
        Arg va = make_arg(k, t, {4}, a), vb = make_arg(k, t, {4}, b), dst = make_out(k, t, {4});
        k.binary(op, dst.view, va.view, vb.view, {});
        return Outputs{{"dst", read(dst)}};
      };
      auto naive = [&] {
        std::vector<double> want;
        for (int i = 0; i < 4; ++i) want.push_back(binary_reference(op, a[i], b[i], {}));
        return Outputs{{"dst", want}};
      };
      check("binary NaN " + std::to_string(static_cast<int>(op)) + " " + str(t), run, naive, kExact);
    }
}

// ---------------------------------------------------------------- reductions

// Reference reduction of values (row-major over shape) over the dims where out_shape has 1.
std::vector<double> reduce_reference(ReduceOp op, const Shape& shape, const std::vector<double>& x,
                                     const Shape& out_shape) {
  std::vector<double> acc(out_shape.numel(), op == ReduceOp::Max ? -kInf : op == ReduceOp::Min ? kInf : 0.0);
  std::vector<bool> nan(out_shape.numel(), false);
  std::int64_t count = shape.numel() / std::max<std::int64_t>(out_shape.numel(), 1);
  std::int64_t i = 0;
  for_each_index(shape, [&](const std::int64_t* idx) {
    std::int64_t o_idx[kMaxDims];
    for (int d = 0; d < shape.ndim; ++d) o_idx[d] = out_shape[d] == 1 ? 0 : idx[d];
    std::int64_t o = row_major_offset(out_shape, o_idx);
    double v = x[i++];
    if (v != v) nan[o] = true;
    if (op == ReduceOp::Max) acc[o] = std::max(acc[o], v);
    else if (op == ReduceOp::Min) acc[o] = std::min(acc[o], v);
    else acc[o] += v;
  });
  for (std::size_t o = 0; o < acc.size(); ++o) {
    if (op == ReduceOp::Mean) acc[o] /= static_cast<double>(count);
    if (nan[o]) acc[o] = kNaN;
  }
  return acc;
}

const ReduceOp kReduceOps[] = {ReduceOp::Sum, ReduceOp::Mean, ReduceOp::Max, ReduceOp::Min};

// Every op over single dims, pairs, all dims and none, of a contiguous and a fully
// transposed (2, 3, 4, 5) input; a broadcast and a sliced input; a rank-0 destination.
TEST_P(Ops, Reduce) {
  for (DType t : kFloatTypes) {
    const Shape shape = {2, 3, 4, 5};
    const std::vector<double> x = random_values(shape.numel(), t, -3, 3);
    struct Input {
      std::string name;
      Shape shape;
      std::function<Arg(Backend&)> make;
    };
    std::vector<Input> inputs = {
        {"contiguous", shape, [&](Backend& b) { return make_arg(b, t, shape, x); }},
        {"reversed", shape, [&](Backend& b) { return make_arg(b, t, shape, x, Layout::Reversed); }},
        {"strided", shape, [&](Backend& b) { return make_arg(b, t, shape, x, Layout::Strided); }},
    };
    std::vector<std::pair<Input, std::vector<int>>> cases;
    const std::vector<std::vector<int>> dim_sets = {{0}, {1}, {2}, {3}, {0, 1}, {2, 3}, {0, 2}, {1, 3}, {0, 3},
                                                    {0, 1, 2, 3}, {1, 2, 3}, {}};
    for (const Input& in : inputs)
      for (const auto& dims : dim_sets) {
        if (in.name == "strided" && dims.size() != 1) continue;
        cases.push_back({in, dims});
      }
    const std::vector<double> row(x.begin(), x.begin() + 20);
    cases.push_back({{"broadcast", {3, 4, 5}, [&](Backend& b) { return make_broadcast(b, t, {1, 4, 5}, row, {3, 4, 5}); }},
                     {0}});
    cases.push_back({{"sliced", {6, 2}, [&](Backend& b) { return make_strided(b, t, {6, 2}, {20, 3}, 1, std::vector<double>(x.begin(), x.begin() + 12)); }},
                     {1}});
    cases.push_back({{"odd rows", {7, 33}, [&](Backend& b) { return make_arg(b, t, {7, 33}, random_values(7 * 33, t, -3, 3, 9)); }},
                     {1}});
    cases.push_back({{"odd columns", {33, 7}, [&](Backend& b) { return make_arg(b, t, {33, 7}, random_values(7 * 33, t, -3, 3, 9)); }},
                     {0}});
    cases.push_back({{"empty kept dim", {0, 5}, [&](Backend& b) { return make_arg(b, t, {0, 5}, {}); }}, {1}});
    for (const auto& [in, dims] : cases)
      for (ReduceOp op : kReduceOps) {
        Shape out_shape = in.shape;
        for (int d : dims) out_shape[d] = 1;
        std::string name;
        for (int d : dims) name += std::to_string(d);
        auto run = [&](Backend& b) {
          Arg src = in.make(b);
          Arg dst = make_out(b, t, out_shape);
          b.reduce(op, dst.view, src.view);
          return Outputs{{"dst", read(dst)}};
        };
        auto naive = [&] {
          return Outputs{{"dst", reduce_reference(op, in.shape, in.make(cpu_reference()).values, out_shape)}};
        };
        check("reduce op " + std::to_string(static_cast<int>(op)) + " " + in.name + " dims {" + name + "} " + str(t),
              run, naive, tol_for(t, {1e-5, 1e-5}, {1e-12, 1e-12}));
      }
    // A rank-0 destination: the sum of everything.
    auto run = [&](Backend& b) {
      Arg src = make_arg(b, t, {5, 6}, std::vector<double>(x.begin(), x.begin() + 30));
      Arg dst = make_out(b, t, {});
      b.reduce(ReduceOp::Sum, dst.view, src.view);
      return Outputs{{"dst", read(dst)}};
    };
    auto naive = [&] {
      return Outputs{{"dst", {std::accumulate(x.begin(), x.begin() + 30, 0.0)}}};
    };
    check("reduce to rank 0 " + str(t), run, naive, tol_for(t, {1e-5, 1e-5}, {1e-12, 1e-12}));
  }
}

TEST_P(Ops, ReduceNaNPropagatesThroughMaxMin) {
  for (DType t : kFloatTypes)
    for (ReduceOp op : {ReduceOp::Max, ReduceOp::Min, ReduceOp::Sum}) {
      const std::vector<double> x = {1, 2, kNaN, 0, 5, 3, -1, 4};
      for (const Shape& out_shape : {Shape{1, 1}, Shape{2, 1}, Shape{1, 4}}) {
        auto run = [&](Backend& b) {
          Arg src = make_arg(b, t, {2, 4}, x);
          Arg dst = make_out(b, t, out_shape);
          b.reduce(op, dst.view, src.view);
          return Outputs{{"dst", read(dst)}};
        };
        check("reduce NaN " + std::to_string(static_cast<int>(op)) + " to " + str(out_shape) + " " + str(t), run,
              [&] { return Outputs{{"dst", reduce_reference(op, {2, 4}, x, out_shape)}}; }, kExact);
      }
    }
}

// 2^24 + 4M ones in float32: a naive float accumulator stalls at 2^24.
TEST_P(Ops, ReduceFloat32SumIsAccurate) {
  const std::int64_t n = 1 << 20;
  std::vector<double> x(n, 1.0);
  x[0] = 16777216.0;
  Arg src = make_arg(be(), DType::Float32, {n}, x);
  Arg dst = make_out(be(), DType::Float32, {1});
  be().reduce(ReduceOp::Sum, dst.view, src.view);
  // Blocked lanes lose at most the ones added to the 2^24 lane within one short block.
  EXPECT_NEAR(read(dst)[0], 16777216.0 + (n - 1), 64.0);
}

// ---------------------------------------------------------------- arg-reductions

// Reference: the first extreme along dim, or the first NaN (PyTorch's rule: NaN wins).
void arg_reduce_reference(bool is_max, const Shape& shape, const std::vector<double>& x, int dim,
                          std::vector<double>& values, std::vector<double>& indices) {
  Shape out_shape = shape;
  out_shape[dim] = 1;
  values.assign(out_shape.numel(), 0);
  indices.assign(out_shape.numel(), 0);
  std::int64_t o = 0;
  for_each_index(out_shape, [&](const std::int64_t* pos) {
    std::int64_t p[kMaxDims];
    std::copy(pos, pos + shape.ndim, p);
    double best = 0;
    std::int64_t best_k = -1;
    for (std::int64_t k = 0; k < shape[dim]; ++k) {
      p[dim] = k;
      double v = x[row_major_offset(shape, p)];
      if (best_k >= 0 && best != best) break;
      if (best_k < 0 || v != v || (is_max ? v > best : v < best)) best = v, best_k = k;
    }
    values[o] = best;
    indices[o] = static_cast<double>(best_k);
    ++o;
  });
}

TEST_P(Ops, ArgReduce) {
  // (3, 4) with ties along both dims; (2, 2) with NaNs; transposed (5, 6, 4) along each dim.
  const std::vector<double> ties = {1, 5, 5, 0,  5, 2, 5, 0,  5, 5, 1, 0};
  const std::vector<double> nans = {1, kNaN, 7, kNaN};
  struct Case {
    std::string name;
    Shape shape;
    std::vector<double> x;
    Layout layout;
  };
  for (DType t : kFloatTypes) {
    const std::vector<Case> cases = {
        {"ties", {3, 4}, ties, Layout::Contiguous},
        {"ties strided", {3, 4}, ties, Layout::Strided},
        {"NaN", {2, 2}, nans, Layout::Contiguous},
        {"NaN row", {4}, nans, Layout::Contiguous},
        {"transposed", {5, 6, 4}, random_values(120, t), Layout::Reversed},
        {"odd", {3, 37}, random_values(111, t, -1, 1, 4), Layout::Contiguous},
    };
    for (const Case& c : cases)
      for (int dim = 0; dim < c.shape.ndim; ++dim)
        for (bool is_max : {true, false}) {
          Shape out_shape = c.shape;
          out_shape[dim] = 1;
          for (int nulls = 0; nulls < 3; ++nulls) {  // both outputs; null values; null indices
            auto run = [&](Backend& b) {
              Arg src = make_arg(b, t, c.shape, c.x, c.layout);
              Arg vals = make_out(b, t, out_shape), idx = make_out(b, DType::Int64, out_shape);
              b.arg_reduce(is_max, nulls == 1 ? null_view(t, out_shape) : vals.view,
                           nulls == 2 ? null_view(DType::Int64, out_shape) : idx.view, src.view, dim);
              Outputs out;
              if (nulls != 1) out.push_back({"values", read(vals)});
              if (nulls != 2) out.push_back({"indices", read(idx)});
              return out;
            };
            auto naive = [&] {
              std::vector<double> v, i;
              arg_reduce_reference(is_max, c.shape, make_arg(cpu_reference(), t, c.shape, c.x).values, dim, v, i);
              Outputs out;
              if (nulls != 1) out.push_back({"values", v});
              if (nulls != 2) out.push_back({"indices", i});
              return out;
            };
            check("arg_reduce " + c.name + (is_max ? " max" : " min") + " dim " + std::to_string(dim) + " nulls " +
                      std::to_string(nulls) + " " + str(t),
                  run, naive, kExact);
          }
        }
  }
}

TEST_P(Ops, IntMinMax) {
  const std::vector<double> buf = {5, -100, 3, 100, -7, 1000, 2, 0};
  struct Case {
    std::string name;
    std::function<Arg(Backend&)> make;
  };
  const std::vector<Case> cases = {
      {"every other", [&](Backend& b) { return make_strided(b, DType::Int64, {4}, {2}, 0, {5, 3, -7, 2}); }},
      {"contiguous 2-d", [&](Backend& b) { return make_arg(b, DType::Int64, {2, 4}, buf); }},
      {"transposed", [&](Backend& b) { return make_arg(b, DType::Int64, {2, 4}, buf, Layout::Reversed); }},
      {"broadcast", [&](Backend& b) { return make_broadcast(b, DType::Int64, {1, 3}, {4, -2, 9}, {5, 3}); }},
      {"one element", [&](Backend& b) { return make_arg(b, DType::Int64, {1}, {-3}); }},
      {"large", [&](Backend& b) { return make_arg(b, DType::Int64, {1000, 37}, random_values(37000, DType::Int64, -1e9, 1e9, 8)); }},
  };
  for (const Case& c : cases) {
    auto run = [&](Backend& b) {
      Arg src = c.make(b);
      Arg dst = make_out(b, DType::Int64, {2});
      b.int_min_max(dst.view, src.view);
      return Outputs{{"min max", read(dst)}};
    };
    auto naive = [&] {
      std::vector<double> v = c.make(cpu_reference()).values;
      return Outputs{{"min max", {*std::min_element(v.begin(), v.end()), *std::max_element(v.begin(), v.end())}}};
    };
    check("int_min_max " + c.name, run, naive, kExact);
  }
}

// ---------------------------------------------------------------- softmax

std::vector<double> softmax_reference(const Shape& shape, const std::vector<double>& x, int dim, bool log) {
  std::vector<double> out(x.size());
  Shape rows = shape;
  rows[dim] = 1;
  for_each_index(rows, [&](const std::int64_t* pos) {
    std::int64_t p[kMaxDims];
    std::copy(pos, pos + shape.ndim, p);
    auto at = [&](std::int64_t k) { p[dim] = k; return row_major_offset(shape, p); };
    double m = -kInf, s = 0;
    for (std::int64_t k = 0; k < shape[dim]; ++k) m = std::max(m, x[at(k)]);
    for (std::int64_t k = 0; k < shape[dim]; ++k) s += std::exp(x[at(k)] - m);
    for (std::int64_t k = 0; k < shape[dim]; ++k)
      out[at(k)] = log ? x[at(k)] - m - std::log(s) : std::exp(x[at(k)] - m) / s;
  });
  return out;
}

std::vector<double> softmax_backward_reference(const Shape& shape, const std::vector<double>& dy,
                                               const std::vector<double>& y, int dim, bool log) {
  std::vector<double> out(y.size());
  Shape rows = shape;
  rows[dim] = 1;
  for_each_index(rows, [&](const std::int64_t* pos) {
    std::int64_t p[kMaxDims];
    std::copy(pos, pos + shape.ndim, p);
    auto at = [&](std::int64_t k) { p[dim] = k; return row_major_offset(shape, p); };
    double s = 0;
    for (std::int64_t k = 0; k < shape[dim]; ++k) s += log ? dy[at(k)] : dy[at(k)] * y[at(k)];
    for (std::int64_t k = 0; k < shape[dim]; ++k)
      out[at(k)] = log ? dy[at(k)] - std::exp(y[at(k)]) * s : y[at(k)] * (dy[at(k)] - s);
  });
  return out;
}

// Forward along every dim of contiguous and transposed inputs; the backward from a y the
// reference computed (so both columns see the same y) and a dy laid out like x.
TEST_P(Ops, Softmax) {
  for (DType t : kFloatTypes) {
    const Shape shape = {4, 37, 3};
    const std::vector<double> x = random_values(shape.numel(), t, -8, 8);
    const std::vector<double> dy = random_values(shape.numel(), t, -1, 1, 7);
    for (Layout layout : {Layout::Contiguous, Layout::Reversed, Layout::Strided})
      for (int dim = 0; dim < 3; ++dim)
        for (bool log : {false, true}) {
          const std::string what = std::string(log ? "log_softmax" : "softmax") + " " + layout_name(layout) +
                                   " dim " + std::to_string(dim) + " " + str(t);
          auto run = [&](Backend& b) {
            Arg xa = make_arg(b, t, shape, x, layout), ya = make_out(b, t, shape, layout);
            b.softmax(ya.view, xa.view, dim, log);
            return Outputs{{"y", read(ya)}};
          };
          check(what, run, [&] { return Outputs{{"y", softmax_reference(shape, x, dim, log)}}; },
                tol_for(t, {2e-6, 2e-6}, {1e-13, 1e-13}));
          std::vector<double> y = softmax_reference(shape, x, dim, log);
          for (double& v : y) v = round_to(t, v);
          auto run_backward = [&](Backend& b) {
            Arg dya = make_arg(b, t, shape, dy, layout), ya = make_arg(b, t, shape, y);
            Arg dx = make_out(b, t, shape, layout == Layout::Strided ? Layout::Strided : Layout::Contiguous);
            b.softmax_backward(dx.view, dya.view, ya.view, dim, log);
            return Outputs{{"dx", read(dx)}};
          };
          check(what + " backward", run_backward,
                [&] { return Outputs{{"dx", softmax_backward_reference(shape, dy, y, dim, log)}}; },
                tol_for(t, {2e-5, 2e-5}, {1e-12, 1e-12}));
        }
    // Empty rows: nothing to do.
    Arg e = make_out(be(), t, {0, 5}), ex = make_arg(be(), t, {0, 5}, {});
    be().softmax(e.view, ex.view, 1, false);
    be().softmax_backward(e.view, ex.view, ex.view, 1, true);
    be().synchronize();
  }
}

// Long rows, a -inf (exp gives 0) and a value that would overflow exp without the max shift.
TEST_P(Ops, SoftmaxLargeRowsAndExtremeValues) {
  const std::int64_t rows = 64, cols = 5000;
  std::vector<double> x = random_values(rows * cols, DType::Float32, -30, 30);
  x[3] = -kInf;
  x[5] = 80;
  for (bool log : {false, true}) {
    auto run = [&](Backend& b) {
      Arg xa = make_arg(b, DType::Float32, {rows, cols}, x), ya = make_out(b, DType::Float32, {rows, cols});
      b.softmax(ya.view, xa.view, 1, log);
      return Outputs{{"y", read(ya)}};
    };
    // x - max rounds in float: tiny values carry its error.
    check(log ? "large log_softmax" : "large softmax", run,
          [&] { return Outputs{{"y", softmax_reference({rows, cols}, x, 1, log)}}; },
          log ? Tol{1e-6, 1e-5} : Tol{2e-6, 1e-12});
    if (!log) {
      EXPECT_EQ(run(be())[0].second[3], 0.0);
    }
  }
}

// ---------------------------------------------------------------- indexing

// out[.., i, ..] = src[.., index[i], ..] along dim.
std::vector<double> index_select_reference(const Shape& shape, const std::vector<double>& src, int dim,
                                           const std::vector<double>& index, Shape& out_shape) {
  out_shape = shape;
  out_shape[dim] = static_cast<std::int64_t>(index.size());
  std::vector<double> out;
  for_each_index(out_shape, [&](const std::int64_t* pos) {
    std::int64_t p[kMaxDims];
    std::copy(pos, pos + shape.ndim, p);
    p[dim] = static_cast<std::int64_t>(index[pos[dim]]);
    out.push_back(src[row_major_offset(shape, p)]);
  });
  return out;
}

TEST_P(Ops, IndexSelect) {
  const Shape shape = {4, 5, 6};
  const std::vector<double> index = {3, 0, 3, 1};
  for (DType t : {DType::Float32, DType::Float64, DType::Int64}) {
    const std::vector<double> src = random_values(shape.numel(), t, -100, 100);
    for (Layout layout : {Layout::Contiguous, Layout::Reversed, Layout::Strided})
      for (int dim = 0; dim < 3; ++dim) {
        Shape out_shape;
        const std::vector<double> want = index_select_reference(shape, src, dim, index, out_shape);
        auto run = [&](Backend& b) {
          Arg s = make_arg(b, t, shape, src, layout);
          Arg i = make_arg(b, DType::Int64, {4}, index, layout == Layout::Strided ? Layout::Strided : Layout::Contiguous);
          Arg out = make_out(b, t, out_shape, layout);
          b.index_select(out.view, s.view, dim, i.view);
          return Outputs{{"out", read(out)}};
        };
        check(std::string("index_select ") + layout_name(layout) + " dim " + std::to_string(dim) + " " + str(t), run,
              [&] { return Outputs{{"out", want}}; }, kExact);
      }
    // Embedding-like: many rows of a table; and an empty index.
    for (std::int64_t count : {300, 0}) {
      const std::int64_t vocab = 50, width = 33;
      const std::vector<double> table = random_values(vocab * width, t, -100, 100, 2);
      std::vector<double> idx(count);
      for (std::int64_t i = 0; i < count; ++i) idx[i] = static_cast<double>((i * 7919) % vocab);
      Shape out_shape;
      const std::vector<double> want = index_select_reference({vocab, width}, table, 0, idx, out_shape);
      auto run = [&](Backend& b) {
        Arg s = make_arg(b, t, {vocab, width}, table), i = make_arg(b, DType::Int64, {count}, idx);
        Arg out = make_out(b, t, out_shape);
        b.index_select(out.view, s.view, 0, i.view);
        return Outputs{{"out", read(out)}};
      };
      check("index_select embedding rows " + std::to_string(count) + " " + str(t), run,
            [&] { return Outputs{{"out", want}}; }, kExact);
    }
  }
}

// dst[.., index[i], ..] += src[.., i, ..], with repeated indices.
TEST_P(Ops, IndexAdd) {
  for (DType t : kFloatTypes)
    for (int dim = 0; dim < 3; ++dim)
      for (Layout layout : {Layout::Contiguous, Layout::Strided}) {
        const std::int64_t n = 11;
        Shape dst_shape = {3, 4, 5}, src_shape = dst_shape;
        src_shape[dim] = n;
        std::vector<double> index(n);
        for (std::int64_t i = 0; i < n; ++i) index[i] = static_cast<double>((i * 3) % dst_shape[dim]);
        const std::vector<double> dst0 = random_values(dst_shape.numel(), t, -1, 1, 4);
        const std::vector<double> src = random_values(src_shape.numel(), t, -1, 1, 5);
        auto run = [&](Backend& b) {
          Arg d = make_arg(b, t, dst_shape, dst0, layout), s = make_arg(b, t, src_shape, src, layout);
          Arg i = make_arg(b, DType::Int64, {n}, index, layout);
          b.index_add(d.view, dim, i.view, s.view);
          return Outputs{{"dst", read(d)}};
        };
        auto naive = [&] {
          std::vector<double> want = dst0;
          std::int64_t k = 0;
          for_each_index(src_shape, [&](const std::int64_t* p) {
            std::int64_t q[kMaxDims];
            std::copy(p, p + 3, q);
            q[dim] = static_cast<std::int64_t>(index[p[dim]]);
            want[row_major_offset(dst_shape, q)] += src[k++];
          });
          return Outputs{{"dst", want}};
        };
        check(std::string("index_add ") + layout_name(layout) + " dim " + std::to_string(dim) + " " + str(t), run,
              naive, tol_for(t, {1e-6, 1e-6}, {1e-14, 1e-14}));
      }
}

// gather: out[i][j] = src[index[i][j]][j] (dim 0) or src[i][index[i][j]] (dim 1); scatter_add
// the reverse, summing repeats. The index is smaller than src off dim.
TEST_P(Ops, GatherAndScatterAdd) {
  for (DType t : kFloatTypes)
    for (int dim = 0; dim < 2; ++dim)
      for (Layout layout : {Layout::Contiguous, Layout::Reversed, Layout::Strided}) {
        const Shape src_shape = {4, 5}, index_shape = {3, 4};
        const std::vector<double> src = random_values(20, t, -1, 1, 6);
        const std::vector<double> index = dim == 0 ? std::vector<double>{0, 1, 1, 3, 2, 2, 2, 0, 3, 3, 1, 0}
                                                   : std::vector<double>{4, 0, 2, 2, 1, 3, 3, 1, 0, 0, 4, 4};
        auto target = [&](std::int64_t i, std::int64_t j) {
          std::int64_t k = static_cast<std::int64_t>(index[i * 4 + j]);
          return dim == 0 ? k * 5 + j : i * 5 + k;
        };
        auto run = [&](Backend& b) {
          Arg s = make_arg(b, t, src_shape, src, layout), i = make_arg(b, DType::Int64, index_shape, index, layout);
          Arg out = make_out(b, t, index_shape, layout);
          b.gather(out.view, s.view, dim, i.view);
          return Outputs{{"out", read(out)}};
        };
        auto naive = [&] {
          std::vector<double> want;
          for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 4; ++j) want.push_back(src[target(i, j)]);
          return Outputs{{"out", want}};
        };
        check(std::string("gather ") + layout_name(layout) + " dim " + std::to_string(dim) + " " + str(t), run, naive,
              kExact);

        const std::vector<double> dst0 = random_values(20, t, -1, 1, 7), add = random_values(12, t, -1, 1, 3);
        auto run_scatter = [&](Backend& b) {
          Arg d = make_arg(b, t, src_shape, dst0, layout), i = make_arg(b, DType::Int64, index_shape, index, layout);
          Arg a = make_arg(b, t, index_shape, add, layout);
          b.scatter_add(d.view, dim, i.view, a.view);
          return Outputs{{"dst", read(d)}};
        };
        auto naive_scatter = [&] {
          std::vector<double> want = dst0;
          for (int i = 0; i < 3; ++i)
            for (int j = 0; j < 4; ++j) want[target(i, j)] += add[i * 4 + j];
          return Outputs{{"dst", want}};
        };
        check(std::string("scatter_add ") + layout_name(layout) + " dim " + std::to_string(dim) + " " + str(t),
              run_scatter, naive_scatter, tol_for(t, {1e-6, 1e-6}, {1e-14, 1e-14}));
      }
}

// ---------------------------------------------------------------- nll loss

TEST_P(Ops, NllLoss) {
  const std::int64_t n = 7, c = 5;
  const std::vector<double> target = {2, -100, 0, 4, -100, 1, 0};
  for (DType t : kFloatTypes)
    for (std::int64_t ignore : {std::int64_t{-100}, std::int64_t{0}})  // 0: an ignore_index that is a class
      for (Layout layout : {Layout::Contiguous, Layout::Reversed, Layout::Strided}) {
        const std::vector<double> logp = random_values(n * c, t, -5, 0);
        const std::vector<double> grad = random_values(n, t, 0.5, 1.5, 4);
        std::vector<double> tgt = target;
        if (ignore == 0)
          for (double& v : tgt) v = v == -100 ? 3 : v;
        auto ignored = [&](std::int64_t i) { return static_cast<std::int64_t>(tgt[i]) == ignore; };
        const std::string what = std::string(layout_name(layout)) + " ignore " + std::to_string(ignore) + " " + str(t);
        auto run = [&](Backend& b) {
          Arg lp = make_arg(b, t, {n, c}, logp, layout), tg = make_arg(b, DType::Int64, {n}, tgt, layout);
          Arg loss = make_out(b, t, {n}, layout);
          b.nll_loss(loss.view, lp.view, tg.view, ignore);
          return Outputs{{"loss", read(loss)}};
        };
        auto naive = [&] {
          std::vector<double> want(n);
          for (std::int64_t i = 0; i < n; ++i) want[i] = ignored(i) ? 0 : -logp[i * c + static_cast<std::int64_t>(tgt[i])];
          return Outputs{{"loss", want}};
        };
        check("nll_loss " + what, run, naive, kExact);
        // Backward with a per-row gradient and with a shared (stride-0) scale.
        for (bool shared : {false, true}) {
          auto run_backward = [&](Backend& b) {
            Arg g = shared ? make_broadcast(b, t, {1}, {grad[0]}, {n}) : make_arg(b, t, {n}, grad, layout);
            Arg tg = make_arg(b, DType::Int64, {n}, tgt, layout);
            Arg d = make_out(b, t, {n, c}, layout);
            b.nll_loss_backward(d.view, g.view, tg.view, ignore);
            return Outputs{{"dlogp", read(d)}};
          };
          auto naive_backward = [&] {
            std::vector<double> want(n * c, 0.0);
            for (std::int64_t i = 0; i < n; ++i)
              if (!ignored(i)) want[i * c + static_cast<std::int64_t>(tgt[i])] = -grad[shared ? 0 : i];
            return Outputs{{"dlogp", want}};
          };
          check("nll_loss_backward " + what + (shared ? " shared scale" : ""), run_backward, naive_backward, kExact);
        }
      }
}

// ---------------------------------------------------------------- gemm

struct GemmCase {
  bool ta, tb;
  std::int64_t m, n, k, batch;
  double alpha, beta;
  std::int64_t pad;  // extra leading-dimension and batch-stride elements
  std::int64_t lda = 0;  // when not 0: A's leading dimension (a single row's may come from a size-1 dim)
};

// C = alpha op(A) op(B) + beta C, batched with strides, leading dimensions wider than the rows.
TEST_P(Ops, Gemm) {
  std::vector<GemmCase> cases;
  for (bool ta : {false, true})
    for (bool tb : {false, true})
      for (std::int64_t batch : {1, 3}) cases.push_back({ta, tb, 7, 9, 5, batch, 1.5, -0.5, 3});
  cases.push_back({false, false, 1, 13, 17, 1, 1, 0, 0});    // a single row
  cases.push_back({false, false, 1, 2, 2, 1, 1, 0, 0, 1});   // a single row with lda 1 < k
  cases.push_back({true, false, 1, 13, 17, 2, 1, 1, 1});     // a single row, transposed, batched
  cases.push_back({false, true, 33, 1, 65, 1, 2, 0, 0});     // a single column
  for (bool ta : {false, true})
    for (bool tb : {false, true}) cases.push_back({ta, tb, 20, 1, 7, 2, 1.5, -0.5, 3});  // strided, batched
  cases.push_back({false, false, 31, 29, 1, 1, 1, 0.25, 2}); // k = 1
  cases.push_back({false, false, 4, 5, 0, 2, 1, 0.5, 0});    // k = 0: C = beta C
  cases.push_back({false, false, 0, 5, 3, 1, 1, 0, 0});      // m = 0
  cases.push_back({true, true, 130, 150, 170, 1, 1, 0, 0});  // large
  cases.push_back({false, false, 64, 65, 66, 8, -1, 1, 1});  // many batches
  for (DType t : kFloatTypes)
    for (const GemmCase& g : cases) {
      const std::int64_t a_rows = g.ta ? g.k : g.m, a_cols = g.ta ? g.m : g.k;
      const std::int64_t b_rows = g.tb ? g.n : g.k, b_cols = g.tb ? g.k : g.n;
      const std::int64_t lda = g.lda ? g.lda : std::max<std::int64_t>(a_cols + g.pad, 1), ldb = std::max<std::int64_t>(b_cols + g.pad, 1);
      const std::int64_t ldc = std::max<std::int64_t>(g.n + g.pad, 1);
      const std::int64_t sa = a_rows * lda + g.pad, sb = b_rows * ldb + g.pad, sc = g.m * ldc + g.pad;
      const std::vector<double> a = random_values(g.batch * sa + a_rows * a_cols + 1, t, -1, 1, 11);
      const std::vector<double> b = random_values(std::max<std::int64_t>(g.batch * sb, 1), t, -1, 1, 12);
      std::vector<double> c = random_values(std::max<std::int64_t>(g.batch * sc, 1), t, -1, 1, 13);
      // beta = 0 ignores what C held, NaN included.
      if (g.beta == 0)
        for (double& v : c) v = kNaN;
      auto run = [&](Backend& be) {
        DeviceBuffer da(be, t, static_cast<std::int64_t>(a.size())), db(be, t, static_cast<std::int64_t>(b.size()));
        DeviceBuffer dc(be, t, static_cast<std::int64_t>(c.size()));
        da.upload(a), db.upload(b), dc.upload(c);
        be.gemm(g.ta, g.tb, g.m, g.n, g.k, g.alpha, da.data(), lda, db.data(), ldb, g.beta, dc.data(), ldc, t, g.batch,
                sa, sb, sc);
        return Outputs{{"c", dc.download()}};
      };
      auto naive = [&] {
        std::vector<double> want = c;
        for (std::int64_t p = 0; p < g.batch; ++p)
          for (std::int64_t i = 0; i < g.m; ++i)
            for (std::int64_t j = 0; j < g.n; ++j) {
              double s = 0;
              for (std::int64_t q = 0; q < g.k; ++q) {
                double av = g.ta ? a[p * sa + q * lda + i] : a[p * sa + i * lda + q];
                double bv = g.tb ? b[p * sb + j * ldb + q] : b[p * sb + q * ldb + j];
                s += av * bv;
              }
              double& out = want[p * sc + i * ldc + j];
              out = g.alpha * s + (g.beta == 0 ? 0 : g.beta * out);
            }
        return Outputs{{"c", want}};
      };
      const double scale = std::sqrt(static_cast<double>(std::max<std::int64_t>(g.k, 1)));
      check("gemm ta=" + std::to_string(g.ta) + " tb=" + std::to_string(g.tb) + " m=" + std::to_string(g.m) +
                " n=" + std::to_string(g.n) + " k=" + std::to_string(g.k) + " batch=" + std::to_string(g.batch) + " " +
                str(t),
            run, naive, tol_for(t, {1e-5, 1e-6 * scale}, {1e-13, 1e-14 * scale}));
    }
}

// ---------------------------------------------------------------- convolution

struct ConvCase {
  std::int64_t n, c, h, w, o, kh, kw, sh, sw, ph, pw, dh, dw;
  bool bias;
};

Window2d conv_window(const ConvCase& k) {
  Window2d w;
  w.batch = k.n, w.channels = k.c, w.in_h = k.h, w.in_w = k.w;
  w.kernel_h = k.kh, w.kernel_w = k.kw, w.stride_h = k.sh, w.stride_w = k.sw;
  w.pad_h = k.ph, w.pad_w = k.pw, w.dilation_h = k.dh, w.dilation_w = k.dw;
  w.out_h = (k.h + 2 * k.ph - k.dh * (k.kh - 1) - 1) / k.sh + 1;
  w.out_w = (k.w + 2 * k.pw - k.dw * (k.kw - 1) - 1) / k.sw + 1;
  return w;
}

// Calls f(n, o, oh, ow, c, i, j, input offset) for every tap of every window that lands in
// the input: the one loop nest of the convolution's reference and its gradients.
template <class F>
void for_each_conv_tap(const ConvCase& k, const Window2d& w, F&& f) {
  for (std::int64_t n = 0; n < k.n; ++n)
    for (std::int64_t o = 0; o < k.o; ++o)
      for (std::int64_t oh = 0; oh < w.out_h; ++oh)
        for (std::int64_t ow = 0; ow < w.out_w; ++ow)
          for (std::int64_t c = 0; c < k.c; ++c)
            for (std::int64_t i = 0; i < k.kh; ++i)
              for (std::int64_t j = 0; j < k.kw; ++j) {
                const std::int64_t ih = oh * k.sh - k.ph + i * k.dh, iw = ow * k.sw - k.pw + j * k.dw;
                if (ih < 0 || ih >= k.h || iw < 0 || iw >= k.w) continue;
                f(n, o, oh, ow, c, i, j, ((n * k.c + c) * k.h + ih) * k.w + iw);
              }
}

TEST_P(Ops, Conv2dForwardBackward) {
  const std::vector<ConvCase> cases = {
      {2, 3, 7, 6, 4, 3, 2, 1, 1, 0, 0, 1, 1, true},
      {2, 3, 9, 8, 5, 3, 3, 2, 1, 1, 2, 1, 1, false},   // stride, padding, no bias
      {1, 2, 10, 9, 3, 3, 2, 2, 3, 2, 1, 2, 2, true},   // dilation
      {3, 4, 5, 5, 2, 1, 1, 1, 1, 0, 0, 1, 1, true},    // 1x1: the image is its own col
      {2, 1, 4, 4, 1, 4, 4, 1, 1, 0, 0, 1, 1, false},   // a kernel as large as the image
      {5, 2, 6, 5, 3, 2, 2, 2, 2, 1, 1, 1, 1, true},    // batch above the thread count
  };
  for (DType t : kFloatTypes)
    for (const ConvCase& k : cases) {
      const Window2d w = conv_window(k);
      const Shape in_shape = {k.n, k.c, k.h, k.w}, w_shape = {k.o, k.c, k.kh, k.kw}, out_shape = {k.n, k.o, w.out_h, w.out_w};
      const std::vector<double> x = random_values(in_shape.numel(), t, -1, 1, 21);
      const std::vector<double> wt = random_values(w_shape.numel(), t, -1, 1, 22);
      const std::vector<double> bias = random_values(k.o, t, -1, 1, 23);
      const std::vector<double> gout = random_values(out_shape.numel(), t, -1, 1, 24);
      const std::string what = "conv2d " + str(in_shape) + " kernel " + str(w_shape) + " stride " + std::to_string(k.sh) +
                               "," + std::to_string(k.sw) + " pad " + std::to_string(k.ph) + "," + std::to_string(k.pw) +
                               " dilation " + std::to_string(k.dh) + "," + std::to_string(k.dw) +
                               (k.bias ? "" : " no bias") + " " + str(t);
      const Tol tol = tol_for(t, {1e-5, 1e-5}, {1e-12, 1e-12});
      auto run = [&](Backend& b) {
        Arg xi = make_arg(b, t, in_shape, x), wi = make_arg(b, t, w_shape, wt), bi = make_arg(b, t, {k.o}, bias);
        Arg out = make_out(b, t, out_shape);
        b.conv2d(out.view, xi.view, wi.view, k.bias ? bi.view : null_view(t, {k.o}), w);
        return Outputs{{"out", read(out)}};
      };
      auto naive = [&] {
        std::vector<double> out(out_shape.numel(), 0.0);
        for (std::int64_t n = 0; n < k.n; ++n)
          for (std::int64_t o = 0; o < k.o; ++o)
            for (std::int64_t p = 0; p < w.out_h * w.out_w; ++p) out[(n * k.o + o) * w.out_h * w.out_w + p] = k.bias ? bias[o] : 0;
        for_each_conv_tap(k, w, [&](auto n, auto o, auto oh, auto ow, auto c, auto i, auto j, std::int64_t xo) {
          out[((n * k.o + o) * w.out_h + oh) * w.out_w + ow] += wt[((o * k.c + c) * k.kh + i) * k.kw + j] * x[xo];
        });
        return Outputs{{"out", out}};
      };
      check(what, run, naive, tol);

      // Gradients: all three; grad_input only; weight and bias only.
      for (int which = 0; which < 3; ++which) {
        const bool gi = which != 2, gw = which != 1, gb = which != 1 && k.bias;
        auto run_backward = [&](Backend& b) {
          Arg xi = make_arg(b, t, in_shape, x), wi = make_arg(b, t, w_shape, wt), go = make_arg(b, t, out_shape, gout);
          Arg dx = make_out(b, t, in_shape), dw = make_out(b, t, w_shape), db = make_out(b, t, {k.o});
          b.conv2d_backward(gi ? dx.view : null_view(t, in_shape), gw ? dw.view : null_view(t, w_shape),
                            gb ? db.view : null_view(t, {k.o}), go.view, xi.view, wi.view, w);
          Outputs out;
          if (gi) out.push_back({"grad_input", read(dx)});
          if (gw) out.push_back({"grad_weight", read(dw)});
          if (gb) out.push_back({"grad_bias", read(db)});
          return out;
        };
        auto naive_backward = [&] {
          std::vector<double> dx(in_shape.numel(), 0.0), dw(w_shape.numel(), 0.0), db(k.o, 0.0);
          for (std::int64_t n = 0; n < k.n; ++n)
            for (std::int64_t o = 0; o < k.o; ++o)
              for (std::int64_t p = 0; p < w.out_h * w.out_w; ++p) db[o] += gout[(n * k.o + o) * w.out_h * w.out_w + p];
          for_each_conv_tap(k, w, [&](auto n, auto o, auto oh, auto ow, auto c, auto i, auto j, std::int64_t xo) {
            const double g = gout[((n * k.o + o) * w.out_h + oh) * w.out_w + ow];
            const std::int64_t wo = ((o * k.c + c) * k.kh + i) * k.kw + j;
            dx[xo] += wt[wo] * g;
            dw[wo] += x[xo] * g;
          });
          Outputs out;
          if (gi) out.push_back({"grad_input", dx});
          if (gw) out.push_back({"grad_weight", dw});
          if (gb) out.push_back({"grad_bias", db});
          return out;
        };
        check(what + " backward " + std::to_string(which), run_backward, naive_backward, tol);
      }
    }
}

// ---------------------------------------------------------------- pooling

struct PoolCase {
  std::int64_t n, c, h, w, kh, kw, sh, sw, ph, pw;
};

Window2d pool_window(const PoolCase& k) {
  Window2d w;
  w.batch = k.n, w.channels = k.c, w.in_h = k.h, w.in_w = k.w;
  w.kernel_h = k.kh, w.kernel_w = k.kw, w.stride_h = k.sh, w.stride_w = k.sw, w.pad_h = k.ph, w.pad_w = k.pw;
  w.out_h = (k.h + 2 * k.ph - k.kh) / k.sh + 1;
  w.out_w = (k.w + 2 * k.pw - k.kw) / k.sw + 1;
  return w;
}

const std::vector<PoolCase> kPoolCases = {
    {2, 3, 8, 8, 2, 2, 2, 2, 0, 0},  // LeNet's 2x2
    {1, 2, 7, 9, 2, 2, 2, 2, 0, 0},  // odd extents: the last row and column fall off
    {2, 2, 7, 6, 3, 3, 2, 2, 1, 1},  // padding
    {1, 3, 6, 7, 3, 2, 1, 2, 1, 1},  // rectangular window, unequal strides
    {3, 1, 5, 5, 2, 3, 1, 1, 1, 0},
    {1, 1, 1, 1, 1, 1, 1, 1, 0, 0},
};

// Windows, for the references: calls f(plane, out position, input position within the
// plane) for every input element of the window clipped to the input, in row-major order.
template <class F>
void for_each_pool_tap(const PoolCase& k, const Window2d& w, F&& f) {
  for (std::int64_t plane = 0; plane < k.n * k.c; ++plane)
    for (std::int64_t oh = 0; oh < w.out_h; ++oh)
      for (std::int64_t ow = 0; ow < w.out_w; ++ow)
        for (std::int64_t i = 0; i < k.kh; ++i)
          for (std::int64_t j = 0; j < k.kw; ++j) {
            const std::int64_t ih = oh * k.sh - k.ph + i, iw = ow * k.sw - k.pw + j;
            if (ih < 0 || ih >= k.h || iw < 0 || iw >= k.w) continue;
            f(plane, oh * w.out_w + ow, ih * k.w + iw);
          }
}

// The first maximum of each window in row-major order, or its last NaN; int64 positions.
void max_pool_reference(const PoolCase& k, const Window2d& w, const std::vector<double>& x, std::vector<double>& out,
                        std::vector<double>& idx) {
  const std::int64_t in_plane = k.h * k.w, out_plane = w.out_h * w.out_w;
  out.assign(k.n * k.c * out_plane, -kInf);
  idx.assign(out.size(), -1);
  for_each_pool_tap(k, w, [&](std::int64_t plane, std::int64_t o, std::int64_t i) {
    const double v = x[plane * in_plane + i];
    double& best = out[plane * out_plane + o];
    double& at = idx[plane * out_plane + o];
    if (at < 0 || v > best || v != v) best = v, at = static_cast<double>(i);
  });
}

TEST_P(Ops, MaxPool2d) {
  for (DType t : kFloatTypes)
    for (int data = 0; data < 3; ++data)  // random; ties (few distinct values); with NaNs
      for (const PoolCase& k : kPoolCases) {
        const Window2d w = pool_window(k);
        const Shape in_shape = {k.n, k.c, k.h, k.w}, out_shape = {k.n, k.c, w.out_h, w.out_w};
        std::vector<double> x = random_values(in_shape.numel(), t, -1, 1, 31);
        if (data == 1)
          for (double& v : x) v = std::floor(v * 2);
        if (data == 2)
          for (std::size_t i = 0; i < x.size(); i += 5) x[i] = kNaN;
        const std::string what = "max_pool2d " + str(in_shape) + " kernel " + std::to_string(k.kh) + "x" +
                                 std::to_string(k.kw) + " data " + std::to_string(data) + " " + str(t);
        std::vector<double> want, want_idx;
        max_pool_reference(k, w, x, want, want_idx);
        for (bool with_indices : {true, false}) {
          auto run = [&](Backend& b) {
            Arg xi = make_arg(b, t, in_shape, x), out = make_out(b, t, out_shape);
            Arg idx = make_out(b, DType::Int64, out_shape);
            b.max_pool2d(out.view, with_indices ? idx.view : null_view(DType::Int64, out_shape), xi.view, w);
            Outputs o{{"out", read(out)}};
            if (with_indices) o.push_back({"indices", read(idx)});
            return o;
          };
          auto naive = [&] {
            Outputs o{{"out", want}};
            if (with_indices) o.push_back({"indices", want_idx});
            return o;
          };
          check(what + (with_indices ? "" : " no indices"), run, naive, kExact);
        }
        const std::vector<double> gout = random_values(out_shape.numel(), t, -1, 1, 32);
        auto run_backward = [&](Backend& b) {
          Arg go = make_arg(b, t, out_shape, gout), idx = make_arg(b, DType::Int64, out_shape, want_idx);
          Arg dx = make_out(b, t, in_shape);
          b.max_pool2d_backward(dx.view, go.view, idx.view, w);
          return Outputs{{"grad_input", read(dx)}};
        };
        auto naive_backward = [&] {
          std::vector<double> dx(in_shape.numel(), 0.0);
          const std::int64_t in_plane = k.h * k.w, out_plane = w.out_h * w.out_w;
          for (std::int64_t p = 0; p < k.n * k.c; ++p)
            for (std::int64_t o = 0; o < out_plane; ++o)
              dx[p * in_plane + static_cast<std::int64_t>(want_idx[p * out_plane + o])] += gout[p * out_plane + o];
          return Outputs{{"grad_input", dx}};
        };
        check(what + " backward", run_backward, naive_backward, tol_for(t, {1e-6, 1e-7}, {1e-14, 1e-15}));
      }
}

// PyTorch's divisor: the window clipped to the padded input (count_include_pad), or the
// number of input elements it covers.
std::int64_t avg_divisor(const PoolCase& k, const Window2d& w, std::int64_t o, bool count_include_pad) {
  const std::int64_t oh = o / w.out_w, ow = o % w.out_w;
  std::int64_t h0 = oh * k.sh - k.ph, w0 = ow * k.sw - k.pw;
  std::int64_t h1 = std::min(h0 + k.kh, k.h + k.ph), w1 = std::min(w0 + k.kw, k.w + k.pw);
  if (count_include_pad) return (h1 - h0) * (w1 - w0);
  return (std::min(h1, k.h) - std::max<std::int64_t>(h0, 0)) * (std::min(w1, k.w) - std::max<std::int64_t>(w0, 0));
}

TEST_P(Ops, AvgPool2d) {
  for (DType t : kFloatTypes)
    for (bool include_pad : {true, false})
      for (const PoolCase& k : kPoolCases) {
        const Window2d w = pool_window(k);
        const Shape in_shape = {k.n, k.c, k.h, k.w}, out_shape = {k.n, k.c, w.out_h, w.out_w};
        const std::int64_t in_plane = k.h * k.w, out_plane = w.out_h * w.out_w;
        const std::vector<double> x = random_values(in_shape.numel(), t, -1, 1, 33);
        const std::vector<double> gout = random_values(out_shape.numel(), t, -1, 1, 34);
        const std::string what = "avg_pool2d " + str(in_shape) + " kernel " + std::to_string(k.kh) + "x" +
                                 std::to_string(k.kw) + " pad " + std::to_string(k.ph) +
                                 (include_pad ? " count_include_pad " : " ") + str(t);
        const Tol tol = tol_for(t, {1e-6, 1e-7}, {1e-14, 1e-15});
        auto run = [&](Backend& b) {
          Arg xi = make_arg(b, t, in_shape, x), out = make_out(b, t, out_shape);
          b.avg_pool2d(out.view, xi.view, w, include_pad);
          return Outputs{{"out", read(out)}};
        };
        auto naive = [&] {
          std::vector<double> out(out_shape.numel(), 0.0);
          for_each_pool_tap(k, w, [&](std::int64_t p, std::int64_t o, std::int64_t i) {
            out[p * out_plane + o] += x[p * in_plane + i];
          });
          for (std::size_t i = 0; i < out.size(); ++i) out[i] /= static_cast<double>(avg_divisor(k, w, i % out_plane, include_pad));
          return Outputs{{"out", out}};
        };
        check(what, run, naive, tol);
        auto run_backward = [&](Backend& b) {
          Arg go = make_arg(b, t, out_shape, gout), dx = make_out(b, t, in_shape);
          b.avg_pool2d_backward(dx.view, go.view, w, include_pad);
          return Outputs{{"grad_input", read(dx)}};
        };
        auto naive_backward = [&] {
          std::vector<double> dx(in_shape.numel(), 0.0);
          for_each_pool_tap(k, w, [&](std::int64_t p, std::int64_t o, std::int64_t i) {
            dx[p * in_plane + i] += gout[p * out_plane + o] / static_cast<double>(avg_divisor(k, w, o, include_pad));
          });
          return Outputs{{"grad_input", dx}};
        };
        check(what + " backward", run_backward, naive_backward, tol);
      }
}

// ---------------------------------------------------------------- batch normalisation

struct BnShape {
  std::int64_t n, c, l;
};

// Statistics (training with and without running buffers, eval), the normalisation (with
// and without weight and bias) and the gradients, per channel over N*L values; the
// per-channel views strided.
TEST_P(Ops, BatchNorm) {
  const double eps = 1e-5, momentum = 0.1;
  for (DType t : kFloatTypes)
    for (const BnShape& s : {BnShape{3, 4, 5}, BnShape{7, 3, 1}, BnShape{2, 5, 9}, BnShape{1, 2, 2}}) {
      const Shape shape = {s.n, s.c, s.l};
      const std::int64_t count = s.n * s.l;
      const std::vector<double> x = random_values(shape.numel(), t, -2, 3, 41);
      const std::vector<double> rm0 = random_values(s.c, t, -0.5, 0.5, 42), rv0 = random_values(s.c, t, 0.5, 2, 43);
      const std::vector<double> weight = random_values(s.c, t, 0.5, 1.5, 44), bias = random_values(s.c, t, -1, 1, 45);
      const std::vector<double> gout = random_values(shape.numel(), t, -1, 1, 46);
      const Tol tol = tol_for(t, {1e-5, 1e-5}, {1e-12, 1e-12});
      auto at = [&](std::int64_t n, std::int64_t c, std::int64_t l) { return (n * s.c + c) * s.l + l; };
      // The reference statistics: mean, invstd and the running buffers after the update.
      auto stats = [&](bool training, bool running) {
        std::vector<double> mean(s.c), invstd(s.c), rm = rm0, rv = rv0;
        for (std::int64_t c = 0; c < s.c; ++c) {
          if (!training) {
            mean[c] = rm0[c], invstd[c] = 1 / std::sqrt(rv0[c] + eps);
            continue;
          }
          double sum = 0, sq = 0;
          for (std::int64_t n = 0; n < s.n; ++n)
            for (std::int64_t l = 0; l < s.l; ++l) sum += x[at(n, c, l)];
          mean[c] = sum / count;
          for (std::int64_t n = 0; n < s.n; ++n)
            for (std::int64_t l = 0; l < s.l; ++l) sq += (x[at(n, c, l)] - mean[c]) * (x[at(n, c, l)] - mean[c]);
          invstd[c] = 1 / std::sqrt(sq / count + eps);
          if (running) {
            rm[c] = (1 - momentum) * rm0[c] + momentum * mean[c];
            rv[c] = (1 - momentum) * rv0[c] + momentum * (count > 1 ? sq / (count - 1) : sq);
          }
        }
        return std::vector<std::vector<double>>{mean, invstd, rm, rv};
      };
      for (int mode = 0; mode < 3; ++mode) {  // training with running buffers; training without; eval
        const bool training = mode != 2, running = mode != 1;
        if (training && count == 1) continue;  // one value per channel: no variance to speak of
        const std::string what = "batch_norm " + str(shape) + (training ? " training" : " eval") +
                                 (running ? "" : " no running stats") + " " + str(t);
        auto run = [&](Backend& b) {
          Arg xi = make_arg(b, t, shape, x);
          Arg mean = make_out(b, t, {s.c}, Layout::Strided), invstd = make_out(b, t, {s.c});
          Arg rm = make_arg(b, t, {s.c}, rm0, Layout::Strided), rv = make_arg(b, t, {s.c}, rv0);
          b.batch_norm_stats(mean.view, invstd.view, xi.view, running ? rm.view : null_view(t, {s.c}),
                             running ? rv.view : null_view(t, {s.c}), training, momentum, eps);
          Outputs o{{"mean", read(mean)}, {"invstd", read(invstd)}};
          if (running) o.push_back({"running_mean", read(rm)}), o.push_back({"running_var", read(rv)});
          return o;
        };
        auto naive = [&] {
          auto st = stats(training, running);
          Outputs o{{"mean", st[0]}, {"invstd", st[1]}};
          if (running) o.push_back({"running_mean", st[2]}), o.push_back({"running_var", st[3]});
          return o;
        };
        check(what + " stats", run, naive, tol);

        // Normalisation and gradients from the reference statistics, rounded to the dtype.
        auto st = stats(training, running);
        std::vector<double> mean = st[0], invstd = st[1];
        for (double& v : mean) v = round_to(t, v);
        for (double& v : invstd) v = round_to(t, v);
        for (int affine = 0; affine < 3; ++affine) {  // weight and bias; neither; weight only
          const bool has_w = affine != 1, has_b = affine == 0;
          auto run_norm = [&](Backend& b) {
            Arg xi = make_arg(b, t, shape, x), mi = make_arg(b, t, {s.c}, mean, Layout::Strided);
            Arg ii = make_arg(b, t, {s.c}, invstd), wi = make_arg(b, t, {s.c}, weight, Layout::Strided);
            Arg bi = make_arg(b, t, {s.c}, bias), out = make_out(b, t, shape);
            b.batch_norm(out.view, xi.view, mi.view, ii.view, has_w ? wi.view : null_view(t, {s.c}),
                         has_b ? bi.view : null_view(t, {s.c}));
            return Outputs{{"out", read(out)}};
          };
          auto naive_norm = [&] {
            std::vector<double> out(shape.numel());
            for (std::int64_t n = 0; n < s.n; ++n)
              for (std::int64_t c = 0; c < s.c; ++c)
                for (std::int64_t l = 0; l < s.l; ++l)
                  out[at(n, c, l)] = (x[at(n, c, l)] - mean[c]) * invstd[c] * (has_w ? weight[c] : 1) + (has_b ? bias[c] : 0);
            return Outputs{{"out", out}};
          };
          check(what + " normalise affine " + std::to_string(affine), run_norm, naive_norm, tol);

          for (int which = 0; which < 2; ++which) {  // all gradients; grad_input only
            auto run_backward = [&](Backend& b) {
              Arg xi = make_arg(b, t, shape, x), mi = make_arg(b, t, {s.c}, mean), ii = make_arg(b, t, {s.c}, invstd, Layout::Strided);
              Arg wi = make_arg(b, t, {s.c}, weight), go = make_arg(b, t, shape, gout);
              Arg dx = make_out(b, t, shape), dw = make_out(b, t, {s.c}, Layout::Strided), db = make_out(b, t, {s.c});
              b.batch_norm_backward(dx.view, which == 0 ? dw.view : null_view(t, {s.c}),
                                    which == 0 ? db.view : null_view(t, {s.c}), go.view, xi.view, mi.view, ii.view,
                                    has_w ? wi.view : null_view(t, {s.c}), training);
              Outputs o{{"grad_input", read(dx)}};
              if (which == 0) o.push_back({"grad_weight", read(dw)}), o.push_back({"grad_bias", read(db)});
              return o;
            };
            auto naive_backward = [&] {
              std::vector<double> dx(shape.numel()), dw(s.c, 0.0), db(s.c, 0.0);
              for (std::int64_t c = 0; c < s.c; ++c) {
                for (std::int64_t n = 0; n < s.n; ++n)
                  for (std::int64_t l = 0; l < s.l; ++l) {
                    db[c] += gout[at(n, c, l)];
                    dw[c] += gout[at(n, c, l)] * (x[at(n, c, l)] - mean[c]) * invstd[c];
                  }
                const double wc = has_w ? weight[c] : 1;
                for (std::int64_t n = 0; n < s.n; ++n)
                  for (std::int64_t l = 0; l < s.l; ++l) {
                    const double xh = (x[at(n, c, l)] - mean[c]) * invstd[c], dy = gout[at(n, c, l)];
                    dx[at(n, c, l)] = training ? wc * invstd[c] * (dy - db[c] / count - xh * dw[c] / count)
                                               : wc * invstd[c] * dy;
                  }
              }
              Outputs o{{"grad_input", dx}};
              if (which == 0) o.push_back({"grad_weight", dw}), o.push_back({"grad_bias", db});
              return o;
            };
            check(what + " backward affine " + std::to_string(affine) + " outputs " + std::to_string(which),
                  run_backward, naive_backward, tol_for(t, {1e-4, 1e-5}, {1e-11, 1e-12}));
          }
        }
      }
    }
}

// ---------------------------------------------------------------- optimizer steps

// One update of a parameter from random state, against the formulas in double (see
// src/backend/cpu/optim.cpp). The buffers an option leaves unused get null data.
struct StepBuffers {
  std::vector<double> p, g, s1, s2, s3;  // param, grad, state buffers in the method's order
};

StepBuffers step_inputs(std::int64_t n, DType t) {
  StepBuffers b;
  b.p = random_values(n, t, -1, 1, 51);
  b.g = random_values(n, t, -1, 1, 52);
  b.s1 = random_values(n, t, 1, 2, 53);      // positive: sums and averages of squares
  b.s2 = random_values(n, t, -0.5, 0.5, 54); // small: a centred average below sqrt(s1)
  b.s3 = random_values(n, t, 1, 3, 55);      // positive: amsgrad's maximum, or a momentum buffer
  return b;
}

const Shape kStepShapes[] = {{37}, {2, 3, 5}, {0}};

TEST_P(Ops, SgdStep) {
  struct Case { double lr, momentum, dampening, wd; bool nesterov, first; };
  const Case cases[] = {{0.1, 0, 0, 0, false, false},    {0.1, 0, 0, 0.01, false, false},
                        {0.05, 0.9, 0, 0, false, true},  {0.05, 0.9, 0.1, 0.01, false, false},
                        {0.05, 0.9, 0, 0.01, true, false}, {0.05, 0.9, 0, 0, true, true}};
  for (DType t : kFloatTypes)
    for (const Shape& shape : kStepShapes)
      for (const Case& c : cases) {
        const SgdStep s{c.lr, c.momentum, c.dampening, c.wd, c.nesterov, c.first};
        const StepBuffers in = step_inputs(shape.numel(), t);
        const bool buffer = c.momentum != 0;
        auto run = [&](Backend& b) {
          Arg p = make_arg(b, t, shape, in.p), g = make_arg(b, t, shape, in.g), m = make_arg(b, t, shape, in.s2);
          b.sgd_step(p.view, g.view, buffer ? m.view : null_view(t, shape), s);
          Outputs o{{"param", read(p)}, {"grad", read(g)}};
          if (buffer) o.push_back({"momentum_buffer", read(m)});
          return o;
        };
        auto naive = [&] {
          std::vector<double> p = in.p, m = in.s2;
          for (std::size_t i = 0; i < p.size(); ++i) {
            double d = in.g[i] + c.wd * p[i];
            if (buffer) {
              m[i] = c.first ? d : c.momentum * m[i] + (1 - c.dampening) * d;
              d = c.nesterov ? d + c.momentum * m[i] : m[i];
            }
            p[i] -= c.lr * d;
          }
          Outputs o{{"param", p}, {"grad", in.g}};
          if (buffer) o.push_back({"momentum_buffer", m});
          return o;
        };
        check("sgd_step " + str(shape) + " momentum " + std::to_string(c.momentum) + " wd " + std::to_string(c.wd) +
                  (c.nesterov ? " nesterov" : "") + (c.first ? " first" : "") + " " + str(t),
              run, naive, tol_for(t, {1e-5, 1e-6}, {1e-12, 1e-14}));
      }
}

TEST_P(Ops, AdagradStep) {
  struct Case { double clr, wd, eps; bool inside; };
  const Case cases[] = {{0.1, 0, 1e-10, false}, {0.05, 0.01, 1e-8, false}, {0.1, 0, 1e-8, true}, {0.1, 0.1, 1e-6, true}};
  for (DType t : kFloatTypes)
    for (const Shape& shape : kStepShapes)
      for (const Case& c : cases) {
        const AdagradStep s{c.clr, c.wd, c.eps, c.inside};
        const StepBuffers in = step_inputs(shape.numel(), t);
        auto run = [&](Backend& b) {
          Arg p = make_arg(b, t, shape, in.p), g = make_arg(b, t, shape, in.g), sum = make_arg(b, t, shape, in.s1);
          b.adagrad_step(p.view, g.view, sum.view, s);
          return Outputs{{"param", read(p)}, {"sum", read(sum)}};
        };
        auto naive = [&] {
          std::vector<double> p = in.p, sum = in.s1;
          for (std::size_t i = 0; i < p.size(); ++i) {
            const double g = in.g[i] + c.wd * p[i];
            sum[i] += g * g;
            p[i] -= c.clr * g / (c.inside ? std::sqrt(sum[i] + c.eps) : std::sqrt(sum[i]) + c.eps);
          }
          return Outputs{{"param", p}, {"sum", sum}};
        };
        check("adagrad_step " + str(shape) + " wd " + std::to_string(c.wd) + (c.inside ? " eps inside" : "") + " " +
                  str(t),
              run, naive, tol_for(t, {1e-5, 1e-6}, {1e-12, 1e-14}));
      }
}

TEST_P(Ops, RmspropStep) {
  for (DType t : kFloatTypes)
    for (const Shape& shape : kStepShapes)
      for (bool centered : {false, true})
        for (double momentum : {0.0, 0.9})
          for (double wd : {0.0, 0.01}) {
            const RmspropStep s{0.01, 0.99, 1e-8, wd, momentum, centered};
            const StepBuffers in = step_inputs(shape.numel(), t);
            const bool buffer = momentum != 0;
            auto run = [&](Backend& b) {
              Arg p = make_arg(b, t, shape, in.p), g = make_arg(b, t, shape, in.g), v = make_arg(b, t, shape, in.s1);
              Arg a = make_arg(b, t, shape, in.s2), m = make_arg(b, t, shape, in.s3);
              b.rmsprop_step(p.view, g.view, v.view, centered ? a.view : null_view(t, shape),
                             buffer ? m.view : null_view(t, shape), s);
              Outputs o{{"param", read(p)}, {"square_avg", read(v)}};
              if (centered) o.push_back({"grad_avg", read(a)});
              if (buffer) o.push_back({"momentum_buffer", read(m)});
              return o;
            };
            auto naive = [&] {
              std::vector<double> p = in.p, v = in.s1, a = in.s2, m = in.s3;
              for (std::size_t i = 0; i < p.size(); ++i) {
                const double g = in.g[i] + wd * p[i];
                v[i] = s.alpha * v[i] + (1 - s.alpha) * g * g;
                double root;
                if (centered) {
                  a[i] = s.alpha * a[i] + (1 - s.alpha) * g;
                  root = std::sqrt(v[i] - a[i] * a[i]) + s.eps;
                } else {
                  root = std::sqrt(v[i]) + s.eps;
                }
                if (buffer) {
                  m[i] = momentum * m[i] + g / root;
                  p[i] -= s.lr * m[i];
                } else {
                  p[i] -= s.lr * g / root;
                }
              }
              Outputs o{{"param", p}, {"square_avg", v}};
              if (centered) o.push_back({"grad_avg", a});
              if (buffer) o.push_back({"momentum_buffer", m});
              return o;
            };
            check("rmsprop_step " + str(shape) + (centered ? " centered" : "") + " momentum " +
                      std::to_string(momentum) + " wd " + std::to_string(wd) + " " + str(t),
                  run, naive, tol_for(t, {1e-5, 1e-6}, {1e-12, 1e-14}));
          }
}

TEST_P(Ops, AdamStep) {
  for (DType t : kFloatTypes)
    for (const Shape& shape : kStepShapes)
      for (bool amsgrad : {false, true})
        for (int decay = 0; decay < 3; ++decay) {  // none; Adam's L2 weight decay; AdamW's decoupled decay
          const double lr = 0.01, beta1 = 0.9, beta2 = 0.999, step = 3;
          AdamStep s;
          s.step_size = lr / (1 - std::pow(beta1, step));
          s.bias_correction2_sqrt = std::sqrt(1 - std::pow(beta2, step));
          s.beta1 = beta1, s.beta2 = beta2, s.eps = 1e-8;
          s.weight_decay = decay == 1 ? 0.01 : 0;
          s.decay_factor = decay == 2 ? 1 - lr * 0.01 : 1;
          s.amsgrad = amsgrad;
          const StepBuffers in = step_inputs(shape.numel(), t);
          auto run = [&](Backend& b) {
            Arg p = make_arg(b, t, shape, in.p), g = make_arg(b, t, shape, in.g), m = make_arg(b, t, shape, in.s2);
            Arg v = make_arg(b, t, shape, in.s1), vmax = make_arg(b, t, shape, in.s3);
            b.adam_step(p.view, g.view, m.view, v.view, amsgrad ? vmax.view : null_view(t, shape), s);
            Outputs o{{"param", read(p)}, {"exp_avg", read(m)}, {"exp_avg_sq", read(v)}};
            if (amsgrad) o.push_back({"max_exp_avg_sq", read(vmax)});
            return o;
          };
          auto naive = [&] {
            std::vector<double> p = in.p, m = in.s2, v = in.s1, vmax = in.s3;
            for (std::size_t i = 0; i < p.size(); ++i) {
              const double g = in.g[i] + s.weight_decay * p[i];
              m[i] = beta1 * m[i] + (1 - beta1) * g;
              v[i] = beta2 * v[i] + (1 - beta2) * g * g;
              double vi = v[i];
              if (amsgrad) vi = vmax[i] = std::max(vmax[i], v[i]);
              p[i] = p[i] * s.decay_factor - s.step_size * m[i] / (std::sqrt(vi) / s.bias_correction2_sqrt + s.eps);
            }
            Outputs o{{"param", p}, {"exp_avg", m}, {"exp_avg_sq", v}};
            if (amsgrad) o.push_back({"max_exp_avg_sq", vmax});
            return o;
          };
          check("adam_step " + str(shape) + (amsgrad ? " amsgrad" : "") + " decay " + std::to_string(decay) + " " +
                    str(t),
                run, naive, tol_for(t, {1e-5, 1e-6}, {1e-12, 1e-14}));
        }
}

// ---------------------------------------------------------------- norm

TEST_P(Ops, Norm) {
  const double ps[] = {1, 2, 3, 0.5, kInf};
  for (DType t : kFloatTypes)
    for (std::int64_t n : {std::int64_t{0}, std::int64_t{1}, std::int64_t{37}, std::int64_t{1000}, std::int64_t{20003}})
      for (bool with_nan : {false, true})
        for (double p : ps) {
          if (with_nan && n == 0) continue;
          std::vector<double> x = random_values(n, t, -3, 3, 61);
          if (with_nan) x[n / 2] = kNaN;
          auto run = [&](Backend& b) {
            Arg src = make_arg(b, t, {n}, x), dst = make_out(b, DType::Float64, {});
            b.norm(dst.view, src.view, p);
            return Outputs{{"norm", read(dst)}};
          };
          auto naive = [&] {
            double acc = 0;
            for (double v : x) acc = std::isinf(p) ? ((v != v || acc != acc) ? kNaN : std::max(acc, std::fabs(v)))
                                                   : acc + std::pow(std::fabs(v), p);
            return Outputs{{"norm", {std::isinf(p) ? acc : std::pow(acc, 1 / p)}}};
          };
          check("norm p=" + std::to_string(p) + " n=" + std::to_string(n) + (with_nan ? " NaN" : "") + " " + str(t), run,
                naive, {1e-12, 1e-300});
        }
}

// ---------------------------------------------------------------- random fills

// Elements 2j and 2j+1 from Philox block (key, first + j), by the formulas of
// src/backend/cpu/random.cpp: the same numbers on every backend.
TEST_P(Ops, RandomFillsFollowPhilox) {
  const std::uint64_t key = 99, first = 1000;
  for (DType t : kFloatTypes)
    for (std::int64_t n : {std::int64_t{7}, std::int64_t{4000}, std::int64_t{0}})
      for (int kind = 0; kind < 4; ++kind) {  // uniform [0, 1); uniform [-1, 3); normal (1, 3); bernoulli 0.3
        auto run = [&](Backend& b) {
          Arg dst = make_out(b, t, {n});
          if (kind == 0) b.fill_uniform(dst.view, 0, 1, key, first);
          if (kind == 1) b.fill_uniform(dst.view, -1, 3, key, first);
          if (kind == 2) b.fill_normal(dst.view, 1, 3, key, first);
          if (kind == 3) b.fill_bernoulli(dst.view, 0.3, key, first);
          return Outputs{{"values", read(dst)}};
        };
        auto naive = [&] {
          std::vector<double> out(n);
          for (std::int64_t i = 0; i < n; ++i) {
            auto w = philox4x32(key, first + static_cast<std::uint64_t>(i / 2));
            const bool second = i % 2 == 1;
            const double u = t == DType::Float32 ? uniform_float(second ? w[1] : w[0])
                                                 : second ? uniform_double(w[2], w[3]) : uniform_double(w[0], w[1]);
            if (kind == 0) out[i] = u;
            if (kind == 1) out[i] = -1 + 4 * u;
            if (kind == 2) {
              const double r = std::sqrt(-2 * std::log(1 - uniform_double(w[0], w[1])));
              const double u1 = t == DType::Float32 ? uniform_float(w[2]) : uniform_double(w[2], w[3]);
              const double theta = 2 * std::numbers::pi * u1;
              out[i] = 1 + 3 * r * (second ? std::sin(theta) : std::cos(theta));
            }
            if (kind == 3) out[i] = (second ? uniform_double(w[2], w[3]) : uniform_double(w[0], w[1])) < 0.3 ? 1 : 0;
          }
          return Outputs{{"values", out}};
        };
        // Against the formulas: exact but for the rounding of float arithmetic (a normal's
        // float32 maths, to 1e-5 of its radius). Against the CPU: the same numbers.
        Tol tol = kExact;
        if (kind == 1) tol = tol_for(t, {1e-6, 1e-6}, {1e-15, 1e-15});
        if (kind == 2) tol = on_reference() ? tol_for(t, {1e-5, 1e-4}, {1e-14, 1e-14}) : tol_for(t, {1e-5, 1e-5}, {1e-14, 1e-14});
        check("random kind " + std::to_string(kind) + " n=" + std::to_string(n) + " " + str(t), run, naive, tol);
      }
}

// A fill starting at block b continues one that started earlier; moments of large fills.
TEST_P(Ops, RandomFillsContinueAndHaveTheRightMoments) {
  for (DType t : kFloatTypes) {
    Arg whole = make_out(be(), t, {20}), tail = make_out(be(), t, {10});
    be().fill_normal(whole.view, 0, 1, 99, 1000);
    be().fill_normal(tail.view, 0, 1, 99, 1005);
    std::vector<double> w = read(whole);
    EXPECT_EQ(std::vector<double>(w.begin() + 10, w.end()), read(tail));

    const std::int64_t n = 200000;
    auto moments = [](const std::vector<double>& v, double& mean, double& var) {
      mean = std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
      var = 0;
      for (double x : v) var += (x - mean) * (x - mean);
      var /= static_cast<double>(v.size() - 1);
    };
    Arg x = make_out(be(), t, {n});
    double mean, var;
    be().fill_uniform(x.view, -1, 3, 5, 0);
    std::vector<double> u = read(x);
    moments(u, mean, var);
    EXPECT_NEAR(mean, 1.0, 0.02);
    EXPECT_NEAR(var, 16.0 / 12.0, 0.02);
    EXPECT_GE(*std::min_element(u.begin(), u.end()), -1.0);
    EXPECT_LT(*std::max_element(u.begin(), u.end()), 3.0);

    be().fill_normal(x.view, 0.5, 2, 6, 0);
    std::vector<double> g = read(x);
    moments(g, mean, var);
    EXPECT_NEAR(mean, 0.5, 0.03);
    EXPECT_NEAR(var, 4.0, 0.06);
    std::int64_t within = std::count_if(g.begin(), g.end(), [](double v) { return std::fabs(v - 0.5) < 2; });
    EXPECT_NEAR(static_cast<double>(within) / n, 0.6827, 0.005);  // one sigma

    be().fill_bernoulli(x.view, 0.3, 7, 0);
    std::vector<double> b = read(x);
    for (double v : b) ASSERT_TRUE(v == 0 || v == 1);
    EXPECT_NEAR(std::accumulate(b.begin(), b.end(), 0.0) / n, 0.3, 0.005);
  }
}

// ---------------------------------------------------------------- recurrent layers

const RnnCell kRnnCellsUnderTest[] = {RnnCell::RnnTanh, RnnCell::RnnRelu, RnnCell::Lstm, RnnCell::Gru, RnnCell::Mgu};
const char* rnn_name(RnnCell k) { return rnn_cell_info(k).key; }

// A layer's inputs as host values; an empty vector stands for a null pointer.
struct RnnCase {
  RnnDims d;
  std::vector<double> x, h0, c0, w_ih, w_hh, b_ih, b_hh, peephole, lengths;
  std::string name;
};

RnnCase rnn_case(RnnCell kind, DType t, bool reverse, bool bias, bool peephole, bool lengths, std::int64_t steps = 4,
                 std::int64_t batch = 3, std::int64_t input = 3, std::int64_t hidden = 2) {
  RnnCase c;
  c.d = RnnDims{kind, steps, batch, input, hidden, reverse, t};
  const std::int64_t gh = rnn_gate_count(kind) * hidden;
  c.x = random_values(steps * batch * input, t, -1, 1, 71);
  c.h0 = random_values(batch * hidden, t, -0.8, 0.8, 72);
  if (kind == RnnCell::Lstm) c.c0 = random_values(batch * hidden, t, -0.8, 0.8, 73);
  c.w_ih = random_values(gh * input, t, -0.7, 0.7, 74);
  c.w_hh = random_values(gh * hidden, t, -0.7, 0.7, 75);
  if (bias) c.b_ih = random_values(gh, t, -0.5, 0.5, 76), c.b_hh = random_values(gh, t, -0.5, 0.5, 77);
  if (peephole) c.peephole = random_values(3 * hidden, t, -0.5, 0.5, 78);
  if (lengths)
    for (std::int64_t b = 0; b < batch; ++b) c.lengths.push_back(static_cast<double>(b == 0 ? steps : 1 + (b * 2) % steps));
  c.name = std::string(rnn_name(kind)) + (reverse ? " reverse" : "") + (bias ? "" : " no bias") +
           (peephole ? " peephole" : "") + (lengths ? " lengths" : "") + " T" + std::to_string(steps) + " B" +
           std::to_string(batch) + " " + str(t);
  return c;
}

double sigmoid(double v) { return 1 / (1 + std::exp(-v)); }

// The cell equations (backend.hpp, src/backend/cpu/rnn.cpp), one row and step at a time, in
// double: the layer's output (T, B, H), h states and c states (T+1, B, H) in their slots.
struct RnnResult {
  std::vector<double> output, h_states, c_states;
};

RnnResult rnn_reference(const RnnCase& c) {
  const RnnDims& d = c.d;
  const std::int64_t T = d.steps, B = d.batch, I = d.input, H = d.hidden;
  const bool lstm = d.kind == RnnCell::Lstm;
  RnnResult r;
  r.output.assign(T * B * H, 0.0);
  r.h_states.assign((T + 1) * B * H, 0.0);
  if (lstm) r.c_states.assign((T + 1) * B * H, 0.0);
  const std::int64_t first_slot = d.reverse ? T : 0;
  for (std::int64_t i = 0; i < B * H; ++i) {
    r.h_states[first_slot * B * H + i] = c.h0[i];
    if (lstm) r.c_states[first_slot * B * H + i] = c.c0[i];
  }
  auto bias = [](const std::vector<double>& v, std::int64_t i) { return v.empty() ? 0.0 : v[i]; };
  // Row `row` of W (G*H, cols) times vec.
  auto dot = [](const std::vector<double>& w, std::int64_t row, std::int64_t cols, const double* vec) {
    double s = 0;
    for (std::int64_t k = 0; k < cols; ++k) s += w[row * cols + k] * vec[k];
    return s;
  };
  for (std::int64_t s = 0; s < T; ++s) {
    const std::int64_t t = d.reverse ? T - 1 - s : s;
    const std::int64_t prev = d.reverse ? t + 1 : t, next = d.reverse ? t : t + 1;
    for (std::int64_t b = 0; b < B; ++b) {
      const double* x = &c.x[(t * B + b) * I];
      const double* hp = &r.h_states[(prev * B + b) * H];
      double* hn = &r.h_states[(next * B + b) * H];
      const double* cp = lstm ? &r.c_states[(prev * B + b) * H] : nullptr;
      double* cn = lstm ? &r.c_states[(next * B + b) * H] : nullptr;
      const bool active = c.lengths.empty() || t < static_cast<std::int64_t>(c.lengths[b]);
      std::vector<double> h_new(H), c_new(H);
      // The gate pre-activation W_ih x + b_ih + W_hh h + b_hh of gate block k, unit j.
      auto pre = [&](std::int64_t k, std::int64_t j) {
        const std::int64_t row = k * H + j;
        return dot(c.w_ih, row, I, x) + bias(c.b_ih, row) + dot(c.w_hh, row, H, hp) + bias(c.b_hh, row);
      };
      std::vector<double> fh(H);  // MGU: f * h(t-1)
      for (std::int64_t j = 0; j < H; ++j) {
        switch (d.kind) {
          case RnnCell::RnnTanh: h_new[j] = std::tanh(pre(0, j)); break;
          case RnnCell::RnnRelu: h_new[j] = std::max(pre(0, j), 0.0); break;
          case RnnCell::Lstm: {
            const double pi = c.peephole.empty() ? 0 : c.peephole[j], pf = c.peephole.empty() ? 0 : c.peephole[H + j];
            const double po = c.peephole.empty() ? 0 : c.peephole[2 * H + j];
            const double ig = sigmoid(pre(0, j) + pi * cp[j]), fg = sigmoid(pre(1, j) + pf * cp[j]);
            const double gg = std::tanh(pre(2, j));
            c_new[j] = fg * cp[j] + ig * gg;
            const double og = sigmoid(pre(3, j) + po * c_new[j]);
            h_new[j] = og * std::tanh(c_new[j]);
            break;
          }
          case RnnCell::Gru: {
            const double rg = sigmoid(pre(0, j)), zg = sigmoid(pre(1, j));
            const std::int64_t row = 2 * H + j;
            const double n = std::tanh(dot(c.w_ih, row, I, x) + bias(c.b_ih, row) +
                                       rg * (dot(c.w_hh, row, H, hp) + bias(c.b_hh, row)));
            h_new[j] = (1 - zg) * n + zg * hp[j];
            break;
          }
          case RnnCell::Mgu: fh[j] = sigmoid(pre(0, j)) * hp[j]; break;
        }
      }
      if (d.kind == RnnCell::Mgu)
        for (std::int64_t j = 0; j < H; ++j) {
          const double f = sigmoid(pre(0, j));
          const std::int64_t row = H + j;
          const double n = std::tanh(dot(c.w_ih, row, I, x) + bias(c.b_ih, row) + dot(c.w_hh, row, H, fh.data()) +
                                     bias(c.b_hh, row));
          h_new[j] = (1 - f) * hp[j] + f * n;
        }
      for (std::int64_t j = 0; j < H; ++j) {
        hn[j] = active ? h_new[j] : hp[j];
        if (lstm) cn[j] = active ? c_new[j] : cp[j];
        r.output[(t * B + b) * H + j] = active ? h_new[j] : 0;
      }
    }
  }
  return r;
}

// Device copies of a case's inputs on one backend.
struct RnnArgs {
  Arg x, h_states, c_states, w_ih, w_hh, b_ih, b_hh, peephole, lengths;
  RnnWeights weights() const {
    auto ptr = [](const Arg& a) -> const void* { return a.buffer ? a.view.data : nullptr; };
    return RnnWeights{ptr(w_ih), ptr(w_hh), ptr(b_ih), ptr(b_hh), ptr(peephole)};
  }
  const std::int64_t* length_ptr() const {
    return lengths.buffer ? static_cast<const std::int64_t*>(lengths.view.data) : nullptr;
  }
};

RnnArgs rnn_args(Backend& b, const RnnCase& c) {
  const RnnDims& d = c.d;
  const DType t = d.dtype;
  auto opt = [&](const std::vector<double>& v, DType dt = DType::Float32) {
    return v.empty() ? Arg{} : make_arg(b, dt, {static_cast<std::int64_t>(v.size())}, v);
  };
  RnnArgs a;
  a.x = make_arg(b, t, {d.steps, d.batch, d.input}, c.x);
  // States: h0 (and c0) in their slot, the other slots NaN until the forward writes them.
  const std::int64_t BH = d.batch * d.hidden, slot = d.reverse ? d.steps : 0;
  std::vector<double> hs((d.steps + 1) * BH, kNaN), cs = hs;
  std::copy(c.h0.begin(), c.h0.end(), hs.begin() + slot * BH);
  if (!c.c0.empty()) std::copy(c.c0.begin(), c.c0.end(), cs.begin() + slot * BH);
  a.h_states = make_arg(b, t, {d.steps + 1, d.batch, d.hidden}, hs);
  if (!c.c0.empty()) a.c_states = make_arg(b, t, {d.steps + 1, d.batch, d.hidden}, cs);
  a.w_ih = opt(c.w_ih, t), a.w_hh = opt(c.w_hh, t), a.b_ih = opt(c.b_ih, t), a.b_hh = opt(c.b_hh, t);
  a.peephole = opt(c.peephole, t);
  a.lengths = opt(c.lengths, DType::Int64);
  return a;
}

void* data_or_null(const Arg& a) { return a.buffer ? a.view.data : nullptr; }

// Runs the forward on b; the gates buffer stays alive in `gates` for a backward pass.
Outputs rnn_forward_on(Backend& b, const RnnCase& c, RnnArgs& a, Arg& gates) {
  const RnnDims& d = c.d;
  gates = make_out(b, d.dtype, {b.rnn_saved_size(d)});
  Arg workspace = make_out(b, d.dtype, {b.rnn_forward_workspace(d)});
  Arg output = make_out(b, d.dtype, {d.steps, d.batch, d.hidden});
  RnnForwardBuffers f;
  f.input = a.x.view.data;
  f.lengths = a.length_ptr();
  f.output = output.view.data;
  f.h_states = a.h_states.view.data;
  f.c_states = data_or_null(a.c_states);
  f.gates = gates.view.data;
  f.workspace = workspace.view.data;
  b.rnn_forward(d, a.weights(), f);
  Outputs o{{"output", read(output)}, {"h_states", read(a.h_states)}};
  if (a.c_states.buffer) o.push_back({"c_states", read(a.c_states)});
  return o;
}

// float32 activations differ by an ulp or two between implementations, and the recurrence
// carries the difference through the steps.
Tol rnn_tol(DType t) { return tol_for(t, {2e-5, 2e-6}, {1e-12, 1e-13}); }

std::vector<RnnCase> rnn_cases(DType t) {
  std::vector<RnnCase> cases;
  for (RnnCell kind : kRnnCellsUnderTest)
    for (bool reverse : {false, true})
      for (bool lengths : {false, true}) {
        cases.push_back(rnn_case(kind, t, reverse, true, false, lengths));
        if (kind == RnnCell::Lstm) cases.push_back(rnn_case(kind, t, reverse, true, true, lengths));
      }
  for (RnnCell kind : kRnnCellsUnderTest) cases.push_back(rnn_case(kind, t, false, false, false, false));
  // Odd sizes: one step; one row; a wide layer.
  cases.push_back(rnn_case(RnnCell::Lstm, t, false, true, true, false, 1, 1, 1, 1));
  cases.push_back(rnn_case(RnnCell::Gru, t, true, true, false, true, 5, 1, 4, 3));
  cases.push_back(rnn_case(RnnCell::Mgu, t, false, true, false, true, 3, 5, 7, 9));
  cases.push_back(rnn_case(RnnCell::Lstm, t, true, true, false, true, 6, 4, 5, 7));
  return cases;
}

TEST_P(Ops, RnnForward) {
  for (DType t : kFloatTypes)
    for (const RnnCase& c : rnn_cases(t)) {
      auto run = [&](Backend& b) {
        RnnArgs a = rnn_args(b, c);
        Arg gates;
        return rnn_forward_on(b, c, a, gates);
      };
      auto naive = [&] {
        RnnResult r = rnn_reference(c);
        Outputs o{{"output", r.output}, {"h_states", r.h_states}};
        if (!r.c_states.empty()) o.push_back({"c_states", r.c_states});
        return o;
      };
      check("rnn_forward " + c.name, run, naive, rnn_tol(t));
    }
}

// The backward pass against central differences of the reference forward, in double, of
// L = sum(grad_output * output) + sum(grad_h_n * h_n) + sum(grad_c_n * c_n).
TEST_P(Ops, RnnBackward) {
  for (DType t : kFloatTypes)
    for (const RnnCase& c : rnn_cases(t))
      for (int variant = 0; variant < 2; ++variant) {  // all gradients; only grad_output in, some outputs off
        const RnnDims& d = c.d;
        const bool lstm = d.kind == RnnCell::Lstm, all = variant == 0;
        const std::int64_t BH = d.batch * d.hidden, final_slot = d.reverse ? 0 : d.steps;
        const std::vector<double> gout = random_values(d.steps * BH, t, -1, 1, 81);
        const std::vector<double> ghn = all ? random_values(BH, t, -1, 1, 82) : std::vector<double>{};
        const std::vector<double> gcn = all && lstm ? random_values(BH, t, -1, 1, 83) : std::vector<double>{};
        auto run = [&](Backend& b) {
          RnnArgs a = rnn_args(b, c);
          Arg gates;
          rnn_forward_on(b, c, a, gates);
          Arg go = make_arg(b, t, {d.steps, d.batch, d.hidden}, gout);
          Arg gh = ghn.empty() ? Arg{} : make_arg(b, t, {d.batch, d.hidden}, ghn);
          Arg gc = gcn.empty() ? Arg{} : make_arg(b, t, {d.batch, d.hidden}, gcn);
          Arg dx = make_out(b, t, a.x.view.shape), dwi = make_out(b, t, {static_cast<std::int64_t>(c.w_ih.size())});
          Arg dwh = make_out(b, t, {static_cast<std::int64_t>(c.w_hh.size())});
          Arg dbi = make_out(b, t, {static_cast<std::int64_t>(c.b_ih.size())});
          Arg dbh = make_out(b, t, {static_cast<std::int64_t>(c.b_hh.size())});
          Arg dp = make_out(b, t, {static_cast<std::int64_t>(c.peephole.size())});
          Arg dh0 = make_out(b, t, {BH}), dc0 = make_out(b, t, {BH});
          Arg workspace = make_out(b, t, {b.rnn_backward_workspace(d)});
          RnnBackwardBuffers bb;
          bb.input = a.x.view.data;
          bb.lengths = a.length_ptr();
          bb.h_states = a.h_states.view.data;
          bb.c_states = data_or_null(a.c_states);
          bb.gates = gates.view.data;
          bb.grad_output = go.view.data;
          bb.grad_h_n = data_or_null(gh);
          bb.grad_c_n = data_or_null(gc);
          const bool bias = !c.b_ih.empty(), peep = !c.peephole.empty();
          bb.grad_input = all ? dx.view.data : nullptr;
          bb.grad_w_ih = dwi.view.data;
          bb.grad_w_hh = all ? dwh.view.data : nullptr;
          bb.grad_b_ih = bias ? dbi.view.data : nullptr;
          bb.grad_b_hh = bias && all ? dbh.view.data : nullptr;
          bb.grad_peephole = peep && all ? dp.view.data : nullptr;
          bb.grad_h0 = dh0.view.data;
          bb.grad_c0 = lstm && all ? dc0.view.data : nullptr;
          bb.workspace = workspace.view.data;
          b.rnn_backward(d, a.weights(), bb);
          Outputs o;
          if (all) o.push_back({"grad_input", read(dx)});
          o.push_back({"grad_w_ih", read(dwi)});
          if (all) o.push_back({"grad_w_hh", read(dwh)});
          if (bias) o.push_back({"grad_b_ih", read(dbi)});
          if (bias && all) o.push_back({"grad_b_hh", read(dbh)});
          if (peep && all) o.push_back({"grad_peephole", read(dp)});
          o.push_back({"grad_h0", read(dh0)});
          if (lstm && all) o.push_back({"grad_c0", read(dc0)});
          return o;
        };
        auto naive = [&] {
          RnnCase probe = c;
          auto loss = [&] {
            RnnResult r = rnn_reference(probe);
            double l = 0;
            for (std::size_t i = 0; i < gout.size(); ++i) l += gout[i] * r.output[i];
            for (std::size_t i = 0; i < ghn.size(); ++i) l += ghn[i] * r.h_states[final_slot * BH + i];
            for (std::size_t i = 0; i < gcn.size(); ++i) l += gcn[i] * r.c_states[final_slot * BH + i];
            return l;
          };
          auto grad = [&](std::vector<double>& v) {
            std::vector<double> g(v.size());
            for (std::size_t i = 0; i < v.size(); ++i) {
              const double keep = v[i], h = 1e-6;
              v[i] = keep + h;
              const double up = loss();
              v[i] = keep - h;
              const double down = loss();
              v[i] = keep;
              g[i] = (up - down) / (2 * h);
            }
            return g;
          };
          const bool bias = !c.b_ih.empty(), peep = !c.peephole.empty();
          Outputs o;
          if (all) o.push_back({"grad_input", grad(probe.x)});
          o.push_back({"grad_w_ih", grad(probe.w_ih)});
          if (all) o.push_back({"grad_w_hh", grad(probe.w_hh)});
          if (bias) o.push_back({"grad_b_ih", grad(probe.b_ih)});
          if (bias && all) o.push_back({"grad_b_hh", grad(probe.b_hh)});
          if (peep && all) o.push_back({"grad_peephole", grad(probe.peephole)});
          o.push_back({"grad_h0", grad(probe.h0)});
          if (lstm && all) o.push_back({"grad_c0", grad(probe.c0)});
          return o;
        };
        check("rnn_backward " + c.name + (all ? "" : " grad_output only"), run, naive,
              on_reference() ? tol_for(t, {1e-3, 2e-4}, {1e-6, 1e-7}) : tol_for(t, {1e-4, 1e-5}, {1e-11, 1e-12}));
      }
}

// One inference step, h and c updated in place, against one step of the reference.
TEST_P(Ops, RnnStep) {
  for (DType t : kFloatTypes)
    for (RnnCell kind : kRnnCellsUnderTest)
      for (int variant = 0; variant < 3; ++variant) {  // bias; no bias; LSTM with peepholes, or odd sizes
        const bool peep = variant == 2 && kind == RnnCell::Lstm;
        RnnCase c = variant == 2 && !peep ? rnn_case(kind, t, false, true, false, false, 1, 5, 7, 9)
                                          : rnn_case(kind, t, false, variant != 1, peep, false, 1);
        auto run = [&](Backend& b) {
          const RnnDims& d = c.d;
          RnnArgs a = rnn_args(b, c);
          Arg h = make_arg(b, t, {d.batch, d.hidden}, c.h0);
          Arg cell = c.c0.empty() ? Arg{} : make_arg(b, t, {d.batch, d.hidden}, c.c0);
          Arg workspace = make_out(b, t, {b.rnn_step_workspace(d)});
          b.rnn_step(d, a.weights(), a.x.view.data, h.view.data, data_or_null(cell), workspace.view.data, nullptr,
                     nullptr);
          Outputs o{{"h", read(h)}};
          if (cell.buffer) o.push_back({"c", read(cell)});
          return o;
        };
        auto naive = [&] {
          RnnResult r = rnn_reference(c);
          const std::int64_t BH = c.d.batch * c.d.hidden;
          Outputs o{{"h", std::vector<double>(r.h_states.begin() + BH, r.h_states.end())}};
          if (!r.c_states.empty()) o.push_back({"c", std::vector<double>(r.c_states.begin() + BH, r.c_states.end())});
          return o;
        };
        check("rnn_step " + c.name, run, naive, rnn_tol(t));
      }
}

INSTANTIATE_TEST_SUITE_P(Backend, Ops, testing::ValuesIn(backends_under_test()), backend_test_name);

// ---------------------------------------------------------------- CPU only: threads

// Runs a scope with the given thread count, restoring the previous one.
struct ThreadCount {
  explicit ThreadCount(int n) : saved(get_num_threads()) { set_num_threads(n); }
  ~ThreadCount() { set_num_threads(saved); }
  int saved;
};

// Runs f once with one thread and once with two and expects the same bits: the CPU
// kernels' OpenMP paths (large inputs) split work without changing results.
void expect_thread_independent(const std::function<std::vector<double>()>& f, const std::string& what) {
  std::vector<double> one, two;
  {
    ThreadCount t(1);
    one = f();
  }
  {
    ThreadCount t(2);
    two = f();
  }
  EXPECT_EQ(one, two) << what;
}

TEST(CpuBackendThreads, CopyUnaryBinaryMatchSerial) {
  Backend& cpu = cpu_reference();
  const std::int64_t r = 700, c = 900;
  Arg src = make_arg(cpu, DType::Float32, {c, r}, random_values(r * c, DType::Float32), Layout::Reversed);
  expect_thread_independent([&] {
    Arg dst = make_out(cpu, DType::Float32, {c, r});
    cpu.copy(dst.view, src.view);
    return read(dst);
  }, "transposing copy");
  // (6, 37, 45) seen as (45, 6, 37): the tiled transposing path with an outer dim.
  std::vector<double> ints(6 * 37 * 45);
  std::iota(ints.begin(), ints.end(), 0.0);
  Arg perm = make_strided(cpu, DType::Int64, {45, 6, 37}, {1, 37 * 45, 45}, 0, ints);
  expect_thread_independent([&] {
    Arg dst = make_out(cpu, DType::Float32, {45, 6, 37});
    cpu.copy(dst.view, perm.view);
    std::vector<double> got = read(dst);
    EXPECT_EQ(got, perm.values);
    return got;
  }, "permuted copy");
  const std::int64_t n = (1 << 20) + 37;
  Arg x = make_arg(cpu, DType::Float32, {n}, random_values(n, DType::Float32, -10, 10));
  for (UnaryOp op : {UnaryOp::Exp, UnaryOp::Tanh, UnaryOp::Relu})
    expect_thread_independent([&] {
      Arg dst = make_out(cpu, DType::Float32, {n});
      cpu.unary(op, dst.view, x.view, {});
      return read(dst);
    }, "unary " + std::to_string(static_cast<int>(op)));
  const std::int64_t rows = 1000, cols = 513;
  Arg a = make_arg(cpu, DType::Float32, {rows, cols}, random_values(rows * cols, DType::Float32));
  Arg bias = make_broadcast(cpu, DType::Float32, {cols}, random_values(cols, DType::Float32, -2, 2, 3), {rows, cols});
  expect_thread_independent([&] {
    Arg dst = make_out(cpu, DType::Float32, {rows, cols});
    cpu.binary(BinaryOp::Add, dst.view, a.view, bias.view, {});
    return read(dst);
  }, "broadcast add");
}

TEST(CpuBackendThreads, ReductionsMatchReferenceWithOneAndTwoThreads) {
  Backend& cpu = cpu_reference();
  const std::int64_t r = 1500, c = 700;
  const std::vector<double> x = random_values(r * c, DType::Float32, -1, 1);
  Arg src = make_arg(cpu, DType::Float32, {r, c}, x);
  Arg transposed = make_arg(cpu, DType::Float32, {c, r}, x, Layout::Reversed);
  for (int threads : {1, 2}) {
    ThreadCount tc(threads);
    for (ReduceOp op : kReduceOps)
      for (const Shape& out_shape : {Shape{1, c}, Shape{r, 1}, Shape{1, 1}}) {
        Arg dst = make_out(cpu, DType::Float32, out_shape);
        cpu.reduce(op, dst.view, src.view);
        expect_close(read(dst), reduce_reference(op, {r, c}, x, out_shape), {1e-4, 1e-4},
                     "reduce " + std::to_string(static_cast<int>(op)) + " to " + str(out_shape) + " threads " +
                         std::to_string(threads));
      }
    Arg dst = make_out(cpu, DType::Float32, {c, 1});
    cpu.reduce(ReduceOp::Sum, dst.view, transposed.view);
    expect_close(read(dst), reduce_reference(ReduceOp::Sum, {c, r}, transposed.values, {c, 1}), {1e-4, 1e-4},
                 "transposed rows threads " + std::to_string(threads));
  }
}

TEST(CpuBackendThreads, IndexingMatchesSerial) {
  Backend& cpu = cpu_reference();
  const std::int64_t vocab = 1000, width = 64, count = 4000;
  Arg table = make_arg(cpu, DType::Float64, {vocab, width}, random_values(vocab * width, DType::Float64));
  std::vector<double> index(count);
  for (std::int64_t i = 0; i < count; ++i) index[i] = static_cast<double>((i * 7919) % vocab);
  Arg idx = make_arg(cpu, DType::Int64, {count}, index);
  expect_thread_independent([&] {
    Arg out = make_out(cpu, DType::Float64, {count, width});
    cpu.index_select(out.view, table.view, 0, idx.view);
    std::vector<double> got = read(out);
    Shape out_shape;
    EXPECT_EQ(got, index_select_reference({vocab, width}, table.values, 0, index, out_shape));
    return got;
  }, "index_select");

  for (int dim = 0; dim < 2; ++dim) {
    const std::int64_t n = 300;
    const Shape dst_shape = dim == 0 ? Shape{7, 129} : Shape{129, 7}, src_shape = dim == 0 ? Shape{n, 129} : Shape{129, n};
    std::vector<double> add_index(n);
    for (std::int64_t i = 0; i < n; ++i) add_index[i] = static_cast<double>((i * 3) % 7);
    Arg s = make_arg(cpu, DType::Float64, src_shape, random_values(n * 129, DType::Float64));
    Arg ai = make_arg(cpu, DType::Int64, {n}, add_index);
    expect_thread_independent([&] {
      Arg d = make_arg(cpu, DType::Float64, dst_shape, std::vector<double>(7 * 129, 1.0));
      cpu.index_add(d.view, dim, ai.view, s.view);
      return read(d);
    }, "index_add dim " + std::to_string(dim));
  }

  const std::int64_t rows = 2000, cols = 50, out_cols = 10;
  std::vector<double> sidx(rows * cols);
  for (std::int64_t i = 0; i < rows * cols; ++i) sidx[i] = static_cast<double>((i * 13) % out_cols);
  Arg add = make_arg(cpu, DType::Float32, {rows, cols}, random_values(rows * cols, DType::Float32));
  Arg si = make_arg(cpu, DType::Int64, {rows, cols}, sidx);
  expect_thread_independent([&] {
    Arg d = make_arg(cpu, DType::Float32, {rows, out_cols}, std::vector<double>(rows * out_cols, 0.0));
    cpu.scatter_add(d.view, 1, si.view, add.view);
    return read(d);
  }, "scatter_add");
}

TEST(CpuBackendThreads, RandomFillsSameForAnyThreadCount) {
  Backend& cpu = cpu_reference();
  const std::int64_t n = (1 << 18) + 3;  // odd, and large enough to go parallel
  for (DType t : kFloatTypes)
    for (int kind = 0; kind < 3; ++kind)
      expect_thread_independent([&] {
        Arg x = make_out(cpu, t, {n});
        if (kind == 0) cpu.fill_uniform(x.view, -1, 3, 1234, 77);
        if (kind == 1) cpu.fill_normal(x.view, 0.5, 2, 1234, 77);
        if (kind == 2) cpu.fill_bernoulli(x.view, 0.3, 1234, 77);
        return read(x);
      }, "random kind " + std::to_string(kind) + " " + str(t));
}

// ---------------------------------------------------------------- views and dispatch

template <class T>
View host_view(T* data, const Shape& shape, const Shape& strides) {
  View v;
  v.data = data;
  v.dtype = dtype_of<std::remove_const_t<T>>();
  v.shape = shape;
  v.strides = strides;
  return v;
}

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
  View tr = host_view<float>(nullptr, {4, 3}, {1, 4});
  EXPECT_FALSE(tr.is_contiguous());
  EXPECT_TRUE(host_view<float>(nullptr, {1, 3}, {99, 1}).is_contiguous());
}

TEST(BackendViews, BackendForDevices) {
  Backend& a = backend_for(Device::cpu());
  Backend& b = backend_for(Device::cpu());
  EXPECT_EQ(&a, &b);
#ifndef RECUR_CUDA
  try {
    backend_for(Device::cuda(0));
    ADD_FAILURE() << "expected recur::Error";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("without CUDA support"), std::string::npos) << e.what();
  }
#endif
}

// The harness's own machinery: a view's values survive the round trip, and read() notices
// a write outside the view.
TEST(BackendHarness, ArgsRoundTripAndGapsAreChecked) {
  Backend& cpu = cpu_reference();
  const std::vector<double> x = random_values(24, DType::Float64);
  for (Layout layout : {Layout::Contiguous, Layout::Reversed, Layout::Strided}) {
    Arg a = make_arg(cpu, DType::Float64, {2, 3, 4}, x, layout);
    EXPECT_EQ(read(a), x) << layout_name(layout);
  }
  Arg b = make_broadcast(cpu, DType::Float32, {3, 1}, {1, 2, 3}, {2, 3, 2});
  EXPECT_EQ(b.values, (std::vector<double>{1, 1, 2, 2, 3, 3, 1, 1, 2, 2, 3, 3}));
  EXPECT_EQ(b.view.strides, Shape({0, 1, 0}));
  Arg s = make_arg(cpu, DType::Float64, {3}, {1, 2, 3}, Layout::Strided);
  cpu.fill(host_view(static_cast<double*>(s.buffer->data()), {1}, {1}), 5.0);  // the gap before the view
  EXPECT_NONFATAL_FAILURE(read(s), "outside the view");
}

}  // namespace
}  // namespace recur::backend
