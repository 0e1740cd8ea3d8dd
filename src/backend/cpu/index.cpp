// Indexing kernels: index_select / index_add (whole slices picked by a 1-D index) and
// gather / scatter_add (one index per element). Indices were range-checked by the ops.
//
// Selecting and gathering only move elements, so they run on raw 4- or 8-byte words and
// serve float32, float64 and int64 alike. The adding kernels never let two threads write
// one element: index_add splits the slice's elements (every thread walks all indices for
// its share), scatter_add splits the positions off `dim` (each owns a line of dst).
#include <cstdint>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

// A view's shape and strides without `dim` (its slices along dim).
void drop_dim(const View& v, int dim, Shape& shape, Shape& strides) {
  for (int d = 0; d < v.shape.ndim; ++d) {
    if (d == dim) continue;
    shape.push_back(v.shape[d]);
    strides.push_back(v.strides[d]);
  }
}

std::int64_t dim_stride(const View& v, int dim) { return v.shape.ndim == 0 ? 0 : v.strides[dim]; }

// Index i of a 1-D int64 view.
std::int64_t index_at(const View& index, std::int64_t i) {
  const std::int64_t* p = typed<const std::int64_t>(index);
  return p[index.shape.ndim == 0 ? 0 : i * index.strides[0]];
}

template <class W>
void index_select_words(const View& dst, const View& src, int dim, const View& index) {
  W* d = typed<W>(dst);
  const W* s = typed<const W>(src);
  Shape shape, dst_strides, src_strides, ignored;
  drop_dim(dst, dim, shape, dst_strides);
  drop_dim(src, dim, ignored, src_strides);
  const Shape* strides[2] = {&dst_strides, &src_strides};
  StridedIter<2> slice = make_iter<2>(shape, strides);
  const std::int64_t ds = slice.inner_stride(0), ss = slice.inner_stride(1);
  const std::int64_t count = index.numel(), dstep = dim_stride(dst, dim), sstep = dim_stride(src, dim);
  auto copy_part = [&](std::int64_t i, std::int64_t begin, std::int64_t end) {
    W* dp0 = d + i * dstep;
    const W* sp0 = s + index_at(index, i) * sstep;
    iter_range(slice, begin, end, [&](const std::int64_t* off, std::int64_t n) {
      W* dp = dp0 + off[0];
      const W* sp = sp0 + off[1];
      if (ds == 1 && ss == 1) {
        for (std::int64_t j = 0; j < n; ++j) dp[j] = sp[j];
      } else {
        for (std::int64_t j = 0; j < n; ++j) dp[j * ds] = sp[j * ss];
      }
    });
  };
  if (count >= get_num_threads()) {
    parallel_range(count, slice.numel, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = b; i < e; ++i) copy_part(i, 0, slice.numel);
    }, 1);
  } else {
    parallel_range(slice.numel, count, [&](std::int64_t b, std::int64_t e) {
      for (std::int64_t i = 0; i < count; ++i) copy_part(i, b, e);
    });
  }
}

template <class T>
void index_add_typed(const View& dst, int dim, const View& index, const View& src) {
  T* d = typed<T>(dst);
  const T* s = typed<const T>(src);
  Shape shape, dst_strides, src_strides, ignored;
  drop_dim(src, dim, shape, src_strides);
  drop_dim(dst, dim, ignored, dst_strides);
  const Shape* strides[2] = {&dst_strides, &src_strides};
  StridedIter<2> slice = make_iter<2>(shape, strides);
  const std::int64_t ds = slice.inner_stride(0), ss = slice.inner_stride(1);
  const std::int64_t count = index.numel(), dstep = dim_stride(dst, dim), sstep = dim_stride(src, dim);
  // Indices may repeat, so all of them are applied in order by the thread owning an element.
  parallel_range(slice.numel, count, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = 0; i < count; ++i) {
      T* dp0 = d + index_at(index, i) * dstep;
      const T* sp0 = s + i * sstep;
      iter_range(slice, b, e, [&](const std::int64_t* off, std::int64_t n) {
        T* dp = dp0 + off[0];
        const T* sp = sp0 + off[1];
        if (ds == 1 && ss == 1) {
          for (std::int64_t j = 0; j < n; ++j) dp[j] += sp[j];
        } else {
          for (std::int64_t j = 0; j < n; ++j) dp[j * ds] += sp[j * ss];
        }
      });
    }
  });
}

