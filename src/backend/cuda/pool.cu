// 2-D max and average pooling on the GPU (floor mode, no dilation), window for window as
// src/backend/cpu/pool.cpp:
//   - a window is [oh*stride - pad, + kernel) clipped to the input, so padding never takes
//     part in a maximum; the average divides by the window clipped to the padded input
//     (count_include_pad) or by the real elements it covers;
//   - max: taps in row-major window order replace the best on a greater value or a NaN
//     (first maximum, last NaN); the index starts at the window's first real element.
// Forward: one thread per output. Backward: one thread per input element, gathering from
// the outputs whose window covers it (max: those whose saved index points at it), in output
// order: deterministic, no atomics.
#include <cstdint>

#include "backend/cuda/cuda_backend.hpp"
#include "backend/cuda/kernels_b.cuh"

namespace recur::backend {
namespace {

using namespace cuda_b;

struct PoolGeom {
  std::int64_t H, W, kh, kw, sh, sw, ph, pw, oh, ow;
};

PoolGeom geom_of(const Window2d& w) {
  return {w.in_h, w.in_w, w.kernel_h, w.kernel_w, w.stride_h, w.stride_w, w.pad_h, w.pad_w, w.out_h, w.out_w};
}

__device__ __forceinline__ std::int64_t min64(std::int64_t a, std::int64_t b) { return a < b ? a : b; }
__device__ __forceinline__ std::int64_t max64(std::int64_t a, std::int64_t b) { return a > b ? a : b; }

// PyTorch's averaging divisor of output (oh, ow).
__device__ __forceinline__ std::int64_t divisor_of(const PoolGeom& g, std::int64_t oh, std::int64_t ow,
                                                   bool count_include_pad) {
  std::int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
  std::int64_t h1 = min64(h0 + g.kh, g.H + g.ph), w1 = min64(w0 + g.kw, g.W + g.pw);
  const std::int64_t padded = (h1 - h0) * (w1 - w0);
  h0 = max64(h0, 0);
  w0 = max64(w0, 0);
  h1 = min64(h1, g.H);
  w1 = min64(w1, g.W);
  return count_include_pad ? padded : (h1 - h0) * (w1 - w0);
}

// Outputs o along one axis whose window [o*stride - pad, + kernel) covers input position x:
// [first, last] (empty when first > last).
__device__ __forceinline__ void covering(std::int64_t x, std::int64_t stride, std::int64_t pad, std::int64_t kernel,
                                         std::int64_t out, std::int64_t& first, std::int64_t& last) {
  // o*stride <= x + pad  and  o*stride > x + pad - kernel
  const std::int64_t hi = x + pad;  // >= 0
  last = min64(hi / stride, out - 1);
  const std::int64_t lo = hi - kernel + 1;  // o*stride >= lo
  first = lo <= 0 ? 0 : (lo + stride - 1) / stride;
}

template <class T>
__global__ void max_pool_kernel(T* __restrict__ y, std::int64_t* __restrict__ idx, const T* __restrict__ x,
                                PoolGeom g, std::int64_t total) {
  RECUR_GRID_STRIDE(e, total) {
    const std::int64_t ow = e % g.ow, oh = (e / g.ow) % g.oh, plane = e / (g.ow * g.oh);
    const T* xp = x + plane * g.H * g.W;
    const std::int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    const std::int64_t ih0 = max64(h0, 0), ih1 = min64(h0 + g.kh, g.H);
    const std::int64_t iw0 = max64(w0, 0), iw1 = min64(w0 + g.kw, g.W);
    T best = -INFINITY;
    std::int64_t arg = ih0 * g.W + iw0;
    for (std::int64_t ih = ih0; ih < ih1; ++ih)
      for (std::int64_t iw = iw0; iw < iw1; ++iw) {
        const T v = xp[ih * g.W + iw];
        if (v > best || v != v) {
          best = v;
          arg = ih * g.W + iw;
        }
      }
    y[e] = best;
    if (idx) idx[e] = arg;
  }
}

template <class T>
__global__ void max_pool_backward_kernel(T* __restrict__ dx, const T* __restrict__ dy,
                                         const std::int64_t* __restrict__ idx, PoolGeom g, std::int64_t total) {
  RECUR_GRID_STRIDE(e, total) {
    const std::int64_t iw = e % g.W, ih = (e / g.W) % g.H, plane = e / (g.W * g.H);
    const std::int64_t here = ih * g.W + iw;
    const std::int64_t out_plane = g.oh * g.ow;
    const T* dyp = dy + plane * out_plane;
    const std::int64_t* ip = idx + plane * out_plane;
    std::int64_t oh0, oh1, ow0, ow1;
    covering(ih, g.sh, g.ph, g.kh, g.oh, oh0, oh1);
    covering(iw, g.sw, g.pw, g.kw, g.ow, ow0, ow1);
    T acc = T(0);
    for (std::int64_t oh = oh0; oh <= oh1; ++oh)
      for (std::int64_t ow = ow0; ow <= ow1; ++ow) {
        const std::int64_t o = oh * g.ow + ow;
        if (ip[o] == here) acc += dyp[o];
      }
    dx[e] = acc;
  }
}

template <class T>
__global__ void avg_pool_kernel(T* __restrict__ y, const T* __restrict__ x, PoolGeom g, bool count_include_pad,
                                std::int64_t total) {
  RECUR_GRID_STRIDE(e, total) {
    const std::int64_t ow = e % g.ow, oh = (e / g.ow) % g.oh, plane = e / (g.ow * g.oh);
    const T* xp = x + plane * g.H * g.W;
    const std::int64_t h0 = oh * g.sh - g.ph, w0 = ow * g.sw - g.pw;
    const std::int64_t ih0 = max64(h0, 0), ih1 = min64(h0 + g.kh, g.H);
    const std::int64_t iw0 = max64(w0, 0), iw1 = min64(w0 + g.kw, g.W);
    T sum = T(0);
    for (std::int64_t ih = ih0; ih < ih1; ++ih)
      for (std::int64_t iw = iw0; iw < iw1; ++iw) sum += xp[ih * g.W + iw];
    const std::int64_t divisor = divisor_of(g, oh, ow, count_include_pad);
    y[e] = divisor > 0 ? sum / static_cast<T>(divisor) : T(0);
  }
}

template <class T>
__global__ void avg_pool_backward_kernel(T* __restrict__ dx, const T* __restrict__ dy, PoolGeom g,
                                         bool count_include_pad, std::int64_t total) {
  RECUR_GRID_STRIDE(e, total) {
    const std::int64_t iw = e % g.W, ih = (e / g.W) % g.H, plane = e / (g.W * g.H);
    const T* dyp = dy + plane * g.oh * g.ow;
    std::int64_t oh0, oh1, ow0, ow1;
    covering(ih, g.sh, g.ph, g.kh, g.oh, oh0, oh1);
    covering(iw, g.sw, g.pw, g.kw, g.ow, ow0, ow1);
    T acc = T(0);
    // The CPU adds a row's contributions tap by tap, i.e. from the last covering column back.
    for (std::int64_t oh = oh0; oh <= oh1; ++oh)
      for (std::int64_t ow = ow1; ow >= ow0; --ow) {
        const std::int64_t divisor = divisor_of(g, oh, ow, count_include_pad);
        acc += divisor > 0 ? dyp[oh * g.ow + ow] / static_cast<T>(divisor) : T(0);
      }
    dx[e] = acc;
  }
}

}  // namespace

void CudaBackend::max_pool2d(const View& out, const View& indices, const View& input, const Window2d& w) {
  if (out.numel() == 0) return;
  const std::int64_t total = out.numel();
  dispatch_float(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    max_pool_kernel<T><<<grid_for(total), kThreads, 0, stream()>>>(
        static_cast<T*>(out.data), static_cast<std::int64_t*>(indices.data), static_cast<const T*>(input.data),
        geom_of(w), total);
  });
  check_launch("max_pool2d");
}

