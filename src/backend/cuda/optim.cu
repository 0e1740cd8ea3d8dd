// Fused optimizer updates and the p-norm used by gradient clipping.
//
// One kernel per call, one thread per element, with the formulas, operation order and
// rounding of src/backend/cpu/optim.cpp (PyTorch 1.13's single-tensor optimizers): scalars
// are rounded to the dtype on the host first, "a + alpha b" and "a + (v b) c" are fused
// multiply-adds (__fmaf_rn / __fma_rn where the CPU calls std::fma), and everything else
// rounds after each operation: this file is compiled with -fmad=false (CMakeLists.txt), so
// nvcc contracts nothing else, and sqrt and division are IEEE (no fast math). So the
// updates equal the CPU's bit for bit.
#include <cmath>
#include <limits>

#include "backend/cuda/cuda_common.cuh"

namespace recur::backend {
namespace {

using namespace cuda;

__device__ __forceinline__ float dfma(float a, float b, float c) { return __fmaf_rn(a, b, c); }
__device__ __forceinline__ double dfma(double a, double b, double c) { return __fma_rn(a, b, c); }
__device__ __forceinline__ float dsqrt(float x) { return __fsqrt_rn(x); }
__device__ __forceinline__ double dsqrt(double x) { return __dsqrt_rn(x); }
__device__ __forceinline__ float ddiv(float a, float b) { return __fdiv_rn(a, b); }
__device__ __forceinline__ double ddiv(double a, double b) { return __ddiv_rn(a, b); }

// PyTorch's a.add(b, alpha=s) and a.addcmul(b, c, value=v): fma(b, s, a), fma(v b, c, a).
template <class T>
__device__ __forceinline__ T add_scaled(T a, T b, T s) { return dfma(b, s, a); }
template <class T>
__device__ __forceinline__ T add_product(T a, T vb, T c) { return dfma(vb, c, a); }

template <class T>
__device__ __forceinline__ T maximum(T x, T y) { return (x > y || x != x) ? x : y; }

#define RECUR_ELEMENT_LOOP(n)                                                          \
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)

// ---- SGD: see optim.cpp.
template <class T>
struct SgdScalars {
  T wd, mu, keep, neg_lr;
  bool decay, first, nesterov;
};

template <class T>
__global__ void sgd_kernel(std::int64_t n, T* __restrict__ p, const T* __restrict__ g, T* __restrict__ b,
                           SgdScalars<T> k) {
  RECUR_ELEMENT_LOOP(n) {
    T d = g[i];
    if (k.decay) d = add_scaled(d, p[i], k.wd);
    if (b) {
      const T buf = k.first ? d : add_scaled(b[i] * k.mu, d, k.keep);
      b[i] = buf;
      d = k.nesterov ? add_scaled(d, buf, k.mu) : buf;
    }
    p[i] = add_scaled(p[i], d, k.neg_lr);
  }
}

// ---- Adagrad.
template <class T>
struct AdagradScalars {
  T wd, eps, neg_clr;
  bool decay, inside;
};

template <class T>
__global__ void adagrad_kernel(std::int64_t n, T* __restrict__ p, const T* __restrict__ g, T* __restrict__ sum,
                               AdagradScalars<T> k) {
  RECUR_ELEMENT_LOOP(n) {
    T gi = g[i];
    if (k.decay) gi = add_scaled(gi, p[i], k.wd);
    const T total = add_product(sum[i], gi, gi);
    sum[i] = total;
    const T std_dev = k.inside ? dsqrt(total + k.eps) : dsqrt(total) + k.eps;
    p[i] = p[i] + ddiv(k.neg_clr * gi, std_dev);
  }
}

// ---- RMSprop.
template <class T>
struct RmspropScalars {
  T wd, alpha, one_minus_alpha, eps, mu, neg_lr;
  bool decay;
};

template <class T>
__global__ void rmsprop_kernel(std::int64_t n, T* __restrict__ p, const T* __restrict__ g, T* __restrict__ v,
                               T* __restrict__ a, T* __restrict__ b, RmspropScalars<T> k) {
  RECUR_ELEMENT_LOOP(n) {
    T gi = g[i];
    if (k.decay) gi = add_scaled(gi, p[i], k.wd);
    const T vi = add_product(v[i] * k.alpha, k.one_minus_alpha * gi, gi);
    v[i] = vi;
    T root;
    if (a) {
      const T ai = add_scaled(a[i] * k.alpha, gi, k.one_minus_alpha);
      a[i] = ai;
      root = dsqrt(add_product(vi, -ai, ai)) + k.eps;
    } else {
      root = dsqrt(vi) + k.eps;
    }
    if (b) {
      const T bi = b[i] * k.mu + ddiv(gi, root);
      b[i] = bi;
      p[i] = add_scaled(p[i], bi, k.neg_lr);
    } else {
      p[i] = p[i] + ddiv(k.neg_lr * gi, root);
    }
  }
}

// ---- Adam and AdamW.
template <class T>
struct AdamScalars {
  T wd, decay_factor, beta1, one_minus_beta1, beta2, one_minus_beta2, bc2_sqrt, eps, neg_step_size;
  bool decay, amsgrad;
};

template <class T>
__global__ void adam_kernel(std::int64_t n, T* __restrict__ p, const T* __restrict__ g, T* __restrict__ m,
                            T* __restrict__ v, T* __restrict__ vmax, AdamScalars<T> k) {
  RECUR_ELEMENT_LOOP(n) {
    T gi = g[i];
    const T pi = p[i];
    if (k.decay) gi = add_scaled(gi, pi, k.wd);
    const T mi = add_scaled(m[i] * k.beta1, gi, k.one_minus_beta1);
    T vi = add_product(v[i] * k.beta2, k.one_minus_beta2 * gi, gi);
    m[i] = mi;
    v[i] = vi;
    if (k.amsgrad) {
      vi = maximum(vmax[i], vi);
      vmax[i] = vi;
    }
    const T denom = ddiv(dsqrt(vi), k.bc2_sqrt) + k.eps;
    p[i] = pi * k.decay_factor + ddiv(k.neg_step_size * mi, denom);
  }
}

template <class T>
void sgd_typed(cudaStream_t stream, const View& param, const View& grad, const View& buffer, const SgdStep& s) {
  const SgdScalars<T> k{static_cast<T>(s.weight_decay), static_cast<T>(s.momentum), static_cast<T>(1 - s.dampening),
                        static_cast<T>(-s.lr), s.weight_decay != 0, s.first_step, s.nesterov};
  const std::int64_t n = param.numel();
  sgd_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(n, typed<T>(param), typed<const T>(grad), typed<T>(buffer), k);
  RECUR_CUDA_LAUNCH_CHECK();
}

template <class T>
void adagrad_typed(cudaStream_t stream, const View& param, const View& grad, const View& sum, const AdagradStep& s) {
  const AdagradScalars<T> k{static_cast<T>(s.weight_decay), static_cast<T>(s.eps), static_cast<T>(-s.clr),
                            s.weight_decay != 0, s.eps_inside_sqrt};
  const std::int64_t n = param.numel();
  adagrad_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(n, typed<T>(param), typed<const T>(grad), typed<T>(sum), k);
  RECUR_CUDA_LAUNCH_CHECK();
}

template <class T>
void rmsprop_typed(cudaStream_t stream, const View& param, const View& grad, const View& square_avg,
                   const View& grad_avg, const View& buffer, const RmspropStep& s) {
  const RmspropScalars<T> k{static_cast<T>(s.weight_decay), static_cast<T>(s.alpha), static_cast<T>(1 - s.alpha),
                            static_cast<T>(s.eps), static_cast<T>(s.momentum), static_cast<T>(-s.lr),
                            s.weight_decay != 0};
  const std::int64_t n = param.numel();
  rmsprop_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(n, typed<T>(param), typed<const T>(grad),
                                                          typed<T>(square_avg), typed<T>(grad_avg), typed<T>(buffer), k);
  RECUR_CUDA_LAUNCH_CHECK();
}

template <class T>
void adam_typed(cudaStream_t stream, const View& param, const View& grad, const View& exp_avg,
                const View& exp_avg_sq, const View& max_exp_avg_sq, const AdamStep& s) {
  const AdamScalars<T> k{static_cast<T>(s.weight_decay), static_cast<T>(s.decay_factor), static_cast<T>(s.beta1),
                         static_cast<T>(1 - s.beta1), static_cast<T>(s.beta2), static_cast<T>(1 - s.beta2),
                         static_cast<T>(s.bias_correction2_sqrt), static_cast<T>(s.eps),
                         static_cast<T>(-s.step_size), s.weight_decay != 0, s.amsgrad};
  const std::int64_t n = param.numel();
  adam_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(n, typed<T>(param), typed<const T>(grad), typed<T>(exp_avg),
                                                       typed<T>(exp_avg_sq), typed<T>(max_exp_avg_sq), k);
  RECUR_CUDA_LAUNCH_CHECK();
}

// ---- p-norm: a fixed grid of kNormBlocks blocks, each thread summing a fixed grid-stride
// share in double, blocks reduced in a fixed tree into partials; one block then combines
// the partials and writes the result. The partition depends only on n: deterministic.
// (The CPU sums in another order, so results agree to rounding, ~1e-15 relative.)
constexpr int kNormBlocks = 256, kNormThreads = 256;

struct MaxCombine {
  __device__ double operator()(double a, double b) const { return maximum(a, b); }
};

template <class T>
__global__ void norm_partial_kernel(std::int64_t n, const T* __restrict__ x, double p, int mode, double* partial) {
  __shared__ double scratch[32];
  double acc = 0;
  RECUR_ELEMENT_LOOP(n) {
    const double v = fabs(static_cast<double>(x[i]));
    if (mode == 0) acc = maximum(acc, v);  // inf: max |x|, NaN wins
    else if (mode == 1) acc += v;
    else if (mode == 2) acc += static_cast<double>(x[i]) * static_cast<double>(x[i]);
    else acc += pow(v, p);
  }
  if (mode == 0) acc = block_reduce(acc, MaxCombine(), 0.0, scratch, false);
  else acc = block_reduce(acc, SumCombine(), 0.0, scratch, false);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

__global__ void norm_finish_kernel(const double* partial, double p, int mode, double* dst) {
  __shared__ double scratch[32];
  double acc = partial[threadIdx.x];  // blockDim.x == kNormBlocks
  if (mode == 0) acc = block_reduce(acc, MaxCombine(), 0.0, scratch, false);
  else acc = block_reduce(acc, SumCombine(), 0.0, scratch, false);
  if (threadIdx.x == 0) {
    if (mode == 2) acc = sqrt(acc);
    else if (mode == 3) acc = pow(acc, 1 / p);
    *dst = acc;
  }
}

template <class T>
void norm_typed(CudaBackend& be, double* dst, const View& src, double p) {
  cudaStream_t stream = be.stream();
  const int mode = std::isinf(p) ? 0 : p == 1 ? 1 : p == 2 ? 2 : 3;
  Allocator& alloc = be.allocator();
  const std::size_t bytes = kNormBlocks * sizeof(double);
  double* partial = static_cast<double*>(alloc.allocate(bytes));
  norm_partial_kernel<T><<<kNormBlocks, kNormThreads, 0, stream>>>(src.numel(), typed<const T>(src), p, mode, partial);
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) {
    norm_finish_kernel<<<1, kNormBlocks, 0, stream>>>(partial, p, mode, dst);
    err = cudaGetLastError();
  }
  alloc.deallocate(partial, bytes);  // later reuse is queued after these kernels
  RECUR_CUDA_CHECK(err);
}

}  // namespace

