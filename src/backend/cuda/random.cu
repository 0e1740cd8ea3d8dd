// Random fills from the counter-based Philox4x32-10 generator, element for element the
// CPU's (src/backend/cpu/random.cpp): elements 2j and 2j+1 of a fill come from the block
// philox4x32(key, first_block + j); one thread per block. Per block:
//   uniform float32: words 0 and 1, 24 bits each (uniform_float)
//   uniform float64, bernoulli: two 53-bit doubles from words (0,1) and (2,3)
//   normal: Box-Muller, z0 = r cos(2 pi u1), z1 = r sin(2 pi u1), r = sqrt(-2 log(1 - u0));
//           float32 with the CPU's float polynomials (log_f32, sincos_2pi_f32, ported
//           below), float64 with log / cos / sin.
//
// Rounding. This file is compiled with -fmad=false; a fused multiply-add appears only where
// written. The CPU's float code is built with GCC's default -ffp-contract=fast and
// -march=native, which on an FMA machine (any H200 host) fuses `lo + span * u` and the
// polynomial steps a*b + c into FMAs; the fmaf calls below follow GCC's choices. So:
//   - bernoulli (all dtypes): bit-identical (comparisons of exact 53-bit uniforms);
//   - uniform float32 / float64: bit-identical on an FMA host (one fma, as GCC emits);
//   - normal float32: bit-identical where GCC fuses the same operations as written here
//     (checked on this project's build machine, GCC 12 -O3 -march=native, AVX-512: a host
//     port of this code matched the CPU backend on 2^20 values), else within 2 ulp
//     (tolerance: relative 2e-6, absolute 2e-6 * stddev);
//   - normal float64: CUDA's log / cos / sin are within 1-2 ulp of glibc's, so values agree
//     to ~1e-15 relative (tolerance: relative 1e-13).
#include <cstdint>

#include "backend/cuda/cuda_common.cuh"

