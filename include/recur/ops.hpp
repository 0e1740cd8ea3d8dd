// The differentiable functions of recur, and the factories and in-place updates beside them.
//
// Every op checks its operands (same device, compatible dtypes and shapes) and throws
// recur::Error naming itself and the offending shapes or values. When grad mode is on and
// an input requires grad, the result records how to backpropagate to it.
// Floating ops accept float32 and float64; both operands of a binary op share one dtype.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <vector>

#include "recur/core/random.hpp"
#include "recur/core/tensor.hpp"
#include "recur/optim/options.hpp"
#include "recur/rnn_cell.hpp"

namespace recur {

// ---------------------------------------------------------------- factories (no grad)
// Every factory makes its tensor on `device` (default: the CPU). Values computed on the host
// (from_vector, tensor, arange, scalar_tensor) are uploaded with one copy; constants and
// random numbers are written by the device's own kernels (the same numbers on every device).
Tensor zeros(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor ones(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor full(const Shape& shape, double value, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor zeros_like(const Tensor& t);  // t's shape, dtype and device
Tensor ones_like(const Tensor& t);
// 0, 1, ..., end-1 as int64; and start, start+step, ... below end (above, for step < 0).
Tensor arange(std::int64_t end, DType dtype = DType::Int64, Device device = Device::cpu());
Tensor arange(double start, double end, double step = 1, DType dtype = DType::Float32,
              Device device = Device::cpu());
// A tensor holding `values`, shaped `shape` (1-D when empty). Requires matching sizes.
Tensor from_vector(const std::vector<float>& values, const Shape& shape = {}, Device device = Device::cpu());
Tensor from_vector(const std::vector<double>& values, const Shape& shape = {}, Device device = Device::cpu());
Tensor from_vector(const std::vector<std::int64_t>& values, const Shape& shape = {},
                   Device device = Device::cpu());
// tensor({1, 2, 3}) and tensor({{1, 2}, {3, 4}}), in the given dtype.
Tensor tensor(std::initializer_list<double> values, DType dtype = DType::Float32, Device device = Device::cpu());
Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, DType dtype = DType::Float32,
              Device device = Device::cpu());
Tensor scalar_tensor(double value, DType dtype = DType::Float32, Device device = Device::cpu());  // shape []

// Random tensors; gen defaults to default_generator(). Same seed, same numbers, for any
// number of threads (and on any device).
Tensor uniform(const Shape& shape, double low = 0, double high = 1, DType dtype = DType::Float32,
               Generator* gen = nullptr, Device device = Device::cpu());
Tensor normal(const Shape& shape, double mean = 0, double stddev = 1, DType dtype = DType::Float32,
              Generator* gen = nullptr, Device device = Device::cpu());
Tensor bernoulli(const Shape& shape, double p, DType dtype = DType::Float32, Generator* gen = nullptr,
                 Device device = Device::cpu());  // 0/1

// ---------------------------------------------------------------- copies and in-place updates
Tensor clone(const Tensor& t);                  // dense copy, differentiable
Tensor contiguous(const Tensor& t);             // t itself if contiguous, else clone(t)
Tensor to_dtype(const Tensor& t, DType dtype);  // converted copy (t itself if same dtype); differentiable between floats
// A dense copy of t on `device` (t itself if it is already there), through host memory when
// neither device is the CPU. Differentiable: the gradient goes back to t's device. With
// copy_, the only ops that move data across devices; every other op requires its operands
// on one device.
Tensor to(const Tensor& t, Device device);

// In-place updates write into dst's storage and bump its version. They refuse a tensor
// that requires grad while grad mode is on (use NoGradGuard, as optimizers do).
// src broadcast to dst's shape, dtype converted. src may be on another device (copied
// across; dense operands of one shape and dtype cross in one transfer, allocating nothing).
void copy_(const Tensor& dst, const Tensor& src);
void fill_(const Tensor& dst, double value);
void zero_(const Tensor& dst);
void add_(const Tensor& dst, const Tensor& src, double alpha = 1);  // dst += alpha * src (broadcast)
void mul_(const Tensor& dst, double factor);                        // dst *= factor
void clamp_(const Tensor& dst, double low, double high);             // floating dst into [low, high]; NaN stays NaN
void uniform_(const Tensor& dst, double low, double high, Generator* gen = nullptr);
void normal_(const Tensor& dst, double mean, double stddev, Generator* gen = nullptr);

// ---------------------------------------------------------------- elementwise arithmetic
// NumPy broadcasting: trailing dimensions are aligned; extents must match or be 1.
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add(const Tensor& a, double b);
Tensor mul(const Tensor& a, double b);
Tensor rsub(const Tensor& a, double b);  // b - a
Tensor rdiv(const Tensor& a, double b);  // b / a

Tensor operator+(const Tensor& a, const Tensor& b);
Tensor operator-(const Tensor& a, const Tensor& b);
Tensor operator*(const Tensor& a, const Tensor& b);
Tensor operator/(const Tensor& a, const Tensor& b);
Tensor operator+(const Tensor& a, double b);
Tensor operator-(const Tensor& a, double b);
Tensor operator*(const Tensor& a, double b);
Tensor operator/(const Tensor& a, double b);
Tensor operator+(double a, const Tensor& b);
Tensor operator-(double a, const Tensor& b);
Tensor operator*(double a, const Tensor& b);
Tensor operator/(double a, const Tensor& b);
Tensor operator-(const Tensor& a);

Tensor neg(const Tensor& x);
Tensor exp(const Tensor& x);
Tensor log(const Tensor& x);
Tensor pow(const Tensor& x, double exponent);
Tensor sqrt(const Tensor& x);
Tensor abs(const Tensor& x);                      // gradient 0 at 0, as PyTorch
Tensor clamp(const Tensor& x, double low, double high);  // gradient 1 inside [low, high], else 0

// ---------------------------------------------------------------- activations
Tensor sigmoid(const Tensor& x);
Tensor tanh(const Tensor& x);
Tensor relu(const Tensor& x);
Tensor leaky_relu(const Tensor& x, double negative_slope = 0.01);
Tensor step(const Tensor& x);                     // x > 0 ? 1 : 0; not differentiable (no grad)
Tensor softmax(const Tensor& x, int dim);
Tensor log_softmax(const Tensor& x, int dim);

// ---------------------------------------------------------------- shapes and views
// Views share storage with their input; writes through one are seen by the other.
Tensor reshape(const Tensor& x, const Shape& shape);  // one extent may be -1; a view when strides allow, else a copy
Tensor view(const Tensor& x, const Shape& shape);     // like reshape, but throws instead of copying
Tensor flatten(const Tensor& x, int start_dim = 0, int end_dim = -1);
Tensor squeeze(const Tensor& x, int dim);             // requires size(dim) == 1
Tensor unsqueeze(const Tensor& x, int dim);           // dim in [-(rank+1), rank]
Tensor transpose(const Tensor& x, int dim0, int dim1);
Tensor t(const Tensor& x);                            // transpose of a 2-D tensor
Tensor permute(const Tensor& x, const std::vector<int>& dims);
Tensor expand(const Tensor& x, const Shape& shape);   // broadcast view (stride 0), no copy
Tensor narrow(const Tensor& x, int dim, std::int64_t start, std::int64_t length);
// Elements start, start+step, ... below end along dim (negative start/end count from the end).
Tensor slice(const Tensor& x, int dim, std::int64_t start, std::int64_t end, std::int64_t step = 1);
Tensor select(const Tensor& x, int dim, std::int64_t index);  // removes dim
Tensor cat(const std::vector<Tensor>& tensors, int dim = 0);
Tensor stack(const std::vector<Tensor>& tensors, int dim = 0);
std::vector<Tensor> split(const Tensor& x, std::int64_t split_size, int dim = 0);  // last piece may be shorter
std::vector<Tensor> chunk(const Tensor& x, int chunks, int dim = 0);

// ---------------------------------------------------------------- indexing
// index: 1-D int64 with values in [0, x.size(dim)).
Tensor index_select(const Tensor& x, int dim, const Tensor& index);
// index: int64 of x's rank, extents <= x's except along dim; values in [0, x.size(dim)).
Tensor gather(const Tensor& x, int dim, const Tensor& index);
// Rows of weight (V, D) for int64 indices of any shape: result indices.shape + [D].
Tensor embedding(const Tensor& weight, const Tensor& indices);
// float32 one-hot encoding: indices.shape + [num_classes]; no grad.
Tensor one_hot(const Tensor& indices, std::int64_t num_classes);
// The distinct values of int64 x in order of first appearance (values, 1-D) and each element's
// place among them (inverse, x's shape): index_select(values, 0, flatten(inverse)) == flatten(x).
// torch.unique(x, sorted=False, return_inverse=True), its order made definite. Found on the
// host: a CUDA x is read back, the results uploaded.
struct UniqueResult {
  Tensor values, inverse;
};
UniqueResult unique(const Tensor& x);

// ---------------------------------------------------------------- reductions
Tensor sum(const Tensor& x);  // all elements, shape []
Tensor sum(const Tensor& x, const std::vector<int>& dims, bool keepdim = false);
Tensor mean(const Tensor& x);
Tensor mean(const Tensor& x, const std::vector<int>& dims, bool keepdim = false);
Tensor max(const Tensor& x);  // largest element, shape []; gradient to the first maximum
struct ValuesIndices {
  Tensor values;
  Tensor indices;  // int64
};
ValuesIndices max(const Tensor& x, int dim, bool keepdim = false);
ValuesIndices min(const Tensor& x, int dim, bool keepdim = false);
Tensor argmax(const Tensor& x, int dim, bool keepdim = false);
Tensor argmax(const Tensor& x);  // index into the flattened tensor, shape []

// ---------------------------------------------------------------- linear algebra
// 2-D: (m, k) x (k, n). Batched: (..., m, k) x (..., k, n) with equal batch extents, or a
// 2-D right operand shared by every batch. One GEMM call per product.
Tensor matmul(const Tensor& a, const Tensor& b);
// x (..., in) times weight (out, in) transposed, plus bias (out) if defined: nn.Linear.
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());
// The same product written into `out` (contiguous, of linear's output shape, sharing no
// storage with the operands), allocating nothing: for inference loops such as sampling.
// Bumps out's version. Not differentiable: requires grad mode off or no operand requiring
// grad.
void linear_(const Tensor& out, const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---------------------------------------------------------------- losses
enum class Reduction { Mean, Sum, None };

Tensor mse_loss(const Tensor& input, const Tensor& target, Reduction reduction = Reduction::Mean);
// Numerically stable sigmoid + binary cross-entropy; target has input's shape, values in [0, 1].
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        Reduction reduction = Reduction::Mean);
// logp (N, C) log-probabilities, target (N) int64 in [0, C) or == ignore_index. Mean
// divides by the number of targets not ignored.
Tensor nll_loss(const Tensor& logp, const Tensor& target, Reduction reduction = Reduction::Mean,
                std::int64_t ignore_index = -100);
// log_softmax over dim 1 followed by nll_loss. Where no graph is recorded it never writes
// the (N, C) log-probabilities, and gives the same values.
Tensor cross_entropy(const Tensor& logits, const Tensor& target, Reduction reduction = Reduction::Mean,
                     std::int64_t ignore_index = -100);
// cross_entropy(linear(x, weight, bias), target, reduction, ignore_index): the loss of a
// linear layer's logits x W^T + b, with x (N, K), weight (C, K), bias (C) or undefined. Where
// no graph is recorded the (N, C) logits are never stored: the CPU folds each row's
// log-sum-exp into the product (a large vocabulary's logits would go to memory and back),
// so the values agree with the two ops' to rounding, not bitwise. With a graph it is the
// two ops.
Tensor linear_cross_entropy(const Tensor& x, const Tensor& weight, const Tensor& bias, const Tensor& target,
                            Reduction reduction = Reduction::Mean, std::int64_t ignore_index = -100);

// ---------------------------------------------------------------- convolution, pooling, normalisation
// Images are NCHW: (batch, channels, height, width). A 3-D (C, H, W) input is one image and
// gives a 3-D result, as in PyTorch.

// Two extents, (height, width), of a kernel, stride, padding or dilation. One value stands for
// both, so `conv2d(x, w, b, 2)` means stride (2, 2) and `conv2d(x, w, b, {2, 1})` stride (2, 1).
struct Size2 {
  std::int64_t h = 0, w = 0;
  Size2(std::int64_t both) : h(both), w(both) {}  // NOLINT(google-explicit-constructor): 2 reads as (2, 2)
  Size2(std::int64_t h, std::int64_t w) : h(h), w(w) {}
  bool operator==(const Size2&) const = default;
};
std::ostream& operator<<(std::ostream& os, Size2 s);  // "(h, w)"

// 2-D convolution (cross-correlation, as PyTorch's): input (N, C, H, W), weight (O, C, kh, kw),
// bias (O) or undefined. Returns (N, O, out_h, out_w) where, per spatial dimension,
//   out = floor((in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1.
// Requires stride >= 1, dilation >= 1, padding >= 0, the input's channels equal to the
// weight's C, and out >= 1; a violation is an Error naming the input shape, kernel, stride,
// padding and dilation. Differentiable in input, weight and bias.
Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias = Tensor(), Size2 stride = 1,
              Size2 padding = 0, Size2 dilation = 1);

// Max pooling of x (N, C, H, W): output (oh, ow) is the largest element of the kernel window
// at (oh*stride - padding, ow*stride - padding), out = floor((in + 2*padding - kernel) / stride) + 1.
// Padding only shifts windows, it is never the maximum. The gradient goes to the first
// maximum of each window in row-major order (to its last NaN if it has one), as PyTorch's.
// Requires kernel >= 1, stride >= 1, 0 <= padding <= kernel/2 and out >= 1.
Tensor max_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding = 0);
Tensor max_pool2d(const Tensor& x, Size2 kernel);  // stride = kernel (PyTorch's default)

