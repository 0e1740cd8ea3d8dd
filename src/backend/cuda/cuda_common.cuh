// Shared machinery of the CUDA kernels: error checks, the device guard, launch sizes, and
// the offset calculator that turns a linear element index into per-operand offsets.
#pragma once

#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "backend/cuda/cuda_backend.hpp"
#include "recur/core/error.hpp"

// Throws recur::Error naming the call, file and line and CUDA's error string.
#define RECUR_CUDA_CHECK(expr)                                                         \
  do {                                                                                 \
    cudaError_t recur_cuda_err_ = (expr);                                              \
    if (recur_cuda_err_ != cudaSuccess)                                                \
      ::recur::backend::cuda::throw_cuda_error(recur_cuda_err_, #expr, __FILE__, __LINE__); \
  } while (false)

#define RECUR_CUBLAS_CHECK(expr)                                                         \
  do {                                                                                   \
    cublasStatus_t recur_cublas_st_ = (expr);                                            \
    if (recur_cublas_st_ != CUBLAS_STATUS_SUCCESS)                                       \
      ::recur::backend::cuda::throw_cublas_error(recur_cublas_st_, #expr, __FILE__, __LINE__); \
  } while (false)

// After a kernel launch: launch errors (bad configuration, no kernel image for this GPU).
#define RECUR_CUDA_LAUNCH_CHECK() RECUR_CUDA_CHECK(cudaGetLastError())

namespace recur::backend::cuda {

[[noreturn]] void throw_cuda_error(cudaError_t err, const char* expr, const char* file, int line);
[[noreturn]] void throw_cublas_error(cublasStatus_t status, const char* expr, const char* file, int line);

// cuBLAS, loaded on first use (dlopen) rather than linked: its libraries are over half a
// gigabyte, and loading them at start-up made every recur process, CPU-only runs and
// each test included, take 0.4 s to start. Only the functions the backend calls.
struct Cublas {
  decltype(&cublasCreate) create;
  decltype(&cublasDestroy) destroy;
  decltype(&cublasSetStream) set_stream;
  decltype(&cublasSetMathMode) set_math_mode;
  decltype(&cublasSetPointerMode) set_pointer_mode;
  decltype(&cublasSgemm) sgemm;
  decltype(&cublasDgemm) dgemm;
  decltype(&cublasSgemmStridedBatched) sgemm_strided_batched;
  decltype(&cublasDgemmStridedBatched) dgemm_strided_batched;
};
// Loads libcublas.so.<major> (the library search path, then the toolkit's directory this
// build found) on the first call; throws recur::Error naming the library when it cannot.
const Cublas& cublas();

// Makes `device` current for the calling thread (several GPUs may be in use).
struct DeviceGuard {
  explicit DeviceGuard(int device) {
    int current = -1;
    if (cudaGetDevice(&current) != cudaSuccess || current != device) RECUR_CUDA_CHECK(cudaSetDevice(device));
  }
};

// The caching allocator of one GPU (allocator.cu).
std::unique_ptr<Allocator> make_cuda_allocator(int device);

constexpr int kThreads = 256;
// Blocks for a grid-stride loop over n items; the loops cover anything past the cap.
inline unsigned grid_for(std::int64_t n, int threads = kThreads) {
  std::int64_t blocks = (n + threads - 1) / threads;
  return static_cast<unsigned>(std::clamp<std::int64_t>(blocks, 1, 65536));
}

template <class T>
T* typed(const View& v) { return static_cast<T*>(v.data); }

// N operands of one shape, dims of extent 1 dropped and neighbouring dims merged where
// every operand's strides allow (as the CPU's make_iter), passed to kernels by value.
template <int N>
struct OffsetCalc {
  int ndim = 0;
  std::int64_t sizes[kMaxDims] = {};
  std::int64_t strides[N][kMaxDims] = {};

  // Element offsets of operand k for the row-major linear position `i`.
  __device__ __forceinline__ void get(std::int64_t i, std::int64_t (&off)[N]) const {
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = 0;
#pragma unroll
    for (int d = kMaxDims - 1; d >= 0; --d) {
      if (d < ndim) {
        const std::int64_t q = i / sizes[d];
        const std::int64_t c = i - q * sizes[d];
        i = q;
#pragma unroll
        for (int k = 0; k < N; ++k) off[k] += c * strides[k][d];
      }
    }
  }

  // Whether every operand is dense in row-major order (one dim of stride 1, or a scalar).
  bool contiguous() const {
    if (ndim == 0) return true;
    if (ndim != 1) return false;
    for (int k = 0; k < N; ++k)
      if (strides[k][0] != 1) return false;
    return true;
  }
};

template <int N>
OffsetCalc<N> make_offset_calc(const Shape& shape, const Shape* const (&strides)[N]) {
  OffsetCalc<N> oc;
  for (int d = 0; d < shape.ndim; ++d) {
    if (shape[d] == 1) continue;
    const int last = oc.ndim - 1;
    bool merge = last >= 0 && shape[d] != 0 && oc.sizes[last] != 0;
    for (int k = 0; k < N && merge; ++k) merge = oc.strides[k][last] == (*strides[k])[d] * shape[d];
    if (merge) {
      oc.sizes[last] *= shape[d];
      for (int k = 0; k < N; ++k) oc.strides[k][last] = (*strides[k])[d];
    } else {
      oc.sizes[oc.ndim] = shape[d];
      for (int k = 0; k < N; ++k) oc.strides[k][oc.ndim] = (*strides[k])[d];
      ++oc.ndim;
    }
  }
  return oc;
}

// f(off) for every element: off[k] is operand k's element offset.
template <int N, class F>
__global__ void strided_kernel(std::int64_t n, OffsetCalc<N> oc, F f) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    std::int64_t off[N];
    oc.get(i, off);
    f(off);
  }
}

template <int N, class F>
__global__ void contiguous_kernel(std::int64_t n, F f) {
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += step) {
    std::int64_t off[N];
#pragma unroll
    for (int k = 0; k < N; ++k) off[k] = i;
    f(off);
  }
}

