// Indexing kernels: index_select / index_add (whole slices picked by a 1-D index) and
// gather / scatter_add (one index per element). Indices were range-checked by the ops.
//
// Selecting and gathering only move elements, so they run on raw 4- or 8-byte words. The
// adding kernels are deterministic, with no atomics: every dst element is owned by one
// thread, which applies its contributions in index order, as the CPU does (so results
// equal the CPU's bit for bit).
//   index_add:   a thread per slice element (dst without dim) walks the whole index list;
//                when slices are small, a thread per (dst row, slice element) instead walks
//                the list and adds the entries that name its row.
//   scatter_add: a thread per line along dim (index's positions off dim) walks its line.
#include "backend/cuda/cuda_common.cuh"

namespace recur::backend {
namespace {

using namespace cuda;

std::int64_t dim_stride(const View& v, int dim) { return v.shape.ndim == 0 ? 0 : v.strides[dim]; }

// A view's strides over `shape` with dim's stride replaced by `value`.
Shape strides_with(const View& v, int dim, std::int64_t value) {
  Shape s = v.strides;
  if (v.shape.ndim > 0) s[dim] = value;
  return s;
}

// Operands: dst, src (dim's stride 0), index (stride along dim only).
template <class W>
struct SelectF {
  W* d;
  const W* s;
  const std::int64_t* idx;
  std::int64_t step;  // src's stride along dim
  __device__ void operator()(const std::int64_t (&off)[3]) const { d[off[0]] = s[off[1] + idx[off[2]] * step]; }
};

template <class W>
void index_select_words(cudaStream_t stream, const View& dst, const View& src, int dim, const View& index) {
  const Shape src_strides = strides_with(src, dim, 0);
  Shape idx_strides;
  for (int d = 0; d < dst.shape.ndim; ++d) idx_strides.push_back(0);
  if (dst.shape.ndim > 0) idx_strides[dim] = index.shape.ndim == 0 ? 0 : index.strides[0];
  const Shape* strides[3] = {&dst.strides, &src_strides, &idx_strides};
  launch_map<3>(stream, dst.shape, strides,
                SelectF<W>{typed<W>(dst), typed<const W>(src), typed<const std::int64_t>(index), dim_stride(src, dim)});
}

// Operands: dst, index, src (dim's stride 0): dst = src[.., index, ..].
template <class W>
struct GatherF {
  W* d;
  const std::int64_t* idx;
  const W* s;
  std::int64_t step;
  __device__ void operator()(const std::int64_t (&off)[3]) const { d[off[0]] = s[off[2] + idx[off[1]] * step]; }
};

template <class W>
void gather_words(cudaStream_t stream, const View& dst, const View& src, int dim, const View& index) {
  const Shape src_strides = strides_with(src, dim, 0);
  const Shape* strides[3] = {&dst.strides, &index.strides, &src_strides};
  launch_map<3>(stream, dst.shape, strides,
                GatherF<W>{typed<W>(dst), typed<const std::int64_t>(index), typed<const W>(src), dim_stride(src, dim)});
}

struct IndexAddArgs {
  std::int64_t slice;         // elements per slice
  std::int64_t count;         // index entries
  std::int64_t rows;          // dst's extent along dim
  std::int64_t istep;         // index's stride
  std::int64_t dstep, sstep;  // dst's and src's strides along dim
  OffsetCalc<2> oc;           // over the slice shape: dst, src
};

template <class T>
__global__ void index_add_slice_kernel(IndexAddArgs a, T* d, const std::int64_t* idx, const T* s) {
  const std::int64_t gstep = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < a.slice; e += gstep) {
    std::int64_t off[2];
    a.oc.get(e, off);
    T* dp = d + off[0];
    const T* sp = s + off[1];
    for (std::int64_t i = 0; i < a.count; ++i) dp[idx[i * a.istep] * a.dstep] += sp[i * a.sstep];
  }
}

// Thread per (dst row r, slice element e), r major: adds the entries i with index[i] == r.
template <class T>
__global__ void index_add_row_kernel(IndexAddArgs a, T* d, const std::int64_t* idx, const T* s) {
  const std::int64_t total = a.rows * a.slice;
  const std::int64_t gstep = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t t = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; t < total; t += gstep) {
    const std::int64_t r = t / a.slice, e = t - r * a.slice;
    std::int64_t off[2];
    a.oc.get(e, off);
    T* dp = d + off[0] + r * a.dstep;
    const T* sp = s + off[1];
    T acc = *dp;
    bool touched = false;
    for (std::int64_t i = 0; i < a.count; ++i) {
      if (idx[i * a.istep] == r) {
        acc += sp[i * a.sstep];
        touched = true;
      }
    }
    if (touched) *dp = acc;
  }
}

