// The kernel interface every backend implements.
//
// Ops (src/ops) validate their arguments, allocate outputs and call these kernels through
// backend_for(device). A kernel sees raw buffers of one device and trusts its caller: shapes
// agree, indices were range-checked, outputs are allocated. Adding a backend (CUDA) means
// implementing this class in src/backend/<name>/ and returning it from backend_for().
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "recur/core/device.hpp"
#include "recur/core/dtype.hpp"
#include "recur/core/shape.hpp"
#include "recur/core/storage.hpp"
#include "recur/core/tensor.hpp"
#include "recur/rnn_cell.hpp"

namespace recur::backend {

// A borrowed strided view of device memory: what kernels operate on.
struct View {
  void* data = nullptr;  // first element (offset already applied)
  DType dtype = DType::Float32;
  Shape shape;
  Shape strides;  // in elements; 0 on broadcast dimensions

  std::int64_t numel() const { return shape.numel(); }
  bool is_contiguous() const;
};

View view_of(const Tensor& t);
// `t` seen with shape `target`, broadcasting size-1 (or missing leading) dims with stride 0.
// Requires t's shape to broadcast to target.
View broadcast_view(const Tensor& t, const Shape& target);

enum class UnaryOp {
  Neg, Exp, Log, Sqrt, Abs, Sign, Sigmoid, Tanh, Relu,
  LeakyRelu,  // x > 0 ? x : a*x
  Pow,        // x^a
  Clamp,      // min(max(x, a), b)
  AddScalar,  // x + a
  MulScalar,  // x * a
  RSubScalar, // a - x
  RDivScalar, // a / x
  Step,       // x > 0 ? 1 : 0 (the perceptron's activation)
};

enum class BinaryOp {
  Add, Sub, Mul, Div, Maximum, Minimum,
  AddScaled,  // a + s.a * b: the axpy behind add_(dst, src, alpha)
  // Backward helpers, dst = f(g, s) with g the incoming gradient and s a saved tensor:
  TanhBackward,       // g * (1 - s^2),         s = tanh(x)
  SigmoidBackward,    // g * s * (1 - s),       s = sigmoid(x)
  ReluBackward,       // s > 0 ? g : 0,         s = x or relu(x)
  LeakyReluBackward,  // s > 0 ? g : a*g,       s = x
  ClampBackward,      // a <= s <= b ? g : 0,   s = x
  AbsBackward,        // g * sign(s),           s = x
};

struct Scalars {
  double a = 0;
  double b = 0;
};

enum class ReduceOp { Sum, Mean, Max, Min };

// A 2-D sliding window (convolution or pooling) over a dense (N, C, H, W) input: output
// element (oh, ow) sees input rows oh*stride_h - pad_h + i*dilation_h for i < kernel_h, and
// likewise for columns; positions outside the input are padding.
struct Window2d {
  std::int64_t batch = 1, channels = 1, in_h = 1, in_w = 1;
  std::int64_t kernel_h = 1, kernel_w = 1;
  std::int64_t stride_h = 1, stride_w = 1;
  std::int64_t pad_h = 0, pad_w = 0;
  std::int64_t dilation_h = 1, dilation_w = 1;
  std::int64_t out_h = 1, out_w = 1;
};

// Per-step scalars of the fused optimizer updates (see Backend::sgd_step and the others),
// already resolved by the op from the hyper-parameters and the step count.
struct SgdStep {
  double lr = 0, momentum = 0, dampening = 0, weight_decay = 0;
  bool nesterov = false;
  bool first_step = false;  // the momentum buffer starts as a copy of the gradient
};
struct AdagradStep {
  double clr = 0;  // lr / (1 + (step - 1) lr_decay)
  double weight_decay = 0, eps = 0;
  bool eps_inside_sqrt = false;  // sqrt(sum + eps) (min-char-rnn) instead of sqrt(sum) + eps
};
struct RmspropStep {
  double lr = 0, alpha = 0, eps = 0, weight_decay = 0, momentum = 0;
  bool centered = false;
};
struct AdamStep {
  double step_size = 0;               // lr / (1 - beta1^step)
  double bias_correction2_sqrt = 0;   // sqrt(1 - beta2^step)
  double beta1 = 0, beta2 = 0, eps = 0;
  double weight_decay = 0;            // L2 penalty added to the gradient (Adam)
  double decay_factor = 1;            // param scale before the update, 1 - lr wd (AdamW)
  bool amsgrad = false;
};

// ---- Fused recurrent layers (one layer, one direction); see src/backend/cpu/rnn.cpp.
// The cells are recur::RnnCell (recur/rnn_cell.hpp), shared with the ops; gates stacked in
// the weights' rows: rnn_gate_count(cell), 1 (RNN), 4 (LSTM: i f g o), 3 (GRU: r z n),
// 2 (MGU: f, candidate).
using recur::rnn_gate_count;

// The layout both fused implementations share (src/backend/cpu/rnn.cpp, cuda/rnn.cu).
// Values per (step, batch row) that the forward saves for the backward pass: the gate
// activations; GRU also keeps W_hn h + b_hn, MGU f * h(t-1).
constexpr std::int64_t rnn_saved_width(RnnCell cell, std::int64_t hidden) {
  return cell == RnnCell::Gru ? 4 * hidden : cell == RnnCell::Mgu ? 3 * hidden : rnn_gate_count(cell) * hidden;
}
// Width of the pre-activation gradients dG: G*H, except GRU's 4H (dr, dz, r dn for W_hh,
// dn for W_ih).
constexpr std::int64_t rnn_grad_width(RnnCell cell, std::int64_t hidden) {
  return cell == RnnCell::Gru ? 4 * hidden : rnn_gate_count(cell) * hidden;
}

struct RnnDims {
  RnnCell kind = RnnCell::Lstm;
  std::int64_t steps = 1, batch = 1, input = 1, hidden = 1;
  bool reverse = false;  // process time steps T-1 .. 0
  DType dtype = DType::Float32;
};

// Dense row-major weights: w_ih (G*H, I), w_hh (G*H, H), b_ih and b_hh (G*H) or null,
// peephole (3, H) rows i, f, o, or null (LSTM only). A null w_ih (rnn_forward only) means
// that the input is a table of input projections x W_ih^T, G*H values a row, rows `dims.input`
// apart (dims.input >= G*H: the directions of a layer may share one table), that the
// forward buffers' input_rows name the table row of each step and batch entry, and that no
// backward follows: `gates` then holds one step, rnn_saved_size(dims) / steps elements, and
// the state buffers two slots (2, B, H), taken in turn: the initial state in slot 0, the
// state after the s-th step processed in slot (s + 1) % 2, the final one in slot T % 2.
struct RnnWeights {
  const void* w_ih = nullptr;
  const void* w_hh = nullptr;
  const void* b_ih = nullptr;
  const void* b_hh = nullptr;
  const void* peephole = nullptr;
};

// The hidden (and LSTM cell) states of a whole sequence, time-aligned: (T+1, B, H) with
// h(t-1) of time step t in slot t (forward) or t+1 (reverse) and the state after step t in
// slot t+1 (forward) or t (reverse). So slot 0 (forward) or T (reverse) holds h0 and the
// other end the final state; the T slots of h(t-1) are contiguous, one GEMM operand.
// A row past its sequence's length carries its state unchanged.
struct RnnForwardBuffers {
  const void* input = nullptr;                 // (T, B, I), or without w_ih the projections' table
  const std::int64_t* input_rows = nullptr;    // without w_ih: (T, B) rows of the table, else null
  const std::int64_t* lengths = nullptr;       // this device's memory: (B) in [1, T], or null: all T
  void* output = nullptr;                      // (T, B, H): h(t), 0 past a sequence's end,
  std::int64_t output_ld = 0;                  //   rows output_ld apart (0: H, dense)
  void* h_states = nullptr;                    // (T+1, B, H), h0 already in its slot
  void* c_states = nullptr;                    // (T+1, B, H), LSTM only, c0 already in its slot
  void* gates = nullptr;                       // rnn_saved_size(dims) elements, kept for the backward
  void* workspace = nullptr;                   // rnn_forward_workspace(dims) elements
};

// Gradients of the forward above. Incoming gradients may be null (none reached them); an
// output gradient with null data is not computed, the others are overwritten.
struct RnnBackwardBuffers {
  const void* input = nullptr;
  const std::int64_t* lengths = nullptr;
  const void* h_states = nullptr;
  const void* c_states = nullptr;
  const void* gates = nullptr;
  const void* grad_output = nullptr;  // (T, B, H)
  const void* grad_h_n = nullptr;     // (B, H)
  const void* grad_c_n = nullptr;     // (B, H)
  void* grad_input = nullptr;
  void* grad_w_ih = nullptr;
  void* grad_w_hh = nullptr;
  void* grad_b_ih = nullptr;
  void* grad_b_hh = nullptr;
  void* grad_peephole = nullptr;
  void* grad_h0 = nullptr;
  void* grad_c0 = nullptr;
  void* workspace = nullptr;  // rnn_backward_workspace(dims) elements
};

// One rnn_forward or rnn_backward call, for the methods that take several.
struct RnnForwardCall {
  RnnDims dims;
  RnnWeights weights;
  RnnForwardBuffers buffers;
};
struct RnnBackwardCall {
  RnnDims dims;
  RnnWeights weights;
  RnnBackwardBuffers buffers;
};

class Backend {
 public:
  virtual ~Backend() = default;

