// 2-D convolution on the GPU: im2col (a kernel) + cuBLAS GEMMs through CudaBackend::gemm,
// over chunks of images.
//
// Notation as src/backend/cpu/conv.cpp: K = C*kh*kw taps, P = out_h*out_w positions, O output
// channels, W the weight as an (O x K) matrix. A chunk of `nc` images gets one columns buffer
// col (K x nc*P), laid out [tap][image][position], so that
//   forward:     Y[n] = W col[:, n, :] + bias      one strided-batched GEMM over the chunk's
//                                                  images (A stride 0), straight into out (NCHW)
//   grad weight: dW += dYt col^T                   one GEMM over all nc*P columns, dYt (O x nc*P)
//                                                  being the chunk's grad_out transposed to
//                                                  [channel][image][position] by a kernel
//   grad input:  dcol = W^T dYt                    one GEMM (into col's buffer, after dW used it),
//                dX = col2im(dcol)                 a gather kernel: every input element sums the
//                                                  taps that read it, in tap order (no atomics)
//   grad bias:   db[o] = sum over n, p of dY       one block per channel, double accumulation
// Scratch (col, dYt) comes from the backend's allocator once per call; the chunk is sized so
// that it stays under kScratchElements.
#include <algorithm>
#include <cstdint>

#include "backend/cuda/cuda_backend.hpp"
#include "backend/cuda/kernels_b.cuh"

