// Reductions: sum / mean / max / min over any set of dims, arg-max/min along one dim,
// and the min/max of an int64 view.
//
// reduce() splits src's dims into kept dims (dst's extent) and reduced dims (dst extent 1),
// each coalesced into as few dims as strides allow, then takes one of two loop orders:
//   rows:    the innermost src dim is reduced (e.g. sum over the last, contiguous dim):
//            each output is one vectorised reduction over contiguous runs; outputs go to
//            threads, or, when there are fewer outputs than threads, each output's runs
//            are split over threads and the partial results combined in a fixed order.
//   columns: the innermost src dim is kept and contiguous (e.g. sum over leading dims, the
//            gradient of a broadcast bias): a block of outputs accumulates whole src rows
//            at a time, vectorised across the block; blocks go to threads.
// Float sums accumulate in float lanes over short blocks and in double across blocks, so
// their error does not grow with the length of the reduction.
#include <cmath>
#include <cstdint>
#include <limits>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"
#include "core/for_each_offset.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

// Lanes of independent accumulators: enough to fill two AVX-512 registers, which lets the
// compiler vectorise a reduction without reassociating (no -ffast-math).
template <class T>
constexpr int kLanes = 64 / sizeof(T) * 2;

struct SumOp {
  template <class T>
  using Acc = double;
  template <class T>
  static double identity() { return 0; }
  static double combine(double a, double b) { return a + b; }

  // Sum of n elements at stride st.
  template <class T>
  static double run(const T* x, std::int64_t n, std::int64_t st) {
    double total = 0;
    if (st != 1) {
      for (std::int64_t i = 0; i < n; ++i) total += x[i * st];
      return total;
    }
    constexpr int L = kLanes<T>;
    constexpr std::int64_t kBlock = 2048;
    for (std::int64_t b0 = 0; b0 < n; b0 += kBlock) {
      std::int64_t b1 = std::min(n, b0 + kBlock);
      T acc[L] = {};
      std::int64_t i = b0;
      for (; i + L <= b1; i += L)
        for (int l = 0; l < L; ++l) acc[l] += x[i + l];
      T s = 0;
      for (int l = 0; l < L; ++l) s += acc[l];
      for (; i < b1; ++i) s += x[i];
      total += s;
    }
    return total;
  }
  template <class T>
  static void accumulate_row(double* acc, const T* x, std::int64_t w) {
    for (std::int64_t j = 0; j < w; ++j) acc[j] += x[j];
  }
};

// Max and min propagate NaN, as PyTorch's do: once a lane holds NaN it keeps it.
template <bool IsMax>
struct ExtremeOp {
  template <class T>
  using Acc = T;
  template <class T>
  static T identity() {
    return IsMax ? -std::numeric_limits<T>::infinity() : std::numeric_limits<T>::infinity();
  }
  template <class T>
  static T combine(T acc, T x) {
    bool take = IsMax ? x > acc : x < acc;
    return (take || x != x) ? x : acc;
  }
  template <class T>
  static T run(const T* x, std::int64_t n, std::int64_t st) {
    T best = identity<T>();
    if (st != 1) {
      for (std::int64_t i = 0; i < n; ++i) best = combine(best, x[i * st]);
      return best;
    }
    constexpr int L = kLanes<T>;
    T acc[L];
    for (int l = 0; l < L; ++l) acc[l] = identity<T>();
    std::int64_t i = 0;
    for (; i + L <= n; i += L)
      for (int l = 0; l < L; ++l) acc[l] = combine(acc[l], x[i + l]);
    for (int l = 0; l < L; ++l) best = combine(best, acc[l]);
    for (; i < n; ++i) best = combine(best, x[i]);
    return best;
  }
  template <class T>
  static void accumulate_row(T* acc, const T* x, std::int64_t w) {
    for (std::int64_t j = 0; j < w; ++j) acc[j] = combine(acc[j], x[j]);
  }
};

// Kept and reduced dims of a reduction, each coalesced.
struct ReduceLayout {
  StridedIter<2> kept;     // operands: dst, src
  StridedIter<1> reduced;  // operand: src
};

ReduceLayout reduce_layout(const View& dst, const View& src) {
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
  return {make_iter<2>(kept_shape, ks), make_iter<1>(red_shape, rs)};
}

// Reduction of the positions [begin, end) of `red`, offset from x.
template <class Op, class T>
typename Op::template Acc<T> reduce_part(const T* x, const StridedIter<1>& red, std::int64_t begin,
                                         std::int64_t end) {
  using Acc = typename Op::template Acc<T>;
  Acc acc = Op::template identity<T>();
  const std::int64_t st = red.inner_stride(0);
  iter_range(red, begin, end, [&](const std::int64_t* off, std::int64_t n) {
    acc = Op::combine(acc, static_cast<Acc>(Op::run(x + off[0], n, st)));
  });
  return acc;
}