  // ---- Memory. Every tensor's storage on this device comes from this allocator.
  virtual Allocator& allocator() = 0;
  // Byte copies between host memory and this device's memory (both dense). copy_to_host
  // returns once the bytes are on the host, after the work queued before it.
  virtual void copy_from_host(void* dst, const void* host_src, std::size_t nbytes) = 0;
  virtual void copy_to_host(void* host_dst, const void* src, std::size_t nbytes) = 0;
  // Waits for all work queued on this device (a no-op where kernels run synchronously).
  virtual void synchronize() = 0;

  // dst = src elementwise, converting dtype; any strides on both sides.
  virtual void copy(const View& dst, const View& src) = 0;
  virtual void fill(const View& dst, double value) = 0;

  // dst = op(src); src has dst's shape (strides may be broadcast). Floating dtypes.
  virtual void unary(UnaryOp op, const View& dst, const View& src, Scalars s) = 0;
  // dst = op(a, b); a and b are already broadcast to dst's shape. Floating dtypes, except
  // that Add/Sub/Mul/AddScaled/Maximum/Minimum also accept int64 (AddScaled then needs a whole s.a).
  virtual void binary(BinaryOp op, const View& dst, const View& a, const View& b, Scalars s) = 0;

  // dst has src's rank with extent 1 on every reduced dim (and src's extent elsewhere).
  virtual void reduce(ReduceOp op, const View& dst, const View& src) = 0;
  // Max (is_max) or min along `dim`: values and int64 indices, shaped like src with
  // extent 1 on dim. Ties resolve to the first index. Either output may have null data.
  virtual void arg_reduce(bool is_max, const View& values, const View& indices, const View& src, int dim) = 0;
  // Smallest and largest element of an int64 view (for range checks) into dst, two int64
  // elements (min, max) of this device. Requires src.numel() > 0.
  virtual void int_min_max(const View& dst, const View& src) = 0;

