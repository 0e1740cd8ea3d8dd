// The backend's GEMM entry point: OpenBLAS's cblas_sgemm / cblas_dgemm, called directly on
// the caller's buffers (no packing or copies of our own; OpenBLAS packs internally), except
// for products by a constant weight (below). The one other product is packed_gemm.hpp's, for
// a recurrent layer's W_hh reused at every step.
//
// OpenBLAS runs single-threaded (threading.cpp); the thread pool splits the work instead, so
// that a busy machine slows a product down to one thread's speed and no further
// (thread_pool.hpp). A large product is split into blocks of C's columns, or of its rows
// when it has more rows, one serial BLAS call each; a batch of small products goes out one
// product per call.
#include <cblas.h>
#include <omp.h>

#include <algorithm>
#include <cctype>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"
#include "backend/cpu/packed_gemm.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

// BLAS rejects a leading dimension below the row length even when there is one row
// (the value is then never used); callers deriving ld from strides of a size-1 dim can
// produce that, so raise it to the minimum where it cannot matter.
std::int64_t fix_ld(std::int64_t ld, std::int64_t rows, std::int64_t cols) {
  std::int64_t least = std::max<std::int64_t>(cols, 1);
  return rows <= 1 && ld < least ? least : ld;
}

// A product with one row of output (batch-1 inference: x W^T) as a matrix-vector product:
// GEMM would pack all of B for one row, which costs more than the product itself.
//   row c (1 x n, stride inc_c) = alpha a op(B) + beta c  <=>  c^T = alpha op(B)^T a^T + beta c^T
// One column of output (an additive attention's scores, where the packed kernel would fill
// a panel of 32 columns) is the same problem transposed: c^T = b^T op(A)^T, b op(B)'s column.
// beta == 0 must ignore c's old contents (possibly NaN) as GEMM does, so c is zeroed first.
template <class T>
void gemv_row(bool ta, bool tb, std::int64_t n, std::int64_t k, T alpha, const T* a, std::int64_t lda, const T* b,
              std::int64_t ldb, T beta, T* c, std::int64_t inc_c) {
  if (beta == T(0))
    for (std::int64_t j = 0; j < n; ++j) c[j * inc_c] = T(0);
  const blasint inc_a = static_cast<blasint>(ta ? lda : 1);
  // B stored n x k (tb): c = B a; stored k x n: c = B^T a.
  const CBLAS_TRANSPOSE op = tb ? CblasNoTrans : CblasTrans;
  const blasint rows = static_cast<blasint>(tb ? n : k), cols = static_cast<blasint>(tb ? k : n);
  const blasint inc = static_cast<blasint>(inc_c);
  if constexpr (sizeof(T) == 4)
    cblas_sgemv(CblasRowMajor, op, rows, cols, alpha, b, static_cast<blasint>(ldb), a, inc_a, beta, c, inc);
  else
    cblas_dgemv(CblasRowMajor, op, rows, cols, alpha, b, static_cast<blasint>(ldb), a, inc_a, beta, c, inc);
}

// OpenBLAS's OpenMP build sizes its team from the calling thread's omp_get_max_threads()
// at every call (0.3.21's num_cpu_avail; openblas_set_num_threads does not hold it), and
// each thread has its own setting: every thread that calls BLAS sets its own to 1, once.
void keep_blas_serial_on_this_thread() {
  thread_local const bool serial = [] {
    omp_set_num_threads(1);
    return true;
  }();
  (void)serial;
}

