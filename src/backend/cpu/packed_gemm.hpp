// A matrix product for one right-hand matrix and many left-hand ones: a recurrent layer
// multiplies its W_hh by a new h(t-1) at every step. BLAS packs both operands again on every
// call, which for batch-sized products (32 x 128 by 128 x 512) costs a third of the call;
// here the right-hand matrix is packed once per sequence and each step runs only the
// register-tiled kernel (docs/BENCHMARKS.md, "Recurrent steps on pre-packed weights").
//
// Layout: op(B) (k x n) in panels of w = packed_panel_width<T>() columns (two vector
// registers, which the library's compile flags decide: nothing here is inline, so code
// built with other flags agrees); panel p holds columns [p w, p w + w) as k rows of w
// contiguous values, the last panel padded with zeros. Results do not depend on the thread count (a part is a set of whole panels,
// and each output value sums over k in order).
#pragma once

#include <cstdint>

namespace recur::backend::cpu {

template <class T>
struct PackedMatrix {
  std::int64_t k = 0, n = 0;
  const T* data = nullptr;  // packed_size<T>(k, n) values
};

template <class T>
std::int64_t packed_panel_width();

// Values the packed form of a k x n matrix needs.
template <class T>
std::int64_t packed_size(std::int64_t k, std::int64_t n);

// Packs op(B), a k x n matrix: B is stored k x n (trans false) or n x k (trans true) with
// row stride ldb. Requires: `storage` holds packed_size<T>(k, n) values. The result points
// into `storage`.
template <class T>
PackedMatrix<T> pack_matrix(bool trans, std::int64_t k, std::int64_t n, const T* b, std::int64_t ldb, T* storage);

// C (m x n, row stride ldc) = A (m x k, row stride lda) P, or C += A P when `accumulate`,
// plus bias (null, or n values) on every row; over the thread pool when the product is
// large enough. Requires: p.k == k >= 1.
template <class T>
void gemm_packed(std::int64_t m, const T* a, std::int64_t lda, const PackedMatrix<T>& p, bool accumulate,
                 const T* bias, T* c, std::int64_t ldc);

// The same product for a B used once: each part of the pool packs its own panels of op(B)
// (stored as pack_matrix's b) into scratch memory of the calling thread, then multiplies
// them. Requires k >= 1.
template <class T>
void gemm_packing(std::int64_t m, const T* a, std::int64_t lda, bool trans, std::int64_t k, std::int64_t n,
                  const T* b, std::int64_t ldb, bool accumulate, const T* bias, T* c, std::int64_t ldc);

// For each row i of Z = A P + bias (m x p.n, bias null or p.n values), never stored:
// lse[i] = log(sum_j exp(Z[i, j])), and picked[i] = Z[i, target[i * target_stride]] as
// gemm_packed rounds it, where that target is in [0, p.n) (other entries of picked are not
// written). The sums run in other orders than a log-softmax of the stored Z, so lse agrees
// with it to rounding, not bitwise. A row of -inf values gets -inf; one with NaN or +inf,
// NaN. Over the thread pool when large enough; results depend on the shapes only, never on
// the thread count. Requires p.k == k >= 1.
template <class T>
void packed_log_sum_exp(std::int64_t m, const T* a, std::int64_t lda, const PackedMatrix<T>& p, const T* bias,
                        const std::int64_t* target, std::int64_t target_stride, T* lse, T* picked);

}  // namespace recur::backend::cpu
