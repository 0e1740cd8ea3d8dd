// 2-D max and average pooling over dense (N, C, H, W) tensors, and their gradients,
// following PyTorch's CPU kernels (floor mode, no dilation) window for window.
//
// Each output window is [oh*stride - pad, + kernel) clipped to the input, so padding never
// takes part in a maximum; an average divides by the window clipped to the padded input
// (count_include_pad) or by the real elements it covers. Planes (n, c) are independent and
// go to threads; a backward pass writes only into its own plane of grad_input. Within a
// plane, one output row at a time, each tap of the window runs along the whole row.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

// One output position's window: rows [h0, h1), columns [w0, w1) of the input, and
// `divisor`, PyTorch's averaging divisor.
struct Span {
  std::int64_t h0, h1, w0, w1, divisor;
};

inline Span span_of(const Window2d& w, std::int64_t oh, std::int64_t ow, bool count_include_pad) {
  Span s;
  s.h0 = oh * w.stride_h - w.pad_h;
  s.w0 = ow * w.stride_w - w.pad_w;
  s.h1 = std::min(s.h0 + w.kernel_h, w.in_h + w.pad_h);
  s.w1 = std::min(s.w0 + w.kernel_w, w.in_w + w.pad_w);
  const std::int64_t padded_size = (s.h1 - s.h0) * (s.w1 - s.w0);
  s.h0 = std::max<std::int64_t>(s.h0, 0);
  s.w0 = std::max<std::int64_t>(s.w0, 0);
  s.h1 = std::min(s.h1, w.in_h);
  s.w1 = std::min(s.w1, w.in_w);
  s.divisor = count_include_pad ? padded_size : (s.h1 - s.h0) * (s.w1 - s.w0);
  return s;
}

// Calls f(plane) for every (n, c) plane, planes spread over threads.
template <class F>
void for_each_plane(const Window2d& w, F&& f) {
  const std::int64_t cost = w.out_h * w.out_w * w.kernel_h * w.kernel_w;
  parallel_range(w.batch * w.channels, cost, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t plane = begin; plane < end; ++plane) f(plane);
  }, 1);
}

// LeNet's pooling: 2x2 windows, stride 2, no padding; a loop of its own without the
// generic window bookkeeping, which would cost more than the four comparisons.
bool is_2x2(const Window2d& w) {
  return w.kernel_h == 2 && w.kernel_w == 2 && w.stride_h == 2 && w.stride_w == 2 && w.pad_h == 0 && w.pad_w == 0;
}

// c ? a : b by bit masks. A comparison of data against a running maximum is a coin flip
// for the branch predictor, and the compiler turns a plain ?: on floats into a branch
// outside the vectorised loop body; integer masks keep the scalar code branch-free too.
template <class T>
inline T pick(bool c, T a, T b) {
  using U = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  const U mask = U(0) - U(c);
  return std::bit_cast<T>((std::bit_cast<U>(a) & mask) | (std::bit_cast<U>(b) & ~mask));
}

// PyTorch's rule for a running maximum: a later value replaces it when greater, or NaN.
template <class T>
inline bool replaces(T v, T best) {
  return (v > best) | (v != v);
}

// One output row of 2x2 max pooling from input rows r0, r1, window (a b / c d). Without a
// NaN, PyTorch's rule (replace on >) gives the maximum and the first position holding it;
// `which` (0 to 3) is computed from equalities by arithmetic rather than by branches, which
// random data would mispredict. With a NaN (rare, so that branch is predictable) the last
// NaN wins, as it replaces everything before it and nothing else replaces it.
template <class T, bool kWithIndex>
void max_2x2_row(const T* __restrict r0, const T* __restrict r1, T* __restrict out, std::int64_t* __restrict idx,
                 std::int64_t row_start, std::int64_t in_w, std::int64_t n) {
  for (std::int64_t ow = 0; ow < n; ++ow) {
    const T a = r0[2 * ow], b = r0[2 * ow + 1], c = r1[2 * ow], d = r1[2 * ow + 1];
    int which;
    T best;
    if ((a != a) | (b != b) | (c != c) | (d != d)) [[unlikely]] {
      which = d != d ? 3 : c != c ? 2 : b != b ? 1 : 0;
      best = which == 3 ? d : which == 2 ? c : which == 1 ? b : a;
    } else {
      // std::max keeps its first argument on ties, so best is the first maximal element
      // itself (equal zeros of opposite sign included).
      best = std::max(std::max(a, b), std::max(c, d));
      const int not_a = a != best, not_b = b != best, not_c = c != best;
      which = not_a * (1 + not_b * (1 + not_c));
    }
    out[ow] = best;
    if constexpr (kWithIndex) idx[ow] = row_start + 2 * ow + (which & 1) + (which >> 1) * in_w;
  }
}

// Output columns handled together: a window's taps are visited one at a time for a whole
// block of outputs, so the inner loops run along a row and vectorise (with no branch on
// the data), instead of one short window after another.
constexpr std::int64_t kBlock = 64;