template <class T>
void gemm_one(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
              std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  keep_blas_serial_on_this_thread();
  if (m == 1) return gemv_row(ta, tb, n, k, alpha, a, lda, b, ldb, beta, c, 1);
  // c^T (1 x m) = b^T op(A)^T: b's column is stored along ldb unless tb, A^T's rows along lda.
  if (n == 1) return gemv_row(!tb, !ta, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
  const CBLAS_TRANSPOSE opa = ta ? CblasTrans : CblasNoTrans, opb = tb ? CblasTrans : CblasNoTrans;
  if constexpr (sizeof(T) == 4) {
    cblas_sgemm(CblasRowMajor, opa, opb, static_cast<blasint>(m), static_cast<blasint>(n),
                static_cast<blasint>(k), alpha, a, static_cast<blasint>(lda), b, static_cast<blasint>(ldb),
                beta, c, static_cast<blasint>(ldc));
  } else {
    cblas_dgemm(CblasRowMajor, opa, opb, static_cast<blasint>(m), static_cast<blasint>(n),
                static_cast<blasint>(k), alpha, a, static_cast<blasint>(lda), b, static_cast<blasint>(ldb),
                beta, c, static_cast<blasint>(ldc));
  }
}

// One product over the thread pool, in blocks of 16 columns (a cache line of floats) or
// rows of C, at least kSplitGemmWork / 2 multiply-adds each. Every part covers the whole of
// k, and the blocks depend only on the shape and the thread count.
template <class T>
void gemm_split(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, T alpha, const T* a,
                std::int64_t lda, const T* b, std::int64_t ldb, T beta, T* c, std::int64_t ldc) {
  constexpr std::int64_t kBlock = 16;
  const bool by_columns = n >= m;
  const std::int64_t extent = by_columns ? n : m, blocks = (extent + kBlock - 1) / kBlock;
  const int parts = static_cast<int>(std::min<std::int64_t>({get_num_threads(), blocks, m * n * k / (kSplitGemmWork / 2)}));
  if (parts <= 1) return gemm_one<T>(ta, tb, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc);
  thread_pool().run(parts, [&](int part) {
    const std::int64_t lo = std::min(extent, blocks * part / parts * kBlock);
    const std::int64_t hi = std::min(extent, blocks * (part + 1) / parts * kBlock);
    if (hi <= lo) return;
    if (by_columns)  // C[:, lo:hi] = A op(B)[:, lo:hi]
      gemm_one<T>(ta, tb, m, hi - lo, k, alpha, a, lda, tb ? b + lo * ldb : b + lo, ldb, beta, c + lo, ldc);
    else  // C[lo:hi, :] = op(A)[lo:hi, :] B
      gemm_one<T>(ta, tb, hi - lo, n, k, alpha, ta ? a + lo : a + lo * lda, lda, b, ldb, beta, c + lo * ldc, ldc);
  });
}

// ---- Products by constant weights (ConstantWeightsGuard)
//
// A product with few rows (a decoder step: 32 x 384 by 384 x 1024) spends a third of its
// BLAS call packing B. When B lies in a weight that a guard declared constant, its packed
// form is made once, kept until the guard ends, and each product runs packed_gemm's kernel
// alone (docs/BENCHMARKS.md, "Packed constant weights"). With hundreds of rows BLAS's packing
// is a small part of the call, and past kMaxPackedRows its kernel is as fast as ours, where
// it has one for the CPU's widest vectors: OpenBLAS 0.3.21 (Debian 12) does not know AMD's
// Zen 4 and runs its AVX2 (Haswell) kernels there, at under half the speed of our AVX-512
// one at any size (docs/BENCHMARKS.md, "Tagger predict past 3x").
constexpr std::int64_t kMaxPackedRows = 512;
constexpr std::int64_t kMaxPackingDepth = 1024;

// Whether packed_gemm's kernel is the faster one for products of any number of rows: built
// for AVX-512 while BLAS runs narrower kernels.
bool packs_every_product() {
#if defined(__AVX512F__)
  static const bool faster = [] {
    std::string core = openblas_get_corename();  // "Haswell", "SkylakeX", ...
    for (char& c : core) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    for (const char* wide : {"skylakex", "cooperlake", "sapphirerapids"})
      if (core.find(wide) != std::string::npos) return false;
    return true;
  }();
  return faster;
#else
  return false;
#endif
}

struct WeightPack {
  // op(B) as gemm saw it.
  const void* b;
  bool trans;
  std::int64_t k, n, ldb;
  DType dtype;
  std::size_t scope;            // the guard whose weight holds B: the pack ends with it
  std::uint64_t version;        // the weight's storage version when packed
  std::vector<std::byte> data;  // packed_size(k, n) values
};

struct ConstantWeights {
  std::vector<std::vector<Tensor>> scopes;  // each open guard's weights, outermost first
  std::vector<WeightPack> packs;
  int ignored = 0;  // live IgnoreConstantWeights
};

thread_local ConstantWeights t_constant;

// The packed form of op(B), a k x n matrix (stored k x n, or n x k when trans, rows ldb
// apart), when B lies inside a constant weight of this thread; made or remade (the weight
// was written since) as needed.
template <class T>
std::optional<PackedMatrix<T>> constant_pack(bool trans, std::int64_t k, std::int64_t n, const T* b,
                                             std::int64_t ldb) {
  constexpr DType dtype = sizeof(T) == 4 ? DType::Float32 : DType::Float64;
  const std::int64_t rows = trans ? n : k, cols = trans ? k : n;
  const T* end = b + (rows - 1) * ldb + cols;
  for (std::size_t scope = 0; scope < t_constant.scopes.size(); ++scope)
    for (const Tensor& w : t_constant.scopes[scope]) {
      const T* first = static_cast<const T*>(w.raw_data());
      if (w.dtype() != dtype || b < first || end > first + w.numel()) continue;
      const std::uint64_t version = w.storage()->version();
      WeightPack* pack = nullptr;
      for (WeightPack& p : t_constant.packs)
        if (p.b == b && p.trans == trans && p.k == k && p.n == n && p.ldb == ldb && p.dtype == dtype) pack = &p;
      if (!pack) {
        // One version behind, so that it is packed below.
        const std::size_t bytes = static_cast<std::size_t>(packed_size<T>(k, n)) * sizeof(T);
        pack = &t_constant.packs.emplace_back(WeightPack{.b = b, .trans = trans, .k = k, .n = n, .ldb = ldb,
                                                         .dtype = dtype, .scope = scope, .version = version - 1,
                                                         .data = std::vector<std::byte>(bytes)});
      }
      T* packed = reinterpret_cast<T*>(pack->data.data());
      if (pack->version != version) {
        pack_matrix<T>(trans, k, n, b, ldb, packed);
        pack->version = version;
      }
      return PackedMatrix<T>{k, n, packed};
    }
  return std::nullopt;
}

// C = beta * C + bias (null: none) on every row: all of a product with an empty inner
// dimension (k == 0), which BLAS may reject via lda, and the bias before BLAS adds the rest.
template <class T>
void scale_c(std::int64_t m, std::int64_t n, T beta, T* c, std::int64_t ldc, const T* bias) {
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j)
      c[i * ldc + j] = (beta == T(0) ? T(0) : beta * c[i * ldc + j]) + (bias ? bias[j] : T(0));
}

