// Elementwise unary and binary kernels.
//
// Each op is a small lambda handed to map_unary / map_binary, which walk the operands as
// runs along their innermost dim (loops.hpp) and pick a plain loop for the run's layout:
// all contiguous (the common case, vectorised), one operand a broadcast scalar, or
// general strides. The op switch sits outside the loops, so every op gets its own
// vectorised loop.
#include <cmath>
#include <cstdint>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"
#include "backend/cpu/vec_math.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

// Relative cost of an element, so transcendental ops go parallel on smaller tensors.
constexpr std::int64_t kCheap = 1, kCostly = 8;

template <class T, class F>
void map_unary(const View& dst, const View& src, std::int64_t cost, F f) {
  T* d = typed<T>(dst);
  const T* s = typed<const T>(src);
  const Shape* strides[2] = {&dst.strides, &src.strides};
  StridedIter<2> it = make_iter<2>(dst.shape, strides);
  const std::int64_t ds = it.inner_stride(0), ss = it.inner_stride(1);
  for_each_run(it, [&](const std::int64_t* off, std::int64_t n) {
    T* dp = d + off[0];
    const T* sp = s + off[1];
    if (ds == 1 && ss == 1) {
      for (std::int64_t i = 0; i < n; ++i) dp[i] = f(sp[i]);
    } else if (ds == 1 && ss == 0) {
      const T v = f(sp[0]);
      for (std::int64_t i = 0; i < n; ++i) dp[i] = v;
    } else {
      for (std::int64_t i = 0; i < n; ++i) dp[i * ds] = f(sp[i * ss]);
    }
  }, cost);
}

template <class T, class F>
void map_binary(const View& dst, const View& a, const View& b, std::int64_t cost, F f) {
  T* d = typed<T>(dst);
  const T* pa = typed<const T>(a);
  const T* pb = typed<const T>(b);
  const Shape* strides[3] = {&dst.strides, &a.strides, &b.strides};
  StridedIter<3> it = make_iter<3>(dst.shape, strides);
  const std::int64_t ds = it.inner_stride(0), sa = it.inner_stride(1), sb = it.inner_stride(2);
  for_each_run(it, [&](const std::int64_t* off, std::int64_t n) {
    T* dp = d + off[0];
    const T* ap = pa + off[1];
    const T* bp = pb + off[2];
    if (ds == 1 && sa == 1 && sb == 1) {
      for (std::int64_t i = 0; i < n; ++i) dp[i] = f(ap[i], bp[i]);
    } else if (ds == 1 && sa == 1 && sb == 0) {
      const T bv = bp[0];
      for (std::int64_t i = 0; i < n; ++i) dp[i] = f(ap[i], bv);
    } else if (ds == 1 && sa == 0 && sb == 1) {
      const T av = ap[0];
      for (std::int64_t i = 0; i < n; ++i) dp[i] = f(av, bp[i]);
    } else {
      for (std::int64_t i = 0; i < n; ++i) dp[i * ds] = f(ap[i * sa], bp[i * sb]);
    }
  }, cost);
}

template <class T>
T sign_of(T x) { return static_cast<T>((x > T(0)) - (x < T(0))); }

template <class T>
void unary_typed(UnaryOp op, const View& dst, const View& src, Scalars s) {
  const T a = static_cast<T>(s.a), b = static_cast<T>(s.b);
  switch (op) {
    case UnaryOp::Neg: return map_unary<T>(dst, src, kCheap, [](T x) { return -x; });
    case UnaryOp::Exp: return map_unary<T>(dst, src, kCostly, [](T x) { return cpu::exp_any(x); });
    case UnaryOp::Log: return map_unary<T>(dst, src, kCostly, [](T x) { return cpu::log_any(x); });
    case UnaryOp::Sqrt: return map_unary<T>(dst, src, kCheap, [](T x) { return std::sqrt(x); });
    case UnaryOp::Abs: return map_unary<T>(dst, src, kCheap, [](T x) { return std::fabs(x); });
    case UnaryOp::Sign: return map_unary<T>(dst, src, kCheap, [](T x) { return sign_of(x); });
    case UnaryOp::Sigmoid: return map_unary<T>(dst, src, kCostly, [](T x) { return cpu::sigmoid_any(x); });
    case UnaryOp::Tanh: return map_unary<T>(dst, src, kCostly, [](T x) { return cpu::tanh_any(x); });
    // x < 0 rather than x > 0 so a NaN passes through, as in PyTorch.
    case UnaryOp::Relu: return map_unary<T>(dst, src, kCheap, [](T x) { return x < T(0) ? T(0) : x; });
    case UnaryOp::LeakyRelu: return map_unary<T>(dst, src, kCheap, [a](T x) { return x > T(0) ? x : a * x; });
    case UnaryOp::Pow:
      // Common exponents as multiplications: exact, and vectorised unlike std::pow.
      if (s.a == 0) return map_unary<T>(dst, src, kCheap, [](T) { return T(1); });
      if (s.a == 1) return map_unary<T>(dst, src, kCheap, [](T x) { return x; });
      if (s.a == 2) return map_unary<T>(dst, src, kCheap, [](T x) { return x * x; });
      if (s.a == 3) return map_unary<T>(dst, src, kCheap, [](T x) { return x * x * x; });
      if (s.a == 0.5) return map_unary<T>(dst, src, kCheap, [](T x) { return std::sqrt(x); });
      if (s.a == -1) return map_unary<T>(dst, src, kCheap, [](T x) { return T(1) / x; });
      if (s.a == -2) return map_unary<T>(dst, src, kCheap, [](T x) { return T(1) / (x * x); });
      if (s.a == -0.5) return map_unary<T>(dst, src, kCheap, [](T x) { return T(1) / std::sqrt(x); });
      return map_unary<T>(dst, src, kCostly, [a](T x) { return std::pow(x, a); });
    // Written so a NaN passes through.
    case UnaryOp::Clamp:
      return map_unary<T>(dst, src, kCheap, [a, b](T x) { return x < a ? a : (x > b ? b : x); });
    case UnaryOp::AddScalar: return map_unary<T>(dst, src, kCheap, [a](T x) { return x + a; });
    case UnaryOp::MulScalar: return map_unary<T>(dst, src, kCheap, [a](T x) { return x * a; });
    case UnaryOp::RSubScalar: return map_unary<T>(dst, src, kCheap, [a](T x) { return a - x; });
    case UnaryOp::RDivScalar: return map_unary<T>(dst, src, kCheap, [a](T x) { return a / x; });
    case UnaryOp::Step: return map_unary<T>(dst, src, kCheap, [](T x) { return x > T(0) ? T(1) : T(0); });
  }
}