// Average pooling, same windows and requirements as max_pool2d. The divisor is the window's
// size including padding when count_include_pad (PyTorch's default), else the number of
// input elements it covers.
Tensor avg_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding = 0, bool count_include_pad = true);
Tensor avg_pool2d(const Tensor& x, Size2 kernel);  // stride = kernel

// Batch normalisation of x (N, C), (N, C, L) or (N, C, H, W), per channel c over all other dims:
//   y = (x - mean_c) / sqrt(var_c + eps) * weight_c + bias_c,
// weight and bias (C) optional (undefined: 1 and 0). In training, mean and var are the
// batch's (var biased), and running_mean / running_var (C), when defined, are updated in place
// without autograd: running = (1 - momentum) * running + momentum * batch statistic, the
// variance unbiased (times n/(n-1), n = values per channel). In evaluation (training false)
// the running statistics, which are then required, normalise. Requires n > 1 in training.
// Differentiable in x, weight and bias (through the batch statistics in training).
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var, const Tensor& weight,
                  const Tensor& bias, bool training, double momentum = 0.1, double eps = 1e-5);

// ---------------------------------------------------------------- regularisation
// In training, zeroes each element with probability p and scales the rest by 1/(1-p);
// in evaluation (training false) or with p == 0, returns x. Requires 0 <= p < 1.
Tensor dropout(const Tensor& x, double p, bool training, Generator* gen = nullptr);

