// Fused optimizer updates and the p-norm used by gradient clipping.
//
// PyTorch 1.13's single-tensor optimizers make several passes over a parameter per step
// (a temporary for the weight-decayed gradient, mul_ then add_ on each running average,
// sqrt, add eps, addcdiv). Each kernel here is one pass: every element is read once,
// updated in registers, and written once, with the same operations in the same order and
// in the same precision (scalars rounded to the dtype first, as PyTorch's kernels do).
// Rounding follows PyTorch's CPU kernels too: its add with alpha (a + alpha b) and addcmul
// (a + (v b) c) are fused multiply-adds (vec::fmadd, and contraction on the scalar path),
// written here as explicit fma; everything else rounds after each operation (this file is
// compiled with -ffp-contract=off). So float32 results match PyTorch's bit for bit.
// Optional state (momentum, centering, amsgrad) selects a loop instantiation outside the
// element loop so each stays vectorised.
#include <cmath>
#include <cstdint>
#include <limits>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

// An update reads and writes a few streams per element: parallel on smaller tensors than a
// plain elementwise op.
constexpr std::int64_t kUpdateCost = 4;

// PyTorch's a.add(b, alpha=s) and a.addcmul(b, c, value=v): fma(b, s, a), fma(v b, c, a).
template <class T>
T add_scaled(T a, T b, T s) { return std::fma(b, s, a); }
template <class T>
T add_product(T a, T vb, T c) { return std::fma(vb, c, a); }

// torch.maximum: NaN in either operand gives NaN.
template <class T>
T maximum(T x, T y) { return (x > y || x != x) ? x : y; }

// Each update is a range function over [begin, end) taking its buffers as restrict
// pointers and its scalars by value (rounded to T), so nothing in the loop can alias a
// store and the compiler vectorises it; parallel_range hands the ranges to threads.
// Options that add work (weight decay, momentum, ...) are template flags, so every loop
// is branch-free (GCC gives up on the longer loops when they hold a branch).

// ---- SGD (p: param, g: grad, b: momentum buffer, mu: momentum, tau: dampening, wd: weight decay)
//   d = g + wd p                       (when wd != 0)
//   b = d on the first step, else b = mu b + (1 - tau) d
//   d = d + mu b (nesterov)  or  d = b
//   p = p - lr d
template <class T>
struct SgdScalars {
  explicit SgdScalars(const SgdStep& s)
      : wd(static_cast<T>(s.weight_decay)), mu(static_cast<T>(s.momentum)), keep(static_cast<T>(1 - s.dampening)),
        neg_lr(static_cast<T>(-s.lr)), decay(s.weight_decay != 0), first(s.first_step), nesterov(s.nesterov) {}
  T wd, mu, keep, neg_lr;
  bool decay, first, nesterov;
};

template <class T, bool kMomentum, bool kDecay>
void sgd_range(std::int64_t begin, std::int64_t end, T* __restrict p, const T* __restrict g, T* __restrict b,
               const SgdScalars<T> k) {
  for (std::int64_t i = begin; i < end; ++i) {
    T d = g[i];
    if constexpr (kDecay) d = add_scaled(d, p[i], k.wd);
    if constexpr (kMomentum) {
      const T buf = k.first ? d : add_scaled(b[i] * k.mu, d, k.keep);
      b[i] = buf;
      d = k.nesterov ? add_scaled(d, buf, k.mu) : buf;
    }
    p[i] = add_scaled(p[i], d, k.neg_lr);
  }
}

// ---- Adagrad (s: sum of squared gradients, clr = lr / (1 + (step - 1) lr_decay))
//   g = g + wd p                       (when wd != 0)
//   s = s + g g
//   p = p - clr g / (sqrt(s) + eps)    or, eps inside the root (min-char-rnn), / sqrt(s + eps)
template <class T>
struct AdagradScalars {
  explicit AdagradScalars(const AdagradStep& s)
      : wd(static_cast<T>(s.weight_decay)), eps(static_cast<T>(s.eps)), neg_clr(static_cast<T>(-s.clr)),
        decay(s.weight_decay != 0), inside(s.eps_inside_sqrt) {}
  T wd, eps, neg_clr;
  bool decay, inside;
};

