// 2-D max and average pooling over dense (N, C, H, W) tensors, and their gradients,
// following PyTorch's CPU kernels (floor mode, no dilation) window for window.
//
// Each output window is [oh*stride - pad, + kernel) clipped to the input, so padding never
// takes part in a maximum; an average divides by the window clipped to the padded input
// (count_include_pad) or by the real elements it covers. Planes (n, c) are independent and
// go to threads; a backward pass writes only into its own plane of grad_input.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>

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

Span span_of(const Window2d& w, std::int64_t oh, std::int64_t ow, bool count_include_pad) {
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

// out = max over the window; idx = its position in the plane: the first maximum in
// row-major order (strict >), or the last NaN, exactly as PyTorch.
template <class T>
void max_pool2d_typed(const View& out, const View& indices, const View& input, const Window2d& w) {
  T* y = typed<T>(out);
  std::int64_t* idx = typed<std::int64_t>(indices);
  const T* x = typed<const T>(input);
  const std::int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  for_each_plane(w, [&](std::int64_t plane) {
    const T* xp = x + plane * in_plane;
    T* yp = y + plane * out_plane;
    std::int64_t* ip = idx ? idx + plane * out_plane : nullptr;
    for (std::int64_t oh = 0; oh < w.out_h; ++oh)
      for (std::int64_t ow = 0; ow < w.out_w; ++ow) {
        const Span s = span_of(w, oh, ow, true);
        std::int64_t best_index = s.h0 * w.in_w + s.w0;
        T best = -std::numeric_limits<T>::infinity();
        for (std::int64_t ih = s.h0; ih < s.h1; ++ih)
          for (std::int64_t iw = s.w0; iw < s.w1; ++iw) {
            const std::int64_t i = ih * w.in_w + iw;
            const T v = xp[i];
            if (v > best || std::isnan(v)) {
              best = v;
              best_index = i;
            }
          }
        yp[oh * w.out_w + ow] = best;
        if (idx) ip[oh * w.out_w + ow] = best_index;
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

template <class T>
void avg_pool2d_typed(const View& out, const View& input, const Window2d& w, bool count_include_pad) {
  T* y = typed<T>(out);
  const T* x = typed<const T>(input);
  const std::int64_t in_plane = w.in_h * w.in_w, out_plane = w.out_h * w.out_w;
  for_each_plane(w, [&](std::int64_t plane) {
    const T* xp = x + plane * in_plane;
    T* yp = y + plane * out_plane;
    for (std::int64_t oh = 0; oh < w.out_h; ++oh)
      for (std::int64_t ow = 0; ow < w.out_w; ++ow) {
        const Span s = span_of(w, oh, ow, count_include_pad);
        double sum = 0;
        for (std::int64_t ih = s.h0; ih < s.h1; ++ih)
          for (std::int64_t iw = s.w0; iw < s.w1; ++iw) sum += xp[ih * w.in_w + iw];
        yp[oh * w.out_w + ow] = s.divisor > 0 ? static_cast<T>(sum / s.divisor) : T(0);
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
    const T* dyp = dy + plane * out_plane;
    std::fill(dxp, dxp + in_plane, T(0));
    for (std::int64_t oh = 0; oh < w.out_h; ++oh)
      for (std::int64_t ow = 0; ow < w.out_w; ++ow) {
        const Span s = span_of(w, oh, ow, count_include_pad);
        if (s.divisor <= 0) continue;
        const T share = dyp[oh * w.out_w + ow] / static_cast<T>(s.divisor);
        for (std::int64_t ih = s.h0; ih < s.h1; ++ih)
          for (std::int64_t iw = s.w0; iw < s.w1; ++iw) dxp[ih * w.in_w + iw] += share;
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