// ---------------------------------------------------------------- recurrent layers
// One layer, one direction of a recurrent network over a whole sequence, as one fused op
// (src/ops/rnn.cpp, kernels in src/backend/cpu/rnn.cpp). A bidirectional layer is two calls,
// the second with reverse = true, their outputs concatenated on the last dim, or one call of
// rnn_bidirectional_layer (below), which may run the two side by side.
//
// Cells and their weights, with H the hidden size, I the input size, G the gate count, the
// gates' blocks stacked in the rows as PyTorch does (s = sigmoid, "W x" short for the gate's
// block of W_ih x + b_ih, "U h" for the block of W_hh h(t-1) + b_hh):
//   RnnTanh, RnnRelu  G = 1:  h = tanh / relu(W x + U h)
//   Lstm              G = 4 (i, f, g, o): i = s(W_i x + U_i h + p_i c(t-1)), f = s(W_f x + U_f h + p_f c(t-1)),
//                     g = tanh(W_g x + U_g h), c = f c(t-1) + i g, o = s(W_o x + U_o h + p_o c), h = o tanh(c)
//                     with peepholes p (Gers & Schmidhuber) only when weights.peephole is defined
//   Gru               G = 3 (r, z, n): r = s(W_r x + U_r h), z = s(W_z x + U_z h),
//                     n = tanh(W_n x + b_in + r (W_hn h(t-1) + b_hn)), h = (1 - z) n + z h(t-1)
//   Mgu               G = 2 (f, n): f = s(W_f x + U_f h), n = tanh(W_n x + b_in + W_hn (f h(t-1)) + b_hn),
//                     h = (1 - f) h(t-1) + f n   (minimal gated unit, Zhou et al. 2016)
// The enum RnnCell, its names and gate counts: recur/rnn_cell.hpp (rnn_cell_name, rnn_gate_count).