// Runs f over `shape` with the operands' strides, on `stream`.
template <int N, class F>
void launch_map(cudaStream_t stream, const Shape& shape, const Shape* const (&strides)[N], const F& f) {
  const std::int64_t n = shape.numel();
  if (n == 0) return;
  const OffsetCalc<N> oc = make_offset_calc<N>(shape, strides);
  if (oc.contiguous()) {
    contiguous_kernel<N><<<grid_for(n), kThreads, 0, stream>>>(n, f);
  } else {
    strided_kernel<N><<<grid_for(n), kThreads, 0, stream>>>(n, oc, f);
  }
  RECUR_CUDA_LAUNCH_CHECK();
}

// ---- Block-wide reductions (blockDim.x a multiple of 32, at most 1024), in a fixed order
// so results do not depend on timing. `scratch` holds 32 values of T.
template <class T, class Combine>
__device__ __forceinline__ T warp_reduce(T v, Combine combine) {
#pragma unroll
  for (int offset = 16; offset > 0; offset >>= 1) v = combine(v, __shfl_down_sync(0xffffffffu, v, offset));
  return v;
}

// The combined value of every thread's v, valid in thread 0 (and returned to all threads
// when `broadcast`). Every thread of the block must call it.
template <class T, class Combine>
__device__ T block_reduce(T v, Combine combine, T identity, T* scratch, bool broadcast = true) {
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int warps = (blockDim.x + 31) >> 5;
  v = warp_reduce(v, combine);
  __syncthreads();  // scratch may still be read from a previous call
  if (lane == 0) scratch[warp] = v;
  __syncthreads();
  if (warp == 0) {
    v = lane < warps ? scratch[lane] : identity;
    v = warp_reduce(v, combine);
    if (lane == 0) scratch[0] = v;
  }
  if (broadcast) {
    __syncthreads();
    v = scratch[0];
  }
  return v;
}

struct SumCombine {
  template <class T>
  __device__ __forceinline__ T operator()(T a, T b) const { return a + b; }
};

// Max / min that propagate NaN, as the CPU's (and PyTorch's).
template <bool IsMax>
struct ExtremeCombine {
  template <class T>
  __device__ __forceinline__ T operator()(T acc, T x) const {
    const bool take = IsMax ? x > acc : x < acc;
    return (take || x != x) ? x : acc;
  }
};

// Threads per block for one row of `len` elements: a power of two in [32, max_threads].
inline int row_threads(std::int64_t len, int max_threads = 256) {
  int t = 32;
  while (t < max_threads && t < len) t <<= 1;
  return t;
}

}  // namespace recur::backend::cuda