// Add, Sub, Mul, AddScaled, Maximum, Minimum: shared by float and int64. Maximum and
// minimum propagate NaN like PyTorch (x != x is false for integers).
template <class T>
bool arithmetic(BinaryOp op, const View& dst, const View& a, const View& b, Scalars s) {
  switch (op) {
    case BinaryOp::Add: map_binary<T>(dst, a, b, kCheap, [](T x, T y) { return x + y; }); return true;
    // PyTorch's add with alpha: x + alpha * y, alpha rounded to T first.
    case BinaryOp::AddScaled: {
      const T alpha = static_cast<T>(s.a);
      map_binary<T>(dst, a, b, kCheap, [alpha](T x, T y) { return x + alpha * y; });
      return true;
    }
    case BinaryOp::Sub: map_binary<T>(dst, a, b, kCheap, [](T x, T y) { return x - y; }); return true;
    case BinaryOp::Mul: map_binary<T>(dst, a, b, kCheap, [](T x, T y) { return x * y; }); return true;
    case BinaryOp::Maximum:
      map_binary<T>(dst, a, b, kCheap, [](T x, T y) { return (x > y || x != x) ? x : y; });
      return true;
    case BinaryOp::Minimum:
      map_binary<T>(dst, a, b, kCheap, [](T x, T y) { return (x < y || x != x) ? x : y; });
      return true;
    default: return false;
  }
}

// The backward helpers: g is the incoming gradient, v the saved tensor.
template <class T>
void binary_typed(BinaryOp op, const View& dst, const View& a, const View& b, Scalars s) {
  if (arithmetic<T>(op, dst, a, b, s)) return;
  const T lo = static_cast<T>(s.a), hi = static_cast<T>(s.b);
  switch (op) {
    case BinaryOp::Div: return map_binary<T>(dst, a, b, kCheap, [](T x, T y) { return x / y; });
    // d tanh = 1 - tanh^2
    case BinaryOp::TanhBackward:
      return map_binary<T>(dst, a, b, kCheap, [](T g, T v) { return g * (T(1) - v * v); });
    // d sigmoid = sigmoid (1 - sigmoid)
    case BinaryOp::SigmoidBackward:
      return map_binary<T>(dst, a, b, kCheap, [](T g, T v) { return g * v * (T(1) - v); });
    case BinaryOp::ReluBackward:
      return map_binary<T>(dst, a, b, kCheap, [](T g, T v) { return v > T(0) ? g : T(0); });
    case BinaryOp::LeakyReluBackward:
      return map_binary<T>(dst, a, b, kCheap, [lo](T g, T v) { return v > T(0) ? g : lo * g; });
    case BinaryOp::ClampBackward:
      return map_binary<T>(dst, a, b, kCheap, [lo, hi](T g, T v) { return (v >= lo && v <= hi) ? g : T(0); });
    case BinaryOp::AbsBackward:
      return map_binary<T>(dst, a, b, kCheap, [](T g, T v) { return g * sign_of(v); });
    default: return;
  }
}

}  // namespace

void CpuBackend::unary(UnaryOp op, const View& dst, const View& src, Scalars s) {
  if (dst.numel() == 0) return;
  if (dst.dtype == DType::Float64) return unary_typed<double>(op, dst, src, s);
  unary_typed<float>(op, dst, src, s);
}

void CpuBackend::binary(BinaryOp op, const View& dst, const View& a, const View& b, Scalars s) {
  if (dst.numel() == 0) return;
  switch (dst.dtype) {
    case DType::Float32: return binary_typed<float>(op, dst, a, b, s);
    case DType::Float64: return binary_typed<double>(op, dst, a, b, s);
    case DType::Int64: arithmetic<std::int64_t>(op, dst, a, b, s); return;
  }
}

}  // namespace recur::backend