// Calls f(input row ih, column offset of kernel column j, first and last output column
// [begin, end) of block [ow0, ow0 + n) whose tap j lies inside the input) for every tap of
// output row oh, in row-major window order (ih, then j).
template <class F>
void for_each_tap_row(const Window2d& w, std::int64_t oh, std::int64_t ow0, std::int64_t n, F&& f) {
  const Span rows = span_of(w, oh, 0, true);
  for (std::int64_t ih = rows.h0; ih < rows.h1; ++ih)
    for (std::int64_t j = 0; j < w.kernel_w; ++j) {
      const std::int64_t offset = j - w.pad_w;
      // Output columns whose tap ow*stride + offset lies in [0, in_w).
      std::int64_t begin = offset >= 0 ? 0 : (-offset + w.stride_w - 1) / w.stride_w;
      std::int64_t end = offset > w.in_w - 1 ? 0 : (w.in_w - 1 - offset) / w.stride_w + 1;
      begin = std::max(begin, ow0);
      end = std::min(end, ow0 + n);
      if (begin < end) f(ih, offset, begin, end);
    }
}

// out = max over the window; idx = its position in the plane. Taps are visited in the
// window's row-major order and replace the best on a strictly greater value or a NaN, so
// the first maximum wins and the last NaN, exactly as PyTorch's kernel; the index starts
// at the window's first real element (what PyTorch reports for an all -inf window).
template <class T>
void max_pool2d_typed(const View& out, const View& indices, const View& input, const Window2d& w) {
  T* y = typed<T>(out);
  std::int64_t* idx = typed<std::int64_t>(indices);
  const T* x = typed<const T>(input);
  const std::int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  for_each_plane(w, [&](std::int64_t plane) {
    const T* xp = x + plane * in_plane;
    if (is_2x2(w)) {
      for (std::int64_t oh = 0; oh < w.out_h; ++oh) {
        const T* r0 = xp + 2 * oh * w.in_w;
        T* yr = y + plane * out_plane + oh * w.out_w;
        if (idx) {
          max_2x2_row<T, true>(r0, r0 + w.in_w, yr, idx + plane * out_plane + oh * w.out_w, 2 * oh * w.in_w, w.in_w,
                               w.out_w);
        } else {
          max_2x2_row<T, false>(r0, r0 + w.in_w, yr, nullptr, 0, w.in_w, w.out_w);
        }
      }
      return;
    }
    for (std::int64_t oh = 0; oh < w.out_h; ++oh)
      for (std::int64_t ow0 = 0; ow0 < w.out_w; ow0 += kBlock) {
        const std::int64_t n = std::min(kBlock, w.out_w - ow0);
        T best[kBlock];
        std::int64_t arg[kBlock];
        const std::int64_t first_row = std::max<std::int64_t>(oh * w.stride_h - w.pad_h, 0) * w.in_w;
        for (std::int64_t k = 0; k < n; ++k) {
          best[k] = -std::numeric_limits<T>::infinity();
          arg[k] = first_row + std::max<std::int64_t>((ow0 + k) * w.stride_w - w.pad_w, 0);
        }
        for_each_tap_row(w, oh, ow0, n, [&](std::int64_t ih, std::int64_t offset, std::int64_t begin,
                                            std::int64_t end) {
          const std::int64_t base = ih * w.in_w + offset;
          const T* src = xp + base;
          for (std::int64_t ow = begin; ow < end; ++ow) {
            const T v = src[ow * w.stride_w];
            const std::int64_t k = ow - ow0;
            const bool take = replaces(v, best[k]);
            best[k] = pick(take, v, best[k]);
            arg[k] = take ? base + ow * w.stride_w : arg[k];
          }
        });
        T* yr = y + plane * out_plane + oh * w.out_w + ow0;
        for (std::int64_t k = 0; k < n; ++k) yr[k] = best[k];
        if (idx) {
          std::int64_t* ir = idx + plane * out_plane + oh * w.out_w + ow0;
          for (std::int64_t k = 0; k < n; ++k) ir[k] = arg[k];
        }
      }
  });
}

template <class T>
void max_pool2d_backward_typed(const View& grad_input, const View& grad_out, const View& indices,
                               const Window2d& w) {
  T* dx = typed<T>(grad_input);
  const T* dy = typed<const T>(grad_out);
  const std::int64_t* idx = typed<const std::int64_t>(indices);
  const std::int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  for_each_plane(w, [&](std::int64_t plane) {
    T* dxp = dx + plane * in_plane;
    const T* dyp = dy + plane * out_plane;
    const std::int64_t* ip = idx + plane * out_plane;
    std::fill(dxp, dxp + in_plane, T(0));
    for (std::int64_t o = 0; o < out_plane; ++o) dxp[ip[o]] += dyp[o];
  });
}