  // Softmax or log-softmax along dim, and their backward:
  //   softmax:     dx = y * (dy - sum(dy * y))
  //   log_softmax: dx = dy - exp(y) * sum(dy)
  virtual void softmax(const View& dst, const View& src, int dim, bool log) = 0;
  virtual void softmax_backward(const View& dx, const View& dy, const View& y, int dim, bool log) = 0;

  // dst = src.index_select(dim, index); index is 1-D int64 in range.
  virtual void index_select(const View& dst, const View& src, int dim, const View& index) = 0;
  // dst.index_add_(dim, index, src): dst[.., index[i], ..] += src[.., i, ..].
  virtual void index_add(const View& dst, int dim, const View& index, const View& src) = 0;
  // dst = src.gather(dim, index); index has dst's shape, in range.
  virtual void gather(const View& dst, const View& src, int dim, const View& index) = 0;
  // dst.scatter_add_(dim, index, src).
  virtual void scatter_add(const View& dst, int dim, const View& index, const View& src) = 0;

  // Negative log-likelihood of rows of log-probabilities logp (N, C) at targets (N):
  // loss[i] = -logp[i, target[i]], or 0 where target[i] == ignore_index.
  virtual void nll_loss(const View& loss, const View& logp, const View& target, std::int64_t ignore_index) = 0;
  // dlogp[i, target[i]] = -grad[i] (grad has N entries, stride 0 for a shared scale), 0 elsewhere.
  virtual void nll_loss_backward(const View& dlogp, const View& grad, const View& target, std::int64_t ignore_index) = 0;
  // Cross-entropy of rows of logits (N, C) at targets (N) without writing log-probabilities,
  // for passes that keep no graph: loss[i] = -log_softmax(logits[i])[target[i]], rounded as
  // softmax(log) then nll_loss would round it, or 0 where target[i] == ignore_index.
  virtual void cross_entropy(const View& loss, const View& logits, const View& target, std::int64_t ignore_index) = 0;
  // The same of the logits z = x weight^T + bias of a linear layer (x (N, K), weight (C, K)
  // dense, bias C dense values or null data), for passes that keep no graph: loss[i] =
  // log(sum_j exp(z[i, j])) - z[i, target[i]], or 0 where target[i] == ignore_index. A
  // backend may fold each row's sum in as its logits are made, never storing them; its sum
  // then runs in another order, so losses agree with cross_entropy's to rounding. This
  // default stores the logits and calls gemm and cross_entropy.
  virtual void linear_cross_entropy(const View& loss, const View& x, const View& weight, const View& bias,
                                    const View& target, std::int64_t ignore_index);

