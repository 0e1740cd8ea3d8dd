// The one GEMM entry point: cuBLAS sgemm / dgemm (strided-batched for batch > 1) on the
// backend's stream, in full float32 precision (the handle's math mode is
// CUBLAS_DEFAULT_MATH: no TF32).
//
// cuBLAS is column-major. A row-major matrix X with leading dimension ld is, read
// column-major with the same ld, X^T. So row-major C = op(A) op(B) is column-major
// C^T = op(B)^T op(A)^T: cuBLAS gets (B, A) swapped, n and m swapped, and each operand's
// own transpose flag.
#include <limits>

#include "backend/cuda/cuda_common.cuh"

namespace recur::backend {
namespace {

using namespace cuda;

// cuBLAS rejects a leading dimension below the row length even for a single row (where it
// is never used); the CPU backend raises it the same way.
std::int64_t fix_ld(std::int64_t ld, std::int64_t rows, std::int64_t cols) {
  std::int64_t least = std::max<std::int64_t>(cols, 1);
  return rows <= 1 && ld < least ? least : ld;
}

// C = beta C + bias (beta == 0 ignores NaN in C; bias null: none) on every row of every
// product: all of a product with k == 0, and the bias before cuBLAS adds the rest.
template <class T>
__global__ void scale_c_kernel(std::int64_t batch, std::int64_t m, std::int64_t n, T beta, T* c, std::int64_t ldc,
                               std::int64_t sc, const T* bias) {
  const std::int64_t total = batch * m * n;
  const std::int64_t step = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < total; i += step) {
    const std::int64_t j = i % n, r = i / n % m, p = i / (m * n);
    T* e = c + p * sc + r * ldc + j;
    *e = (beta == T(0) ? T(0) : beta * *e) + (bias ? bias[j] : T(0));
  }
}

int to_int(std::int64_t v, const char* what) {
  RECUR_CHECK(v >= 0 && v <= std::numeric_limits<int>::max(),
              "cuda gemm: " << what << " = " << v << " exceeds cuBLAS's 32-bit range");
  return static_cast<int>(v);
}

cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t opb, cublasOperation_t opa, int n, int m, int k,
                         const float* alpha, const float* b, int ldb, long long sb, const float* a, int lda,
                         long long sa, const float* beta, float* c, int ldc, long long sc, int batch) {
  if (batch == 1) return cuda::cublas().sgemm(h, opb, opa, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
  return cuda::cublas().sgemm_strided_batched(h, opb, opa, n, m, k, alpha, b, ldb, sb, a, lda, sa, beta, c, ldc, sc, batch);
}

cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t opb, cublasOperation_t opa, int n, int m, int k,
                         const double* alpha, const double* b, int ldb, long long sb, const double* a, int lda,
                         long long sa, const double* beta, double* c, int ldc, long long sc, int batch) {
  if (batch == 1) return cuda::cublas().dgemm(h, opb, opa, n, m, k, alpha, b, ldb, a, lda, beta, c, ldc);
  return cuda::cublas().dgemm_strided_batched(h, opb, opa, n, m, k, alpha, b, ldb, sb, a, lda, sa, beta, c, ldc, sc, batch);
}

template <class T>
void gemm_typed(cudaStream_t stream, cublasHandle_t handle, bool ta, bool tb, std::int64_t m, std::int64_t n,
                std::int64_t k, double alpha_d, const T* a, std::int64_t lda, const T* b, std::int64_t ldb,
                double beta_d, T* c, std::int64_t ldc, std::int64_t batch, std::int64_t sa, std::int64_t sb,
                std::int64_t sc, const T* bias) {
  const T alpha = static_cast<T>(alpha_d);
  T beta = static_cast<T>(beta_d);
  if (k == 0 || bias) {
    scale_c_kernel<T><<<grid_for(batch * m * n), kThreads, 0, stream>>>(batch, m, n, beta, c, ldc, sc, bias);
    RECUR_CUDA_LAUNCH_CHECK();
    if (k == 0) return;
    beta = T(1);  // the products add to beta C + bias
  }
  // Stored layouts: A is m x k (or k x m transposed), B is k x n (or n x k).
  lda = ta ? fix_ld(lda, k, m) : fix_ld(lda, m, k);
  ldb = tb ? fix_ld(ldb, n, k) : fix_ld(ldb, k, n);
  ldc = fix_ld(ldc, m, n);
  const cublasOperation_t opa = ta ? CUBLAS_OP_T : CUBLAS_OP_N, opb = tb ? CUBLAS_OP_T : CUBLAS_OP_N;
  // cuBLAS takes at most 2^31 - 1 products per call.
  const std::int64_t kMaxBatch = std::numeric_limits<int>::max();
  for (std::int64_t p0 = 0; p0 < batch; p0 += kMaxBatch) {
    const std::int64_t count = std::min(kMaxBatch, batch - p0);
    RECUR_CUBLAS_CHECK(gemm_call(handle, opb, opa, to_int(n, "n"), to_int(m, "m"), to_int(k, "k"), &alpha,
                                 b + p0 * sb, to_int(ldb, "ldb"), sb, a + p0 * sa, to_int(lda, "lda"), sa, &beta,
                                 c + p0 * sc, to_int(ldc, "ldc"), sc, static_cast<int>(count)));
  }
}

}  // namespace

void CudaBackend::gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
                       const void* a, std::int64_t lda, const void* b, std::int64_t ldb, double beta, void* c,
                       std::int64_t ldc, DType dtype, std::int64_t batch, std::int64_t stride_a,
                       std::int64_t stride_b, std::int64_t stride_c, const void* bias) {
  if (m <= 0 || n <= 0 || batch <= 0) return;
  DeviceGuard guard(device_);
  if (dtype == DType::Float64) {
    gemm_typed<double>(stream_, cublas_, trans_a, trans_b, m, n, k, alpha, static_cast<const double*>(a), lda,
                       static_cast<const double*>(b), ldb, beta, static_cast<double*>(c), ldc, batch, stride_a,
                       stride_b, stride_c, static_cast<const double*>(bias));
  } else {
    RECUR_CHECK(dtype == DType::Float32, "cuda gemm: dtype " << dtype << " is not supported");
    gemm_typed<float>(stream_, cublas_, trans_a, trans_b, m, n, k, alpha, static_cast<const float*>(a), lda,
                      static_cast<const float*>(b), ldb, beta, static_cast<float*>(c), ldc, batch, stride_a,
                      stride_b, stride_c, static_cast<const float*>(bias));
  }
}

}  // namespace recur::backend
