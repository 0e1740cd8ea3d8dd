// Loop machinery shared by the CPU kernels: splitting work across the thread pool, and
// walking N strided operands of one shape as runs along their innermost dimension.
#pragma once

#include <algorithm>
#include <cstdint>

#include "backend/backend.hpp"
#include "backend/cpu/thread_pool.hpp"
#include "recur/core/threading.hpp"

namespace recur::backend::cpu {

// Splits [0, n) into at most one contiguous range per thread and calls f(part, begin, end)
// for each, on the thread pool, when the work (n items of `cost` elements each) is worth
// it; otherwise calls f(0, 0, n) right here, so tiny tensors pay nothing for threading.
// Returns the number of parts (at most kMaxParts), so callers can combine per-part
// results in a fixed order; the ranges depend on n and the thread count only, never on
// which thread runs them. Ranges start at multiples of `align` items (vector width, cache
// line) when possible. f must not throw.
constexpr int kMaxParts = 256;

// Matrix products of fewer multiply-adds run on one thread (tens of microseconds: a split
// would save less than handing out the parts costs).
constexpr std::int64_t kSplitGemmWork = std::int64_t{1} << 19;

template <class F>
int parallel_parts(std::int64_t n, std::int64_t cost, F&& f, std::int64_t align = 16) {
  if (n <= 0) return 0;
  int threads = std::min(get_num_threads(), kMaxParts);
  std::int64_t work = n * std::max<std::int64_t>(cost, 1);
  // No more threads than half-grains of work, so each one gets a worthwhile share.
  std::int64_t useful = work / (kParallelGrain / 2);
  int team = static_cast<int>(std::min<std::int64_t>({threads, useful, n}));
  if (team <= 1 || work < kParallelGrain) {
    f(0, std::int64_t{0}, n);
    return 1;
  }
  thread_pool().run(team, [&](int part) {
    const std::int64_t t = part, nt = team;
    std::int64_t begin = n * t / nt, end = n * (t + 1) / nt;
    if (align > 1 && n >= align * nt) {
      begin = t == 0 ? 0 : begin / align * align;
      end = t == nt - 1 ? n : end / align * align;
    }
    f(part, begin, end);
  });
  return team;
}

// f(begin, end) over [0, n), in parallel when worth it (see parallel_parts).
template <class F>
void parallel_range(std::int64_t n, std::int64_t cost, F&& f, std::int64_t align = 16) {
  parallel_parts(n, cost, [&](int, std::int64_t begin, std::int64_t end) {
    if (begin < end) f(begin, end);
  }, align);
}

// N operands of one shape, with dims of extent 1 dropped and neighbouring dims merged
// wherever every operand's strides allow, so a contiguous tensor becomes one flat dim and
// a broadcast row becomes (rows, cols) with a stride-0 dim. Always at least one dim.
template <int N>
struct StridedIter {
  int ndim = 0;
  std::int64_t shape[kMaxDims] = {};
  std::int64_t strides[N][kMaxDims] = {};
  std::int64_t numel = 1;

