// Softmax and log-softmax along one dim, their backward passes, and cross-entropy straight from logits.
//
//   softmax:          y_i = exp(x_i - m) / sum_j exp(x_j - m),   m = max_j x_j
//   log_softmax:      y_i = x_i - m - log(sum_j exp(x_j - m))
//   softmax grad:     dx_i = y_i * (dy_i - sum_j dy_j y_j)
//   log_softmax grad: dx_i = dy_i - exp(y_i) * sum_j dy_j
//   cross-entropy:    l = (m + log(sum_j exp(x_j - m))) - x_t, log_softmax's y_t negated
//
// Each row along `dim` is independent; rows go to threads. Rows that are contiguous (dim is
// the last dim, the usual case) run vectorised loops along the row; when dim is not last,
// blocks of neighbouring rows run vectorised across the rows instead; anything else runs
// the same maths strided.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"
#include "backend/cpu/softmax_row.hpp"
#include "backend/cpu/vec_math.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

// Columns processed together when rows run across contiguous memory (dim not last).
constexpr std::int64_t kCols = 64;

template <class T>
T row_max(const T* x, std::int64_t n, std::int64_t st) {
  auto better = [](T best, T v) { return (v > best || v != v) ? v : best; };
  T best = -std::numeric_limits<T>::infinity();
  if (st != 1) {
    for (std::int64_t i = 0; i < n; ++i) best = better(best, x[i * st]);
    return best;
  }
  constexpr int L = kLanes<T>;
  T acc[L];
  for (int l = 0; l < L; ++l) acc[l] = best;
  std::int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int l = 0; l < L; ++l) acc[l] = better(acc[l], x[i + l]);
  for (int l = 0; l < L; ++l) best = better(best, acc[l]);
  for (; i < n; ++i) best = better(best, x[i]);
  return best;
}

// log(sum_i exp(x_i)) over one row, as m + log(sum_i exp(x_i - m)) with m its max, rounded
// to T as log_softmax's shift is: vectorised when the row is contiguous, else strided.
template <class T>
T row_log_sum_exp(const T* xr, std::int64_t sx, std::int64_t n) {
  const T m = row_max(xr, n, sx);
  double s = 0;
  if (sx == 1) {
    s = lane_sum<T>(n, [&](std::int64_t i) { return exp_any(xr[i] - m); });
  } else {
    for (std::int64_t i = 0; i < n; ++i) s += exp_any(xr[i * sx] - m);
  }
  return m + static_cast<T>(std::log(s));
}

}  // namespace

// One row at a time: vectorised along the row when it is contiguous, else strided.
template <class T>
void cpu::softmax_row(T* yr, const T* xr, std::int64_t sy, std::int64_t sx, std::int64_t n, bool log) {
  if (log) {
    const T shift = row_log_sum_exp(xr, sx, n);
    if (sy == 1 && sx == 1) {
      for (std::int64_t i = 0; i < n; ++i) yr[i] = xr[i] - shift;
    } else {
      for (std::int64_t i = 0; i < n; ++i) yr[i * sy] = xr[i * sx] - shift;
    }
    return;
  }
  const T m = row_max(xr, n, sx);
  if (sy == 1 && sx == 1) {
    for (std::int64_t i = 0; i < n; ++i) yr[i] = exp_any(xr[i] - m);
    double s = lane_sum<T>(n, [&](std::int64_t i) { return yr[i]; });
    const T inv = static_cast<T>(1.0 / s);
    for (std::int64_t i = 0; i < n; ++i) yr[i] *= inv;
    return;
  }
  double s = 0;
  for (std::int64_t i = 0; i < n; ++i) s += exp_any(xr[i * sx] - m);
  const T inv = static_cast<T>(1.0 / s);
  for (std::int64_t i = 0; i < n; ++i) yr[i * sy] = exp_any(xr[i * sx] - m) * inv;
}
template void cpu::softmax_row(float*, const float*, std::int64_t, std::int64_t, std::int64_t, bool);
template void cpu::softmax_row(double*, const double*, std::int64_t, std::int64_t, std::int64_t, bool);