template <class T>
void index_add_typed(cudaStream_t stream, const View& dst, int dim, const View& index, const View& src) {
  IndexAddArgs a;
  Shape shape, dst_strides, src_strides;
  for (int d = 0; d < src.shape.ndim; ++d) {
    if (d == dim) continue;
    shape.push_back(src.shape[d]);
    dst_strides.push_back(dst.strides[d]);
    src_strides.push_back(src.strides[d]);
  }
  const Shape* strides[2] = {&dst_strides, &src_strides};
  a.oc = make_offset_calc<2>(shape, strides);
  a.slice = shape.numel();
  a.count = index.numel();
  a.rows = dst.shape.ndim == 0 ? 1 : dst.shape[dim];
  a.istep = index.shape.ndim == 0 ? 0 : index.strides[0];
  a.dstep = dim_stride(dst, dim);
  a.sstep = dim_stride(src, dim);
  if (a.slice == 0 || a.count == 0) return;
  T* d = typed<T>(dst);
  const std::int64_t* idx = typed<const std::int64_t>(index);
  const T* s = typed<const T>(src);
  // Few slice elements (an embedding's gradient: slice = embedding width): more threads by
  // also splitting dst's rows, while the extra index scans (rows * slice * count compares of
  // a cached index list, ~1 ms per 2^30) cost less than the slice kernel's long serial
  // loops (count dependent read-modify-writes per thread).
  const double scans = static_cast<double>(a.rows) * static_cast<double>(a.slice) * static_cast<double>(a.count);
  if (a.slice < 16384 && a.dstep != 0 && scans <= 2147483648.0) {
    index_add_row_kernel<T><<<grid_for(a.rows * a.slice), kThreads, 0, stream>>>(a, d, idx, s);
  } else {
    index_add_slice_kernel<T><<<grid_for(a.slice), kThreads, 0, stream>>>(a, d, idx, s);
  }
  RECUR_CUDA_LAUNCH_CHECK();
}

struct ScatterArgs {
  std::int64_t lines, len;
  std::int64_t istep, sstep, dstep;  // strides along dim: index, src, dst
  OffsetCalc<3> oc;                  // over the lines: index, src, dst
};

template <class T>
__global__ void scatter_add_kernel(ScatterArgs a, T* d, const std::int64_t* idx, const T* s) {
  const std::int64_t gstep = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t l = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; l < a.lines; l += gstep) {
    std::int64_t off[3];
    a.oc.get(l, off);
    const std::int64_t* ip = idx + off[0];
    const T* sp = s + off[1];
    T* dp = d + off[2];
    for (std::int64_t k = 0; k < a.len; ++k) dp[ip[k * a.istep] * a.dstep] += sp[k * a.sstep];
  }
}

template <class T>
void scatter_add_typed(cudaStream_t stream, const View& dst, int dim, const View& index, const View& src) {
  ScatterArgs a;
  a.lines = 1, a.len = 1, a.istep = 0, a.sstep = 0, a.dstep = 0;
  if (index.shape.ndim > 0) {
    Shape lines = index.shape;
    lines[dim] = 1;
    const Shape* strides[3] = {&index.strides, &src.strides, &dst.strides};
    a.oc = make_offset_calc<3>(lines, strides);
    a.lines = lines.numel();
    a.len = index.shape[dim];
    a.istep = index.strides[dim], a.sstep = src.strides[dim], a.dstep = dst.strides[dim];
  }
  scatter_add_kernel<T><<<grid_for(a.lines), kThreads, 0, stream>>>(a, typed<T>(dst), typed<const std::int64_t>(index),
                                                                    typed<const T>(src));
  RECUR_CUDA_LAUNCH_CHECK();
}

}  // namespace

void CudaBackend::index_select(const View& dst, const View& src, int dim, const View& index) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(device_);
  if (dtype_size(dst.dtype) == 4) return index_select_words<std::uint32_t>(stream_, dst, src, dim, index);
  index_select_words<std::uint64_t>(stream_, dst, src, dim, index);
}

void CudaBackend::index_add(const View& dst, int dim, const View& index, const View& src) {
  if (src.numel() == 0) return;
  DeviceGuard guard(device_);
  switch (dst.dtype) {
    case DType::Float32: return index_add_typed<float>(stream_, dst, dim, index, src);
    case DType::Float64: return index_add_typed<double>(stream_, dst, dim, index, src);
    case DType::Int64: return index_add_typed<std::int64_t>(stream_, dst, dim, index, src);
  }
}

void CudaBackend::gather(const View& dst, const View& src, int dim, const View& index) {
  if (dst.numel() == 0) return;
  DeviceGuard guard(device_);
  if (dtype_size(dst.dtype) == 4) return gather_words<std::uint32_t>(stream_, dst, src, dim, index);
  gather_words<std::uint64_t>(stream_, dst, src, dim, index);
}

void CudaBackend::scatter_add(const View& dst, int dim, const View& index, const View& src) {
  if (index.numel() == 0) return;
  DeviceGuard guard(device_);
  switch (dst.dtype) {
    case DType::Float32: return scatter_add_typed<float>(stream_, dst, dim, index, src);
    case DType::Float64: return scatter_add_typed<double>(stream_, dst, dim, index, src);
    case DType::Int64: return scatter_add_typed<std::int64_t>(stream_, dst, dim, index, src);
  }
}

}  // namespace recur::backend