namespace recur::backend {
namespace {

using namespace cuda;

struct Words {
  std::uint32_t w0, w1, w2, w3;
};

// recur::philox4x32 (include/recur/core/random.hpp), for the device.
__device__ __forceinline__ Words philox4x32(std::uint64_t key, std::uint64_t counter) {
  constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  std::uint32_t c0 = static_cast<std::uint32_t>(counter), c1 = static_cast<std::uint32_t>(counter >> 32);
  std::uint32_t c2 = 0, c3 = 0;
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
#pragma unroll
  for (int round = 0; round < 10; ++round) {
    const std::uint64_t p0 = static_cast<std::uint64_t>(kMul0) * c0;
    const std::uint64_t p1 = static_cast<std::uint64_t>(kMul1) * c2;
    const std::uint32_t n0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0;
    const std::uint32_t n1 = static_cast<std::uint32_t>(p1);
    const std::uint32_t n2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1;
    const std::uint32_t n3 = static_cast<std::uint32_t>(p0);
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {c0, c1, c2, c3};
}

__device__ __forceinline__ float uniform_float(std::uint32_t w) {
  return static_cast<float>(w >> 8) * (1.0f / 16777216.0f);
}
__device__ __forceinline__ double uniform_double(std::uint32_t hi, std::uint32_t lo) {
  const std::uint64_t bits = (static_cast<std::uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

// vec_math.hpp's log_f32, with the FMAs GCC forms from it.
__device__ __forceinline__ float log_f32(float x) {
  const bool tiny = x < 1.17549435e-38f;
  const float xs = tiny ? x * 8388608.0f : x;
  const std::int32_t bits = __float_as_int(xs);
  std::int32_t e = ((bits >> 23) & 0xff) - 126;
  float m = __int_as_float((bits & 0x007fffff) | 0x3f000000);  // in [0.5, 1)
  const bool small = m < 0.707106781186547524f;
  e = small ? e - 1 : e;
  m = small ? m + m - 1.0f : m - 1.0f;
  const float fe = static_cast<float>(e) - (tiny ? 23.0f : 0.0f);
  const float z = m * m;
  float y = __fmaf_rn(7.0376836292e-2f, m, -1.1514610310e-1f);
  y = __fmaf_rn(y, m, 1.1676998740e-1f);
  y = __fmaf_rn(y, m, -1.2420140846e-1f);
  y = __fmaf_rn(y, m, 1.4249322787e-1f);
  y = __fmaf_rn(y, m, -1.6668057665e-1f);
  y = __fmaf_rn(y, m, 2.0000714765e-1f);
  y = __fmaf_rn(y, m, -2.4999993993e-1f);
  y = __fmaf_rn(y, m, 3.3333331174e-1f);
  // y = y * m * z + fe * c: GCC fuses the second product into the add.
  y = __fmaf_rn(fe, -2.12194440e-4f, y * m * z);
  y = __fmaf_rn(-0.5f, z, y);                      // y - 0.5 z
  float r = __fmaf_rn(fe, 0.693359375f, m + y);    // m + y + fe c
  r = x == 0.0f ? -INFINITY : r;
  r = x < 0.0f ? NAN : r;
  r = x == INFINITY ? INFINITY : r;
  r = x != x ? x : r;
  return r;
}

// vec_math.hpp's sincos_2pi_f32 (u in [0, 1)), with the FMAs GCC forms from it.
__device__ __forceinline__ void sincos_2pi_f32(float u, float* sin_out, float* cos_out) {
  const float kShift = 12582912.0f;
  const float t = __fmaf_rn(u, 4.0f, kShift);
  const float q = t - kShift;
  const std::int32_t quadrant = (__float_as_int(t) - __float_as_int(kShift)) & 3;
  const float a = __fmaf_rn(-q, 0.25f, u) * 6.28318530717958648f;
  const float z = a * a;
  float s = __fmaf_rn(-1.9515295891e-4f, z, 8.3321608736e-3f);
  s = __fmaf_rn(s, z, -1.6666654611e-1f);
  s = __fmaf_rn(a * z, s, a);
  float c = __fmaf_rn(2.443315711809948e-5f, z, -1.388731625493765e-3f);
  c = __fmaf_rn(c, z, 4.166664568298827e-2f);
  c = __fmaf_rn(z * z, c, __fmaf_rn(-0.5f, z, 1.0f));
  const bool swap = quadrant & 1;
  const float sv = swap ? c : s, cv = swap ? s : c;
  *sin_out = quadrant >= 2 ? -sv : sv;
  *cos_out = (quadrant == 1 || quadrant == 2) ? -cv : cv;
}

enum class Dist { Uniform, Normal, Bernoulli };

template <class T, Dist D>
__global__ void fill_kernel(T* d, std::int64_t n, std::uint64_t key, std::uint64_t first_block, double a, double b) {
  const std::int64_t blocks = (n + 1) / 2;
  const std::int64_t gstep = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; j < blocks; j += gstep) {
    const Words w = philox4x32(key, first_block + static_cast<std::uint64_t>(j));
    T out0, out1;
    if constexpr (D == Dist::Uniform) {
      if constexpr (sizeof(T) == 4) {
        const float lo = static_cast<float>(a), span = static_cast<float>(b - a);
        out0 = __fmaf_rn(span, uniform_float(w.w0), lo);
        out1 = __fmaf_rn(span, uniform_float(w.w1), lo);
      } else {
        const double span = b - a;
        out0 = __fma_rn(span, uniform_double(w.w0, w.w1), a);
        out1 = __fma_rn(span, uniform_double(w.w2, w.w3), a);
      }
    } else if constexpr (D == Dist::Normal) {
      if constexpr (sizeof(T) == 4) {
        const float m = static_cast<float>(a), sd = static_cast<float>(b);
        const float one_minus_u0 = static_cast<float>(1.0 - uniform_double(w.w0, w.w1));
        const float r = sqrtf(-2.0f * log_f32(one_minus_u0));
        float s, c;
        sincos_2pi_f32(uniform_float(w.w2), &s, &c);
        out0 = __fmaf_rn(sd, r * c, m);
        out1 = __fmaf_rn(sd, r * s, m);
      } else {
        constexpr double kTwoPi = 6.283185307179586476925;
        const double u0 = uniform_double(w.w0, w.w1), u1 = uniform_double(w.w2, w.w3);
        const double r = sqrt(-2.0 * log(1.0 - u0));
        const double theta = kTwoPi * u1;
        // mean + stddev * r * cos(theta): GCC fuses the last product into the add.
        out0 = static_cast<T>(__fma_rn(b * r, cos(theta), a));
        out1 = static_cast<T>(__fma_rn(b * r, sin(theta), a));
      }
    } else {
      out0 = uniform_double(w.w0, w.w1) < a ? T(1) : T(0);
      out1 = uniform_double(w.w2, w.w3) < a ? T(1) : T(0);
    }
    d[2 * j] = out0;
    if (2 * j + 1 < n) d[2 * j + 1] = out1;
  }
}

template <class T, Dist D>
void fill_typed(cudaStream_t stream, const View& dst, std::uint64_t key, std::uint64_t first_block, double a,
                double b) {
  const std::int64_t n = dst.numel();
  fill_kernel<T, D><<<grid_for((n + 1) / 2), kThreads, 0, stream>>>(typed<T>(dst), n, key, first_block, a, b);
  RECUR_CUDA_LAUNCH_CHECK();
}

}  // namespace

void CudaBackend::fill_uniform(const View& dst, double low, double high, std::uint64_t key,
                               std::uint64_t first_block) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(device_);
  if (dst.dtype == DType::Float64) return fill_typed<double, Dist::Uniform>(stream_, dst, key, first_block, low, high);
  fill_typed<float, Dist::Uniform>(stream_, dst, key, first_block, low, high);
}

void CudaBackend::fill_normal(const View& dst, double mean, double stddev, std::uint64_t key,
                              std::uint64_t first_block) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(device_);
  if (dst.dtype == DType::Float64) return fill_typed<double, Dist::Normal>(stream_, dst, key, first_block, mean, stddev);
  fill_typed<float, Dist::Normal>(stream_, dst, key, first_block, mean, stddev);
}

void CudaBackend::fill_bernoulli(const View& dst, double p, std::uint64_t key, std::uint64_t first_block) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(device_);
  if (dst.dtype == DType::Float64) return fill_typed<double, Dist::Bernoulli>(stream_, dst, key, first_block, p, 0);
  fill_typed<float, Dist::Bernoulli>(stream_, dst, key, first_block, p, 0);
}

}  // namespace recur::backend
