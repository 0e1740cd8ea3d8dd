// Reductions: sum / mean / max / min over any set of dims, arg-max/min along one dim, and
// the min/max of an int64 view.
//
// reduce() splits src's dims into kept dims (dst's extent) and reduced dims, each coalesced
// by an offset calculator, then either
//   - one thread per output walks its reduction serially (many outputs, or short ones), or
//   - blocks per output: each of C chunks of the reduction goes to a block, reduced in a
//     fixed tree; with C > 1 the chunk results go to a temporary and a second kernel
//     combines each output's C partials in order.
// Every order is fixed by the sizes alone, so results are deterministic run to run.
// Float sums accumulate in double (the CPU: float lanes over short blocks, then double),
// so float32 sums agree with the CPU's to rounding (relative ~1e-7), not bit for bit.
// Max / min propagate NaN as the CPU's do.
#include <limits>

#include "backend/cuda/cuda_common.cuh"

namespace recur::backend {
namespace {

using namespace cuda;

struct SumOp {
  template <class T>
  using Acc = double;
  template <class T>
  __host__ __device__ static double identity() { return 0; }
  __device__ static double combine(double a, double b) { return a + b; }
};

template <bool IsMax>
struct ExtremeOp {
  template <class T>
  using Acc = T;
  template <class T>
  __host__ __device__ static T identity() {
    return IsMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  }
  template <class T>
  __device__ static T combine(T acc, T x) { return ExtremeCombine<IsMax>()(acc, x); }
};

template <class Op>
struct OpCombine {
  template <class A>
  __device__ A operator()(A a, A b) const { return Op::combine(a, b); }
};

template <class T, class A>
__device__ __forceinline__ T finish(A acc, double scale) {
  return static_cast<T>(scale == 1 ? acc : acc * scale);
}

// One thread per output: its whole reduction, in order.
template <class Op, class T>
__global__ void reduce_serial_kernel(std::int64_t outputs, std::int64_t len, OffsetCalc<2> kept, OffsetCalc<1> red,
                                     T* dst, const T* src, double scale) {
  using Acc = typename Op::template Acc<T>;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t o = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs; o += step) {
    std::int64_t off[2];
    kept.get(o, off);
    const T* x = src + off[1];
    Acc acc = Op::template identity<T>();
    for (std::int64_t r = 0; r < len; ++r) {
      std::int64_t roff[1];
      red.get(r, roff);
      acc = Op::combine(acc, static_cast<Acc>(x[roff[0]]));
    }
    dst[off[0]] = finish<T>(acc, scale);
  }
}

// Block (blockIdx.y = chunk c of `chunks`) reduces positions [c * chunk, (c+1) * chunk) of
// output blockIdx.x; with one chunk it writes dst, else partial[o * chunks + c].
template <class Op, class T>
__global__ void reduce_block_kernel(std::int64_t len, std::int64_t chunk, OffsetCalc<2> kept, OffsetCalc<1> red,
                                    T* dst, const T* src, double scale,
                                    typename Op::template Acc<T>* partial) {
  using Acc = typename Op::template Acc<T>;
  __shared__ Acc scratch[32];
  const std::int64_t o = blockIdx.x;
  const std::int64_t begin = static_cast<std::int64_t>(blockIdx.y) * chunk;
  const std::int64_t end = begin + chunk < len ? begin + chunk : len;
  std::int64_t off[2];
  kept.get(o, off);
  const T* x = src + off[1];
  Acc acc = Op::template identity<T>();
  for (std::int64_t r = begin + threadIdx.x; r < end; r += blockDim.x) {
    std::int64_t roff[1];
    red.get(r, roff);
    acc = Op::combine(acc, static_cast<Acc>(x[roff[0]]));
  }
  acc = block_reduce(acc, OpCombine<Op>(), Op::template identity<T>(), scratch, false);
  if (threadIdx.x == 0) {
    if (partial) partial[o * gridDim.y + blockIdx.y] = acc;
    else dst[off[0]] = finish<T>(acc, scale);
  }
}

template <class Op, class T>
__global__ void reduce_partials_kernel(std::int64_t outputs, int chunks, OffsetCalc<2> kept, T* dst,
                                       const typename Op::template Acc<T>* partial, double scale) {
  using Acc = typename Op::template Acc<T>;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t o = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; o < outputs; o += step) {
    std::int64_t off[2];
    kept.get(o, off);
    Acc acc = Op::template identity<T>();
    for (int c = 0; c < chunks; ++c) acc = Op::combine(acc, partial[o * chunks + c]);
    dst[off[0]] = finish<T>(acc, scale);
  }
}

