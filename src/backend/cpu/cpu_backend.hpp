// The CPU backend: every kernel of backend::Backend for float32 and float64 (and int64
// where the interface says so), on host memory with any strides.
//
// Kernels are spread over the files of this folder by kind (memory, elementwise, reduce,
// softmax, index, loss, gemm, conv, pool, batch_norm, optim, random). They vectorise through
// plain loops over contiguous runs (see loops.hpp, vec_math.hpp) and use the thread pool
// (thread_pool.hpp) only above kParallelGrain elements. GEMM is OpenBLAS's single-threaded
// cblas_sgemm/dgemm on the caller's buffers, split over the pool (gemm.cpp); the recurrent
// layers' per-step products use a kernel of our own on weights packed once (packed_gemm.hpp).
#pragma once

#include "backend/backend.hpp"

namespace recur::backend {

class CpuBackend final : public Backend {
 public:
  Allocator& allocator() override;
  void copy_from_host(void* dst, const void* host_src, std::size_t nbytes) override;
  void copy_to_host(void* host_dst, const void* src, std::size_t nbytes) override;
  void synchronize() override {}

  void copy(const View& dst, const View& src) override;
  void fill(const View& dst, double value) override;

  void unary(UnaryOp op, const View& dst, const View& src, Scalars s) override;
  void binary(BinaryOp op, const View& dst, const View& a, const View& b, Scalars s) override;

  void reduce(ReduceOp op, const View& dst, const View& src) override;
  void arg_reduce(bool is_max, const View& values, const View& indices, const View& src, int dim) override;
  void int_min_max(const View& dst, const View& src) override;

  void softmax(const View& dst, const View& src, int dim, bool log) override;
  void softmax_backward(const View& dx, const View& dy, const View& y, int dim, bool log) override;

  void index_select(const View& dst, const View& src, int dim, const View& index) override;
  void index_add(const View& dst, int dim, const View& index, const View& src) override;
  void gather(const View& dst, const View& src, int dim, const View& index) override;
  void scatter_add(const View& dst, int dim, const View& index, const View& src) override;

  void nll_loss(const View& loss, const View& logp, const View& target, std::int64_t ignore_index) override;
  void nll_loss_backward(const View& dlogp, const View& grad, const View& target,
                         std::int64_t ignore_index) override;
  void cross_entropy(const View& loss, const View& logits, const View& target, std::int64_t ignore_index) override;
  void linear_cross_entropy(const View& loss, const View& x, const View& weight, const View& bias, const View& target,
                            std::int64_t ignore_index) override;
  void attention_read(const View& context, const View& weights, const View& query, const View& keys,
                      const View& projected, const View& v, const View& mask, const View& sources) override;

  void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k, double alpha,
            const void* a, std::int64_t lda, const void* b, std::int64_t ldb, double beta, void* c,
            std::int64_t ldc, DType dtype, std::int64_t batch = 1, std::int64_t stride_a = 0,
            std::int64_t stride_b = 0, std::int64_t stride_c = 0, const void* bias = nullptr) override;
  void begin_constant_weights(const std::vector<Tensor>& weights) override;
  void end_constant_weights() override;

  void conv2d(const View& out, const View& input, const View& weight, const View& bias, const Window2d& w) override;
  void conv2d_backward(const View& grad_input, const View& grad_weight, const View& grad_bias, const View& grad_out,
                       const View& input, const View& weight, const Window2d& w) override;

  void max_pool2d(const View& out, const View& indices, const View& input, const Window2d& w) override;
  void max_pool2d_backward(const View& grad_input, const View& grad_out, const View& indices,
                           const Window2d& w) override;
  void avg_pool2d(const View& out, const View& input, const Window2d& w, bool count_include_pad) override;
  void avg_pool2d_backward(const View& grad_input, const View& grad_out, const Window2d& w,
                           bool count_include_pad) override;

  void batch_norm_stats(const View& mean, const View& invstd, const View& input, const View& running_mean,
                        const View& running_var, bool training, double momentum, double eps) override;
  void batch_norm(const View& out, const View& input, const View& mean, const View& invstd, const View& weight,
                  const View& bias) override;
  void batch_norm_backward(const View& grad_input, const View& grad_weight, const View& grad_bias,
                           const View& grad_out, const View& input, const View& mean, const View& invstd,
                           const View& weight, bool training) override;
  void sgd_step(const View& param, const View& grad, const View& momentum_buffer, const SgdStep& s) override;
  void adagrad_step(const View& param, const View& grad, const View& sum, const AdagradStep& s) override;
  void rmsprop_step(const View& param, const View& grad, const View& square_avg, const View& grad_avg,
                    const View& momentum_buffer, const RmspropStep& s) override;
  void adam_step(const View& param, const View& grad, const View& exp_avg, const View& exp_avg_sq,
                 const View& max_exp_avg_sq, const AdamStep& s) override;
  void norm(const View& dst, const View& src, double p) override;
  std::int64_t rnn_saved_size(const RnnDims& d) override;
  std::int64_t rnn_forward_workspace(const RnnDims& d) override;
  std::int64_t rnn_backward_workspace(const RnnDims& d) override;
  std::int64_t rnn_step_workspace(const RnnDims& d) override;
  void rnn_forward(const RnnDims& d, const RnnWeights& w, const RnnForwardBuffers& f) override;
  void rnn_backward(const RnnDims& d, const RnnWeights& w, const RnnBackwardBuffers& b) override;
  void rnn_forward_all(std::span<const RnnForwardCall> calls) override;
  void rnn_backward_all(std::span<const RnnBackwardCall> calls) override;
  void rnn_step(const RnnDims& d, const RnnWeights& w, const void* input, void* h, void* c,
                void* workspace, const void* added,
                const std::int64_t* added_rows) override;

  void fill_uniform(const View& dst, double low, double high, std::uint64_t key, std::uint64_t first_block) override;
  void fill_normal(const View& dst, double mean, double stddev, std::uint64_t key, std::uint64_t first_block) override;
  void fill_bernoulli(const View& dst, double p, std::uint64_t key, std::uint64_t first_block) override;
};

// The process's one CPU backend.
CpuBackend& cpu_backend();

// While one lives, the products of this thread ignore its constant weights (which only the
// thread that declared them sees): for work that may run on any thread, whose rounding would
// otherwise depend on the thread that ran it.
class IgnoreConstantWeights {
 public:
  IgnoreConstantWeights();
  ~IgnoreConstantWeights();
  IgnoreConstantWeights(const IgnoreConstantWeights&) = delete;
  IgnoreConstantWeights& operator=(const IgnoreConstantWeights&) = delete;
};

}  // namespace recur::backend