  // One read of attention without a graph (ops.hpp, attention_read_): query row n over the
  // keys of batch row r = sources[n] (r = n when sources has null data), with
  //   score_s = v . tanh(projected[r, s] + query[n])  when projected has data (additive),
  //   score_s = keys[r, s] . query[n]                 otherwise,
  //   weights[n] = softmax_s(score + mask[r]),  context[n] = sum_s weights[n, s] keys[r, s].
  // query (N, Q), keys (B, S, K), projected (B, S, Q), v (Q), mask (B, S), weights (N, S)
  // dense; context (N, K) with any row stride, its rows contiguous; sources int64 (N).
  virtual void attention_read(const View& context, const View& weights, const View& query, const View& keys,
                              const View& projected, const View& v, const View& mask, const View& sources) = 0;

  // Row-major C = alpha * op(A) op(B) + beta * C (+ bias), with op(X) = X or X^T; the one GEMM
  // entry point every matrix product goes through. `batch` products with the given strides.
  // bias: null, or n dense values of dtype added to every row of each product's C (a linear
  // layer's), so that no separate pass over C is needed.
  virtual void gemm(bool trans_a, bool trans_b, std::int64_t m, std::int64_t n, std::int64_t k,
                    double alpha, const void* a, std::int64_t lda, const void* b, std::int64_t ldb,
                    double beta, void* c, std::int64_t ldc, DType dtype, std::int64_t batch = 1,
                    std::int64_t stride_a = 0, std::int64_t stride_b = 0, std::int64_t stride_c = 0,
                    const void* bias = nullptr) = 0;
  // Until the matching end_constant_weights(), `weights` (tensors of this device) are only
  // read, or written by ops that bump their version: gemm may keep work derived from them
  // and reuse it in every product whose B lies inside one of them (ConstantWeightsGuard,
  // recur/core/constant_weights.hpp). Calls nest; they apply to the calling thread.
  virtual void begin_constant_weights(const std::vector<Tensor>& weights) { (void)weights; }
  virtual void end_constant_weights() {}

  // 2-D convolution, NCHW, dense operands: input (N, C, H, W), weight (O, C, kh, kw), bias (O)
  // or null data, out (N, O, out_h, out_w); `w` describes the input and the window.
  //   out[n, o] = bias[o] + sum_{c, i, j} weight[o, c, i, j] * input[n, c, window(i, j)]
  virtual void conv2d(const View& out, const View& input, const View& weight, const View& bias,
                      const Window2d& w) = 0;
  // Its gradients from grad_out (out's shape, dense). Each of grad_input (input's shape),
  // grad_weight and grad_bias may have null data and is then not computed; the others are
  // overwritten.
  virtual void conv2d_backward(const View& grad_input, const View& grad_weight, const View& grad_bias,
                               const View& grad_out, const View& input, const View& weight,
                               const Window2d& w) = 0;

  // Max pooling of dense input (N, C, H, W) into out (N, C, out_h, out_w), with the argmax
  // of each window as an int64 index into its H*W plane (PyTorch's return_indices): the
  // first maximum in row-major window order, or the last NaN; padding never wins. `indices` may
  // have null data (no backward pass to come).
  virtual void max_pool2d(const View& out, const View& indices, const View& input, const Window2d& w) = 0;
  // grad_input (dense, overwritten) = grad_out routed to the saved argmax positions.
  virtual void max_pool2d_backward(const View& grad_input, const View& grad_out, const View& indices,
                                   const Window2d& w) = 0;
  // Average pooling, divisor as PyTorch's: the window clipped to the padded input when
  // count_include_pad, else the number of real input elements it covers.
  virtual void avg_pool2d(const View& out, const View& input, const Window2d& w, bool count_include_pad) = 0;
  virtual void avg_pool2d_backward(const View& grad_input, const View& grad_out, const Window2d& w,
                                   bool count_include_pad) = 0;

