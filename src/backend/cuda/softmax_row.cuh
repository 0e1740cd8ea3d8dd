// Row helpers of src/backend/cuda/softmax.cu, shared with the kernels that take a softmax
// inside a fused pass (attention.cu).
#pragma once

#include <limits>

#include "backend/cuda/cuda_common.cuh"

namespace recur::backend::cuda {

__device__ __forceinline__ float dexp(float x) { return expf(x); }
__device__ __forceinline__ double dexp(double x) { return exp(x); }

// The larger, or a NaN (which wins, as the CPU's max and PyTorch's).
template <class T>
__device__ __forceinline__ T better(T best, T v) { return (v > best || v != v) ? v : best; }

// A row's max m and sum_i exp(x_i - m) (in double), by the block's threads together (each
// thread gets both), or by one thread.
template <class T>
__device__ __forceinline__ void block_max_and_sum(const T* xr, std::int64_t len, std::int64_t sx, T& m, double& s) {
  __shared__ double dscratch[32];
  __shared__ T tscratch[32];
  m = -std::numeric_limits<T>::infinity();
  for (std::int64_t i = threadIdx.x; i < len; i += blockDim.x) m = better(m, xr[i * sx]);
  m = block_reduce(m, ExtremeCombine<true>(), -std::numeric_limits<T>::infinity(), tscratch);
  s = 0;
  for (std::int64_t i = threadIdx.x; i < len; i += blockDim.x) s += static_cast<double>(dexp(xr[i * sx] - m));
  s = block_reduce(s, SumCombine(), 0.0, dscratch);
}

template <class T>
__device__ __forceinline__ void serial_max_and_sum(const T* xr, std::int64_t len, std::int64_t sx, T& m, double& s) {
  m = -std::numeric_limits<T>::infinity();
  for (std::int64_t i = 0; i < len; ++i) m = better(m, xr[i * sx]);
  s = 0;
  for (std::int64_t i = 0; i < len; ++i) s += static_cast<double>(dexp(xr[i * sx] - m));
}

}  // namespace recur::backend::cuda