void CudaBackend::sgd_step(const View& param, const View& grad, const View& momentum_buffer, const SgdStep& s) {
  if (param.numel() == 0) return;
  DeviceGuard guard(device_);
  if (param.dtype == DType::Float64) return sgd_typed<double>(stream_, param, grad, momentum_buffer, s);
  sgd_typed<float>(stream_, param, grad, momentum_buffer, s);
}

void CudaBackend::adagrad_step(const View& param, const View& grad, const View& sum, const AdagradStep& s) {
  if (param.numel() == 0) return;
  DeviceGuard guard(device_);
  if (param.dtype == DType::Float64) return adagrad_typed<double>(stream_, param, grad, sum, s);
  adagrad_typed<float>(stream_, param, grad, sum, s);
}

void CudaBackend::rmsprop_step(const View& param, const View& grad, const View& square_avg, const View& grad_avg,
                               const View& momentum_buffer, const RmspropStep& s) {
  if (param.numel() == 0) return;
  DeviceGuard guard(device_);
  if (param.dtype == DType::Float64)
    return rmsprop_typed<double>(stream_, param, grad, square_avg, grad_avg, momentum_buffer, s);
  rmsprop_typed<float>(stream_, param, grad, square_avg, grad_avg, momentum_buffer, s);
}

void CudaBackend::adam_step(const View& param, const View& grad, const View& exp_avg, const View& exp_avg_sq,
                            const View& max_exp_avg_sq, const AdamStep& s) {
  if (param.numel() == 0) return;
  DeviceGuard guard(device_);
  if (param.dtype == DType::Float64)
    return adam_typed<double>(stream_, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, s);
  adam_typed<float>(stream_, param, grad, exp_avg, exp_avg_sq, max_exp_avg_sq, s);
}

void CudaBackend::norm(const View& dst, const View& src, double p) {
  DeviceGuard guard(device_);
  double* d = typed<double>(dst);
  if (src.numel() == 0) {
    RECUR_CUDA_CHECK(cudaMemsetAsync(d, 0, sizeof(double), stream_));  // 0.0 is all zero bits
    return;
  }
  if (src.dtype == DType::Float64) return norm_typed<double>(*this, d, src, p);
  norm_typed<float>(*this, d, src, p);
}

}  // namespace recur::backend
