// 2-D convolution as im2col + GEMM, one image at a time, the images spread over threads.
//
// For one image, the columns matrix col (K x P) has a row for every kernel tap (c, i, j),
// K = C*kh*kw, and a column for every output position, P = out_h*out_w: entry
// ((c, i, j), (oh, ow)) is the input value that tap meets at that position (0 on padding).
// With W the weight as an (O x K) matrix and Y[n], dY[n] the image's output as (O x P):
//   forward:      Y[n]  = W col + bias                  (one GEMM)
//   grad weight:  dW   += dY[n] col^T                   (one GEMM, accumulated over images)
//   grad bias:    db   += sum over positions of dY[n]
//   grad input:   dcol  = W^T dY[n]                     (one GEMM)
//                 dX[n] = col2im(dcol): each entry added back where im2col copied it from
//
// Why one image at a time rather than one columns matrix for the whole batch and a single
// large GEMM: at LeNet sizes one image's col (tens of KB) is still in L1/L2 when its GEMM
// reads it, every thread works on its own images with no synchronisation, and the results
// land in NCHW order with no transposes; measured against the whole-batch layout it was as
// fast or faster at every LeNet shape (docs/ARCHITECTURE.md, "Convolution, pooling and batch normalisation"). The GEMMs go
// through the backend's one gemm entry point, which runs on the calling thread inside a
// thread pool part. A batch smaller than the thread count runs image after image with each
// GEMM split over the pool instead.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

// Output indices o < out whose input index o*stride + offset lies in [0, size): [begin, end).
void valid_range(std::int64_t offset, std::int64_t stride, std::int64_t size, std::int64_t out, std::int64_t& begin,
                 std::int64_t& end) {
  begin = offset >= 0 ? 0 : (-offset + stride - 1) / stride;
  end = offset > size - 1 ? 0 : (size - 1 - offset) / stride + 1;
  begin = std::min(begin, out);
  end = std::clamp(end, begin, out);
}

// A 1x1 kernel with unit stride and no padding reads the image itself as col.
bool is_pointwise(const Window2d& w) {
  return w.kernel_h == 1 && w.kernel_w == 1 && w.stride_h == 1 && w.stride_w == 1 && w.pad_h == 0 &&
         w.pad_w == 0;
}

// Walks the rows of col: f(row index of tap (c, i, j), channel c, input row offset of kernel
// row i and column offset of kernel column j (input row = oh*stride + row offset, likewise
// for columns), valid output rows [h0, h1), valid output columns [w0, w1)). Outside the
// valid ranges the tap meets padding. im2col and col2im share it.
template <class F>
void for_each_tap(const Window2d& w, F&& f) {
  for (std::int64_t c = 0; c < w.channels; ++c)
    for (std::int64_t i = 0; i < w.kernel_h; ++i) {
      const std::int64_t row_offset = i * w.dilation_h - w.pad_h;
      std::int64_t h0, h1;
      valid_range(row_offset, w.stride_h, w.in_h, w.out_h, h0, h1);
      for (std::int64_t j = 0; j < w.kernel_w; ++j) {
        const std::int64_t col_offset = j * w.dilation_w - w.pad_w;
        std::int64_t w0, w1;
        valid_range(col_offset, w.stride_w, w.in_w, w.out_w, w0, w1);
        f((c * w.kernel_h + i) * w.kernel_w + j, c, row_offset, col_offset, h0, h1, w0, w1);
      }
    }
}

// dst[k] = src[k] for k < n. Output rows are short (8 to 24 values at LeNet sizes): written
// as a loop of fixed 8-wide blocks, each one vector move, rather than a memcpy call per row,
// which the compiler would otherwise substitute and which then costs more than the copy.
template <class T>
inline void copy_short(T* __restrict dst, const T* __restrict src, std::int64_t n) {
  std::int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    T block[8];
    for (int l = 0; l < 8; ++l) block[l] = src[k + l];
    for (int l = 0; l < 8; ++l) dst[k + l] = block[l];
  }
  for (; k < n; ++k) dst[k] = src[k];
}

// dst[k] += src[k] for k < n, in the same 8-wide blocks.
template <class T>
inline void add_short(T* __restrict dst, const T* __restrict src, std::int64_t n) {
  std::int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    T block[8];
    for (int l = 0; l < 8; ++l) block[l] = dst[k + l] + src[k + l];
    for (int l = 0; l < 8; ++l) dst[k + l] = block[l];
  }
  for (; k < n; ++k) dst[k] += src[k];
}