  // Batch normalisation over a dense input (N, C, L): statistics per channel c over N*L
  // values. Per-channel views (C) may have any stride.
  //   training: mean and invstd = 1/sqrt(var + eps) of the batch (var biased); when
  //             running_mean / running_var have data they become
  //             (1 - momentum) * running + momentum * batch, the variance unbiased (n/(n-1)).
  //   eval:     mean = running_mean, invstd = 1/sqrt(running_var + eps).
  virtual void batch_norm_stats(const View& mean, const View& invstd, const View& input,
                                const View& running_mean, const View& running_var, bool training,
                                double momentum, double eps) = 0;
  // out = (input - mean) * invstd * weight + bias; weight / bias with null data act as 1 / 0.
  virtual void batch_norm(const View& out, const View& input, const View& mean, const View& invstd,
                          const View& weight, const View& bias) = 0;
  // Gradients (any output may have null data), with x^ = (input - mean) * invstd, sums per
  // channel over N*L: grad_bias = sum(dy), grad_weight = sum(dy * x^), and
  //   training: grad_input = weight * invstd * (dy - sum(dy)/n - x^ * sum(dy * x^)/n)
  //   eval:     grad_input = weight * invstd * dy
  virtual void batch_norm_backward(const View& grad_input, const View& grad_weight, const View& grad_bias,
                                   const View& grad_out, const View& input, const View& mean,
                                   const View& invstd, const View& weight, bool training) = 0;
  // Fused optimizer updates: one pass over a parameter, its gradient and its state buffers,
  // in place. All views are contiguous, of one shape and floating dtype, and do not overlap;
  // a buffer the options do not use has null data. Scalars are rounded to the dtype and each
  // formula keeps the operation order of PyTorch 1.13's single-tensor optimizers (see
  // src/backend/cpu/optim.cpp for the formulas).
  virtual void sgd_step(const View& param, const View& grad, const View& momentum_buffer, const SgdStep& s) = 0;
  virtual void adagrad_step(const View& param, const View& grad, const View& sum, const AdagradStep& s) = 0;
  virtual void rmsprop_step(const View& param, const View& grad, const View& square_avg, const View& grad_avg,
                            const View& momentum_buffer, const RmspropStep& s) = 0;
  virtual void adam_step(const View& param, const View& grad, const View& exp_avg, const View& exp_avg_sq,
                         const View& max_exp_avg_sq, const AdamStep& s) = 0;
  // Fused recurrent layer, forward and backward (see RnnForwardBuffers), and one
  // inference step with no saved state: x (B, I), h and c (B, H) updated in place. All
  // buffers dense, of dims.dtype; the sizes below are in elements of dims.dtype.
  virtual std::int64_t rnn_saved_size(const RnnDims& d) = 0;  // `gates`: what the backward reads
  virtual std::int64_t rnn_forward_workspace(const RnnDims& d) = 0;
  virtual std::int64_t rnn_backward_workspace(const RnnDims& d) = 0;
  virtual std::int64_t rnn_step_workspace(const RnnDims& d) = 0;  // d.steps == 1
  virtual void rnn_forward(const RnnDims& d, const RnnWeights& w, const RnnForwardBuffers& f) = 0;
  virtual void rnn_backward(const RnnDims& d, const RnnWeights& w, const RnnBackwardBuffers& b) = 0;
  // `added`: null, or a dense table (U, G*H) whose row added_rows[b] (in range) is added to
  // row b's input projection W_ih x.
  virtual void rnn_step(const RnnDims& d, const RnnWeights& w, const void* input, void* h, void* c,
                        void* workspace, const void* added, const std::int64_t* added_rows) = 0;
  // Independent calls (the two directions of a bidirectional layer: no buffer written by
  // one is read or written by another), with the results of rnn_forward / rnn_backward on
  // each in turn, which is what these defaults do; a backend may run them side by side.
  virtual void rnn_forward_all(std::span<const RnnForwardCall> calls);
  virtual void rnn_backward_all(std::span<const RnnBackwardCall> calls);
  // The p-norm of a contiguous floating view, accumulated in double: (sum |x|^p)^(1/p) for
  // p > 0, max |x| for p = inf (NaN if any element is NaN), 0 for an empty view; written to
  // dst, one float64 element of this device (no value comes back to the host).
  virtual void norm(const View& dst, const View& src, double p) = 0;

  // Random fills of a contiguous view. Elements 2j and 2j+1 come from the Philox block
  // (key, first_block + j), so a fill of n elements consumes ceil(n/2) blocks and its values
  // do not depend on the number of threads. Normals use Box-Muller on each pair.
  virtual void fill_uniform(const View& dst, double low, double high, std::uint64_t key, std::uint64_t first_block) = 0;
  virtual void fill_normal(const View& dst, double mean, double stddev, std::uint64_t key, std::uint64_t first_block) = 0;
  virtual void fill_bernoulli(const View& dst, double p, std::uint64_t key, std::uint64_t first_block) = 0;
};

// The backend of a device (the registry, src/backend/registry.cpp); throws Error if recur
// was built without it or the device does not exist.
Backend& backend_for(Device device);

}  // namespace recur::backend
