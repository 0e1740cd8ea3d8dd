// The kernel of packed_gemm.hpp: GCC/Clang vector extensions, so that one source compiles to
// AVX-512, AVX or SSE registers as the build targets. The auto-vectoriser would not keep a
// tile of accumulators in registers across the k loop; written this way both compilers do.
#include "backend/cpu/packed_gemm.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <vector>

#include "backend/cpu/loops.hpp"
#include "backend/cpu/vec_math.hpp"

namespace recur::backend::cpu {
namespace {

// The build's widest vectors.
#if defined(__AVX512F__)
constexpr int kVectorBytes = 64;
#elif defined(__AVX__)
constexpr int kVectorBytes = 32;
#else
constexpr int kVectorBytes = 16;
#endif
template <class T>
constexpr std::int64_t kPanel = 2 * kVectorBytes / static_cast<std::int64_t>(sizeof(T));

template <class T>
struct VectorOf;
template <>
struct VectorOf<float> {
  typedef float type __attribute__((vector_size(kVectorBytes)));
};
template <>
struct VectorOf<double> {
  typedef double type __attribute__((vector_size(kVectorBytes)));
};

// Rows of A per kernel call: 2 * kTileRows accumulators, two panel values and a broadcast
// fill the 32 vector registers of AVX-512 or the 16 of AVX and SSE.
constexpr int kTileRows = kVectorBytes == 64 ? 8 : 6;

// Row r of A's `Rows` rows times one panel, as two vectors per row, handed to
// epilogue(r, lo, hi) (lo: the panel's first `lanes` columns, hi: the others):
//   acc[r][j] = sum over i of a[r][i] * panel[i][j], in order of i.
// Always inlined into its callers, so that the accumulators stay in registers.
template <class T, int Rows, class Epilogue>
inline __attribute__((always_inline)) void tile(std::int64_t k, const T* a, std::int64_t lda, const T* panel,
                                                const Epilogue& epilogue) {
  using V = typename VectorOf<T>::type;
  constexpr std::int64_t lanes = kVectorBytes / sizeof(T), width = 2 * lanes;
  V lo[Rows], hi[Rows];
  for (int r = 0; r < Rows; ++r) lo[r] = hi[r] = V{};
  for (std::int64_t i = 0; i < k; ++i) {
    V b0, b1;
    std::memcpy(&b0, panel + i * width, sizeof(V));
    std::memcpy(&b1, panel + i * width + lanes, sizeof(V));
#pragma GCC unroll 8
    for (int r = 0; r < Rows; ++r) {
      const T x = a[r * lda + i];
      lo[r] += x * b0;
      hi[r] += x * b1;
    }
  }
  for (int r = 0; r < Rows; ++r) epilogue(r, lo[r], hi[r]);
}

// A panel's `cols` values (cols <= its width; null: zeros) as two vectors, the columns past
// them `pad`.
template <class T>
void panel_vectors(const T* values, std::int64_t cols, T pad, typename VectorOf<T>::type& lo,
                   typename VectorOf<T>::type& hi) {
  constexpr std::int64_t lanes = kVectorBytes / sizeof(T);
  T padded[2 * lanes];
  for (std::int64_t j = 0; j < 2 * lanes; ++j) padded[j] = j >= cols ? pad : values ? values[j] : T(0);
  std::memcpy(&lo, padded, sizeof(lo));
  std::memcpy(&hi, padded + lanes, sizeof(hi));
}

// C's `rows` x `cols` block (cols <= the panel width) = A's rows times one panel, or += it,
// plus the block's bias (null: none):  c[r][j] (+)= acc[r][j] + bias[j]
template <class T, int Rows>
void tile_kernel(std::int64_t k, const T* a, std::int64_t lda, const T* panel, bool accumulate, const T* bias, T* c,
                 std::int64_t ldc, std::int64_t cols) {
  using V = typename VectorOf<T>::type;
  constexpr std::int64_t lanes = kVectorBytes / sizeof(T), width = 2 * lanes;
  V bias_lo{}, bias_hi{};
  if (bias) panel_vectors<T>(bias, cols, T(0), bias_lo, bias_hi);
  tile<T, Rows>(k, a, lda, panel, [&](int r, V lo, V hi) {
    if (bias) lo += bias_lo, hi += bias_hi;
    T sum[width];
    std::memcpy(sum, &lo, sizeof(V));
    std::memcpy(sum + lanes, &hi, sizeof(V));
    T* row = c + r * ldc;
    if (accumulate)
      for (std::int64_t j = 0; j < cols; ++j) row[j] += sum[j];
    else if (cols == width)  // a whole panel: a copy of known size, inlined (not a call to memmove)
      std::memcpy(row, sum, sizeof(sum));
    else
      std::memcpy(row, sum, sizeof(T) * cols);
  });
}

template <class T>
using TileKernel = void (*)(std::int64_t, const T*, std::int64_t, const T*, bool, const T*, T*, std::int64_t,
                            std::int64_t);
// By number of rows, 1 to kTileRows.
template <class T>
constexpr TileKernel<T> kTileKernels[] = {nullptr,           tile_kernel<T, 1>, tile_kernel<T, 2>, tile_kernel<T, 3>,
                                          tile_kernel<T, 4>, tile_kernel<T, 5>, tile_kernel<T, 6>, tile_kernel<T, 7>,
                                          tile_kernel<T, 8>};

// Panels [first, last) of the product, every row of A against one panel while it is in cache.
template <class T>
void product_panels(std::int64_t m, const T* a, std::int64_t lda, const PackedMatrix<T>& p, bool accumulate,
                    const T* bias, T* c, std::int64_t ldc, std::int64_t first, std::int64_t last) {
  constexpr std::int64_t width = kPanel<T>;
  for (std::int64_t panel = first; panel < last; ++panel) {
    const std::int64_t col = panel * width, cols = std::min(width, p.n - col);
    for (std::int64_t r = 0; r < m; r += kTileRows) {
      const std::int64_t rows = std::min<std::int64_t>(kTileRows, m - r);
      kTileKernels<T>[rows](p.k, a + r * lda, lda, p.data + panel * p.k * width, accumulate,
                            bias ? bias + col : nullptr, c + r * ldc + col, ldc, cols);
    }
  }
}

// ---- Log-sum-exp of a product's rows (packed_log_sum_exp)
//
// Columns go a block of kLseBlockPanels panels at a time, rows kLseBlockRows at a time: one
// part of the work each. Within a block a row keeps its running max m and, for each column
// of a panel, the sum of exp(z - m) over the block's panels; a tile whose row max exceeds m
// first scales the sums by exp(m - new max). The blocks' (max, sum) pairs are combined in
// block order, so results depend on the shapes only.
constexpr std::int64_t kLseBlockPanels = 16;
constexpr std::int64_t kLseBlockRows = 256;

template <class T>
struct RowExpSums {
  T max = -std::numeric_limits<T>::infinity();
  T sums[kPanel<T>] = {};
};

// One panel's columns for the rows of a tile: where they start, and the bias to add (zero
// without one, -inf past the product's last column, so that those add exp(-inf) = 0).
template <class T>
struct LsePanel {
  typename VectorOf<T>::type bias_lo, bias_hi;
  std::int64_t col;
};

// Folds A's `Rows` rows times one panel into the rows' sums; picked[r] = z[r][target[r] -
// col] where the target lies in this panel.
template <class T, int Rows>
void lse_tile(std::int64_t k, const T* a, std::int64_t lda, const T* panel, const LsePanel<T>& at,
              RowExpSums<T>* rows, const std::int64_t* target, std::int64_t target_stride, T* picked) {
  using V = typename VectorOf<T>::type;
  constexpr std::int64_t lanes = kVectorBytes / sizeof(T), width = 2 * lanes;
  tile<T, Rows>(k, a, lda, panel, [&](int r, V lo, V hi) {
    lo += at.bias_lo, hi += at.bias_hi;
    T z[width];
    std::memcpy(z, &lo, sizeof(V));
    std::memcpy(z + lanes, &hi, sizeof(V));
    const std::int64_t j = target[r * target_stride] - at.col;
    if (j >= 0 && j < width) picked[r] = z[j];
    // The row's max, halving the values at each step (vectorises better than one running max).
    T half[width];
    std::memcpy(half, z, sizeof(z));
#pragma GCC unroll 8
    for (std::int64_t w = width / 2; w >= 1; w /= 2)
#pragma GCC unroll 32
      for (std::int64_t i = 0; i < w; ++i) half[i] = half[i + w] > half[i] ? half[i + w] : half[i];
    const T max = half[0];
    RowExpSums<T>& row = rows[r];
    if (max > row.max) {
      const T scale = exp_any(row.max - max);
      for (std::int64_t i = 0; i < width; ++i) row.sums[i] *= scale;
      row.max = max;
    }
    const T shift = row.max == -std::numeric_limits<T>::infinity() ? T(0) : row.max;  // all -inf so far: sums 0
    for (std::int64_t i = 0; i < width; ++i) row.sums[i] += exp_any(z[i] - shift);
  });
}

template <class T>
using LseTile = void (*)(std::int64_t, const T*, std::int64_t, const T*, const LsePanel<T>&, RowExpSums<T>*,
                         const std::int64_t*, std::int64_t, T*);
template <class T>
constexpr LseTile<T> kLseTiles[] = {nullptr,        lse_tile<T, 1>, lse_tile<T, 2>, lse_tile<T, 3>, lse_tile<T, 4>,
                                    lse_tile<T, 5>, lse_tile<T, 6>, lse_tile<T, 7>, lse_tile<T, 8>};

}  // namespace

template <class T>
std::int64_t packed_panel_width() {
  return kPanel<T>;
}

template <class T>
std::int64_t packed_size(std::int64_t k, std::int64_t n) {
  return k * ((n + kPanel<T> - 1) / kPanel<T>) * kPanel<T>;
}

namespace {

// Panels [first, last) of op(B)'s packed form (see pack_matrix).
template <class T>
void pack_panels(bool trans, std::int64_t k, std::int64_t n, const T* b, std::int64_t ldb, T* storage,
                 std::int64_t first, std::int64_t last) {
  constexpr std::int64_t width = kPanel<T>;
  for (std::int64_t panel = first; panel < last; ++panel) {
    T* out = storage + panel * k * width;
    const std::int64_t col = panel * width, cols = std::min(width, n - col);
    if (cols < width) std::fill(out, out + k * width, T(0));
    if (trans)  // column j of op(B) is row j of B: read along it
      for (std::int64_t j = 0; j < cols; ++j)
        for (std::int64_t i = 0; i < k; ++i) out[i * width + j] = b[(col + j) * ldb + i];
    else
      for (std::int64_t i = 0; i < k; ++i) std::memcpy(out + i * width, b + i * ldb + col, sizeof(T) * cols);
  }
}

// f(first, last) over the panels of an m x k by k x n product, in parts over the pool: up
// to four a thread, claimed as threads come free, so that a thread the system slows
// (another process on its core) holds back a quarter of its share, not all of it.
template <class F>
void over_panels(std::int64_t m, std::int64_t k, std::int64_t n, std::int64_t panels, const F& f) {
  const int parts =
      static_cast<int>(std::min<std::int64_t>({4 * get_num_threads(), panels, m * n * k / (kSplitGemmWork / 2)}));
  if (parts <= 1) return f(0, panels);
  thread_pool().run(parts, [&](int part) { f(panels * part / parts, panels * (part + 1) / parts); });
}

}  // namespace

template <class T>
PackedMatrix<T> pack_matrix(bool trans, std::int64_t k, std::int64_t n, const T* b, std::int64_t ldb, T* storage) {
  // Split as a product of one row would be: k n copies.
  over_panels(1, k, n, (n + kPanel<T> - 1) / kPanel<T>, [&](std::int64_t first, std::int64_t last) {
    pack_panels(trans, k, n, b, ldb, storage, first, last);
  });
  return {k, n, storage};
}

template <class T>
void gemm_packed(std::int64_t m, const T* a, std::int64_t lda, const PackedMatrix<T>& p, bool accumulate,
                 const T* bias, T* c, std::int64_t ldc) {
  over_panels(m, p.k, p.n, (p.n + kPanel<T> - 1) / kPanel<T>, [&](std::int64_t first, std::int64_t last) {
    product_panels(m, a, lda, p, accumulate, bias, c, ldc, first, last);
  });
}

template <class T>
void gemm_packing(std::int64_t m, const T* a, std::int64_t lda, bool trans, std::int64_t k, std::int64_t n,
                  const T* b, std::int64_t ldb, bool accumulate, const T* bias, T* c, std::int64_t ldc) {
  thread_local std::vector<T> storage;  // this thread's: its parts see it through `packed`
  storage.resize(static_cast<std::size_t>(packed_size<T>(k, n)));
  T* packed = storage.data();
  const PackedMatrix<T> p{k, n, packed};
  over_panels(m, k, n, (n + kPanel<T> - 1) / kPanel<T>, [&](std::int64_t first, std::int64_t last) {
    pack_panels(trans, k, n, b, ldb, packed, first, last);
    product_panels(m, a, lda, p, accumulate, bias, c, ldc, first, last);
  });
}

template <class T>
void packed_log_sum_exp(std::int64_t m, const T* a, std::int64_t lda, const PackedMatrix<T>& p, const T* bias,
                        const std::int64_t* target, std::int64_t target_stride, T* lse, T* picked) {
  constexpr std::int64_t width = kPanel<T>;
  constexpr T inf = std::numeric_limits<T>::infinity();
  const std::int64_t panels = (p.n + width - 1) / width;
  const std::int64_t col_blocks = (panels + kLseBlockPanels - 1) / kLseBlockPanels;
  const std::int64_t row_blocks = (m + kLseBlockRows - 1) / kLseBlockRows;
  std::vector<T> block_max(static_cast<std::size_t>(col_blocks * m));
  std::vector<double> block_sum(block_max.size());
  const auto part = [&](std::int64_t index) {
    const std::int64_t first_row = index / col_blocks * kLseBlockRows, block = index % col_blocks;
    const std::int64_t rows = std::min(kLseBlockRows, m - first_row);
    RowExpSums<T> sums[kLseBlockRows];
    for (std::int64_t panel = block * kLseBlockPanels; panel < std::min(panels, (block + 1) * kLseBlockPanels);
         ++panel) {
      LsePanel<T> at;
      at.col = panel * width;
      const std::int64_t cols = std::min(width, p.n - at.col);
      panel_vectors<T>(bias ? bias + at.col : nullptr, cols, -inf, at.bias_lo, at.bias_hi);
      for (std::int64_t r = 0; r < rows; r += kTileRows) {
        const std::int64_t row = first_row + r;
        kLseTiles<T>[std::min<std::int64_t>(kTileRows, rows - r)](p.k, a + row * lda, lda, p.data + panel * p.k * width,
                                                                 at, sums + r, target + row * target_stride,
                                                                 target_stride, picked + row);
      }
    }
    for (std::int64_t r = 0; r < rows; ++r) {
      double sum = 0;
      for (const T s : sums[r].sums) sum += s;
      block_max[static_cast<std::size_t>(block * m + first_row + r)] = sums[r].max;
      block_sum[static_cast<std::size_t>(block * m + first_row + r)] = sum;
    }
  };
  const std::int64_t parts = row_blocks * col_blocks;
  if (parts == 1 || m * p.n * p.k < kSplitGemmWork) {
    for (std::int64_t index = 0; index < parts; ++index) part(index);
  } else {
    for (std::int64_t done = 0; done < parts; done += ThreadPool::kMaxJobParts) {
      const int job = static_cast<int>(std::min<std::int64_t>(ThreadPool::kMaxJobParts, parts - done));
      thread_pool().run(job, [&](int index) { part(done + index); });
    }
  }
  // lse = M + log(sum over blocks of sum_b exp(max_b - M)), M the largest block max.
  parallel_range(m, 2 * col_blocks, [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t i = begin; i < end; ++i) {
      T max = -inf;
      for (std::int64_t b = 0; b < col_blocks; ++b) max = std::max(max, block_max[static_cast<std::size_t>(b * m + i)]);
      double sum = 0;
      if (max != -inf)
        for (std::int64_t b = 0; b < col_blocks; ++b)
          sum += block_sum[static_cast<std::size_t>(b * m + i)] *
                 std::exp(static_cast<double>(block_max[static_cast<std::size_t>(b * m + i)]) - max);
      lse[i] = max == -inf ? -inf : max + static_cast<T>(std::log(sum));
    }
  });
}