template <class Op, class T>
void reduce_rows(const ReduceLayout& L, T* dst, const T* src, double scale) {
  using Acc = typename Op::template Acc<T>;
  const StridedIter<2>& kept = L.kept;
  const StridedIter<1>& red = L.reduced;
  const std::int64_t ds = kept.inner_stride(0), ss = kept.inner_stride(1);
  auto finish = [scale](Acc acc) { return static_cast<T>(scale == 1 ? acc : acc * scale); };
  if (kept.numel >= get_num_threads() || red.numel < kParallelGrain) {
    parallel_range(kept.numel, red.numel, [&](std::int64_t begin, std::int64_t end) {
      iter_range(kept, begin, end, [&](const std::int64_t* off, std::int64_t n) {
        for (std::int64_t i = 0; i < n; ++i)
          dst[off[0] + i * ds] = finish(reduce_part<Op>(src + off[1] + i * ss, red, 0, red.numel));
      });
    }, 1);
    return;
  }
  // Few outputs, long reductions (e.g. a full sum): split each reduction over threads.
  Acc partial[kMaxParts];
  iter_range(kept, 0, kept.numel, [&](const std::int64_t* off, std::int64_t n) {
    for (std::int64_t i = 0; i < n; ++i) {
      const T* x = src + off[1] + i * ss;
      int parts = parallel_parts(red.numel, 1, [&](int part, std::int64_t begin, std::int64_t end) {
        partial[part] = reduce_part<Op>(x, red, begin, end);
      });
      Acc acc = Op::template identity<T>();
      for (int p = 0; p < parts; ++p) acc = Op::combine(acc, partial[p]);
      dst[off[0] + i * ds] = finish(acc);
    }
  });
}

template <class Op, class T>
void reduce_columns(const ReduceLayout& L, T* dst, const T* src, double scale) {
  using Acc = typename Op::template Acc<T>;
  const StridedIter<2>& kept = L.kept;
  const StridedIter<1>& red = L.reduced;
  const std::int64_t ds = kept.inner_stride(0);  // src's inner stride is 1 here
  const std::int64_t rs = red.inner_stride(0);
  constexpr std::int64_t kWidth = 256;
  for_each_run(kept, [&](const std::int64_t* off, std::int64_t n) {
    for (std::int64_t j0 = 0; j0 < n; j0 += kWidth) {
      const std::int64_t w = std::min(kWidth, n - j0);
      Acc acc[kWidth];
      for (std::int64_t j = 0; j < w; ++j) acc[j] = Op::template identity<T>();
      const T* x = src + off[1] + j0;
      iter_range(red, 0, red.numel, [&](const std::int64_t* roff, std::int64_t rn) {
        for (std::int64_t r = 0; r < rn; ++r) Op::accumulate_row(acc, x + roff[0] + r * rs, w);
      });
      T* y = dst + off[0] + j0 * ds;
      for (std::int64_t j = 0; j < w; ++j)
        y[j * ds] = static_cast<T>(scale == 1 ? acc[j] : acc[j] * scale);
    }
  }, red.numel);
}

template <class Op, class T>
void reduce_with(const View& dst, const View& src, double scale) {
  ReduceLayout L = reduce_layout(dst, src);
  T* d = typed<T>(dst);
  const T* s = typed<const T>(src);
  bool columns = L.kept.numel > 1 && L.kept.inner_stride(1) == 1 && L.reduced.inner_stride(0) != 1;
  if (columns) reduce_columns<Op>(L, d, s, scale);
  else reduce_rows<Op>(L, d, s, scale);
}

template <class T>
void reduce_typed(ReduceOp op, const View& dst, const View& src) {
  switch (op) {
    case ReduceOp::Sum: return reduce_with<SumOp, T>(dst, src, 1);
    case ReduceOp::Mean: {
      std::int64_t count = dst.numel() == 0 ? 0 : src.numel() / dst.numel();
      return reduce_with<SumOp, T>(dst, src, 1.0 / static_cast<double>(count));
    }
    case ReduceOp::Max: return reduce_with<ExtremeOp<true>, T>(dst, src, 1);
    case ReduceOp::Min: return reduce_with<ExtremeOp<false>, T>(dst, src, 1);
  }
}

// ---- arg max / min along one dim. Ties keep the first index; a NaN wins (and the first
// NaN is kept), as in PyTorch.
template <bool IsMax, class T>
inline bool arg_takes(T v, T best) {
  return (IsMax ? v > best : v < best) || (v != v && best == best);
}