template <class W>
void gather_words(const View& dst, const View& src, int dim, const View& index) {
  W* d = typed<W>(dst);
  const W* s = typed<const W>(src);
  const std::int64_t* idx = typed<const std::int64_t>(index);
  // src walked with dst's shape, its step along dim replaced by the looked-up index.
  Shape src_strides = src.strides;
  const std::int64_t step = dim_stride(src, dim);
  if (src.shape.ndim > 0) src_strides[dim] = 0;
  const Shape* strides[3] = {&dst.strides, &index.strides, &src_strides};
  StridedIter<3> it = make_iter<3>(dst.shape, strides);
  const std::int64_t ds = it.inner_stride(0), is = it.inner_stride(1), ss = it.inner_stride(2);
  for_each_run(it, [&](const std::int64_t* off, std::int64_t n) {
    for (std::int64_t j = 0; j < n; ++j)
      d[off[0] + j * ds] = s[off[2] + j * ss + idx[off[1] + j * is] * step];
  });
}

template <class T>
void scatter_add_typed(const View& dst, int dim, const View& index, const View& src) {
  T* d = typed<T>(dst);
  const T* s = typed<const T>(src);
  const std::int64_t* idx = typed<const std::int64_t>(index);
  if (index.shape.ndim == 0) {
    d[idx[0] * dim_stride(dst, dim)] += s[0];
    return;
  }
  // Positions off dim own distinct lines of dst; each walks its line along dim in order.
  Shape lines = index.shape;
  lines[dim] = 1;
  const Shape* strides[3] = {&index.strides, &src.strides, &dst.strides};
  StridedIter<3> it = make_iter<3>(lines, strides);
  const std::int64_t len = index.shape[dim];
  const std::int64_t istep = index.strides[dim], sstep = src.strides[dim], dstep = dst.strides[dim];
  const std::int64_t is = it.inner_stride(0), ss = it.inner_stride(1), ds = it.inner_stride(2);
  for_each_run(it, [&](const std::int64_t* off, std::int64_t n) {
    for (std::int64_t j = 0; j < n; ++j) {
      const std::int64_t* ip = idx + off[0] + j * is;
      const T* sp = s + off[1] + j * ss;
      T* dp = d + off[2] + j * ds;
      for (std::int64_t k = 0; k < len; ++k) dp[ip[k * istep] * dstep] += sp[k * sstep];
    }
  }, len);
}

}  // namespace

void CpuBackend::index_select(const View& dst, const View& src, int dim, const View& index) {
  if (dst.numel() == 0) return;
  if (dtype_size(dst.dtype) == 4) return index_select_words<std::uint32_t>(dst, src, dim, index);
  index_select_words<std::uint64_t>(dst, src, dim, index);
}

void CpuBackend::index_add(const View& dst, int dim, const View& index, const View& src) {
  if (src.numel() == 0) return;
  switch (dst.dtype) {
    case DType::Float32: return index_add_typed<float>(dst, dim, index, src);
    case DType::Float64: return index_add_typed<double>(dst, dim, index, src);
    case DType::Int64: return index_add_typed<std::int64_t>(dst, dim, index, src);
  }
}

void CpuBackend::gather(const View& dst, const View& src, int dim, const View& index) {
  if (dst.numel() == 0) return;
  if (dtype_size(dst.dtype) == 4) return gather_words<std::uint32_t>(dst, src, dim, index);
  gather_words<std::uint64_t>(dst, src, dim, index);
}

void CpuBackend::scatter_add(const View& dst, int dim, const View& index, const View& src) {
  if (index.numel() == 0) return;
  switch (dst.dtype) {
    case DType::Float32: return scatter_add_typed<float>(dst, dim, index, src);
    case DType::Float64: return scatter_add_typed<double>(dst, dim, index, src);
    case DType::Int64: return scatter_add_typed<std::int64_t>(dst, dim, index, src);
  }
}

}  // namespace recur::backend