  std::int64_t inner() const { return shape[ndim - 1]; }
  std::int64_t inner_stride(int k) const { return strides[k][ndim - 1]; }
};

template <int N>
StridedIter<N> make_iter(const Shape& shape, const Shape* const (&strides)[N]) {
  StridedIter<N> it;
  it.numel = shape.numel();
  for (int d = 0; d < shape.ndim; ++d) {
    if (shape[d] == 1) continue;
    int last = it.ndim - 1;
    // Merge into the previous kept dim when it steps over exactly this dim, for all operands.
    bool merge = last >= 0 && shape[d] != 0 && it.shape[last] != 0;
    for (int k = 0; k < N && merge; ++k)
      merge = it.strides[k][last] == (*strides[k])[d] * shape[d];
    if (merge) {
      it.shape[last] *= shape[d];
      for (int k = 0; k < N; ++k) it.strides[k][last] = (*strides[k])[d];
    } else {
      it.shape[it.ndim] = shape[d];
      for (int k = 0; k < N; ++k) it.strides[k][it.ndim] = (*strides[k])[d];
      ++it.ndim;
    }
  }
  if (it.ndim == 0) {  // a scalar, or all extents 1: one run of one element
    it.ndim = 1;
    it.shape[0] = 1;
    for (int k = 0; k < N; ++k) it.strides[k][0] = 0;
  }
  return it;
}

// Calls f(offsets, n) for the elements [begin, end) in row-major order, one call per run
// along the innermost dim: offsets[k] is operand k's element offset of the run's first
// element; the run continues with stride it.inner_stride(k).
template <int N, class F>
void iter_range(const StridedIter<N>& it, std::int64_t begin, std::int64_t end, F&& f) {
  if (begin >= end) return;
  const int last = it.ndim - 1;
  std::int64_t index[kMaxDims] = {};
  std::int64_t off[N] = {};
  std::int64_t rem = begin;
  for (int d = last; d >= 0; --d) {
    index[d] = rem % it.shape[d];
    rem /= it.shape[d];
    for (int k = 0; k < N; ++k) off[k] += index[d] * it.strides[k][d];
  }
  std::int64_t pos = begin;
  const std::int64_t inner = it.shape[last];
  while (pos < end) {
    std::int64_t n = std::min(inner - index[last], end - pos);
    f(static_cast<const std::int64_t*>(off), n);
    pos += n;
    if (pos >= end) break;
    // Step to the start of the next run: rewind the inner dim, carry into outer dims.
    for (int k = 0; k < N; ++k) off[k] -= index[last] * it.strides[k][last];
    index[last] = 0;
    for (int d = last - 1; d >= 0; --d) {
      for (int k = 0; k < N; ++k) off[k] += it.strides[k][d];
      if (++index[d] < it.shape[d]) break;
      for (int k = 0; k < N; ++k) off[k] -= it.shape[d] * it.strides[k][d];
      index[d] = 0;
    }
  }
}

// Every run of the iterator, in parallel when large. `cost` is the work per element.
template <int N, class F>
void for_each_run(const StridedIter<N>& it, F&& f, std::int64_t cost = 1) {
  if (it.numel == 0) return;
  parallel_range(it.numel, cost, [&](std::int64_t begin, std::int64_t end) { iter_range(it, begin, end, f); });
}

// Rows along `dim` of N views of one shape, handed out in runs of neighbouring rows:
// f(offsets, steps, len, cols, col_strides) covers `cols` rows, row c of operand k starting
// at offsets[k] + c * col_strides[k] and stepping steps[k] along dim. Runs go to threads.
template <int N, class F>
void for_each_row_run(const View* const (&views)[N], int dim, F&& f, std::int64_t cost_per_element = 4) {
  const Shape& shape = views[0]->shape;
  if (shape.numel() == 0) return;
  std::int64_t step[N] = {};
  if (shape.ndim == 0) {  // a scalar is one row of length 1
    std::int64_t off[N] = {};
    f(static_cast<const std::int64_t*>(off), static_cast<const std::int64_t*>(step), std::int64_t{1},
      std::int64_t{1}, static_cast<const std::int64_t*>(step));
    return;
  }
  Shape rows = shape;
  rows[dim] = 1;
  const Shape* strides[N];
  for (int k = 0; k < N; ++k) {
    strides[k] = &views[k]->strides;
    step[k] = views[k]->strides[dim];
  }
  const std::int64_t len = shape[dim];
  const StridedIter<N> it = make_iter<N>(rows, strides);
  std::int64_t col_stride[N];
  for (int k = 0; k < N; ++k) col_stride[k] = it.inner_stride(k);
  for_each_run(it, [&](const std::int64_t* off, std::int64_t n) {
    f(off, static_cast<const std::int64_t*>(step), len, n, static_cast<const std::int64_t*>(col_stride));
  }, len * cost_per_element);
}

template <class T>
T* typed(const View& v) { return static_cast<T*>(v.data); }

}  // namespace recur::backend::cpu