template std::int64_t packed_panel_width<float>();
template std::int64_t packed_panel_width<double>();
template std::int64_t packed_size<float>(std::int64_t, std::int64_t);
template std::int64_t packed_size<double>(std::int64_t, std::int64_t);
template PackedMatrix<float> pack_matrix(bool, std::int64_t, std::int64_t, const float*, std::int64_t, float*);
template PackedMatrix<double> pack_matrix(bool, std::int64_t, std::int64_t, const double*, std::int64_t, double*);
template void gemm_packed(std::int64_t, const float*, std::int64_t, const PackedMatrix<float>&, bool, const float*,
                          float*, std::int64_t);
template void gemm_packed(std::int64_t, const double*, std::int64_t, const PackedMatrix<double>&, bool,
                          const double*, double*, std::int64_t);
template void gemm_packing(std::int64_t, const float*, std::int64_t, bool, std::int64_t, std::int64_t, const float*,
                           std::int64_t, bool, const float*, float*, std::int64_t);
template void packed_log_sum_exp(std::int64_t, const float*, std::int64_t, const PackedMatrix<float>&, const float*,
                                 const std::int64_t*, std::int64_t, float*, float*);
template void packed_log_sum_exp(std::int64_t, const double*, std::int64_t, const PackedMatrix<double>&,
                                 const double*, const std::int64_t*, std::int64_t, double*, double*);
template void gemm_packing(std::int64_t, const double*, std::int64_t, bool, std::int64_t, std::int64_t,
                           const double*, std::int64_t, bool, const double*, double*, std::int64_t);

}  // namespace recur::backend::cpu