namespace recur::backend {
namespace {

using namespace cuda_b;

constexpr std::int64_t kScratchElements = std::int64_t{1} << 25;  // 128 MiB of float32 per call

struct ConvGeom {
  std::int64_t C, H, W, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow;
  __host__ __device__ std::int64_t K() const { return C * kh * kw; }
  __host__ __device__ std::int64_t P() const { return oh * ow; }
};

ConvGeom geom_of(const Window2d& w) {
  return {w.channels, w.in_h,     w.in_w,       w.kernel_h,   w.kernel_w, w.stride_h, w.stride_w,
          w.pad_h,    w.pad_w,    w.dilation_h, w.dilation_w, w.out_h,    w.out_w};
}

// col[k][n][p] (K x nc*P) from images x (nc, C, H, W), zero on padding.
template <class T>
__global__ void im2col_kernel(T* __restrict__ col, const T* __restrict__ x, ConvGeom g, std::int64_t nc) {
  const std::int64_t P = g.P(), total = g.K() * nc * P;
  RECUR_GRID_STRIDE(e, total) {
    const std::int64_t p = e % P;
    const std::int64_t n = (e / P) % nc;
    const std::int64_t k = e / (P * nc);
    const std::int64_t j = k % g.kw, i = (k / g.kw) % g.kh, c = k / (g.kw * g.kh);
    const std::int64_t oh = p / g.ow, ow = p % g.ow;
    const std::int64_t y = oh * g.sh - g.ph + i * g.dh, xx = ow * g.sw - g.pw + j * g.dw;
    T v = T(0);
    if (y >= 0 && y < g.H && xx >= 0 && xx < g.W) v = x[((n * g.C + c) * g.H + y) * g.W + xx];
    col[e] = v;
  }
}

// dx (nc, C, H, W) = the sum, over the taps (i, j) of the window positions that read each
// element, of dcol[(c, i, j)][n][(oh, ow)], in tap order as the CPU's col2im.
template <class T>
__global__ void col2im_kernel(T* __restrict__ dx, const T* __restrict__ dcol, ConvGeom g, std::int64_t nc) {
  const std::int64_t P = g.P(), total = nc * g.C * g.H * g.W;
  RECUR_GRID_STRIDE(e, total) {
    const std::int64_t xx = e % g.W;
    const std::int64_t y = (e / g.W) % g.H;
    const std::int64_t c = (e / (g.W * g.H)) % g.C;
    const std::int64_t n = e / (g.W * g.H * g.C);
    T acc = T(0);
    for (std::int64_t i = 0; i < g.kh; ++i) {
      const std::int64_t ry = y + g.ph - i * g.dh;  // = oh * sh
      if (ry < 0 || ry % g.sh != 0) continue;
      const std::int64_t oh = ry / g.sh;
      if (oh >= g.oh) continue;
      for (std::int64_t j = 0; j < g.kw; ++j) {
        const std::int64_t rx = xx + g.pw - j * g.dw;
        if (rx < 0 || rx % g.sw != 0) continue;
        const std::int64_t ow = rx / g.sw;
        if (ow >= g.ow) continue;
        const std::int64_t k = (c * g.kh + i) * g.kw + j;
        acc += dcol[(k * nc + n) * P + oh * g.ow + ow];
      }
    }
    dx[e] = acc;
  }
}

// out (nc, O, P) = bias[o] everywhere (the GEMM then adds W col with beta = 1, as the CPU).
template <class T>
__global__ void fill_bias_kernel(T* __restrict__ out, const T* __restrict__ bias, std::int64_t O, std::int64_t P,
                                 std::int64_t total) {
  RECUR_GRID_STRIDE(e, total) { out[e] = bias[(e / P) % O]; }
}

// dyt[o][n][p] = dy[n][o][p] for the chunk's nc images.
template <class T>
__global__ void transpose_chunk_kernel(T* __restrict__ dyt, const T* __restrict__ dy, std::int64_t O,
                                       std::int64_t P, std::int64_t nc) {
  const std::int64_t total = O * nc * P;
  RECUR_GRID_STRIDE(e, total) {
    const std::int64_t p = e % P;
    const std::int64_t n = (e / P) % nc;
    const std::int64_t o = e / (P * nc);
    dyt[e] = dy[(n * O + o) * P + p];
  }
}

// db[o] = sum over images n and positions p of dy[n][o][p]: one block per channel.
template <class T>
__global__ void bias_grad_kernel(T* __restrict__ db, const T* __restrict__ dy, std::int64_t N, std::int64_t O,
                                 std::int64_t P) {
  __shared__ double shared[kThreads];
  const std::int64_t o = blockIdx.x;
  const std::int64_t count = N * P;
  double acc = 0;
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) acc += dy[((e / P) * O + o) * P + e % P];
  const double total = block_sum(acc, shared);
  if (threadIdx.x == 0) db[o] = static_cast<T>(total);
}

// Images per chunk: as many as fit kScratchElements of per-image scratch.
std::int64_t chunk_images(std::int64_t batch, std::int64_t per_image) {
  const std::int64_t fit = std::max<std::int64_t>(1, kScratchElements / std::max<std::int64_t>(per_image, 1));
  return std::min(batch, fit);
}

template <class T>
void conv2d_typed(CudaBackend& be, const View& out, const View& input, const View& weight, const View& bias,
                  const Window2d& w) {
  const ConvGeom g = geom_of(w);
  const std::int64_t N = w.batch, O = weight.shape[0], K = g.K(), P = g.P();
  const std::int64_t image = g.C * g.H * g.W, out_image = O * P;
  T* y = static_cast<T*>(out.data);
  const T* x = static_cast<const T*>(input.data);
  const T* b = static_cast<const T*>(bias.data);
  if (b) {
    fill_bias_kernel<T><<<grid_for(N * out_image), kThreads, 0, be.stream()>>>(y, b, O, P, N * out_image);
    check_launch("conv2d bias");
  }
  if (K == 0) {  // no input channel: out = bias (or 0)
    if (!b) check(cudaMemsetAsync(y, 0, sizeof(T) * N * out_image, be.stream()), "conv2d");
    return;
  }
  const std::int64_t chunk = chunk_images(N, K * P);
  Scratch col_buf(be, sizeof(T) * static_cast<std::size_t>(K * chunk * P));
  T* col = col_buf.as<T>();
  for (std::int64_t n0 = 0; n0 < N; n0 += chunk) {
    const std::int64_t nc = std::min(chunk, N - n0);
    im2col_kernel<T><<<grid_for(K * nc * P), kThreads, 0, be.stream()>>>(col, x + n0 * image, g, nc);
    check_launch("conv2d im2col");
    // Y[n] (O x P) = W (O x K) col[:, n, :] (K x P, row stride nc*P), image n of the chunk.
    be.gemm(false, false, O, P, K, 1.0, weight.data, K, col, nc * P, b ? 1.0 : 0.0, y + n0 * out_image, P,
            out.dtype, nc, 0, P, out_image);
  }
}

template <class T>
void conv2d_backward_typed(CudaBackend& be, const View& grad_input, const View& grad_weight, const View& grad_bias,
                           const View& grad_out, const View& input, const View& weight, const Window2d& w) {
  const ConvGeom g = geom_of(w);
  const std::int64_t N = w.batch, O = weight.shape[0], K = g.K(), P = g.P();
  const std::int64_t image = g.C * g.H * g.W, out_image = O * P;
  const T* dy = static_cast<const T*>(grad_out.data);
  const T* x = static_cast<const T*>(input.data);
  T* dx = static_cast<T*>(grad_input.data);
  T* dw = static_cast<T*>(grad_weight.data);
  T* db = static_cast<T*>(grad_bias.data);
  cudaStream_t stream = be.stream();

  if (db) {
    if (N * P == 0) {
      check(cudaMemsetAsync(db, 0, sizeof(T) * O, stream), "conv2d_backward bias");
    } else if (O > 0) {
      bias_grad_kernel<T><<<static_cast<unsigned>(O), kThreads, 0, stream>>>(db, dy, N, O, P);
      check_launch("conv2d_backward bias");
    }
  }
  if (!dx && !dw) return;
  if (N * P * O * K == 0) {  // no product to compute: zero gradients
    if (dw) check(cudaMemsetAsync(dw, 0, sizeof(T) * O * K, stream), "conv2d_backward weight");
    if (dx) check(cudaMemsetAsync(dx, 0, sizeof(T) * N * image, stream), "conv2d_backward input");
    return;
  }
  const std::int64_t chunk = chunk_images(N, (K + O) * P);
  Scratch col_buf(be, sizeof(T) * static_cast<std::size_t>(K * chunk * P));
  Scratch dyt_buf(be, sizeof(T) * static_cast<std::size_t>(O * chunk * P));
  T* col = col_buf.as<T>();
  T* dyt = dyt_buf.as<T>();
  for (std::int64_t n0 = 0; n0 < N; n0 += chunk) {
    const std::int64_t nc = std::min(chunk, N - n0), cols = nc * P;
    transpose_chunk_kernel<T><<<grid_for(O * cols), kThreads, 0, stream>>>(dyt, dy + n0 * out_image, O, P, nc);
    check_launch("conv2d_backward transpose");
    if (dw) {
      im2col_kernel<T><<<grid_for(K * cols), kThreads, 0, stream>>>(col, x + n0 * image, g, nc);
      check_launch("conv2d_backward im2col");
      // dW (O x K) (+)= dYt (O x nc*P) col^T (nc*P x K)
      be.gemm(false, true, O, K, cols, 1.0, dyt, cols, col, cols, n0 == 0 ? 0.0 : 1.0, dw, K, grad_out.dtype);
    }
    if (dx) {
      // dcol (K x nc*P) = W^T (K x O) dYt (O x nc*P), into col's buffer (stream order: after dW read it).
      be.gemm(true, false, K, cols, O, 1.0, weight.data, K, dyt, cols, 0.0, col, cols, grad_out.dtype);
      col2im_kernel<T><<<grid_for(nc * image), kThreads, 0, stream>>>(dx + n0 * image, col, g, nc);
      check_launch("conv2d_backward col2im");
    }
  }
}

}  // namespace

void CudaBackend::conv2d(const View& out, const View& input, const View& weight, const View& bias,
                         const Window2d& w) {
  if (out.numel() == 0) return;
  dispatch_float(out.dtype, [&](auto zero) { conv2d_typed<decltype(zero)>(*this, out, input, weight, bias, w); });
}

void CudaBackend::conv2d_backward(const View& grad_input, const View& grad_weight, const View& grad_bias,
                                  const View& grad_out, const View& input, const View& weight, const Window2d& w) {
  dispatch_float(grad_out.dtype, [&](auto zero) {
    conv2d_backward_typed<decltype(zero)>(*this, grad_input, grad_weight, grad_bias, grad_out, input, weight, w);
  });
}

}  // namespace recur::backend