// w_ih (G*H, I), w_hh (G*H, H); b_ih, b_hh (G*H) each optional (undefined: none);
// peephole (3, H), rows p_i, p_f, p_o, optional and LSTM only.
struct RnnLayerWeights {
  Tensor w_ih, w_hh, b_ih, b_hh, peephole;
};

struct RnnLayerOutput {
  Tensor output;  // (T, B, H): h(t) at every step, 0 past a sequence's length
  Tensor h_n;     // (B, H): the state after each sequence's last valid step
  Tensor c_n;     // (B, H): LSTM's cell state likewise; undefined for the other cells
};

// Runs `cell` over input (T, B, I) from h0 (and c0 for LSTM), each (B, H) or undefined for
// zeros. lengths, if defined, is int64 (B) with values in [1, T] (sorted or not): sequence b
// covers steps 0 .. lengths[b]-1; with reverse it is processed from lengths[b]-1 down to 0 (a
// packed sequence's semantics in PyTorch). Requires one floating dtype and device for all
// tensors. Differentiable in input, every weight, h0 and c0, through output, h_n and c_n.
// Speed: the input projection of all steps is one GEMM, each step one recurrent GEMM and one
// fused pointwise pass; the backward pass keeps the gate activations and states only.
RnnLayerOutput rnn_layer(RnnCell cell, const Tensor& input, const RnnLayerWeights& weights,
                         const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor(), const Tensor& lengths = Tensor(),
                         bool reverse = false);

