// Elementwise unary and binary kernels: one kernel per (dtype, op), chosen on the host, over
// dense operands (a flat loop) or any strides (the offset calculator).
//
// Float32 exp / log / tanh use CUDA's expf / logf / tanhf (max error 1-2 ulp); the CPU uses
// its own Cephes polynomials (vec_math.hpp, 2-3 ulp), so float32 results of those ops agree
// with the CPU's to a few ulp (relative 1e-6), not bit for bit. Everything else (+ - * /,
// sqrt, comparisons) is correctly rounded on both sides.
#include <cmath>

#include "backend/cuda/cuda_common.cuh"

namespace recur::backend {
namespace {

using namespace cuda;

// Pow with the exponents the CPU computes by multiplication, as their own ops.
enum PowOp : int {
  kPowGeneral = 100, kPowZero, kPowOne, kPowTwo, kPowThree, kPowHalf, kPowMinusOne, kPowMinusTwo, kPowMinusHalf,
};

__device__ __forceinline__ float dexp(float x) { return expf(x); }
__device__ __forceinline__ double dexp(double x) { return exp(x); }
__device__ __forceinline__ float dlog(float x) { return logf(x); }
__device__ __forceinline__ double dlog(double x) { return log(x); }
__device__ __forceinline__ float dtanh(float x) { return tanhf(x); }
__device__ __forceinline__ double dtanh(double x) { return tanh(x); }
__device__ __forceinline__ float dsqrt(float x) { return sqrtf(x); }
__device__ __forceinline__ double dsqrt(double x) { return sqrt(x); }
__device__ __forceinline__ float dpow(float x, float y) { return powf(x, y); }
__device__ __forceinline__ double dpow(double x, double y) { return pow(x, y); }

template <class T>
__device__ __forceinline__ T sign_of(T x) { return static_cast<T>((x > T(0)) - (x < T(0))); }

// sigmoid(x) = 1 / (1 + exp(-|x|)) or exp(-|x|) / (1 + exp(-|x|)): exp never overflows.
template <class T>
__device__ __forceinline__ T sigmoid(T x) {
  T nx = -fabs(x);
  if constexpr (sizeof(T) == 4) nx = nx < T(-104) ? T(-104) : nx;  // as the CPU's float path
  const T e = dexp(nx);
  const T inv = T(1) / (T(1) + e);
  return x >= T(0) ? inv : e * inv;
}

template <class T, int Op>
__device__ __forceinline__ T unary_apply(T x, T a, T b) {
  if constexpr (Op == int(UnaryOp::Neg)) return -x;
  else if constexpr (Op == int(UnaryOp::Exp)) return dexp(x);
  else if constexpr (Op == int(UnaryOp::Log)) return dlog(x);
  else if constexpr (Op == int(UnaryOp::Sqrt)) return dsqrt(x);
  else if constexpr (Op == int(UnaryOp::Abs)) return fabs(x);
  else if constexpr (Op == int(UnaryOp::Sign)) return sign_of(x);
  else if constexpr (Op == int(UnaryOp::Sigmoid)) return sigmoid(x);
  else if constexpr (Op == int(UnaryOp::Tanh)) return dtanh(x);
  else if constexpr (Op == int(UnaryOp::Relu)) return x < T(0) ? T(0) : x;  // NaN passes through
  else if constexpr (Op == int(UnaryOp::LeakyRelu)) return x > T(0) ? x : a * x;
  else if constexpr (Op == int(UnaryOp::Clamp)) return x < a ? a : (x > b ? b : x);
  else if constexpr (Op == int(UnaryOp::AddScalar)) return x + a;
  else if constexpr (Op == int(UnaryOp::MulScalar)) return x * a;
  else if constexpr (Op == int(UnaryOp::RSubScalar)) return a - x;
  else if constexpr (Op == int(UnaryOp::RDivScalar)) return a / x;
  else if constexpr (Op == int(UnaryOp::Step)) return x > T(0) ? T(1) : T(0);
  else if constexpr (Op == kPowZero) return T(1);
  else if constexpr (Op == kPowOne) return x;
  else if constexpr (Op == kPowTwo) return x * x;
  else if constexpr (Op == kPowThree) return x * x * x;
  else if constexpr (Op == kPowHalf) return dsqrt(x);
  else if constexpr (Op == kPowMinusOne) return T(1) / x;
  else if constexpr (Op == kPowMinusTwo) return T(1) / (x * x);
  else if constexpr (Op == kPowMinusHalf) return T(1) / dsqrt(x);
  else return dpow(x, a);  // kPowGeneral
}

template <class T, int Op>
struct UnaryF {
  T* d;
  const T* s;
  T a, b;
  __device__ void operator()(const std::int64_t (&off)[2]) const { d[off[0]] = unary_apply<T, Op>(s[off[1]], a, b); }
};

template <class T, int Op>
void run_unary(cudaStream_t stream, const View& dst, const View& src, Scalars s) {
  const Shape* strides[2] = {&dst.strides, &src.strides};
  launch_map<2>(stream, dst.shape, strides,
                UnaryF<T, Op>{typed<T>(dst), typed<const T>(src), static_cast<T>(s.a), static_cast<T>(s.b)});
}

template <class T>
void unary_typed(cudaStream_t st, UnaryOp op, const View& dst, const View& src, Scalars s) {
  switch (op) {
    case UnaryOp::Neg: return run_unary<T, int(UnaryOp::Neg)>(st, dst, src, s);
    case UnaryOp::Exp: return run_unary<T, int(UnaryOp::Exp)>(st, dst, src, s);
    case UnaryOp::Log: return run_unary<T, int(UnaryOp::Log)>(st, dst, src, s);
    case UnaryOp::Sqrt: return run_unary<T, int(UnaryOp::Sqrt)>(st, dst, src, s);
    case UnaryOp::Abs: return run_unary<T, int(UnaryOp::Abs)>(st, dst, src, s);
    case UnaryOp::Sign: return run_unary<T, int(UnaryOp::Sign)>(st, dst, src, s);
    case UnaryOp::Sigmoid: return run_unary<T, int(UnaryOp::Sigmoid)>(st, dst, src, s);
    case UnaryOp::Tanh: return run_unary<T, int(UnaryOp::Tanh)>(st, dst, src, s);
    case UnaryOp::Relu: return run_unary<T, int(UnaryOp::Relu)>(st, dst, src, s);
    case UnaryOp::LeakyRelu: return run_unary<T, int(UnaryOp::LeakyRelu)>(st, dst, src, s);
    case UnaryOp::Pow:
      if (s.a == 0) return run_unary<T, kPowZero>(st, dst, src, s);
      if (s.a == 1) return run_unary<T, kPowOne>(st, dst, src, s);
      if (s.a == 2) return run_unary<T, kPowTwo>(st, dst, src, s);
      if (s.a == 3) return run_unary<T, kPowThree>(st, dst, src, s);
      if (s.a == 0.5) return run_unary<T, kPowHalf>(st, dst, src, s);
      if (s.a == -1) return run_unary<T, kPowMinusOne>(st, dst, src, s);
      if (s.a == -2) return run_unary<T, kPowMinusTwo>(st, dst, src, s);
      if (s.a == -0.5) return run_unary<T, kPowMinusHalf>(st, dst, src, s);
      return run_unary<T, kPowGeneral>(st, dst, src, s);
    case UnaryOp::Clamp: return run_unary<T, int(UnaryOp::Clamp)>(st, dst, src, s);
    case UnaryOp::AddScalar: return run_unary<T, int(UnaryOp::AddScalar)>(st, dst, src, s);
    case UnaryOp::MulScalar: return run_unary<T, int(UnaryOp::MulScalar)>(st, dst, src, s);
    case UnaryOp::RSubScalar: return run_unary<T, int(UnaryOp::RSubScalar)>(st, dst, src, s);
    case UnaryOp::RDivScalar: return run_unary<T, int(UnaryOp::RDivScalar)>(st, dst, src, s);
    case UnaryOp::Step: return run_unary<T, int(UnaryOp::Step)>(st, dst, src, s);
  }
  RECUR_FAIL("cuda unary: unknown op " << static_cast<int>(op));
}

// g is the incoming gradient (x), v the saved tensor (y) for the backward helpers.
template <class T, BinaryOp Op>
__device__ __forceinline__ T binary_apply(T x, T y, T a, T b) {
  if constexpr (Op == BinaryOp::Add) return x + y;
  else if constexpr (Op == BinaryOp::Sub) return x - y;
  else if constexpr (Op == BinaryOp::Mul) return x * y;
  else if constexpr (Op == BinaryOp::Div) return x / y;
  else if constexpr (Op == BinaryOp::Maximum) return (x > y || x != x) ? x : y;
  else if constexpr (Op == BinaryOp::Minimum) return (x < y || x != x) ? x : y;
  else if constexpr (Op == BinaryOp::AddScaled) return x + a * y;  // alpha rounded to T first
  else if constexpr (Op == BinaryOp::TanhBackward) return x * (T(1) - y * y);
  else if constexpr (Op == BinaryOp::SigmoidBackward) return x * y * (T(1) - y);
  else if constexpr (Op == BinaryOp::ReluBackward) return y > T(0) ? x : T(0);
  else if constexpr (Op == BinaryOp::LeakyReluBackward) return y > T(0) ? x : a * x;
  else if constexpr (Op == BinaryOp::ClampBackward) return (y >= a && y <= b) ? x : T(0);
  else return x * sign_of(y);  // AbsBackward
}

template <class T, BinaryOp Op>
struct BinaryF {
  T* d;
  const T* pa;
  const T* pb;
  T a, b;
  __device__ void operator()(const std::int64_t (&off)[3]) const {
    d[off[0]] = binary_apply<T, Op>(pa[off[1]], pb[off[2]], a, b);
  }
};

template <class T, BinaryOp Op>
void run_binary(cudaStream_t stream, const View& dst, const View& x, const View& y, Scalars s) {
  const Shape* strides[3] = {&dst.strides, &x.strides, &y.strides};
  launch_map<3>(stream, dst.shape, strides,
                BinaryF<T, Op>{typed<T>(dst), typed<const T>(x), typed<const T>(y), static_cast<T>(s.a),
                               static_cast<T>(s.b)});
}

// Add, Sub, Mul, AddScaled, Maximum, Minimum: float and int64.
template <class T>
bool arithmetic(cudaStream_t st, BinaryOp op, const View& dst, const View& x, const View& y, Scalars s) {
  switch (op) {
    case BinaryOp::Add: run_binary<T, BinaryOp::Add>(st, dst, x, y, s); return true;
    case BinaryOp::Sub: run_binary<T, BinaryOp::Sub>(st, dst, x, y, s); return true;
    case BinaryOp::Mul: run_binary<T, BinaryOp::Mul>(st, dst, x, y, s); return true;
    case BinaryOp::AddScaled: run_binary<T, BinaryOp::AddScaled>(st, dst, x, y, s); return true;
    case BinaryOp::Maximum: run_binary<T, BinaryOp::Maximum>(st, dst, x, y, s); return true;
    case BinaryOp::Minimum: run_binary<T, BinaryOp::Minimum>(st, dst, x, y, s); return true;
    default: return false;
  }
}

template <class T>
void binary_typed(cudaStream_t st, BinaryOp op, const View& dst, const View& x, const View& y, Scalars s) {
  if (arithmetic<T>(st, op, dst, x, y, s)) return;
  switch (op) {
    case BinaryOp::Div: return run_binary<T, BinaryOp::Div>(st, dst, x, y, s);
    case BinaryOp::TanhBackward: return run_binary<T, BinaryOp::TanhBackward>(st, dst, x, y, s);
    case BinaryOp::SigmoidBackward: return run_binary<T, BinaryOp::SigmoidBackward>(st, dst, x, y, s);
    case BinaryOp::ReluBackward: return run_binary<T, BinaryOp::ReluBackward>(st, dst, x, y, s);
    case BinaryOp::LeakyReluBackward: return run_binary<T, BinaryOp::LeakyReluBackward>(st, dst, x, y, s);
    case BinaryOp::ClampBackward: return run_binary<T, BinaryOp::ClampBackward>(st, dst, x, y, s);
    case BinaryOp::AbsBackward: return run_binary<T, BinaryOp::AbsBackward>(st, dst, x, y, s);
    default: break;
  }
  RECUR_FAIL("cuda binary: unknown op " << static_cast<int>(op));
}

}  // namespace

void CudaBackend::unary(UnaryOp op, const View& dst, const View& src, Scalars s) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(device_);
  if (dst.dtype == DType::Float64) return unary_typed<double>(stream_, op, dst, src, s);
  RECUR_CHECK(dst.dtype == DType::Float32, "cuda unary: dtype " << dst.dtype << " is not supported");
  unary_typed<float>(stream_, op, dst, src, s);
}

void CudaBackend::binary(BinaryOp op, const View& dst, const View& a, const View& b, Scalars s) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(device_);
  switch (dst.dtype) {
    case DType::Float32: return binary_typed<float>(stream_, op, dst, a, b, s);
    case DType::Float64: return binary_typed<double>(stream_, op, dst, a, b, s);
    case DType::Int64:
      RECUR_CHECK(arithmetic<std::int64_t>(stream_, op, dst, a, b, s),
                  "cuda binary: op " << static_cast<int>(op) << " does not take int64");
      return;
  }
}

}  // namespace recur::backend