template <class Op, class T>
void reduce_with(CudaBackend& be, const View& dst, const View& src, double scale) {
  using Acc = typename Op::template Acc<T>;
  cudaStream_t stream = be.stream();
  Shape kept_shape, kept_dst, kept_src, red_shape, red_src;
  // A dst of another rank can only be a single element (a full reduction to shape []).
  const bool all = dst.shape.ndim != src.shape.ndim;
  for (int d = 0; d < src.shape.ndim; ++d) {
    if (all || (dst.shape[d] == 1 && src.shape[d] != 1)) {
      red_shape.push_back(src.shape[d]);
      red_src.push_back(src.strides[d]);
    } else {
      kept_shape.push_back(src.shape[d]);
      kept_dst.push_back(dst.strides[d]);
      kept_src.push_back(src.strides[d]);
    }
  }
  const Shape* ks[2] = {&kept_dst, &kept_src};
  const Shape* rs[1] = {&red_src};
  const OffsetCalc<2> kept = make_offset_calc<2>(kept_shape, ks);
  const OffsetCalc<1> red = make_offset_calc<1>(red_shape, rs);
  const std::int64_t outputs = kept_shape.numel(), len = red_shape.numel();
  T* d = typed<T>(dst);
  const T* s = typed<const T>(src);
  if (outputs == 0) return;
  if (len <= 32 || outputs >= 16384) {
    reduce_serial_kernel<Op, T><<<grid_for(outputs), kThreads, 0, stream>>>(outputs, len, kept, red, d, s, scale);
    RECUR_CUDA_LAUNCH_CHECK();
    return;
  }
  // Chunks of at least 8192 elements, enough of them for ~1024 blocks in all.
  constexpr std::int64_t kMinChunk = 8192, kTargetBlocks = 1024;
  std::int64_t chunks = std::min<std::int64_t>((len + kMinChunk - 1) / kMinChunk,
                                               (kTargetBlocks + outputs - 1) / outputs);
  chunks = std::clamp<std::int64_t>(chunks, 1, 65535);
  const std::int64_t chunk = (len + chunks - 1) / chunks;
  chunks = (len + chunk - 1) / chunk;
  const int threads = row_threads(chunk, 256);
  const dim3 grid(static_cast<unsigned>(outputs), static_cast<unsigned>(chunks));
  if (chunks == 1) {
    reduce_block_kernel<Op, T><<<grid, threads, 0, stream>>>(len, chunk, kept, red, d, s, scale, nullptr);
    RECUR_CUDA_LAUNCH_CHECK();
    return;
  }
  Allocator& alloc = be.allocator();
  const std::size_t bytes = static_cast<std::size_t>(outputs * chunks) * sizeof(Acc);
  Acc* partial = static_cast<Acc*>(alloc.allocate(bytes));
  reduce_block_kernel<Op, T><<<grid, threads, 0, stream>>>(len, chunk, kept, red, d, s, scale, partial);
  cudaError_t err = cudaGetLastError();
  if (err == cudaSuccess) {
    reduce_partials_kernel<Op, T><<<grid_for(outputs), kThreads, 0, stream>>>(outputs, static_cast<int>(chunks),
                                                                              kept, d, partial, scale);
    err = cudaGetLastError();
  }
  // Freed right away: later work that reuses the block is queued after these kernels.
  alloc.deallocate(partial, bytes);
  RECUR_CUDA_CHECK(err);
}

