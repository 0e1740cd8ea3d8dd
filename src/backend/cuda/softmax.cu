// Softmax and log-softmax along one dim, and their backward passes (formulas as the CPU's,
// src/backend/cpu/softmax.cpp):
//   softmax:          y_i = exp(x_i - m) * (1 / sum_j exp(x_j - m)),   m = max_j x_j
//   log_softmax:      y_i = x_i - (m + log(sum_j exp(x_j - m)))
//   softmax grad:     dx_i = y_i * (dy_i - sum_j dy_j y_j)
//   log_softmax grad: dx_i = dy_i - exp(y_i) * sum_j dy_j
//   cross-entropy:    l = (m + log(sum_j exp(x_j - m))) - x_t, log_softmax's y_t negated
// Sums accumulate in double. Rows along dim go one per block (long rows) or one per thread
// (short rows, many of them); the block's reduction order is fixed. float32 results agree
// with the CPU's to a few ulp (expf vs the CPU's polynomial exp, summation order).
#include <limits>

#include "backend/cuda/cuda_common.cuh"
#include "backend/cuda/softmax_row.cuh"

namespace recur::backend {
namespace {

using namespace cuda;

// A row along dim: the offset calculator maps a row number to its first element in each
// operand, which then steps by sy / sx along dim.
template <class T>
struct RowArgs {
  std::int64_t len, sy, sx;
  OffsetCalc<2> oc;  // dst, src
  T* y;
  const T* x;
  bool log;
};

template <class T>
__global__ void softmax_block_kernel(RowArgs<T> a) {
  std::int64_t off[2];
  a.oc.get(blockIdx.x, off);
  T* yr = a.y + off[0];
  const T* xr = a.x + off[1];
  T m;
  double s;
  block_max_and_sum(xr, a.len, a.sx, m, s);
  if (a.log) {
    const T shift = m + static_cast<T>(::log(s));
    for (std::int64_t i = threadIdx.x; i < a.len; i += blockDim.x) yr[i * a.sy] = xr[i * a.sx] - shift;
  } else {
    const T inv = static_cast<T>(1.0 / s);
    for (std::int64_t i = threadIdx.x; i < a.len; i += blockDim.x) yr[i * a.sy] = dexp(xr[i * a.sx] - m) * inv;
  }
}

template <class T>
__global__ void softmax_serial_kernel(std::int64_t rows, RowArgs<T> a) {
  const std::int64_t gstep = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; row < rows; row += gstep) {
    std::int64_t off[2];
    a.oc.get(row, off);
    T* yr = a.y + off[0];
    const T* xr = a.x + off[1];
    T m;
    double s;
    serial_max_and_sum(xr, a.len, a.sx, m, s);
    if (a.log) {
      const T shift = m + static_cast<T>(::log(s));
      for (std::int64_t i = 0; i < a.len; ++i) yr[i * a.sy] = xr[i * a.sx] - shift;
    } else {
      const T inv = static_cast<T>(1.0 / s);
      for (std::int64_t i = 0; i < a.len; ++i) yr[i * a.sy] = dexp(xr[i * a.sx] - m) * inv;
    }
  }
}

template <class T>
struct BackArgs {
  std::int64_t len, sa, sg, sv;
  OffsetCalc<3> oc;  // dx, dy, y
  T* a;
  const T* g;
  const T* v;
  bool log;
};

// The row's sum(dy) (log) or sum(dy * y), each term rounded to T as on the CPU.
template <class T>
__device__ __forceinline__ double back_term(const BackArgs<T>& b, const T* g, const T* v, std::int64_t i) {
  return b.log ? static_cast<double>(g[i * b.sg]) : static_cast<double>(g[i * b.sg] * v[i * b.sv]);
}

template <class T>
__device__ __forceinline__ T back_value(const BackArgs<T>& b, const T* g, const T* v, std::int64_t i, T sum) {
  const T gk = g[i * b.sg], vk = v[i * b.sv];
  return b.log ? gk - dexp(vk) * sum : vk * (gk - sum);
}

template <class T>
__global__ void softmax_backward_block_kernel(BackArgs<T> b) {
  __shared__ double scratch[32];
  std::int64_t off[3];
  b.oc.get(blockIdx.x, off);
  T* a = b.a + off[0];
  const T* g = b.g + off[1];
  const T* v = b.v + off[2];
  double s = 0;
  for (std::int64_t i = threadIdx.x; i < b.len; i += blockDim.x) s += back_term(b, g, v, i);
  s = block_reduce(s, SumCombine(), 0.0, scratch);
  const T sum = static_cast<T>(s);
  for (std::int64_t i = threadIdx.x; i < b.len; i += blockDim.x) a[i * b.sa] = back_value(b, g, v, i, sum);
}

template <class T>
__global__ void softmax_backward_serial_kernel(std::int64_t rows, BackArgs<T> b) {
  const std::int64_t gstep = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; row < rows; row += gstep) {
    std::int64_t off[3];
    b.oc.get(row, off);
    T* a = b.a + off[0];
    const T* g = b.g + off[1];
    const T* v = b.v + off[2];
    double s = 0;
    for (std::int64_t i = 0; i < b.len; ++i) s += back_term(b, g, v, i);
    const T sum = static_cast<T>(s);
    for (std::int64_t i = 0; i < b.len; ++i) a[i * b.sa] = back_value(b, g, v, i, sum);
  }
}