template <class T, bool kDecay>
void adagrad_range(std::int64_t begin, std::int64_t end, T* __restrict p, const T* __restrict g,
                   T* __restrict sum, const AdagradScalars<T> k) {
  for (std::int64_t i = begin; i < end; ++i) {
    T gi = g[i];
    if constexpr (kDecay) gi = add_scaled(gi, p[i], k.wd);
    const T total = add_product(sum[i], gi, gi);
    sum[i] = total;
    const T std_dev = k.inside ? std::sqrt(total + k.eps) : std::sqrt(total) + k.eps;
    p[i] = p[i] + k.neg_clr * gi / std_dev;
  }
}

// ---- RMSprop (v: square average, a: gradient average, b: momentum buffer)
//   g = g + wd p                       (when wd != 0)
//   v = alpha v + (1 - alpha) g g
//   centered: a = alpha a + (1 - alpha) g;  r = sqrt(v - a a) + eps,  else r = sqrt(v) + eps
//   momentum: b = mu b + g / r;  p = p - lr b,  else p = p - lr g / r
template <class T>
struct RmspropScalars {
  explicit RmspropScalars(const RmspropStep& s)
      : wd(static_cast<T>(s.weight_decay)), alpha(static_cast<T>(s.alpha)),
        one_minus_alpha(static_cast<T>(1 - s.alpha)), eps(static_cast<T>(s.eps)), mu(static_cast<T>(s.momentum)),
        neg_lr(static_cast<T>(-s.lr)), decay(s.weight_decay != 0) {}
  T wd, alpha, one_minus_alpha, eps, mu, neg_lr;
  bool decay;
};

template <class T, bool kCentered, bool kMomentum, bool kDecay>
void rmsprop_range(std::int64_t begin, std::int64_t end, T* __restrict p, const T* __restrict g, T* __restrict v,
                   T* __restrict a, T* __restrict b, const RmspropScalars<T> k) {
  for (std::int64_t i = begin; i < end; ++i) {
    T gi = g[i];
    if constexpr (kDecay) gi = add_scaled(gi, p[i], k.wd);
    const T vi = add_product(v[i] * k.alpha, k.one_minus_alpha * gi, gi);
    v[i] = vi;
    T root;
    if constexpr (kCentered) {
      const T ai = add_scaled(a[i] * k.alpha, gi, k.one_minus_alpha);
      a[i] = ai;
      root = std::sqrt(add_product(vi, -ai, ai)) + k.eps;
    } else {
      root = std::sqrt(vi) + k.eps;
    }
    if constexpr (kMomentum) {
      const T bi = b[i] * k.mu + gi / root;
      b[i] = bi;
      p[i] = add_scaled(p[i], bi, k.neg_lr);
    } else {
      p[i] = p[i] + k.neg_lr * gi / root;
    }
  }
}

// ---- Adam and AdamW (m, v: first and second moments, vmax: amsgrad's running maximum of v)
//   Adam:  g = g + wd p (when wd != 0)        AdamW: p = (1 - lr wd) p
//   m = beta1 m + (1 - beta1) g
//   v = beta2 v + (1 - beta2) g g
//   amsgrad: vmax = max(vmax, v), used for v below
//   p = p - step_size m / (sqrt(v) / sqrt(1 - beta2^step) + eps),  step_size = lr / (1 - beta1^step)
template <class T>
struct AdamScalars {
  explicit AdamScalars(const AdamStep& s)
      : wd(static_cast<T>(s.weight_decay)), decay_factor(static_cast<T>(s.decay_factor)),
        beta1(static_cast<T>(s.beta1)), one_minus_beta1(static_cast<T>(1 - s.beta1)),
        beta2(static_cast<T>(s.beta2)), one_minus_beta2(static_cast<T>(1 - s.beta2)),
        bc2_sqrt(static_cast<T>(s.bias_correction2_sqrt)), eps(static_cast<T>(s.eps)),
        neg_step_size(static_cast<T>(-s.step_size)), decay(s.weight_decay != 0) {}
  T wd, decay_factor, beta1, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step_size;
  bool decay;
};