template <class T>
void reduce_typed(CudaBackend& be, ReduceOp op, const View& dst, const View& src) {
  switch (op) {
    case ReduceOp::Sum: return reduce_with<SumOp, T>(be, dst, src, 1);
    case ReduceOp::Mean: {
      const std::int64_t count = dst.numel() == 0 ? 0 : src.numel() / dst.numel();
      return reduce_with<SumOp, T>(be, dst, src, 1.0 / static_cast<double>(count));
    }
    case ReduceOp::Max: return reduce_with<ExtremeOp<true>, T>(be, dst, src, 1);
    case ReduceOp::Min: return reduce_with<ExtremeOp<false>, T>(be, dst, src, 1);
  }
}

// ---- arg max / min along one dim. Ties keep the first index; a NaN wins (the first NaN),
// as on the CPU. A candidate is (value, index); index -1 is "none yet".
template <bool IsMax, class T>
__device__ __forceinline__ bool arg_takes(T v, T best) {
  return (IsMax ? v > best : v < best) || (v != v && best == best);
}

// The better of two candidates from disjoint index sets: associative and commutative, so any
// combination order gives the sequential scan's answer.
template <bool IsMax, class T>
__device__ __forceinline__ void arg_combine(T& v, std::int64_t& i, T v2, std::int64_t i2) {
  if (i2 < 0) return;
  if (i < 0) { v = v2; i = i2; return; }
  const bool n1 = v != v, n2 = v2 != v2;
  bool second;
  if (n1 || n2) second = (n1 && n2) ? i2 < i : n2;
  else if (IsMax ? v2 > v : v2 < v) second = true;
  else if (IsMax ? v > v2 : v < v2) second = false;
  else second = i2 < i;
  if (second) { v = v2; i = i2; }
}

// One thread per row (operands: src, values, indices).
template <bool IsMax, class T>
__global__ void arg_serial_kernel(std::int64_t rows, std::int64_t len, std::int64_t step_x, OffsetCalc<3> oc,
                                  const T* src, T* vals, std::int64_t* idx) {
  const std::int64_t gstep = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; row < rows; row += gstep) {
    std::int64_t off[3];
    oc.get(row, off);
    const T* x = src + off[0];
    T best = x[0];
    std::int64_t at = 0;
    for (std::int64_t k = 1; k < len; ++k) {
      const T v = x[k * step_x];
      if (arg_takes<IsMax>(v, best)) best = v, at = k;
    }
    if (vals) vals[off[1]] = best;
    if (idx) idx[off[2]] = at;
  }
}

// One block per row (blockDim.x a power of two, at most 256).
template <bool IsMax, class T>
__global__ void arg_block_kernel(std::int64_t len, std::int64_t step_x, OffsetCalc<3> oc, const T* src, T* vals,
                                 std::int64_t* idx) {
  __shared__ T sv[256];
  __shared__ std::int64_t si[256];
  std::int64_t off[3];
  oc.get(blockIdx.x, off);
  const T* x = src + off[0];
  T best = T(0);
  std::int64_t at = -1;
  for (std::int64_t k = threadIdx.x; k < len; k += blockDim.x) {
    const T v = x[k * step_x];
    if (at < 0 || arg_takes<IsMax>(v, best)) best = v, at = k;
  }
  sv[threadIdx.x] = best;
  si[threadIdx.x] = at;
  __syncthreads();
  for (unsigned s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      T v = sv[threadIdx.x];
      std::int64_t i = si[threadIdx.x];
      arg_combine<IsMax>(v, i, sv[threadIdx.x + s], si[threadIdx.x + s]);
      sv[threadIdx.x] = v;
      si[threadIdx.x] = i;
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    if (vals) vals[off[1]] = sv[0];
    if (idx) idx[off[2]] = si[0];
  }
}