// Rows of the views along dim: their offset calculator, count, length and steps.
template <int N>
std::int64_t row_layout(const View* const (&views)[N], int dim, OffsetCalc<N>& oc, std::int64_t& len,
                        std::int64_t (&step)[N]) {
  const Shape& shape = views[0]->shape;
  for (int k = 0; k < N; ++k) step[k] = 0;
  len = 1;
  if (shape.ndim == 0) {  // a scalar is one row of length 1
    oc = OffsetCalc<N>();
    return 1;
  }
  Shape rows = shape;
  rows[dim] = 1;
  const Shape* strides[N];
  for (int k = 0; k < N; ++k) {
    strides[k] = &views[k]->strides;
    step[k] = views[k]->strides[dim];
  }
  len = shape[dim];
  oc = make_offset_calc<N>(rows, strides);
  return rows.numel();
}

// Long rows, or too few rows to fill the GPU one per thread: a block per row.
bool block_per_row(std::int64_t rows, std::int64_t len) {
  return (len > 64 || rows < 2048) && rows <= std::numeric_limits<int>::max();
}

template <class T>
void softmax_typed(cudaStream_t stream, const View& dst, const View& src, int dim, bool log) {
  const View* views[2] = {&dst, &src};
  RowArgs<T> a;
  std::int64_t step[2];
  const std::int64_t rows = row_layout<2>(views, dim, a.oc, a.len, step);
  a.sy = step[0], a.sx = step[1];
  a.y = typed<T>(dst), a.x = typed<const T>(src), a.log = log;
  if (block_per_row(rows, a.len)) {
    softmax_block_kernel<T><<<static_cast<unsigned>(rows), row_threads(a.len), 0, stream>>>(a);
  } else {
    softmax_serial_kernel<T><<<grid_for(rows), kThreads, 0, stream>>>(rows, a);
  }
  RECUR_CUDA_LAUNCH_CHECK();
}

template <class T>
void softmax_backward_typed(cudaStream_t stream, const View& dx, const View& dy, const View& y, int dim, bool log) {
  const View* views[3] = {&dx, &dy, &y};
  BackArgs<T> b;
  std::int64_t step[3];
  const std::int64_t rows = row_layout<3>(views, dim, b.oc, b.len, step);
  b.sa = step[0], b.sg = step[1], b.sv = step[2];
  b.a = typed<T>(dx), b.g = typed<const T>(dy), b.v = typed<const T>(y), b.log = log;
  if (block_per_row(rows, b.len)) {
    softmax_backward_block_kernel<T><<<static_cast<unsigned>(rows), row_threads(b.len), 0, stream>>>(b);
  } else {
    softmax_backward_serial_kernel<T><<<grid_for(rows), kThreads, 0, stream>>>(rows, b);
  }
  RECUR_CUDA_LAUNCH_CHECK();
}

