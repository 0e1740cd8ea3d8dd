// Batch normalisation over a dense (N, C, L) input on the GPU, statistics per channel over
// N*L values, with the formulas of src/backend/cpu/batch_norm.cpp (two-pass mean and
// variance, sums in double; per-element terms computed in the dtype as there):
//
//   mean = sum(x) / n,  var = sum((x - mean)^2) / n,  invstd = 1 / sqrt(var + eps)
//   y    = x * alpha + beta,   alpha = invstd * weight,  beta = bias - mean * alpha
//   running = momentum * batch + (1 - momentum) * running   (variance: sum(...) / (n - 1))
//   backward, dotp = sum((x - mean) * dy): grad_bias = sum(dy), grad_weight = dotp * invstd,
//   training: dx = (dy - sum(dy)/n - (x - mean) * dotp * invstd^2 / n) * invstd * weight
//   eval:     dx = dy * invstd * weight
//
// Statistics and the backward run one block per channel (a fixed-order tree reduction over
// the block's threads, so results are deterministic); the transform one thread per element.
// Per-channel (C) views may be strided: element c at data[c * stride].
#include <cmath>
#include <cstdint>

#include "backend/cuda/cuda_backend.hpp"
#include "backend/cuda/kernels_b.cuh"

namespace recur::backend {
namespace {

using namespace cuda_b;

// A per-channel view as a device-passable pointer and stride; null data when absent.
template <class T>
struct Channel {
  T* data;
  std::int64_t stride;
  __device__ T& operator[](std::int64_t c) const { return data[c * stride]; }
};

template <class T>
Channel<T> channel_of(const View& v) {
  return {static_cast<T*>(v.data), v.shape.ndim == 0 ? 0 : v.strides[0]};
}

struct Layout {
  std::int64_t N, C, L;
};

Layout layout_of(const View& input) { return {input.shape[0], input.shape[1], input.shape[2]}; }

// Offset in the (N, C, L) input of the e-th value (e < N*L) of channel c.
__device__ __forceinline__ std::int64_t offset_of(const Layout& s, std::int64_t c, std::int64_t e) {
  return ((e / s.L) * s.C + c) * s.L + e % s.L;
}

template <class T>
__global__ void stats_kernel(Channel<T> mean, Channel<T> invstd, const T* __restrict__ x, Layout s,
                             Channel<T> running_mean, Channel<T> running_var, double momentum, double eps) {
  __shared__ double shared[kThreads];
  const std::int64_t c = blockIdx.x, count = s.N * s.L;
  const double n = static_cast<double>(count);
  double acc = 0;
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) acc += x[offset_of(s, c, e)];
  const T m = static_cast<T>(block_sum(acc, shared) / n);
  acc = 0;
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const T d = x[offset_of(s, c, e)] - m;
    acc += d * d;
  }
  const double squares = block_sum(acc, shared);
  if (threadIdx.x != 0) return;
  const double var = squares / n;
  mean[c] = m;
  invstd[c] = var == 0 && eps == 0 ? T(0) : static_cast<T>(1 / sqrt(var + eps));
  if (running_mean.data) running_mean[c] = static_cast<T>(momentum * m + (1 - momentum) * running_mean[c]);
  if (running_var.data) {
    running_var[c] = static_cast<T>(momentum * (squares / (n - 1)) + (1 - momentum) * running_var[c]);
  }
}

template <class T>
__global__ void eval_stats_kernel(Channel<T> mean, Channel<T> invstd, Channel<T> running_mean,
                                  Channel<T> running_var, std::int64_t C, double eps) {
  RECUR_GRID_STRIDE(c, C) {
    mean[c] = running_mean[c];
    invstd[c] = static_cast<T>(1 / sqrt(static_cast<double>(running_var[c]) + eps));
  }
}

template <class T>
__global__ void transform_kernel(T* __restrict__ y, const T* __restrict__ x, Layout s, Channel<const T> mean,
                                 Channel<const T> invstd, Channel<const T> weight, Channel<const T> bias,
                                 std::int64_t total) {
  RECUR_GRID_STRIDE(e, total) {
    const std::int64_t c = (e / s.L) % s.C;
    const T alpha = invstd[c] * (weight.data ? weight[c] : T(1));
    const T beta = (bias.data ? bias[c] : T(0)) - mean[c] * alpha;
    y[e] = x[e] * alpha + beta;
  }
}