template <class T, bool kAmsgrad, bool kDecay>
void adam_range(std::int64_t begin, std::int64_t end, T* __restrict p, const T* __restrict g, T* __restrict m,
                T* __restrict v, T* __restrict vmax, const AdamScalars<T> k) {
  for (std::int64_t i = begin; i < end; ++i) {
    T gi = g[i];
    const T pi = p[i];
    if constexpr (kDecay) gi = add_scaled(gi, pi, k.wd);
    const T mi = add_scaled(m[i] * k.beta1, gi, k.one_minus_beta1);
    T vi = add_product(v[i] * k.beta2, k.one_minus_beta2 * gi, gi);
    m[i] = mi;
    v[i] = vi;
    if constexpr (kAmsgrad) {
      vi = maximum(vmax[i], vi);
      vmax[i] = vi;
    }
    const T denom = std::sqrt(vi) / k.bc2_sqrt + k.eps;
    p[i] = pi * k.decay_factor + k.neg_step_size * mi / denom;
  }
}

// The dispatchers pick each loop's flags once per range.
template <class T>
void sgd_typed(const View& param, const View& grad, const View& buffer, const SgdStep& s) {
  T* p = typed<T>(param);
  const T* g = typed<const T>(grad);
  T* b = typed<T>(buffer);
  const SgdScalars<T> k(s);
  parallel_range(param.numel(), kUpdateCost, [&](std::int64_t begin, std::int64_t end) {
    if (b && k.decay) sgd_range<T, true, true>(begin, end, p, g, b, k);
    else if (b) sgd_range<T, true, false>(begin, end, p, g, b, k);
    else if (k.decay) sgd_range<T, false, true>(begin, end, p, g, b, k);
    else sgd_range<T, false, false>(begin, end, p, g, b, k);
  });
}

template <class T>
void adagrad_typed(const View& param, const View& grad, const View& sum, const AdagradStep& s) {
  T* p = typed<T>(param);
  const T* g = typed<const T>(grad);
  T* acc = typed<T>(sum);
  const AdagradScalars<T> k(s);
  parallel_range(param.numel(), kUpdateCost, [&](std::int64_t begin, std::int64_t end) {
    if (k.decay) adagrad_range<T, true>(begin, end, p, g, acc, k);
    else adagrad_range<T, false>(begin, end, p, g, acc, k);
  });
}

template <class T, bool kCentered, bool kMomentum>
void rmsprop_range_decay(std::int64_t begin, std::int64_t end, T* p, const T* g, T* v, T* a, T* b,
                         const RmspropScalars<T>& k) {
  if (k.decay) rmsprop_range<T, kCentered, kMomentum, true>(begin, end, p, g, v, a, b, k);
  else rmsprop_range<T, kCentered, kMomentum, false>(begin, end, p, g, v, a, b, k);
}

template <class T>
void rmsprop_typed(const View& param, const View& grad, const View& square_avg, const View& grad_avg,
                   const View& buffer, const RmspropStep& s) {
  T* p = typed<T>(param);
  const T* g = typed<const T>(grad);
  T* v = typed<T>(square_avg);
  T* a = typed<T>(grad_avg);
  T* b = typed<T>(buffer);
  const RmspropScalars<T> k(s);
  parallel_range(param.numel(), kUpdateCost, [&](std::int64_t begin, std::int64_t end) {
    if (a && b) rmsprop_range_decay<T, true, true>(begin, end, p, g, v, a, b, k);
    else if (a) rmsprop_range_decay<T, true, false>(begin, end, p, g, v, a, b, k);
    else if (b) rmsprop_range_decay<T, false, true>(begin, end, p, g, v, a, b, k);
    else rmsprop_range_decay<T, false, false>(begin, end, p, g, v, a, b, k);
  });
}

template <class T>
void adam_typed(const View& param, const View& grad, const View& exp_avg, const View& exp_avg_sq,
                const View& max_exp_avg_sq, const AdamStep& s) {
  T* p = typed<T>(param);
  const T* g = typed<const T>(grad);
  T* m = typed<T>(exp_avg);
  T* v = typed<T>(exp_avg_sq);
  T* vmax = typed<T>(max_exp_avg_sq);
  const AdamScalars<T> k(s);
  parallel_range(param.numel(), kUpdateCost, [&](std::int64_t begin, std::int64_t end) {
    if (s.amsgrad && k.decay) adam_range<T, true, true>(begin, end, p, g, m, v, vmax, k);
    else if (s.amsgrad) adam_range<T, true, false>(begin, end, p, g, m, v, vmax, k);
    else if (k.decay) adam_range<T, false, true>(begin, end, p, g, m, v, vmax, k);
    else adam_range<T, false, false>(begin, end, p, g, m, v, vmax, k);
  });
}

