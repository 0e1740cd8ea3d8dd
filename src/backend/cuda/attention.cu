// One read of attention without a graph (backend.hpp, attention_read; the CPU's in
// src/backend/cpu/attention.cpp): a block per query row. Each warp scores positions (its
// lanes across the features), the block takes the masked softmax of the row, then each
// thread sums the weighted keys for its features. The weights' row holds the scores first.
#include <limits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/softmax_row.cuh"

namespace recur::backend {
namespace {

using namespace cuda;

__device__ __forceinline__ float dtanh(float x) { return tanhf(x); }
__device__ __forceinline__ double dtanh(double x) { return tanh(x); }

template <class T>
struct AttentionArgs {
  std::int64_t S, Q, K, ldc;
  const T *query, *keys, *projected, *v, *mask;
  const std::int64_t* sources;  // null: row n reads keys row n
  T *weights, *context;
};

template <class T>
__global__ void attention_read_kernel(AttentionArgs<T> a) {
  const std::int64_t n = blockIdx.x, r = a.sources ? a.sources[n] : n;
  const T *q = a.query + n * a.Q, *m = a.mask + r * a.S, *kr = a.keys + r * a.S * a.K;
  T* w = a.weights + n * a.S;
  const int lane = threadIdx.x & 31, warps = blockDim.x >> 5;
  constexpr T kMinusInf = -std::numeric_limits<T>::infinity();
  for (std::int64_t s = threadIdx.x >> 5; s < a.S; s += warps) {
    if (m[s] == kMinusInf) {  // padding: not scored (the whole warp agrees)
      if (lane == 0) w[s] = kMinusInf;
      continue;
    }
    T sum = 0;
    if (a.projected) {
      const T* p = a.projected + (r * a.S + s) * a.Q;
      for (std::int64_t i = lane; i < a.Q; i += 32) sum += a.v[i] * dtanh(p[i] + q[i]);
    } else {
      const T* k = kr + s * a.K;
      for (std::int64_t i = lane; i < a.Q; i += 32) sum += k[i] * q[i];
    }
    sum = warp_reduce(sum, SumCombine());
    if (lane == 0) w[s] = sum + m[s];
  }
  __syncthreads();
  T top;
  double total;
  block_max_and_sum(w, a.S, 1, top, total);
  const T scale = static_cast<T>(1.0 / total);
  for (std::int64_t s = threadIdx.x; s < a.S; s += blockDim.x) w[s] = dexp(w[s] - top) * scale;
  __syncthreads();
  for (std::int64_t j = threadIdx.x; j < a.K; j += blockDim.x) {
    T c = 0;
    for (std::int64_t s = 0; s < a.S; ++s) c += w[s] * kr[s * a.K + j];
    a.context[n * a.ldc + j] = c;
  }
}

template <class T>
void attention_read_typed(cudaStream_t stream, const View& context, const View& weights, const View& query,
                          const View& keys, const View& projected, const View& v, const View& mask,
                          const View& sources) {
  const AttentionArgs<T> a{keys.shape[1],          query.shape[1],          keys.shape[2],
                           context.strides[0],     typed<const T>(query),   typed<const T>(keys),
                           typed<const T>(projected), typed<const T>(v),    typed<const T>(mask),
                           typed<const std::int64_t>(sources), typed<T>(weights), typed<T>(context)};
  attention_read_kernel<T><<<static_cast<unsigned>(query.shape[0]), 128, 0, stream>>>(a);
  RECUR_CUDA_LAUNCH_CHECK();
}

}  // namespace

void CudaBackend::attention_read(const View& context, const View& weights, const View& query, const View& keys,
                                 const View& projected, const View& v, const View& mask, const View& sources) {
  if (query.shape[0] == 0) return;
  DeviceGuard guard(device_);
  if (query.dtype == DType::Float64)
    return attention_read_typed<double>(stream_, context, weights, query, keys, projected, v, mask, sources);
  attention_read_typed<float>(stream_, context, weights, query, keys, projected, v, mask, sources);
}

}  // namespace recur::backend