// Cross-entropy from logits: a row of logits per block, or one per thread
// for many short rows, as softmax_block_kernel / softmax_serial_kernel run them.
template <class T>
struct CrossEntropyArgs {
  std::int64_t rows, classes, ls, xs, xc, ts, ignore_index;
  T* loss;
  const T* x;
  const std::int64_t* target;
};

template <class T>
__global__ void cross_entropy_block_kernel(CrossEntropyArgs<T> a) {
  const std::int64_t row = blockIdx.x, c = a.target[row * a.ts];
  if (c == a.ignore_index) {  // the whole block agrees, so none waits at a reduction
    if (threadIdx.x == 0) a.loss[row * a.ls] = T(0);
    return;
  }
  const T* xr = a.x + row * a.xs;
  T m;
  double s;
  block_max_and_sum(xr, a.classes, a.xc, m, s);
  if (threadIdx.x == 0) a.loss[row * a.ls] = -(xr[c * a.xc] - (m + static_cast<T>(::log(s))));
}

template <class T>
__global__ void cross_entropy_serial_kernel(CrossEntropyArgs<T> a) {
  const std::int64_t gstep = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t row = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; row < a.rows;
       row += gstep) {
    const std::int64_t c = a.target[row * a.ts];
    if (c == a.ignore_index) {
      a.loss[row * a.ls] = T(0);
      continue;
    }
    const T* xr = a.x + row * a.xs;
    T m;
    double s;
    serial_max_and_sum(xr, a.classes, a.xc, m, s);
    a.loss[row * a.ls] = -(xr[c * a.xc] - (m + static_cast<T>(::log(s))));
  }
}

template <class T>
void cross_entropy_typed(cudaStream_t stream, const View& loss, const View& logits, const View& target,
                         std::int64_t ignore_index) {
  CrossEntropyArgs<T> a{logits.shape[0], logits.shape[1], loss.strides[0], logits.strides[0], logits.strides[1],
                        target.strides[0], ignore_index, typed<T>(loss), typed<const T>(logits),
                        typed<const std::int64_t>(target)};
  if (block_per_row(a.rows, a.classes)) {
    cross_entropy_block_kernel<T><<<static_cast<unsigned>(a.rows), row_threads(a.classes), 0, stream>>>(a);
  } else {
    cross_entropy_serial_kernel<T><<<grid_for(a.rows), kThreads, 0, stream>>>(a);
  }
  RECUR_CUDA_LAUNCH_CHECK();
}

}  // namespace

void CudaBackend::softmax(const View& dst, const View& src, int dim, bool log) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(device_);
  if (dst.dtype == DType::Float64) return softmax_typed<double>(stream_, dst, src, dim, log);
  softmax_typed<float>(stream_, dst, src, dim, log);
}

void CudaBackend::softmax_backward(const View& dx, const View& dy, const View& y, int dim, bool log) {
  if (dx.numel() == 0) return;
  DeviceGuard guard(device_);
  if (dx.dtype == DType::Float64) return softmax_backward_typed<double>(stream_, dx, dy, y, dim, log);
  softmax_backward_typed<float>(stream_, dx, dy, y, dim, log);
}

void CudaBackend::cross_entropy(const View& loss, const View& logits, const View& target,
                                std::int64_t ignore_index) {
  if (logits.shape[0] == 0) return;
  DeviceGuard guard(device_);
  if (logits.dtype == DType::Float64) return cross_entropy_typed<double>(stream_, loss, logits, target, ignore_index);
  cross_entropy_typed<float>(stream_, loss, logits, target, ignore_index);
}

}  // namespace recur::backend