void CudaBackend::max_pool2d_backward(const View& grad_input, const View& grad_out, const View& indices,
                                      const Window2d& w) {
  if (grad_input.numel() == 0) return;
  const std::int64_t total = grad_input.numel();
  if (grad_out.numel() == 0) {
    check(cudaMemsetAsync(grad_input.data, 0, dtype_size(grad_input.dtype) * total, stream()), "max_pool2d_backward");
    return;
  }
  dispatch_float(grad_input.dtype, [&](auto zero) {
    using T = decltype(zero);
    max_pool_backward_kernel<T><<<grid_for(total), kThreads, 0, stream()>>>(
        static_cast<T*>(grad_input.data), static_cast<const T*>(grad_out.data),
        static_cast<const std::int64_t*>(indices.data), geom_of(w), total);
  });
  check_launch("max_pool2d_backward");
}

void CudaBackend::avg_pool2d(const View& out, const View& input, const Window2d& w, bool count_include_pad) {
  if (out.numel() == 0) return;
  const std::int64_t total = out.numel();
  dispatch_float(out.dtype, [&](auto zero) {
    using T = decltype(zero);
    avg_pool_kernel<T><<<grid_for(total), kThreads, 0, stream()>>>(
        static_cast<T*>(out.data), static_cast<const T*>(input.data), geom_of(w), count_include_pad, total);
  });
  check_launch("avg_pool2d");
}

void CudaBackend::avg_pool2d_backward(const View& grad_input, const View& grad_out, const Window2d& w,
                                      bool count_include_pad) {
  if (grad_input.numel() == 0) return;
  const std::int64_t total = grad_input.numel();
  if (grad_out.numel() == 0) {
    check(cudaMemsetAsync(grad_input.data, 0, dtype_size(grad_input.dtype) * total, stream()), "avg_pool2d_backward");
    return;
  }
  dispatch_float(grad_input.dtype, [&](auto zero) {
    using T = decltype(zero);
    avg_pool_backward_kernel<T><<<grid_for(total), kThreads, 0, stream()>>>(
        static_cast<T*>(grad_input.data), static_cast<const T*>(grad_out.data), geom_of(w), count_include_pad,
        total);
  });
  check_launch("avg_pool2d_backward");
}

}  // namespace recur::backend