// out = (sum over the window) / divisor, summed in T as PyTorch's CPU kernel does.
template <class T>
void avg_pool2d_typed(const View& out, const View& input, const Window2d& w, bool count_include_pad) {
  T* y = typed<T>(out);
  const T* x = typed<const T>(input);
  const std::int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  for_each_plane(w, [&](std::int64_t plane) {
    const T* xp = x + plane * in_plane;
    if (is_2x2(w)) {  // every window is four real elements
      for (std::int64_t oh = 0; oh < w.out_h; ++oh) {
        const T* r0 = xp + 2 * oh * w.in_w;
        const T* r1 = r0 + w.in_w;
        T* yr = y + plane * out_plane + oh * w.out_w;
        for (std::int64_t ow = 0; ow < w.out_w; ++ow)
          yr[ow] = (r0[2 * ow] + r0[2 * ow + 1] + r1[2 * ow] + r1[2 * ow + 1]) / T(4);
      }
      return;
    }
    for (std::int64_t oh = 0; oh < w.out_h; ++oh)
      for (std::int64_t ow0 = 0; ow0 < w.out_w; ow0 += kBlock) {
        const std::int64_t n = std::min(kBlock, w.out_w - ow0);
        T sum[kBlock] = {};
        for_each_tap_row(w, oh, ow0, n, [&](std::int64_t ih, std::int64_t offset, std::int64_t begin,
                                            std::int64_t end) {
          const T* src = xp + ih * w.in_w + offset;
          for (std::int64_t ow = begin; ow < end; ++ow) sum[ow - ow0] += src[ow * w.stride_w];
        });
        T* yr = y + plane * out_plane + oh * w.out_w + ow0;
        for (std::int64_t k = 0; k < n; ++k) {
          const std::int64_t divisor = span_of(w, oh, ow0 + k, count_include_pad).divisor;
          yr[k] = divisor > 0 ? sum[k] / static_cast<T>(divisor) : T(0);
        }
      }
  });
}

template <class T>
void avg_pool2d_backward_typed(const View& grad_input, const View& grad_out, const Window2d& w,
                               bool count_include_pad) {
  T* dx = typed<T>(grad_input);
  const T* dy = typed<const T>(grad_out);
  const std::int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  for_each_plane(w, [&](std::int64_t plane) {
    T* dxp = dx + plane * in_plane;
    std::fill(dxp, dxp + in_plane, T(0));
    for (std::int64_t oh = 0; oh < w.out_h; ++oh)
      for (std::int64_t ow0 = 0; ow0 < w.out_w; ow0 += kBlock) {
        const std::int64_t n = std::min(kBlock, w.out_w - ow0);
        const T* dyr = dy + plane * out_plane + oh * w.out_w + ow0;
        T share[kBlock];
        for (std::int64_t k = 0; k < n; ++k) {
          const std::int64_t divisor = span_of(w, oh, ow0 + k, count_include_pad).divisor;
          share[k] = divisor > 0 ? dyr[k] / static_cast<T>(divisor) : T(0);
        }
        // Within one tap, distinct output columns reach distinct inputs (stride >= 1).
        for_each_tap_row(w, oh, ow0, n, [&](std::int64_t ih, std::int64_t offset, std::int64_t begin,
                                            std::int64_t end) {
          T* dst = dxp + ih * w.in_w + offset;
          for (std::int64_t ow = begin; ow < end; ++ow) dst[ow * w.stride_w] += share[ow - ow0];
        });
      }
  });
}

}  // namespace

void CpuBackend::max_pool2d(const View& out, const View& indices, const View& input, const Window2d& w) {
  if (out.numel() == 0) return;
  if (out.dtype == DType::Float64) return max_pool2d_typed<double>(out, indices, input, w);
  max_pool2d_typed<float>(out, indices, input, w);
}

void CpuBackend::max_pool2d_backward(const View& grad_input, const View& grad_out, const View& indices,
                                     const Window2d& w) {
  if (grad_input.numel() == 0) return;
  if (grad_input.dtype == DType::Float64) return max_pool2d_backward_typed<double>(grad_input, grad_out, indices, w);
  max_pool2d_backward_typed<float>(grad_input, grad_out, indices, w);
}

void CpuBackend::avg_pool2d(const View& out, const View& input, const Window2d& w, bool count_include_pad) {
  if (out.numel() == 0) return;
  if (out.dtype == DType::Float64) return avg_pool2d_typed<double>(out, input, w, count_include_pad);
  avg_pool2d_typed<float>(out, input, w, count_include_pad);
}

void CpuBackend::avg_pool2d_backward(const View& grad_input, const View& grad_out, const Window2d& w,
                                     bool count_include_pad) {
  if (grad_input.numel() == 0) return;
  if (grad_input.dtype == DType::Float64) {
    return avg_pool2d_backward_typed<double>(grad_input, grad_out, w, count_include_pad);
  }
  avg_pool2d_backward_typed<float>(grad_input, grad_out, w, count_include_pad);
}

}  // namespace recur::backend