template <bool IsMax, class T>
void arg_reduce_typed(cudaStream_t stream, const View& values, const View& indices, const View& src, int dim) {
  T* vals = typed<T>(values);
  std::int64_t* idx = typed<std::int64_t>(indices);
  const T* s = typed<const T>(src);
  OffsetCalc<3> oc;  // a scalar: one row of one element, all offsets 0
  std::int64_t rows = 1, len = 1, step_x = 0;
  if (src.shape.ndim > 0) {
    // Outputs seen with src's shape; one with null data borrows src's strides (unused).
    Shape rows_shape = src.shape;
    rows_shape[dim] = 1;
    const Shape* strides[3] = {&src.strides, vals ? &values.strides : &src.strides,
                               idx ? &indices.strides : &src.strides};
    oc = make_offset_calc<3>(rows_shape, strides);
    rows = rows_shape.numel();
    len = src.shape[dim];
    step_x = src.strides[dim];
  }
  if (len >= 2048 && rows < 4096) {
    arg_block_kernel<IsMax, T><<<static_cast<unsigned>(rows), 256, 0, stream>>>(len, step_x, oc, s, vals, idx);
  } else {
    arg_serial_kernel<IsMax, T><<<grid_for(rows), kThreads, 0, stream>>>(rows, len, step_x, oc, s, vals, idx);
  }
  RECUR_CUDA_LAUNCH_CHECK();
}

// ---- int64 min and max of any strided view: one block.
__global__ void int_min_max_kernel(std::int64_t n, OffsetCalc<1> oc, const std::int64_t* src, std::int64_t* dst,
                                   std::int64_t dst_step) {
  __shared__ std::int64_t scratch[32];
  std::int64_t lo = std::numeric_limits<std::int64_t>::max(), hi = std::numeric_limits<std::int64_t>::min();
  for (std::int64_t i = threadIdx.x; i < n; i += blockDim.x) {
    std::int64_t off[1];
    oc.get(i, off);
    const std::int64_t v = src[off[0]];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  }
  struct Min {
    __device__ std::int64_t operator()(std::int64_t a, std::int64_t b) const { return b < a ? b : a; }
  };
  struct Max {
    __device__ std::int64_t operator()(std::int64_t a, std::int64_t b) const { return b > a ? b : a; }
  };
  lo = block_reduce(lo, Min(), std::numeric_limits<std::int64_t>::max(), scratch, false);
  hi = block_reduce(hi, Max(), std::numeric_limits<std::int64_t>::min(), scratch, false);
  if (threadIdx.x == 0) {
    dst[0] = lo;
    dst[dst_step] = hi;
  }
}

}  // namespace

void CudaBackend::reduce(ReduceOp op, const View& dst, const View& src) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(device_);
  if (src.dtype == DType::Float64) return reduce_typed<double>(*this, op, dst, src);
  RECUR_CHECK(src.dtype == DType::Float32, "cuda reduce: dtype " << src.dtype << " is not supported");
  reduce_typed<float>(*this, op, dst, src);
}

void CudaBackend::arg_reduce(bool is_max, const View& values, const View& indices, const View& src, int dim) {
  if (src.numel() == 0) return;
  DeviceGuard guard(device_);
  const bool f64 = src.dtype == DType::Float64;
  if (is_max) {
    if (f64) return arg_reduce_typed<true, double>(stream_, values, indices, src, dim);
    return arg_reduce_typed<true, float>(stream_, values, indices, src, dim);
  }
  if (f64) return arg_reduce_typed<false, double>(stream_, values, indices, src, dim);
  arg_reduce_typed<false, float>(stream_, values, indices, src, dim);
}

void CudaBackend::int_min_max(const View& dst, const View& src) {
  DeviceGuard guard(device_);
  const Shape* strides[1] = {&src.strides};
  const OffsetCalc<1> oc = make_offset_calc<1>(src.shape, strides);
  const std::int64_t dst_step = dst.shape.ndim == 0 ? 1 : dst.strides[0];
  int_min_max_kernel<<<1, 1024, 0, stream_>>>(src.numel(), oc, typed<const std::int64_t>(src),
                                              typed<std::int64_t>(dst), dst_step);
  RECUR_CUDA_LAUNCH_CHECK();
}

}  // namespace recur::backend