template <class T>
void gemm_typed(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, double alpha_d, const T* a,
                std::int64_t lda, const T* b, std::int64_t ldb, double beta_d, T* c, std::int64_t ldc,
                std::int64_t batch, std::int64_t sa, std::int64_t sb, std::int64_t sc, const T* bias) {
  const T alpha = static_cast<T>(alpha_d);
  T beta = static_cast<T>(beta_d);
  if (k == 0) {
    for (std::int64_t p = 0; p < batch; ++p) scale_c(m, n, beta, c + p * sc, ldc, bias);
    return;
  }
  // Stored layouts: A is m x k (or k x m transposed), B is k x n (or n x k).
  lda = ta ? fix_ld(lda, k, m) : fix_ld(lda, m, k);
  ldb = tb ? fix_ld(ldb, n, k) : fix_ld(ldb, k, n);
  ldc = fix_ld(ldc, m, n);
  if (batch == 1 && !ta && n > 1 && alpha == T(1) && (beta == T(0) || beta == T(1))) {
    if ((m <= kMaxPackedRows || packs_every_product()) && !t_constant.scopes.empty() && t_constant.ignored == 0)
      if (std::optional<PackedMatrix<T>> packed = constant_pack<T>(tb, k, n, b, ldb))
        return gemm_packed<T>(m, a, lda, *packed, beta == T(1), bias, c, ldc);
    // Where our kernel beats BLAS's at any size, it takes the other products with many rows
    // too, packing B for this one (BLAS would pack it as well); but not long sums (a weight
    // gradient's, k in the thousands), where BLAS's sums over blocks of k round less than
    // our one running sum per output.
    if (m > kMaxPackedRows && k <= kMaxPackingDepth && packs_every_product())
      return gemm_packing<T>(m, a, lda, tb, k, n, b, ldb, beta == T(1), bias, c, ldc);
  }
  if (bias) {  // C = beta C + bias first, then the products add to it
    for (std::int64_t p = 0; p < batch; ++p) scale_c(m, n, beta, c + p * sc, ldc, bias);
    beta = T(1);
  }
  const std::int64_t work = m * n * k;  // multiply-adds of one product
  if (batch > 1 && work < kSplitGemmWork) {
    const int parts = static_cast<int>(std::min<std::int64_t>({get_num_threads(), batch, batch * work / kSplitGemmWork}));
    const auto products = [&](int part) {
      for (std::int64_t p = batch * part / parts; p < batch * (part + 1) / parts; ++p)
        gemm_one<T>(ta, tb, m, n, k, alpha, a + p * sa, lda, b + p * sb, ldb, beta, c + p * sc, ldc);
    };
    if (parts > 1) return thread_pool().run(parts, products);
  }
  for (std::int64_t p = 0; p < batch; ++p)
    gemm_split<T>(ta, tb, m, n, k, alpha, a + p * sa, lda, b + p * sb, ldb, beta, c + p * sc, ldc);
}

}  // namespace

