// copy (with dtype conversion) and fill, for any strides.
#include <algorithm>
#include <cstring>
#include <type_traits>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

// A transposing copy (dst walks dim `last` contiguously, src walks dim k contiguously), in
// square tiles so both sides stay in L1: element by element, one of them would touch a new
// cache line at every step. Tiles of rows go to threads.
template <class D, class S>
void copy_tiled(const StridedIter<2>& it, int k, D* d, const S* s) {
  constexpr std::int64_t kTile = 32;
  const int last = it.ndim - 1;
  // The other dims, walked as an outer iteration.
  Shape outer, outer_dst, outer_src;
  for (int i = 0; i < last; ++i) {
    if (i == k) continue;
    outer.push_back(it.shape[i]);
    outer_dst.push_back(it.strides[0][i]);
    outer_src.push_back(it.strides[1][i]);
  }
  const Shape* os[2] = {&outer_dst, &outer_src};
  const StridedIter<2> out_it = make_iter<2>(outer, os);
  const std::int64_t rows = it.shape[k], cols = it.shape[last];
  const std::int64_t drow = it.strides[0][k], scol = it.strides[1][last];
  const std::int64_t row_tiles = (rows + kTile - 1) / kTile;
  parallel_range(out_it.numel * row_tiles, kTile * cols, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t task = begin; task < end; ++task) {
      const std::int64_t i0 = task % row_tiles * kTile, i1 = std::min(rows, i0 + kTile);
      std::int64_t base[2] = {0, 0};
      iter_range(out_it, task / row_tiles, task / row_tiles + 1, [&](const std::int64_t* off, std::int64_t) {
        base[0] = off[0], base[1] = off[1];
      });
      for (std::int64_t j0 = 0; j0 < cols; j0 += kTile) {
        const std::int64_t j1 = std::min(cols, j0 + kTile);
        for (std::int64_t i = i0; i < i1; ++i) {
          D* dp = d + base[0] + i * drow;
          const S* sp = s + base[1] + i;
          for (std::int64_t j = j0; j < j1; ++j) dp[j] = static_cast<D>(sp[j * scol]);
        }
      }
    }
  }, 1);
}

template <class D, class S>
void copy_typed(const View& dst, const View& src) {
  D* d = typed<D>(dst);
  const S* s = typed<const S>(src);
  const Shape* strides[2] = {&dst.strides, &src.strides};
  StridedIter<2> it = make_iter<2>(dst.shape, strides);
  const std::int64_t ds = it.inner_stride(0), ss = it.inner_stride(1);
  if (ds == 1 && ss != 1 && ss != 0 && it.ndim >= 2 && it.numel >= 1024) {
    for (int k = it.ndim - 2; k >= 0; --k) {
      if (it.strides[1][k] == 1 && it.shape[k] >= 8 && it.inner() >= 8) return copy_tiled(it, k, d, s);
    }
  }
  for_each_run(it, [&](const std::int64_t* off, std::int64_t n) {
    D* dp = d + off[0];
    const S* sp = s + off[1];
    if constexpr (std::is_same_v<D, S>) {
      if (ds == 1 && ss == 1) {
        std::memmove(dp, sp, n * sizeof(D));
        return;
      }
    }
    if (ds == 1 && ss == 1) {
      for (std::int64_t i = 0; i < n; ++i) dp[i] = static_cast<D>(sp[i]);
    } else if (ds == 1 && ss == 0) {
      const D v = static_cast<D>(sp[0]);
      for (std::int64_t i = 0; i < n; ++i) dp[i] = v;
    } else {
      for (std::int64_t i = 0; i < n; ++i) dp[i * ds] = static_cast<D>(sp[i * ss]);
    }
  });
}

template <class D>
void copy_from(const View& dst, const View& src) {
  switch (src.dtype) {
    case DType::Float32: return copy_typed<D, float>(dst, src);
    case DType::Float64: return copy_typed<D, double>(dst, src);
    case DType::Int64: return copy_typed<D, std::int64_t>(dst, src);
  }
}

template <class T>
void fill_typed(const View& dst, T value) {
  T* d = typed<T>(dst);
  const Shape* strides[1] = {&dst.strides};
  StridedIter<1> it = make_iter<1>(dst.shape, strides);
  const std::int64_t ds = it.inner_stride(0);
  for_each_run(it, [&](const std::int64_t* off, std::int64_t n) {
    T* dp = d + off[0];
    if (ds == 1) {
      for (std::int64_t i = 0; i < n; ++i) dp[i] = value;
    } else {
      for (std::int64_t i = 0; i < n; ++i) dp[i * ds] = value;
    }
  });
}

}  // namespace

void CpuBackend::copy(const View& dst, const View& src) {
  if (dst.numel() == 0) return;
  switch (dst.dtype) {
    case DType::Float32: return copy_from<float>(dst, src);
    case DType::Float64: return copy_from<double>(dst, src);
    case DType::Int64: return copy_from<std::int64_t>(dst, src);
  }
}

void CpuBackend::fill(const View& dst, double value) {
  if (dst.numel() == 0) return;
  switch (dst.dtype) {
    case DType::Float32: return fill_typed<float>(dst, static_cast<float>(value));
    case DType::Float64: return fill_typed<double>(dst, value);
    case DType::Int64: return fill_typed<std::int64_t>(dst, static_cast<std::int64_t>(value));
  }
}

// Host memory is this device's memory.
void CpuBackend::copy_from_host(void* dst, const void* host_src, std::size_t nbytes) {
  if (nbytes) std::memcpy(dst, host_src, nbytes);
}
void CpuBackend::copy_to_host(void* host_dst, const void* src, std::size_t nbytes) {
  if (nbytes) std::memcpy(host_dst, src, nbytes);
}

}  // namespace recur::backend
