// The kernel of packed_gemm.hpp: GCC/Clang vector extensions, so that one source compiles to
// AVX-512, AVX or SSE registers as the build targets. The auto-vectoriser would not keep a
// tile of accumulators in registers across the k loop; written this way both compilers do.
#include "backend/cpu/packed_gemm.hpp"

#include <algorithm>
#include <cstring>
#include <vector>

#include "backend/cpu/loops.hpp"

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

// C's `rows` x `cols` block (cols <= the panel width) = A's rows times one panel, or += it,
// plus the block's bias (null: none).
//   acc[r][j] = sum over i of a[r][i] * panel[i][j], in order of i;  c[r][j] (+)= acc[r][j] + bias[j]
template <class T, int Rows>
void tile_kernel(std::int64_t k, const T* a, std::int64_t lda, const T* panel, bool accumulate, const T* bias, T* c,
                 std::int64_t ldc, std::int64_t cols) {
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
  V bias_lo{}, bias_hi{};
  if (bias) {
    T shift[width] = {};
    std::memcpy(shift, bias, sizeof(T) * cols);
    std::memcpy(&bias_lo, shift, sizeof(V));
    std::memcpy(&bias_hi, shift + lanes, sizeof(V));
  }
  for (int r = 0; r < Rows; ++r) {
    if (bias) lo[r] += bias_lo, hi[r] += bias_hi;
    T sum[width];
    std::memcpy(sum, &lo[r], sizeof(V));
    std::memcpy(sum + lanes, &hi[r], sizeof(V));
    T* row = c + r * ldc;
    if (accumulate)
      for (std::int64_t j = 0; j < cols; ++j) row[j] += sum[j];
    else if (cols == width)  // a whole panel: a copy of known size, inlined (not a call to memmove)
      std::memcpy(row, sum, sizeof(sum));
    else
      std::memcpy(row, sum, sizeof(T) * cols);
  }
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
  pack_panels(trans, k, n, b, ldb, storage, 0, (n + kPanel<T> - 1) / kPanel<T>);
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
template void gemm_packing(std::int64_t, const double*, std::int64_t, bool, std::int64_t, std::int64_t,
                           const double*, std::int64_t, bool, const double*, double*, std::int64_t);

}  // namespace recur::backend::cpu