void CpuBackend::gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
                      const void* a, std::int64_t lda, const void* b, std::int64_t ldb, double beta, void* c,
                      std::int64_t ldc, DType dtype, std::int64_t batch, std::int64_t stride_a,
                      std::int64_t stride_b, std::int64_t stride_c, const void* bias) {
  if (m <= 0 || n <= 0 || batch <= 0) return;
  if (dtype == DType::Float64) {
    gemm_typed<double>(trans_a, trans_b, m, n, k, alpha, static_cast<const double*>(a), lda,
                       static_cast<const double*>(b), ldb, beta, static_cast<double*>(c), ldc, batch, stride_a,
                       stride_b, stride_c, static_cast<const double*>(bias));
  } else {
    gemm_typed<float>(trans_a, trans_b, m, n, k, alpha, static_cast<const float*>(a), lda,
                      static_cast<const float*>(b), ldb, beta, static_cast<float*>(c), ldc, batch, stride_a,
                      stride_b, stride_c, static_cast<const float*>(bias));
  }
}

namespace {

// The logits' log-sum-exp folded in as packed_gemm's kernel makes them, never stored (with a
// large vocabulary they would be written to memory and read back twice).
template <class T>
void linear_cross_entropy_typed(const View& loss, const View& x, const View& weight, const View& bias,
                                const View& target, std::int64_t ignore_index) {
  const std::int64_t n = x.shape[0], k = x.shape[1], classes = weight.shape[0];
  const T* w = typed<const T>(weight);
  std::optional<PackedMatrix<T>> packed;
  if (t_constant.ignored == 0) packed = constant_pack<T>(true, k, classes, w, k);
  thread_local std::vector<T> storage;
  if (!packed) {
    storage.resize(static_cast<std::size_t>(packed_size<T>(k, classes)));
    packed = pack_matrix<T>(true, k, classes, w, k, storage.data());
  }
  const std::int64_t* t = typed<const std::int64_t>(target);
  const std::int64_t ts = target.strides[0];
  std::vector<T> lse(static_cast<std::size_t>(n)), picked(static_cast<std::size_t>(n));
  packed_log_sum_exp<T>(n, typed<const T>(x), k, *packed, bias.data ? typed<const T>(bias) : nullptr, t, ts,
                        lse.data(), picked.data());
  T* l = typed<T>(loss);
  for (std::int64_t i = 0; i < n; ++i) {
    const auto row = static_cast<std::size_t>(i);
    l[i * loss.strides[0]] = t[i * ts] == ignore_index ? T(0) : lse[row] - picked[row];
  }
}

}  // namespace

void CpuBackend::linear_cross_entropy(const View& loss, const View& x, const View& weight, const View& bias,
                                      const View& target, std::int64_t ignore_index) {
  if (x.shape[0] == 0) return;
  if (x.shape[1] == 0) return Backend::linear_cross_entropy(loss, x, weight, bias, target, ignore_index);
  if (x.dtype == DType::Float64) return linear_cross_entropy_typed<double>(loss, x, weight, bias, target, ignore_index);
  linear_cross_entropy_typed<float>(loss, x, weight, bias, target, ignore_index);
}

// Contiguous floating weights only: constant_pack finds B by address range.
void CpuBackend::begin_constant_weights(const std::vector<Tensor>& weights) {
  std::vector<Tensor>& scope = t_constant.scopes.emplace_back();
  for (const Tensor& w : weights)
    if (w.defined() && w.is_contiguous() && (w.dtype() == DType::Float32 || w.dtype() == DType::Float64))
      scope.push_back(w);
}

void CpuBackend::end_constant_weights() {
  if (t_constant.scopes.empty()) return;
  t_constant.scopes.pop_back();
  std::erase_if(t_constant.packs, [](const WeightPack& p) { return p.scope >= t_constant.scopes.size(); });
}

IgnoreConstantWeights::IgnoreConstantWeights() { ++t_constant.ignored; }
IgnoreConstantWeights::~IgnoreConstantWeights() { --t_constant.ignored; }

}  // namespace recur::backend
