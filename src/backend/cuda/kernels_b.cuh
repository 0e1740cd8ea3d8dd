// Small device helpers shared by conv.cu, pool.cu, batch_norm.cu and rnn.cu (private to them).
//
// Launch conventions: one thread per output element, 256 threads a block, a grid-stride loop
// over int64 indices so any element count fits a capped grid; every launch goes to the
// backend's stream and is checked with cudaGetLastError (launch errors only: no host
// synchronisation). A launch over zero elements is skipped (a zero grid is an error).
#pragma once

#include <cuda_runtime.h>

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "backend/cuda/cuda_backend.hpp"
#include "recur/core/error.hpp"

namespace recur::backend::cuda_b {

constexpr int kThreads = 256;

// Throws recur::Error naming `what` when the last launch (or a CUDA call) failed.
inline void check(cudaError_t status, const char* what) {
  if (status != cudaSuccess) RECUR_FAIL("cuda: " << what << ": " << cudaGetErrorString(status));
}
inline void check_launch(const char* what) { check(cudaGetLastError(), what); }

// Blocks for n elements at kThreads a block, capped (the kernels loop with a grid stride).
inline unsigned grid_for(std::int64_t n) {
  const std::int64_t blocks = (n + kThreads - 1) / kThreads;
  constexpr std::int64_t kMaxBlocks = std::int64_t{1} << 20;
  return static_cast<unsigned>(blocks < kMaxBlocks ? blocks : kMaxBlocks);
}

#define RECUR_GRID_STRIDE(i, n)                                                                      \
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<std::int64_t>(gridDim.x) * blockDim.x)

// Scratch memory from the backend's caching allocator for the duration of one method call.
// Kernels using it are queued on the backend's one stream, and the allocator hands a block
// back out only to later work on that stream, so releasing it before the kernels have run
// is safe (stream order).
class Scratch {
 public:
  Scratch(CudaBackend& be, std::size_t nbytes)
      : alloc_(be.allocator()), nbytes_(nbytes), ptr_(nbytes ? alloc_.allocate(nbytes) : nullptr) {}
  ~Scratch() {
    if (ptr_) alloc_.deallocate(ptr_, nbytes_);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;
  template <class T>
  T* as() const {
    return static_cast<T*>(ptr_);
  }

 private:
  Allocator& alloc_;
  std::size_t nbytes_;
  void* ptr_;
};

// Activations with the CPU backend's formulas (src/backend/cpu/vec_math.hpp): for float32
// its Cephes approximations, operation for operation, so that both backends round alike;
// for float64 the libm functions.
__device__ __forceinline__ std::int32_t float_bits(float f) {
  std::int32_t i;
  memcpy(&i, &f, sizeof i);
  return i;
}
__device__ __forceinline__ float bits_float(std::int32_t i) {
  float f;
  memcpy(&f, &i, sizeof f);
  return f;
}
__device__ __forceinline__ float pow2i_f32(std::int32_t n) { return bits_float((n + 127) << 23); }
__device__ __forceinline__ float exp_reduced_f32(float x, bool denormals) {
  const float kShift = 12582912.0f;
  float t = x * 1.44269504088896341f + kShift;
  float n = t - kShift;
  std::int32_t ni = float_bits(t) - float_bits(kShift);
  float r = x - n * 0.693359375f;
  r = r - n * -2.12194440e-4f;
  float z = r * r;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * z + r + 1.0f;
  if (!denormals) return p * pow2i_f32(ni);
  std::int32_t n1 = ni >> 1;
  std::int32_t n2 = ni - n1;
  return p * pow2i_f32(n1) * pow2i_f32(n2);
}
__device__ __forceinline__ float dev_tanh(float x) {
  float ax = fabsf(x);
  float z = x * x;
  float p = -5.70498872745e-3f;
  p = p * z + 2.06390887954e-2f;
  p = p * z - 5.37397155531e-2f;
  p = p * z + 1.33314422036e-1f;
  p = p * z - 3.33332819422e-1f;
  float small = x + x * z * p;
  float a10 = ax > 10.0f ? 10.0f : ax;  // a NaN stays NaN
  float big = 1.0f - 2.0f / (exp_reduced_f32(a10 + a10, false) + 1.0f);
  big = copysignf(big, x);
  return ax < 0.625f ? small : big;
}
__device__ __forceinline__ double dev_tanh(double x) { return tanh(x); }
__device__ __forceinline__ float dev_sigmoid(float x) {
  float nx = -fabsf(x);
  nx = nx < -104.0f ? -104.0f : nx;  // a NaN stays NaN
  float e = exp_reduced_f32(nx, true);
  float inv = 1.0f / (1.0f + e);
  return x >= 0.0f ? inv : e * inv;
}
__device__ __forceinline__ double dev_sigmoid(double x) {
  const double e = exp(-fabs(x));
  const double inv = 1.0 / (1.0 + e);
  return x >= 0.0 ? inv : e * inv;
}

// Sum of a double over the threads of a block (blockDim.x a power of two, at most 1024),
// in a fixed order, so the result depends only on the values. `shared` holds blockDim.x
// doubles. Every thread of the block must call it; all get the total.
__device__ __forceinline__ double block_sum(double v, double* shared) {
  const unsigned t = threadIdx.x;
  __syncthreads();  // `shared` may still be read by a previous call
  shared[t] = v;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (t < s) shared[t] += shared[t + s];
    __syncthreads();
  }
  return shared[0];
}

// Dispatch on a floating dtype: f(float{}) or f(double{}).
template <class F>
void dispatch_float(DType dtype, F&& f) {
  if (dtype == DType::Float64) f(double{});
  else if (dtype == DType::Float32) f(float{});
  else RECUR_FAIL("cuda: expected a float32 or float64 dtype");
}

}  // namespace recur::backend::cuda_b