// A layer's input given as its projections x W_ih^T, each distinct input row's once, for
// inference: a batch of text repeats its words, and projecting each word once (see
// nn::SequenceClassifier) saves most of the input GEMM. Step t of batch entry b reads row
// rows[t][b] of table: table (U, P) with U >= 1, each row the directions' G*H projections side
// by side (forward first), rows int64 (T, B) in [0, U). The weights lack w_ih; b_ih is still
// added. Equal to rnn_layer on inputs with those projections. Not differentiable: grad mode
// must be off, or no operand require grad.
struct RnnProjections {
  Tensor table, rows;
};
RnnLayerOutput rnn_layer(RnnCell cell, const RnnProjections& input, const RnnLayerWeights& weights,
                         const Tensor& h0 = Tensor(), const Tensor& c0 = Tensor(), const Tensor& lengths = Tensor(),
                         bool reverse = false);

// Both directions of a bidirectional layer over one input, as one op: the same results as
// rnn_layer with weights[0], h0[0], c0[0] and then with weights[1], h0[1], c0[1] and reverse,
// returned in that order, but the backend may run the two directions side by side, forward
// and backward (the CPU's does with two or three threads: one thread each). The same
// requirements as rnn_layer for each direction; differentiable likewise.
std::array<RnnLayerOutput, 2> rnn_bidirectional_layer(RnnCell cell, const Tensor& input,
                                                      const std::array<RnnLayerWeights, 2>& weights,
                                                      const std::array<Tensor, 2>& h0 = {},
                                                      const std::array<Tensor, 2>& c0 = {},
                                                      const Tensor& lengths = Tensor());
// The same from RnnProjections (a table row: the forward direction's projections, then the
// reverse's). Given `output`, a contiguous (T, B, 2H) tensor of the input's dtype and device,
// the directions write their outputs into its two halves (returned as views of it): the
// layer's output without a concatenation.
std::array<RnnLayerOutput, 2> rnn_bidirectional_layer(RnnCell cell, const RnnProjections& input,
                                                      const std::array<RnnLayerWeights, 2>& weights,
                                                      const std::array<Tensor, 2>& h0 = {},
                                                      const std::array<Tensor, 2>& c0 = {},
                                                      const Tensor& lengths = Tensor(), const Tensor& output = Tensor());