namespace {

// w <= kCols neighbouring rows whose elements are contiguous across rows (dim is not the
// last dim): every pass runs along dim with a vectorised loop over the w columns.
template <class T>
void softmax_cols(T* y, const T* x, std::int64_t sy, std::int64_t sx, std::int64_t len, std::int64_t w, bool log) {
  T m[kCols], s[kCols];
  for (std::int64_t j = 0; j < w; ++j) m[j] = -std::numeric_limits<T>::infinity(), s[j] = 0;
  for (std::int64_t k = 0; k < len; ++k)
    for (std::int64_t j = 0; j < w; ++j) {
      T v = x[k * sx + j];
      m[j] = (v > m[j] || v != v) ? v : m[j];
    }
  if (log) {
    for (std::int64_t k = 0; k < len; ++k)
      for (std::int64_t j = 0; j < w; ++j) s[j] += exp_any(x[k * sx + j] - m[j]);
    for (std::int64_t j = 0; j < w; ++j) m[j] += static_cast<T>(std::log(s[j]));  // the shift
    for (std::int64_t k = 0; k < len; ++k)
      for (std::int64_t j = 0; j < w; ++j) y[k * sy + j] = x[k * sx + j] - m[j];
  } else {
    for (std::int64_t k = 0; k < len; ++k)
      for (std::int64_t j = 0; j < w; ++j) {
        T e = exp_any(x[k * sx + j] - m[j]);
        y[k * sy + j] = e;
        s[j] += e;
      }
    for (std::int64_t j = 0; j < w; ++j) s[j] = T(1) / s[j];
    for (std::int64_t k = 0; k < len; ++k)
      for (std::int64_t j = 0; j < w; ++j) y[k * sy + j] *= s[j];
  }
}

template <class T>
void softmax_typed(const View& dst, const View& src, int dim, bool log) {
  T* y = typed<T>(dst);
  const T* x = typed<const T>(src);
  const View* views[2] = {&dst, &src};
  for_each_row_run<2>(views, dim, [&](const std::int64_t* off, const std::int64_t* st, std::int64_t len,
                                      std::int64_t cols, const std::int64_t* cs) {
    if (cs[0] == 1 && cs[1] == 1 && (st[0] != 1 || st[1] != 1)) {
      for (std::int64_t j0 = 0; j0 < cols; j0 += kCols)
        softmax_cols(y + off[0] + j0, x + off[1] + j0, st[0], st[1], len, std::min(kCols, cols - j0), log);
      return;
    }
    for (std::int64_t c = 0; c < cols; ++c) softmax_row(y + off[0] + c * cs[0], x + off[1] + c * cs[1], st[0], st[1], len, log);
  });
}

// Backward, one row: vectorised when the row is contiguous in all three, else strided.
template <class T>
void softmax_backward_row(T* a, const T* g, const T* v, std::int64_t sa, std::int64_t sg, std::int64_t sv,
                          std::int64_t n, bool log) {
  const bool flat = sa == 1 && sg == 1 && sv == 1;
  if (log) {
    // dx = dy - exp(y) * sum(dy)
    double s = flat ? lane_sum<T>(n, [&](std::int64_t i) { return g[i]; }) : 0;
    if (!flat)
      for (std::int64_t i = 0; i < n; ++i) s += g[i * sg];
    const T sum = static_cast<T>(s);
    if (flat) {
      for (std::int64_t i = 0; i < n; ++i) a[i] = g[i] - exp_any(v[i]) * sum;
    } else {
      for (std::int64_t i = 0; i < n; ++i) a[i * sa] = g[i * sg] - exp_any(v[i * sv]) * sum;
    }
  } else {
    // dx = y * (dy - sum(dy * y))
    double s = flat ? lane_sum<T>(n, [&](std::int64_t i) { return g[i] * v[i]; }) : 0;
    if (!flat)
      for (std::int64_t i = 0; i < n; ++i) s += g[i * sg] * v[i * sv];
    const T dot = static_cast<T>(s);
    if (flat) {
      for (std::int64_t i = 0; i < n; ++i) a[i] = v[i] * (g[i] - dot);
    } else {
      for (std::int64_t i = 0; i < n; ++i) a[i * sa] = v[i * sv] * (g[i * sg] - dot);
    }
  }
}

// Backward over w <= kCols rows that are contiguous across rows (see softmax_cols).
template <class T>
void softmax_backward_cols(T* a, const T* g, const T* v, std::int64_t sa, std::int64_t sg, std::int64_t sv,
                           std::int64_t len, std::int64_t w, bool log) {
  T s[kCols];
  for (std::int64_t j = 0; j < w; ++j) s[j] = 0;
  for (std::int64_t k = 0; k < len; ++k)
    for (std::int64_t j = 0; j < w; ++j) s[j] += log ? g[k * sg + j] : g[k * sg + j] * v[k * sv + j];
  for (std::int64_t k = 0; k < len; ++k)
    for (std::int64_t j = 0; j < w; ++j) {
      T gk = g[k * sg + j], vk = v[k * sv + j];
      a[k * sa + j] = log ? gk - exp_any(vk) * s[j] : vk * (gk - s[j]);
    }
}

template <class T>
void softmax_backward_typed(const View& dx, const View& dy, const View& y, int dim, bool log) {
  T* gx = typed<T>(dx);
  const T* gy = typed<const T>(dy);
  const T* yv = typed<const T>(y);
  const View* views[3] = {&dx, &dy, &y};
  for_each_row_run<3>(views, dim, [&](const std::int64_t* off, const std::int64_t* st, std::int64_t len,
                                      std::int64_t cols, const std::int64_t* cs) {
    if (cs[0] == 1 && cs[1] == 1 && cs[2] == 1 && (st[0] != 1 || st[1] != 1 || st[2] != 1)) {
      for (std::int64_t j0 = 0; j0 < cols; j0 += kCols)
        softmax_backward_cols(gx + off[0] + j0, gy + off[1] + j0, yv + off[2] + j0, st[0], st[1], st[2], len,
                              std::min(kCols, cols - j0), log);
      return;
    }
    for (std::int64_t c = 0; c < cols; ++c)
      softmax_backward_row(gx + off[0] + c * cs[0], gy + off[1] + c * cs[1], yv + off[2] + c * cs[2], st[0], st[1],
                           st[2], len, log);
  });
}

template <class T>
void cross_entropy_typed(const View& loss, const View& logits, const View& target, std::int64_t ignore_index) {
  T* l = typed<T>(loss);
  const T* x = typed<const T>(logits);
  const std::int64_t* t = typed<const std::int64_t>(target);
  const std::int64_t classes = logits.shape[1];
  const std::int64_t ls = loss.strides[0], xs = logits.strides[0], xc = logits.strides[1], ts = target.strides[0];
  parallel_range(logits.shape[0], 4 * classes, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      const std::int64_t c = t[i * ts];
      if (c == ignore_index) {
        l[i * ls] = T(0);
        continue;
      }
      const T* row = x + i * xs;
      l[i * ls] = -(row[c * xc] - row_log_sum_exp(row, xc, classes));
    }
  }, 1);
}

}  // namespace

void CpuBackend::softmax(const View& dst, const View& src, int dim, bool log) {
  if (dst.numel() == 0) return;
  if (dst.dtype == DType::Float64) return softmax_typed<double>(dst, src, dim, log);
  softmax_typed<float>(dst, src, dim, log);
}

void CpuBackend::softmax_backward(const View& dx, const View& dy, const View& y, int dim, bool log) {
  if (dx.numel() == 0) return;
  if (dx.dtype == DType::Float64) return softmax_backward_typed<double>(dx, dy, y, dim, log);
  softmax_backward_typed<float>(dx, dy, y, dim, log);
}

void CpuBackend::cross_entropy(const View& loss, const View& logits, const View& target, std::int64_t ignore_index) {
  if (logits.shape[0] == 0) return;
  if (logits.dtype == DType::Float64) return cross_entropy_typed<double>(loss, logits, target, ignore_index);
  cross_entropy_typed<float>(loss, logits, target, ignore_index);
}

}  // namespace recur::backend