template <class T>
__global__ void backward_kernel(T* __restrict__ dx, Channel<T> grad_weight, Channel<T> grad_bias,
                                const T* __restrict__ dy, const T* __restrict__ x, Layout s, Channel<const T> mean,
                                Channel<const T> invstd, Channel<const T> weight, bool training) {
  __shared__ double shared[kThreads];
  const std::int64_t c = blockIdx.x, count = s.N * s.L;
  const double n = static_cast<double>(count);
  const T m = mean[c];
  double acc_sum = 0, acc_dotp = 0;
  for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) {
    const std::int64_t o = offset_of(s, c, e);
    acc_sum += dy[o];
    acc_dotp += (x[o] - m) * dy[o];
  }
  const double sum = block_sum(acc_sum, shared);
  const double dotp = block_sum(acc_dotp, shared);
  const double is = invstd[c];
  if (threadIdx.x == 0) {
    if (grad_weight.data) grad_weight[c] = static_cast<T>(dotp * is);
    if (grad_bias.data) grad_bias[c] = static_cast<T>(sum);
  }
  if (!dx) return;
  const T scale = static_cast<T>(is * (weight.data ? static_cast<double>(weight[c]) : 1.0));
  if (training) {
    const T k = static_cast<T>(dotp * is * is / n);
    const T grad_mean = static_cast<T>(sum / n);
    for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) {
      const std::int64_t o = offset_of(s, c, e);
      dx[o] = (dy[o] - grad_mean - (x[o] - m) * k) * scale;
    }
  } else {
    for (std::int64_t e = threadIdx.x; e < count; e += blockDim.x) {
      const std::int64_t o = offset_of(s, c, e);
      dx[o] = dy[o] * scale;
    }
  }
}

}  // namespace

void CudaBackend::batch_norm_stats(const View& mean, const View& invstd, const View& input, const View& running_mean,
                                   const View& running_var, bool training, double momentum, double eps) {
  const Layout s = layout_of(input);
  if (s.C == 0) return;
  dispatch_float(input.dtype, [&](auto zero) {
    using T = decltype(zero);
    if (!training) {
      eval_stats_kernel<T><<<grid_for(s.C), kThreads, 0, stream()>>>(
          channel_of<T>(mean), channel_of<T>(invstd), channel_of<T>(running_mean), channel_of<T>(running_var), s.C,
          eps);
    } else {
      stats_kernel<T><<<static_cast<unsigned>(s.C), kThreads, 0, stream()>>>(
          channel_of<T>(mean), channel_of<T>(invstd), static_cast<const T*>(input.data), s,
          channel_of<T>(running_mean), channel_of<T>(running_var), momentum, eps);
    }
  });
  check_launch("batch_norm_stats");
}

void CudaBackend::batch_norm(const View& out, const View& input, const View& mean, const View& invstd,
                             const View& weight, const View& bias) {
  if (out.numel() == 0) return;
  const Layout s = layout_of(input);
  const std::int64_t total = out.numel();
  dispatch_float(input.dtype, [&](auto zero) {
    using T = decltype(zero);
    transform_kernel<T><<<grid_for(total), kThreads, 0, stream()>>>(
        static_cast<T*>(out.data), static_cast<const T*>(input.data), s, channel_of<const T>(mean),
        channel_of<const T>(invstd), channel_of<const T>(weight), channel_of<const T>(bias), total);
  });
  check_launch("batch_norm");
}

void CudaBackend::batch_norm_backward(const View& grad_input, const View& grad_weight, const View& grad_bias,
                                      const View& grad_out, const View& input, const View& mean, const View& invstd,
                                      const View& weight, bool training) {
  const Layout s = layout_of(input);
  if (s.C == 0) return;
  dispatch_float(input.dtype, [&](auto zero) {
    using T = decltype(zero);
    backward_kernel<T><<<static_cast<unsigned>(s.C), kThreads, 0, stream()>>>(
        static_cast<T*>(grad_input.data), channel_of<T>(grad_weight), channel_of<T>(grad_bias),
        static_cast<const T*>(grad_out.data), static_cast<const T*>(input.data), s, channel_of<const T>(mean),
        channel_of<const T>(invstd), channel_of<const T>(weight), training);
  });
  check_launch("batch_norm_backward");
}

}  // namespace recur::backend