// ---- p-norm. Each thread's part accumulates in double over 16 independent lanes (so the
// loop vectorises without reassociation); parts combine in a fixed order.
constexpr int kNormLanes = 16;

template <class T>
double abs_power_sum(const T* x, std::int64_t n, double p) {
  double lanes[kNormLanes] = {};
  std::int64_t i = 0;
  if (p == 2) {
    for (; i + kNormLanes <= n; i += kNormLanes)
      for (int l = 0; l < kNormLanes; ++l) lanes[l] += static_cast<double>(x[i + l]) * static_cast<double>(x[i + l]);
    for (; i < n; ++i) lanes[0] += static_cast<double>(x[i]) * static_cast<double>(x[i]);
  } else if (p == 1) {
    for (; i + kNormLanes <= n; i += kNormLanes)
      for (int l = 0; l < kNormLanes; ++l) lanes[l] += std::fabs(static_cast<double>(x[i + l]));
    for (; i < n; ++i) lanes[0] += std::fabs(static_cast<double>(x[i]));
  } else {
    for (; i < n; ++i) lanes[i % kNormLanes] += std::pow(std::fabs(static_cast<double>(x[i])), p);
  }
  double total = 0;
  for (double lane : lanes) total += lane;
  return total;
}

template <class T>
double max_abs(const T* x, std::int64_t n) {
  T lanes[kNormLanes] = {};
  std::int64_t i = 0;
  for (; i + kNormLanes <= n; i += kNormLanes)
    for (int l = 0; l < kNormLanes; ++l) lanes[l] = maximum(lanes[l], static_cast<T>(std::fabs(x[i + l])));
  for (; i < n; ++i) lanes[0] = maximum(lanes[0], static_cast<T>(std::fabs(x[i])));
  T best = 0;
  for (T lane : lanes) best = maximum(best, lane);
  return best;
}

template <class T>
double norm_typed(const View& src, double p) {
  const T* x = typed<const T>(src);
  const bool inf = std::isinf(p);
  double partial[kMaxParts];
  int parts = parallel_parts(src.numel(), 1, [&](int part, std::int64_t begin, std::int64_t end) {
    partial[part] = inf ? max_abs(x + begin, end - begin) : abs_power_sum(x + begin, end - begin, p);
  });
  double total = 0;
  for (int k = 0; k < parts; ++k) total = inf ? maximum(total, partial[k]) : total + partial[k];
  if (inf) return total;
  return p == 1 ? total : p == 2 ? std::sqrt(total) : std::pow(total, 1 / p);
}

}  // namespace

void CpuBackend::sgd_step(const View& param, const View& grad, const View& momentum_buffer, const SgdStep& s) {
  if (param.numel() == 0) return;
  if (param.dtype == DType::Float64) return sgd_typed<double>(param, grad, momentum_buffer, s);
  sgd_typed<float>(param, grad, momentum_buffer, s);
}

void CpuBackend::adagrad_step(const View& param, const View& grad, const View& sum, const AdagradStep& s) {
  if (param.numel() == 0) return;
  if (param.dtype == DType::Float64) return adagrad_typed<double>(param, grad, sum, s);
  adagrad_typed<float>(param, grad, sum, s);
}

void CpuBackend::rmsprop_step(const View& param, const View& grad, const View& square_avg, const View& grad_avg,
                              const View& momentum_buffer, const RmspropStep& s) {
  if (param.numel() == 0) return;
  if (param.dtype == DType::Float64)
    return rmsprop_typed<double>(param, grad, square_avg, grad_avg, momentum_buffer, s);
  rmsprop_typed<float>(param, grad, square_avg, grad_avg, momentum_buffer, s);
}

void CpuBackend::adam_step(const View& param, const View& grad, const View& exp_avg, const View& exp_avg_sq,
                           const View& max_exp_avg_sq, const AdamStep& s) {
  if (param.numel() == 0) return;
  if (param.dtype == DType::Float64)
    return adam_typed<double>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, s);
  adam_typed<float>(param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, s);
}

void CpuBackend::norm(const View& dst, const View& src, double p) {
  double value = 0;
  if (src.numel() > 0) value = src.dtype == DType::Float64 ? norm_typed<double>(src, p) : norm_typed<float>(src, p);
  *typed<double>(dst) = value;
}

}  // namespace recur::backend