// A contiguous row: the extreme value by vectorised lanes, then the first index holding it.
template <bool IsMax, class T>
std::int64_t arg_row_contiguous(const T* x, std::int64_t len, T& best_out) {
  T best = ExtremeOp<IsMax>::template run<T>(x, len, 1);
  std::int64_t k = 0;
  if (best != best) {
    while (x[k] == x[k]) ++k;
  } else {
    while (x[k] != best) ++k;
  }
  best_out = best;
  return k;
}

template <bool IsMax, class T>
void arg_reduce_typed(const View& values, const View& indices, const View& src, int dim) {
  T* vals = typed<T>(values);
  std::int64_t* idx = typed<std::int64_t>(indices);
  const T* s = typed<const T>(src);
  if (src.shape.ndim == 0) {  // a scalar is its own extreme
    if (vals) vals[0] = s[0];
    if (idx) idx[0] = 0;
    return;
  }
  // Outputs seen with src's shape and stride 0 along dim, so rows of all three line up;
  // an output with null data borrows src's strides (its offsets are never used).
  View vv = src, iv = src;
  if (vals) vv.strides = values.strides;
  if (idx) iv.strides = indices.strides;
  vv.strides[dim] = 0;
  iv.strides[dim] = 0;
  const View* views[3] = {&src, &vv, &iv};
  for_each_row_run<3>(views, dim, [&](const std::int64_t* off, const std::int64_t* st, std::int64_t len,
                                      std::int64_t cols, const std::int64_t* cs) {
    const std::int64_t sx = st[0];
    if (cs[0] == 1 && sx != 1) {
      // Rows side by side in memory (dim not last): vectorised across a block of rows.
      constexpr std::int64_t kW = 64;
      for (std::int64_t j0 = 0; j0 < cols; j0 += kW) {
        const std::int64_t w = std::min(kW, cols - j0);
        const T* x = s + off[0] + j0;
        T best[kW];
        std::int64_t at[kW];
        for (std::int64_t j = 0; j < w; ++j) best[j] = x[j], at[j] = 0;
        for (std::int64_t k = 1; k < len; ++k)
          for (std::int64_t j = 0; j < w; ++j) {
            T v = x[k * sx + j];
            bool take = arg_takes<IsMax>(v, best[j]);
            best[j] = take ? v : best[j];
            at[j] = take ? k : at[j];
          }
        for (std::int64_t j = 0; j < w; ++j) {
          if (vals) vals[off[1] + (j0 + j) * cs[1]] = best[j];
          if (idx) idx[off[2] + (j0 + j) * cs[2]] = at[j];
        }
      }
      return;
    }
    for (std::int64_t c = 0; c < cols; ++c) {
      const T* x = s + off[0] + c * cs[0];
      T best = x[0];
      std::int64_t at = 0;
      if (sx == 1) {
        at = arg_row_contiguous<IsMax>(x, len, best);
      } else {
        for (std::int64_t k = 1; k < len; ++k) {
          T v = x[k * sx];
          if (arg_takes<IsMax>(v, best)) best = v, at = k;
        }
      }
      if (vals) vals[off[1] + c * cs[1]] = best;
      if (idx) idx[off[2] + c * cs[2]] = at;
    }
  }, 1);
}

}  // namespace

void CpuBackend::reduce(ReduceOp op, const View& dst, const View& src) {
  if (dst.numel() == 0) return;
  if (src.dtype == DType::Float64) return reduce_typed<double>(op, dst, src);
  reduce_typed<float>(op, dst, src);
}

void CpuBackend::arg_reduce(bool is_max, const View& values, const View& indices, const View& src, int dim) {
  if (src.numel() == 0) return;
  const bool f64 = src.dtype == DType::Float64;
  if (is_max) {
    if (f64) return arg_reduce_typed<true, double>(values, indices, src, dim);
    return arg_reduce_typed<true, float>(values, indices, src, dim);
  }
  if (f64) return arg_reduce_typed<false, double>(values, indices, src, dim);
  arg_reduce_typed<false, float>(values, indices, src, dim);
}

void CpuBackend::int_min_max(const View& dst, const View& src) {
  const std::int64_t* s = typed<const std::int64_t>(src);
  std::int64_t lo = std::numeric_limits<std::int64_t>::max(), hi = std::numeric_limits<std::int64_t>::min();
  // Index tensors are small next to the data they index: one thread is plenty.
  for_each_offset(src.shape, src.strides, [&](std::int64_t off) {
    std::int64_t v = s[off];
    lo = v < lo ? v : lo;
    hi = v > hi ? v : hi;
  });
  std::int64_t* d = typed<std::int64_t>(dst);
  d[0] = lo;
  d[dst.strides[0]] = hi;
}

}  // namespace recur::backend
