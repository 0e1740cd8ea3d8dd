// Branch-free float32 exp / log / tanh / sigmoid that GCC and Clang auto-vectorise.
//
// recur is built without -ffast-math, so std::exp and friends stay scalar library calls.
// These are the Cephes single-precision algorithms (range reduction plus a minimax
// polynomial), written with selects instead of branches so a loop over them becomes
// AVX2/AVX-512 code. Accuracy: within 2-3 ulp (relative error < 4e-7) over the whole
// float range, with the same inf / nan / 0 behaviour as the C library.
// float64 kernels call std:: functions instead.
#pragma once

#include <bit>
#include <cmath>
#include <cstdint>

#define RECUR_INLINE inline __attribute__((always_inline))

namespace recur::backend::cpu {

// 2^n for integer n in [-126, 127], built directly in the exponent bits.
RECUR_INLINE float pow2i(std::int32_t n) { return std::bit_cast<float>((n + 127) << 23); }

// exp(x) = 2^n * exp(r), n = round(x / ln 2), r = x - n ln 2 in [-ln2/2, ln2/2], for x
// already in [-104, 89] (or NaN, which flows through). Results below 2^-126 need the
// scale applied in two halves (`denormals`) so the final rounding gives the denormal.
RECUR_INLINE float exp_reduced(float x, bool denormals) {
  // Round x/ln2 to nearest with the 1.5 * 2^23 trick: no int conversion of a NaN.
  const float kShift = 12582912.0f;
  float t = x * 1.44269504088896341f + kShift;
  float n = t - kShift;
  std::int32_t ni = std::bit_cast<std::int32_t>(t) - std::bit_cast<std::int32_t>(kShift);
  // Cody-Waite: ln 2 split into a short high part (exact products) and a correction.
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  if (!denormals) return p * pow2i(ni);
  // n lies in [-150, 129]: two halves keep each factor a normal float.
  std::int32_t n1 = ni >> 1;
  std::int32_t n2 = ni - n1;
  return p * pow2i(n1) * pow2i(n2);
}

RECUR_INLINE float exp_f32(float x) {
  // Outside [-104, 89] the result is 0 or inf anyway. Written so a NaN fails both tests.
  float xc = x < -104.0f ? -104.0f : x;
  xc = xc > 89.0f ? 89.0f : xc;
  return exp_reduced(xc, true);
}

// log(x) = e ln 2 + log(m), m in [sqrt(1/2), sqrt(2)), log(m) by the Cephes polynomial.
RECUR_INLINE float log_f32(float x) {
  // Denormals are scaled into the normal range first (2^23 scale, corrected in e).
  bool tiny = x < 1.17549435e-38f;
  float xs = tiny ? x * 8388608.0f : x;
  std::int32_t bits = std::bit_cast<std::int32_t>(xs);
  std::int32_t e = ((bits >> 23) & 0xff) - 126;
  float m = std::bit_cast<float>((bits & 0x007fffff) | 0x3f000000);  // in [0.5, 1)
  bool small = m < 0.707106781186547524f;
  e = small ? e - 1 : e;
  m = small ? m + m - 1.0f : m - 1.0f;
  float fe = static_cast<float>(e) - (tiny ? 23.0f : 0.0f);
  float z = m * m;
  float y = 7.0376836292e-2f;
  y = y * m - 1.1514610310e-1f;
  y = y * m + 1.1676998740e-1f;
  y = y * m - 1.2420140846e-1f;
  y = y * m + 1.4249322787e-1f;
  y = y * m - 1.6668057665e-1f;
  y = y * m + 2.0000714765e-1f;
  y = y * m - 2.4999993993e-1f;
  y = y * m + 3.3333331174e-1f;
  y = y * m * z;
  y = y + fe * -2.12194440e-4f;
  y = y - 0.5f * z;
  float r = m + y + fe * 0.693359375f;
  // Special values: log(0) = -inf, log(<0) = nan, log(inf) = inf, log(nan) = nan.
  r = x == 0.0f ? -INFINITY : r;
  r = x < 0.0f ? NAN : r;
  r = x == INFINITY ? INFINITY : r;
  r = x != x ? x : r;
  return r;
}

// tanh: an odd polynomial for |x| < 0.625 (where 1 - 2/(e^2x + 1) would lose bits to
// cancellation), else 1 - 2/(exp(2|x|) + 1) with x's sign; both computed, one selected.
// |x| is capped at 10, where tanh rounds to 1 in float, so exp needs no range checks.
RECUR_INLINE float tanh_f32(float x) {
  float ax = std::fabs(x);
  float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float small = x + x * z * p;
  float a10 = ax > 10.0f ? 10.0f : ax;  // a NaN stays NaN
  float big = 1.0f - 2.0f / (exp_reduced(a10 + a10, false) + 1.0f);
  big = std::copysign(big, x);
  return ax < 0.625f ? small : big;
}

// sigmoid(x) = 1 / (1 + exp(-x)) for x >= 0, and exp(x) / (1 + exp(x)) for x < 0, so
// exp never overflows and tiny results below -88 keep their relative accuracy.
RECUR_INLINE float sigmoid_f32(float x) {
  float nx = -std::fabs(x);
  nx = nx < -104.0f ? -104.0f : nx;  // a NaN stays NaN
  float e = exp_reduced(nx, true);
  float inv = 1.0f / (1.0f + e);
  return x >= 0.0f ? inv : e * inv;
}

// sin(2 pi u) and cos(2 pi u) for u in [0, 1): u = q/4 + f with q = round(4u) and
// |f| <= 1/8 (exact in float), the Cephes minimax polynomials on a = 2 pi f in
// [-pi/4, pi/4], then the quadrant's swap and signs. For Box-Muller normals.
RECUR_INLINE void sincos_2pi_f32(float u, float* sin_out, float* cos_out) {
  const float kShift = 12582912.0f;
  float t = u * 4.0f + kShift;
  float q = t - kShift;
  std::int32_t quadrant = (std::bit_cast<std::int32_t>(t) - std::bit_cast<std::int32_t>(kShift)) & 3;
  float a = (u - q * 0.25f) * 6.28318530717958648f;
  float z = a * a;
  float s = -1.9515295891e-4f;
  s = s * z + 8.3321608736e-3f;
  s = s * z - 1.6666654611e-1f;
  s = a + a * z * s;
  float c = 2.443315711809948e-5f;
  c = c * z - 1.388731625493765e-3f;
  c = c * z + 4.166664568298827e-2f;
  c = 1.0f - 0.5f * z + z * z * c;
  bool swap = quadrant & 1;
  float sv = swap ? c : s, cv = swap ? s : c;
  *sin_out = quadrant >= 2 ? -sv : sv;
  *cos_out = (quadrant == 1 || quadrant == 2) ? -cv : cv;
}

// The same functions for any floating type: approximations for float, libm for double.
RECUR_INLINE float exp_any(float x) { return exp_f32(x); }
RECUR_INLINE double exp_any(double x) { return std::exp(x); }
RECUR_INLINE float log_any(float x) { return log_f32(x); }
RECUR_INLINE double log_any(double x) { return std::log(x); }
RECUR_INLINE float tanh_any(float x) { return tanh_f32(x); }
RECUR_INLINE double tanh_any(double x) { return std::tanh(x); }
RECUR_INLINE float sigmoid_any(float x) { return sigmoid_f32(x); }
RECUR_INLINE double sigmoid_any(double x) {
  double e = std::exp(-std::fabs(x));
  double inv = 1.0 / (1.0 + e);
  return x >= 0.0 ? inv : e * inv;
}

}  // namespace recur::backend::cpu