// sum of x[k] for k < n: float lanes over the row (it vectorises), double across lanes.
template <class T>
double row_sum(const T* x, std::int64_t n) {
  constexpr int kLanes = 16;
  T acc[kLanes] = {};
  std::int64_t k = 0;
  for (; k + kLanes <= n; k += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += x[k + l];
  double s = 0;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  for (; k < n; ++k) s += x[k];
  return s;
}

// col (K x P) = the columns of one image (C x H x W). Padding entries are zeroed up front
// (one memset) so that the loops only copy the runs of real input, one per output row.
template <class T>
void im2col(T* __restrict col, const T* __restrict image, const Window2d& w) {
  const std::int64_t out_w = w.out_w, positions = w.out_h * out_w;
  const std::int64_t sh = w.stride_h, sw = w.stride_w, in_w = w.in_w;
  const bool padded = w.pad_h > 0 || w.pad_w > 0;
  if (padded) std::fill(col, col + w.channels * w.kernel_h * w.kernel_w * positions, T(0));
  for_each_tap(w, [&](std::int64_t tap, std::int64_t c, std::int64_t row_offset, std::int64_t col_offset,
                      std::int64_t h0, std::int64_t h1, std::int64_t w0, std::int64_t w1) {
    if (h0 >= h1 || w0 >= w1) return;  // the tap meets only padding
    T* __restrict dst = col + tap * positions + h0 * out_w + w0;
    const T* __restrict src = image + (c * w.in_h + h0 * sh + row_offset) * in_w + col_offset + w0 * sw;
    const std::int64_t n = w1 - w0, src_step = sh * in_w;
    if (sw == 1) {
      for (std::int64_t oh = h0; oh < h1; ++oh, dst += out_w, src += src_step) copy_short(dst, src, n);
    } else {
      for (std::int64_t oh = h0; oh < h1; ++oh, dst += out_w, src += src_step)
        for (std::int64_t k = 0; k < n; ++k) dst[k] = src[k * sw];
    }
  });
}

// image (C x H x W) = the sum of col's entries at the positions im2col took them from.
template <class T>
void col2im(T* __restrict image, const T* __restrict col, const Window2d& w) {
  const std::int64_t out_w = w.out_w, positions = w.out_h * out_w;
  const std::int64_t sh = w.stride_h, sw = w.stride_w, in_w = w.in_w;
  std::fill(image, image + w.channels * w.in_h * in_w, T(0));
  for_each_tap(w, [&](std::int64_t tap, std::int64_t c, std::int64_t row_offset, std::int64_t col_offset,
                      std::int64_t h0, std::int64_t h1, std::int64_t w0, std::int64_t w1) {
    if (h0 >= h1 || w0 >= w1) return;
    const T* __restrict src = col + tap * positions + h0 * out_w + w0;
    T* __restrict dst = image + (c * w.in_h + h0 * sh + row_offset) * in_w + col_offset + w0 * sw;
    const std::int64_t n = w1 - w0, dst_step = sh * in_w;
    if (sw == 1) {
      for (std::int64_t oh = h0; oh < h1; ++oh, src += out_w, dst += dst_step) add_short(dst, src, n);
    } else {
      for (std::int64_t oh = h0; oh < h1; ++oh, src += out_w, dst += dst_step)
        for (std::int64_t k = 0; k < n; ++k) dst[k * sw] += src[k];
    }
  });
}

// Multiply-adds per image of one GEMM, the cost that decides whether to fork.
std::int64_t gemm_cost(const Window2d& w, std::int64_t out_channels) {
  return out_channels * w.channels * w.kernel_h * w.kernel_w * w.out_h * w.out_w;
}

template <class T>
void conv2d_typed(Backend& blas, const View& out, const View& input, const View& weight, const View& bias,
                  const Window2d& w) {
  const std::int64_t out_channels = weight.shape[0];
  const std::int64_t taps = w.channels * w.kernel_h * w.kernel_w, positions = w.out_h * w.out_w;
  const std::int64_t image_size = w.channels * w.in_h * w.in_w, out_size = out_channels * positions;
  T* y = typed<T>(out);
  const T* x = typed<const T>(input);
  const T* b = typed<const T>(bias);
  const bool pointwise = is_pointwise(w);
  auto images = [&](int, std::int64_t first, std::int64_t last) {
    std::vector<T> col(pointwise ? 0 : taps * positions);
    for (std::int64_t n = first; n < last; ++n) {
      T* yn = y + n * out_size;
      const T* cols = x + n * image_size;
      if (!pointwise) {
        im2col(col.data(), cols, w);
        cols = col.data();
      }
      if (b) {
        for (std::int64_t o = 0; o < out_channels; ++o) std::fill(yn + o * positions, yn + (o + 1) * positions, b[o]);
      }
      blas.gemm(false, false, out_channels, positions, taps, 1.0, weight.data, taps, cols, positions, b ? 1.0 : 0.0,
                yn, positions, out.dtype);
    }
  };
  parallel_parts(w.batch, gemm_cost(w, out_channels), images, 1);
}

template <class T>
void conv2d_backward_typed(Backend& blas, const View& grad_input, const View& grad_weight, const View& grad_bias,
                           const View& grad_out, const View& input, const View& weight, const Window2d& w) {
  const std::int64_t out_channels = weight.shape[0];
  const std::int64_t taps = w.channels * w.kernel_h * w.kernel_w, positions = w.out_h * w.out_w;
  const std::int64_t image_size = w.channels * w.in_h * w.in_w, out_size = out_channels * positions;
  const T* dy = typed<const T>(grad_out);
  const T* x = typed<const T>(input);
  T* dx = typed<T>(grad_input);
  T* dw = typed<T>(grad_weight);
  T* db = typed<T>(grad_bias);
  const bool pointwise = is_pointwise(w);
  const std::int64_t weight_size = out_channels * taps;

  // Weight and bias gradients are sums over images: each part sums its own images, and the
  // parts are added in a fixed order afterwards (the result depends only on the part count).
  const int max_parts = std::min(get_num_threads(), kMaxParts);
  std::vector<T> dw_parts(dw ? static_cast<std::size_t>(max_parts) * weight_size : 0);
  std::vector<double> db_parts(db ? static_cast<std::size_t>(max_parts) * out_channels : 0);
  std::vector<char> touched(max_parts, 0);

  const std::int64_t cost = gemm_cost(w, out_channels) * ((dx ? 1 : 0) + (dw ? 1 : 0));
  auto images = [&](int part, std::int64_t first, std::int64_t last) {
    if (first >= last) return;
    touched[part] = 1;
    std::vector<T> col(pointwise || !(dx || dw) ? 0 : taps * positions);
    T* dw_part = dw ? dw_parts.data() + part * weight_size : nullptr;
    double* db_part = db ? db_parts.data() + part * out_channels : nullptr;
    for (std::int64_t n = first; n < last; ++n) {
      const T* dyn = dy + n * out_size;
      if (dw) {
        const T* cols = x + n * image_size;
        if (!pointwise) {
          im2col(col.data(), cols, w);
          cols = col.data();
        }
        blas.gemm(false, true, out_channels, taps, positions, 1.0, dyn, positions, cols, positions,
                  n == first ? 0.0 : 1.0, dw_part, taps, grad_out.dtype);
      }
      if (db) {
        for (std::int64_t o = 0; o < out_channels; ++o) db_part[o] += row_sum(dyn + o * positions, positions);
      }
      if (dx) {
        T* dxn = dx + n * image_size;
        if (pointwise) {
          blas.gemm(true, false, taps, positions, out_channels, 1.0, weight.data, taps, dyn, positions, 0.0, dxn,
                    positions, grad_out.dtype);
        } else {
          blas.gemm(true, false, taps, positions, out_channels, 1.0, weight.data, taps, dyn, positions, 0.0,
                    col.data(), positions, grad_out.dtype);
          col2im(dxn, col.data(), w);
        }
      }
    }
  };
  const int parts = parallel_parts(w.batch, std::max<std::int64_t>(cost, 1), images, 1);

  if (dw) {
    std::fill(dw, dw + weight_size, T(0));
    for (int part = 0; part < parts; ++part) {
      if (!touched[part]) continue;
      const T* src = dw_parts.data() + part * weight_size;
      for (std::int64_t i = 0; i < weight_size; ++i) dw[i] += src[i];
    }
  }
  if (db) {
    for (std::int64_t o = 0; o < out_channels; ++o) {
      double s = 0;
      for (int part = 0; part < parts; ++part) s += db_parts[part * out_channels + o];
      db[o] = static_cast<T>(s);
    }
  }
}

}  // namespace

void CpuBackend::conv2d(const View& out, const View& input, const View& weight, const View& bias,
                        const Window2d& w) {
  if (out.numel() == 0) return;
  if (out.dtype == DType::Float64) return conv2d_typed<double>(*this, out, input, weight, bias, w);
  conv2d_typed<float>(*this, out, input, weight, bias, w);
}

void CpuBackend::conv2d_backward(const View& grad_input, const View& grad_weight, const View& grad_bias,
                                 const View& grad_out, const View& input, const View& weight, const Window2d& w) {
  if (grad_out.dtype == DType::Float64) {
    return conv2d_backward_typed<double>(*this, grad_input, grad_weight, grad_bias, grad_out, input, weight, w);
  }
  conv2d_backward_typed<float>(*this, grad_input, grad_weight, grad_bias, grad_out, input, weight, w);
}

}  // namespace recur::backend