// One step of inference, in place, for generation: h (B, H) (and c for LSTM, else
// undefined) become the states after input (B, I). Not differentiable: requires grad mode
// off or no operand requiring grad. `workspace` is scratch memory the caller keeps between
// calls: an undefined or too small tensor is (re)allocated once, after which a step allocates
// nothing. Requires h and c dense, of the weights' dtype. `added`, if given, adds row
// added.rows[b] of added.table (U, G*H), rows int64 (B) in [0, U), to row b's input
// projection W_ih x: the projections of the part of the input that comes from a table (a
// decoder's target embeddings, projected once per vocabulary entry) when `input` and w_ih
// carry only the rest.
void rnn_step_(RnnCell cell, const Tensor& input, const RnnLayerWeights& weights, const Tensor& h, const Tensor& c,
               Tensor& workspace, const RnnProjections& added = {});

// ---------------------------------------------------------------- attention
// One read of attention for inference (decoding, evaluation), fused: query row n attends
// over the keys of batch row r = sources[n] (r = n when sources is undefined), with
//   additive (projected defined):  score_s = v . tanh(projected[r, s] + query[n])
//   dot product (otherwise):       score_s = keys[r, s] . query[n]
//   weights[n] = softmax over s of (score_s + mask[r, s]),  context[n] = sum_s weights[n, s] keys[r, s]
// (nn::Attention's maths, recur/nn/attention.hpp, the query already projected by its kind).
// Requires: query (N, Q); keys (B, S, K), S >= 1; additive: projected (B, S, Q) and v of Q
// values, otherwise Q == K; mask (B, S) of 0 and -inf with a 0 in every row (masked
// positions are not scored); sources int64 (N) in [0, B), or undefined with N == B; one
// floating dtype and device. Outputs: weights (N, S) contiguous, context (N, K) with
// contiguous rows (a view of a wider buffer's columns will do). Not differentiable: grad
// mode must be off, or no operand require grad. Throws recur::Error naming what is wrong.
void attention_read_(const Tensor& context, const Tensor& weights, const Tensor& query, const Tensor& keys,
                     const Tensor& projected, const Tensor& v, const Tensor& mask, const Tensor& sources = Tensor());

// ---------------------------------------------------------------- optimizer updates
// The fused steps behind recur::optim: each updates one parameter and its state in place
// in a single pass over the elements, with the formulas and the operation order of
// PyTorch 1.13's single-tensor optimizers (float32 stays float32; see
// src/backend/cpu/optim.cpp for the maths). Not differentiable.
// Requires: param float32 or float64; grad and each state tensor the options use defined,
// with param's shape, dtype and device; param and the state tensors share no storage with
// each other or with grad; grad mode off if param requires grad (optimizers use
// NoGradGuard). Non-contiguous operands are allowed (updated through a dense copy).
// Guarantees: param and the used state tensors are updated and their versions bumped;
// unused state tensors may be undefined and are not touched.

// The options are the optimizers' own (recur/optim/options.hpp); `step` is this update's
// number, from 1 (bias corrections, Adagrad's lr decay); `first_step` makes SGD's momentum
// buffer a copy of the gradient, as PyTorch's first step does.
void sgd_update_(const Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                 const optim::SGDOptions& options, bool first_step);
void adagrad_update_(const Tensor& param, const Tensor& grad, const Tensor& sum, const optim::AdagradOptions& options,
                     std::int64_t step);
void rmsprop_update_(const Tensor& param, const Tensor& grad, const Tensor& square_avg, const Tensor& grad_avg,
                     const Tensor& momentum_buffer, const optim::RMSpropOptions& options);
void adam_update_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                  const Tensor& max_exp_avg_sq, const optim::AdamOptions& options, std::int64_t step);
void adam_update_(const Tensor& param, const Tensor& grad, const Tensor& exp_avg, const Tensor& exp_avg_sq,
                  const Tensor& max_exp_avg_sq, const optim::AdamWOptions& options, std::int64_t step);

// The p-norm of all elements of a floating tensor, accumulated in float64: (sum |x|^p)^(1/p)
// for p > 0, max |x| for p = infinity; 0 for an empty tensor. Not differentiable.
// norms_of computes the norms of several tensors of one device on that device, into a
// float64 tensor (xs.size()); norm_of reads one back to the host.
Tensor norms_of(const std::vector<Tensor>& xs, double p = 2);
double norm_of(const Tensor& x, double p = 2);

}  // namespace recur
