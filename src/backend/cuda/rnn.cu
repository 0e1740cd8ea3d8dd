// Fused recurrent layers on the GPU: one layer, one direction, the whole sequence per call,
// with the maths, saved values and buffer layouts of src/backend/cpu/rnn.cpp (see there and
// docs/ARCHITECTURE.md, "Recurrent layers"). Notation: T steps, B rows, I inputs, H hidden,
// G gates, gh = G*H.
//
// Forward:  the input projections of all T steps, X W_ih^T, one GEMM into `gates` (row width
//           sw = saved_width: gh, GRU 4H, MGU 3H); then per step one recurrent GEMM
//           h(t-1) W_hh^T into the workspace (MGU: two, with a small kernel computing f and
//           f h(t-1) between them) and ONE fused pointwise kernel, thread (b, j), that adds the
//           biases, applies the cell, writes h(t) (c(t)), the output, and overwrites the row's
//           projections with the saved values (rows past their length: state carried, output
//           0, saved values 0).
// Backward: per step (reverse processing order) one fused pointwise kernel turning dh, dc
//           (+ grad_output) into dG (T, B, dw) and the pointwise part of dh(t-1), dc(t-1), then
//           dh += dG W_hh (MGU: dfh = dG_n U_n, a second kernel for f, then dh += dG_f U_f);
//           after the loop dX, dW_ih, dW_hh as GEMMs over all T*B rows, the bias and peephole
//           gradients as column sums (a deterministic reduction kernel, double accumulation).
//
// Buffers (elements of the dtype):
//   gates (saved):      (T, B, sw)  RNN: h | LSTM: i f g o | GRU: r z n (W_hn h + b_hn) |
//                                   MGU: f n (f h(t-1))           -- identical to the CPU's
//   forward workspace:  bias (gh + H: b_ih + b_hh, GRU's n block b_in only, then b_hn) | hg (B, gh)
//   step workspace:     forward workspace | pre (B, sw)
//   backward workspace: dG (T, B, dw), dw = gh (GRU 4H: dr dz r*dn dn) | dh (B, H) | dc (B, H) |
//                       dfh (B, H)
// Every kernel and GEMM runs on the backend's stream in order; nothing is allocated, and
// the host never waits.
#include <cstdint>

#include "backend/cuda/cuda_backend.hpp"
#include "backend/cuda/kernels_b.cuh"

namespace recur::backend {
namespace {

using namespace cuda_b;

// bias[j] for j < gh + H, as the CPU's combined_bias.
template <class T>
__global__ void combined_bias_kernel(T* __restrict__ bias, const T* __restrict__ b_ih, const T* __restrict__ b_hh,
                                     std::int64_t gh, std::int64_t H, bool gru) {
  RECUR_GRID_STRIDE(j, gh + H) {
    if (j < gh) {
      const bool inner = gru && j >= 2 * H;
      bias[j] = (b_ih ? b_ih[j] : T(0)) + (b_hh && !inner ? b_hh[j] : T(0));
    } else {
      bias[j] = gru && b_hh ? b_hh[2 * H + (j - gh)] : T(0);
    }
  }
}

// dst row r (dst_ld apart) = src row rows[r] (src_ld apart), `width` values each; n = rows * width.
template <class T>
__global__ void gather_rows_kernel(T* __restrict__ dst, std::int64_t dst_ld, const T* __restrict__ src,
                                   std::int64_t src_ld, const std::int64_t* __restrict__ rows, std::int64_t width,
                                   std::int64_t n) {
  RECUR_GRID_STRIDE(i, n) {
    const std::int64_t r = i / width, j = i % width;
    dst[r * dst_ld + j] = src[rows[r] * src_ld + j];
  }
}

// The operands of one forward step. Row b of g is g + b*sw, of hr hr + b*gh, of out
// out + b*out_ld; states are (B, H). cp, cn: LSTM only. out, lengths may be null.
template <class T>
struct FwdStep {
  T* g;
  const T* hr;
  const T* bias;
  const T* peep;
  const T* hp;
  T* hn;
  const T* cp;
  T* cn;
  T* out;
  std::int64_t out_ld;
  const std::int64_t* lengths;
  std::int64_t t, B, H, sw, gh;
  RnnCell kind;
};

// MGU, before the candidate's recurrent product: f and f h(t-1) (every row, as the CPU; the
// main kernel zeroes the saved values of rows past their length).
template <class T>
__global__ void mgu_forward_f_kernel(FwdStep<T> s) {
  RECUR_GRID_STRIDE(e, s.B * s.H) {
    const std::int64_t b = e / s.H, j = e % s.H;
    T* g = s.g + b * s.sw;
    const T* hr = s.hr + b * s.gh;
    const T f = dev_sigmoid(g[j] + hr[j] + s.bias[j]);
    g[j] = f;
    g[2 * s.H + j] = f * s.hp[e];
  }
}

template <class T>
__global__ void forward_step_kernel(FwdStep<T> s) {
  RECUR_GRID_STRIDE(e, s.B * s.H) {
    const std::int64_t b = e / s.H, j = e % s.H, H = s.H;
    T* g = s.g + b * s.sw;
    if (s.lengths && s.t >= s.lengths[b]) {  // past the end: carry the state, output 0
      s.hn[e] = s.hp[e];
      if (s.cn) s.cn[e] = s.cp[e];
      if (s.out) s.out[b * s.out_ld + j] = T(0);
      for (std::int64_t k = j; k < s.sw; k += H) g[k] = T(0);
      continue;
    }
    const T* hr = s.hr + b * s.gh;
    const T* bias = s.bias;
    T h;
    switch (s.kind) {
      case RnnCell::RnnTanh:
      case RnnCell::RnnRelu: {
        const T v = g[j] + hr[j] + bias[j];
        h = s.kind == RnnCell::RnnRelu ? (v > T(0) ? v : T(0)) : dev_tanh(v);
        g[j] = h;
        break;
      }
      case RnnCell::Lstm: {
        const T c_prev = s.cp[e];
        T pi = g[j] + hr[j] + bias[j], pf = g[H + j] + hr[H + j] + bias[H + j];
        if (s.peep) pi += s.peep[j] * c_prev, pf += s.peep[H + j] * c_prev;
        const T i = dev_sigmoid(pi), f = dev_sigmoid(pf);
        const T gg = dev_tanh(g[2 * H + j] + hr[2 * H + j] + bias[2 * H + j]);
        const T c = f * c_prev + i * gg;
        T po = g[3 * H + j] + hr[3 * H + j] + bias[3 * H + j];
        if (s.peep) po += s.peep[2 * H + j] * c;
        const T o = dev_sigmoid(po);
        g[j] = i, g[H + j] = f, g[2 * H + j] = gg, g[3 * H + j] = o;
        s.cn[e] = c;
        h = o * dev_tanh(c);
        break;
      }
      case RnnCell::Gru: {
        const T r = dev_sigmoid(g[j] + hr[j] + bias[j]);
        const T z = dev_sigmoid(g[H + j] + hr[H + j] + bias[H + j]);
        const T hlin = hr[2 * H + j] + bias[3 * H + j];
        const T n = dev_tanh(g[2 * H + j] + bias[2 * H + j] + r * hlin);
        g[j] = r, g[H + j] = z, g[2 * H + j] = n, g[3 * H + j] = hlin;
        h = (T(1) - z) * n + z * s.hp[e];
        break;
      }
      default: {  // Mgu: f and f h(t-1) already in g, the candidate's product in hr[H ..)
        const T f = g[j];
        const T n = dev_tanh(g[H + j] + hr[H + j] + bias[H + j]);
        g[H + j] = n;
        h = (T(1) - f) * s.hp[e] + f * n;
        break;
      }
    }
    s.hn[e] = h;
    if (s.out) s.out[b * s.out_ld + j] = h;
  }
}

// The operands of one backward step: g the saved values of time t (row stride sw), dg its
// pre-activation gradients (row stride dw); dh, dc (B, H) hold dL/dh(t), dL/dc(t) on entry and
// the pointwise parts of dL/dh(t-1), dL/dc(t-1) on exit. gout, lengths may be null.
template <class T>
struct BwdStep {
  const T* g;
  const T* hp;
  const T* cp;
  const T* cn;
  const T* gout;
  const T* peep;
  const T* dfh;
  T* dg;
  T* dh;
  T* dc;
  const std::int64_t* lengths;
  std::int64_t t, B, H, sw, dw;
  RnnCell kind;
};

template <class T>
__global__ void backward_step_kernel(BwdStep<T> s) {
  RECUR_GRID_STRIDE(e, s.B * s.H) {
    const std::int64_t b = e / s.H, j = e % s.H, H = s.H;
    T* dg = s.dg + b * s.dw;
    if (s.lengths && s.t >= s.lengths[b]) {  // zero gate gradients; dh, dc pass through
      for (std::int64_t k = j; k < s.dw; k += H) dg[k] = T(0);
      continue;
    }
    const T* g = s.g + b * s.sw;
    T gh = s.dh[e];
    if (s.gout) gh += s.gout[e];
    switch (s.kind) {
      case RnnCell::RnnTanh:
        dg[j] = gh * (T(1) - g[j] * g[j]);
        s.dh[e] = T(0);
        break;
      case RnnCell::RnnRelu:
        dg[j] = g[j] > T(0) ? gh : T(0);
        s.dh[e] = T(0);
        break;
      case RnnCell::Lstm: {
        const T i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
        const T tc = dev_tanh(s.cn[e]);
        const T d_o = gh * tc * o * (T(1) - o);
        T dct = s.dc[e] + gh * o * (T(1) - tc * tc);
        if (s.peep) dct += d_o * s.peep[2 * H + j];
        const T d_i = dct * gg * i * (T(1) - i);
        const T d_f = dct * s.cp[e] * f * (T(1) - f);
        const T d_g = dct * i * (T(1) - gg * gg);
        dg[j] = d_i, dg[H + j] = d_f, dg[2 * H + j] = d_g, dg[3 * H + j] = d_o;
        T dcp = dct * f;
        if (s.peep) dcp += d_i * s.peep[j] + d_f * s.peep[H + j];
        s.dc[e] = dcp;
        s.dh[e] = T(0);
        break;
      }
      case RnnCell::Gru: {
        const T r = g[j], z = g[H + j], n = g[2 * H + j], hlin = g[3 * H + j];
        const T d_n = gh * (T(1) - z) * (T(1) - n * n);
        const T d_z = gh * (s.hp[e] - n) * z * (T(1) - z);
        const T d_r = d_n * hlin * r * (T(1) - r);
        dg[j] = d_r, dg[H + j] = d_z, dg[2 * H + j] = d_n * r, dg[3 * H + j] = d_n;
        s.dh[e] = gh * z;
        break;
      }
      default:  // Mgu, the candidate; dh keeps the whole incoming gradient for the f kernel
        dg[H + j] = gh * g[j] * (T(1) - g[H + j] * g[H + j]);
        s.dh[e] = gh;
        break;
    }
  }
}

// MGU, once dfh = d(f h(t-1)) = dn_pre U_n is known: f's gradient and dh(t-1)'s pointwise part.
template <class T>
__global__ void mgu_backward_f_kernel(BwdStep<T> s) {
  RECUR_GRID_STRIDE(e, s.B * s.H) {
    const std::int64_t b = e / s.H, j = e % s.H;
    if (s.lengths && s.t >= s.lengths[b]) continue;
    const T* g = s.g + b * s.sw;
    T* dg = s.dg + b * s.dw;
    const T f = g[j], n = g[s.H + j], gh = s.dh[e], hp = s.hp[e], dfh = s.dfh[e];
    const T df = gh * (n - hp) + dfh * hp;
    dg[j] = df * f * (T(1) - f);
    s.dh[e] = gh * (T(1) - f) + dfh * f;
  }
}

// out[j] = sum over rows r of a[r*lda + j] (times b[r*ldb + j] when b is given), j < ncols,
// accumulated in double. Blocks of 32 columns x 8 row lanes; the lanes' partial sums are
// added in a fixed order, so the result is deterministic.
constexpr int kSumCols = 32, kSumLanes = 8;

template <class T>
__global__ void column_sum_kernel(T* __restrict__ out, const T* __restrict__ a, std::int64_t lda,
                                  const T* __restrict__ b, std::int64_t ldb, std::int64_t rows, std::int64_t ncols) {
  __shared__ double partial[kSumLanes][kSumCols];
  const std::int64_t j = static_cast<std::int64_t>(blockIdx.x) * kSumCols + threadIdx.x;
  double acc = 0;
  if (j < ncols) {
    for (std::int64_t r = threadIdx.y; r < rows; r += kSumLanes) {
      const double v = a[r * lda + j];
      acc += b ? v * static_cast<double>(b[r * ldb + j]) : v;
    }
  }
  partial[threadIdx.y][threadIdx.x] = acc;
  __syncthreads();
  if (threadIdx.y == 0 && j < ncols) {
    double total = 0;
    for (int l = 0; l < kSumLanes; ++l) total += partial[l][threadIdx.x];
    out[j] = static_cast<T>(total);
  }
}

template <class T>
struct RnnGpu {
  CudaBackend& be;
  RnnCell kind;
  std::int64_t steps, batch, input, hidden, gh, sw;
  bool reverse;
  DType dtype;
  const T *w_ih, *w_hh, *b_ih, *b_hh, *peep;
  cudaStream_t stream;

  RnnGpu(CudaBackend& backend, const RnnDims& d, const RnnWeights& w)
      : be(backend), kind(d.kind), steps(d.steps), batch(d.batch), input(d.input), hidden(d.hidden),
        gh(rnn_gate_count(d.kind) * d.hidden), sw(rnn_saved_width(d.kind, d.hidden)), reverse(d.reverse),
        dtype(d.dtype), w_ih(static_cast<const T*>(w.w_ih)), w_hh(static_cast<const T*>(w.w_hh)),
        b_ih(static_cast<const T*>(w.b_ih)), b_hh(static_cast<const T*>(w.b_hh)),
        peep(static_cast<const T*>(w.peephole)), stream(backend.stream()) {}

  void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
            const T* b, std::int64_t ldb, double beta, T* c, std::int64_t ldc) {
    be.gemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc, dtype);
  }

  std::int64_t time_of(std::int64_t s) const { return reverse ? steps - 1 - s : s; }
  std::int64_t prev_slot(std::int64_t t) const { return reverse ? t + 1 : t; }
  std::int64_t next_slot(std::int64_t t) const { return reverse ? t : t + 1; }

  void combined_bias(T* bias) {
    combined_bias_kernel<T><<<grid_for(gh + hidden), kThreads, 0, stream>>>(bias, b_ih, b_hh, gh, hidden,
                                                                             kind == RnnCell::Gru);
    check_launch("rnn bias");
  }

  void column_sum(T* out, const T* a, std::int64_t lda, const T* b, std::int64_t ldb, std::int64_t rows,
                  std::int64_t ncols) {
    if (ncols == 0) return;
    const unsigned blocks = static_cast<unsigned>((ncols + kSumCols - 1) / kSumCols);
    column_sum_kernel<T><<<blocks, dim3(kSumCols, kSumLanes), 0, stream>>>(out, a, lda, b, ldb, rows, ncols);
    check_launch("rnn column sums");
  }

  // One forward step: `pre` holds the rows' input projections (sw apart) and is left holding
  // the saved values; hg is (B, gh) scratch.
  void forward_step(std::int64_t t, T* pre, const T* hprev, T* hnew, const T* cprev, T* cnew, T* out,
                    std::int64_t out_ld, T* hg, const T* bias, const std::int64_t* lengths) {
    const std::int64_t B = batch, H = hidden;
    gemm(false, true, B, kind == RnnCell::Mgu ? H : gh, H, hprev, H, w_hh, H, 0.0, hg, gh);
    const FwdStep<T> s{pre, hg, bias, peep, hprev, hnew, cprev, cnew, out, out_ld, lengths, t, B, H, sw, gh, kind};
    if (kind == RnnCell::Mgu) {
      mgu_forward_f_kernel<T><<<grid_for(B * H), kThreads, 0, stream>>>(s);
      check_launch("rnn forward (mgu f)");
      gemm(false, true, B, H, H, pre + 2 * H, sw, w_hh + H * H, H, 0.0, hg + H, gh);
    }
    forward_step_kernel<T><<<grid_for(B * H), kThreads, 0, stream>>>(s);
    check_launch("rnn forward step");
  }

  void forward(const RnnForwardBuffers& f) {
    const std::int64_t B = batch, H = hidden;
    if (steps == 0 || B == 0 || H == 0) return;
    T* ws = static_cast<T*>(f.workspace);
    T* bias = ws;
    T* hg = ws + gh + H;
    combined_bias(bias);
    T* gates = static_cast<T*>(f.gates);
    T* hs = static_cast<T*>(f.h_states);
    T* cs = static_cast<T*>(f.c_states);
    T* out = static_cast<T*>(f.output);
    const std::int64_t out_ld = f.output_ld ? f.output_ld : H;
    const T* x = static_cast<const T*>(f.input);
    if (w_ih) gemm(false, true, steps * B, gh, input, x, input, w_ih, input, 0.0, gates, sw);
    for (std::int64_t s = 0; s < steps; ++s) {
      const std::int64_t t = time_of(s);
      std::int64_t p = prev_slot(t) * B * H, n = next_slot(t) * B * H;
      T* g = gates + t * B * sw;
      if (!w_ih) {  // a table of projections; gates for one step, states in two slots (RnnWeights)
        g = gates, p = s % 2 * B * H, n = (s + 1) % 2 * B * H;
        gather_rows_kernel<T><<<grid_for(B * gh), kThreads, 0, stream>>>(g, sw, x, input, f.input_rows + t * B, gh,
                                                                          B * gh);
        check_launch("rnn projected input");
      }
      forward_step(t, g, hs + p, hs + n, cs ? cs + p : nullptr, cs ? cs + n : nullptr,
                   out ? out + t * B * out_ld : nullptr, out_ld, hg, bias, f.lengths);
    }
  }

  // In place: thread (b, j) reads h[b, j] (and c) before writing it, and the recurrent
  // products have read h before the pointwise kernel runs (stream order).
  // Rows added_rows[b] of `added` (a table gh wide, or null) go into the input projections
  // before the product adds to them.
  void step(const T* x, T* h, T* c, T* ws, const T* added, const std::int64_t* added_rows) {
    const std::int64_t B = batch, H = hidden;
    if (B == 0 || H == 0) return;
    T* bias = ws;
    T* hg = bias + gh + H;
    T* pre = hg + B * gh;
    combined_bias(bias);
    if (added) {
      gather_rows_kernel<T><<<grid_for(B * gh), kThreads, 0, stream>>>(pre, sw, added, gh, added_rows, gh, B * gh);
      check_launch("rnn step's added projections");
    }
    gemm(false, true, B, gh, input, x, input, w_ih, input, added ? 1.0 : 0.0, pre, sw);
    forward_step(0, pre, h, h, c, c, nullptr, 0, hg, bias, nullptr);
  }

  void backward(const RnnBackwardBuffers& bb) {
    const std::int64_t B = batch, H = hidden, dw = rnn_grad_width(kind, H), rows = steps * B;
    const std::size_t state_bytes = sizeof(T) * static_cast<std::size_t>(B * H);
    const T* x = static_cast<const T*>(bb.input);
    const T* gates = static_cast<const T*>(bb.gates);
    const T* hs = static_cast<const T*>(bb.h_states);
    const T* cs = static_cast<const T*>(bb.c_states);
    const T* gout = static_cast<const T*>(bb.grad_output);
    if (H == 0) {  // every weight gradient is empty; the input's is 0
      if (bb.grad_input && rows * input > 0) {
        check(cudaMemsetAsync(bb.grad_input, 0, sizeof(T) * rows * input, stream), "rnn backward");
      }
      return;
    }
    T* dG = static_cast<T*>(bb.workspace);
    T* dh = dG + rows * dw;
    T* dc = dh + B * H;
    T* dfh = dc + B * H;
    auto start = [&](T* dst, const void* src) {
      if (state_bytes == 0) return;
      if (src) check(cudaMemcpyAsync(dst, src, state_bytes, cudaMemcpyDeviceToDevice, stream), "rnn backward");
      else check(cudaMemsetAsync(dst, 0, state_bytes, stream), "rnn backward");
    };
    start(dh, bb.grad_h_n);
    start(dc, kind == RnnCell::Lstm ? bb.grad_c_n : nullptr);
    if (B * H > 0) {
      for (std::int64_t s = steps - 1; s >= 0; --s) {
        const std::int64_t t = time_of(s);
        const std::int64_t p = prev_slot(t) * B * H, n = next_slot(t) * B * H;
        T* dg = dG + t * B * dw;
        const BwdStep<T> st{gates + t * B * sw, hs + p, cs ? cs + p : nullptr, cs ? cs + n : nullptr,
                            gout ? gout + t * B * H : nullptr, peep, dfh, dg, dh, dc, bb.lengths, t, B, H, sw, dw,
                            kind};
        backward_step_kernel<T><<<grid_for(B * H), kThreads, 0, stream>>>(st);
        check_launch("rnn backward step");
        if (kind == RnnCell::Mgu) {
          gemm(false, false, B, H, H, dg + H, dw, w_hh + H * H, H, 0.0, dfh, H);
          mgu_backward_f_kernel<T><<<grid_for(B * H), kThreads, 0, stream>>>(st);
          check_launch("rnn backward (mgu f)");
          gemm(false, false, B, H, H, dg, dw, w_hh, H, 1.0, dh, H);  // + df_pre U_f
        } else {
          gemm(false, false, B, H, kind == RnnCell::Gru ? 3 * H : gh, dg, dw, w_hh, H, 1.0, dh, H);
        }
      }
    }
    if (bb.grad_h0 && state_bytes) {
      check(cudaMemcpyAsync(bb.grad_h0, dh, state_bytes, cudaMemcpyDeviceToDevice, stream), "rnn backward");
    }
    if (bb.grad_c0 && state_bytes) {
      check(cudaMemcpyAsync(bb.grad_c0, dc, state_bytes, cudaMemcpyDeviceToDevice, stream), "rnn backward");
    }

    // Over all T*B rows at once (as the CPU): GRU's W_ih n block sees dn (dG's last block),
    // its W_hh n block r dn.
    const T* h_prev_all = hs + (reverse ? B * H : 0);  // slots of h(t-1), t = 0 .. T-1
    T* gw_ih = static_cast<T*>(bb.grad_w_ih);
    T* gw_hh = static_cast<T*>(bb.grad_w_hh);
    T* gx = static_cast<T*>(bb.grad_input);
    T* gb_ih = static_cast<T*>(bb.grad_b_ih);
    T* gb_hh = static_cast<T*>(bb.grad_b_hh);
    if (kind == RnnCell::Gru) {
      const T* dn = dG + 3 * H;
      if (gw_ih) {
        gemm(true, false, 2 * H, input, rows, dG, dw, x, input, 0.0, gw_ih, input);
        gemm(true, false, H, input, rows, dn, dw, x, input, 0.0, gw_ih + 2 * H * input, input);
      }
      if (gx) {
        gemm(false, false, rows, input, 2 * H, dG, dw, w_ih, input, 0.0, gx, input);
        gemm(false, false, rows, input, H, dn, dw, w_ih + 2 * H * input, input, 1.0, gx, input);
      }
      if (gb_ih) {
        column_sum(gb_ih, dG, dw, nullptr, 0, rows, 2 * H);
        column_sum(gb_ih + 2 * H, dn, dw, nullptr, 0, rows, H);
      }
      if (gw_hh) gemm(true, false, 3 * H, H, rows, dG, dw, h_prev_all, H, 0.0, gw_hh, H);
      if (gb_hh) column_sum(gb_hh, dG, dw, nullptr, 0, rows, 3 * H);
      return;
    }
    if (gw_ih) gemm(true, false, gh, input, rows, dG, dw, x, input, 0.0, gw_ih, input);
    if (gx) gemm(false, false, rows, input, gh, dG, dw, w_ih, input, 0.0, gx, input);
    // Both biases add to the same pre-activations: one sum serves both.
    if (gb_ih) column_sum(gb_ih, dG, dw, nullptr, 0, rows, gh);
    if (gb_hh) column_sum(gb_hh, dG, dw, nullptr, 0, rows, gh);
    if (gw_hh) {
      if (kind == RnnCell::Mgu) {  // U_f sees h(t-1), U_n sees f h(t-1)
        gemm(true, false, H, H, rows, dG, dw, h_prev_all, H, 0.0, gw_hh, H);
        gemm(true, false, H, H, rows, dG + H, dw, gates + 2 * H, sw, 0.0, gw_hh + H * H, H);
      } else {
        gemm(true, false, gh, H, rows, dG, dw, h_prev_all, H, 0.0, gw_hh, H);
      }
    }
    if (bb.grad_peephole) {
      // dp_i = sum of di_pre c(t-1), dp_f = sum of df_pre c(t-1), dp_o = sum of do_pre c(t).
      T* gp = static_cast<T*>(bb.grad_peephole);
      const T* c_prev_all = cs + (reverse ? B * H : 0);
      const T* c_new_all = cs + (reverse ? 0 : B * H);
      column_sum(gp, dG, dw, c_prev_all, H, rows, H);
      column_sum(gp + H, dG + H, dw, c_prev_all, H, rows, H);
      column_sum(gp + 2 * H, dG + 3 * H, dw, c_new_all, H, rows, H);
    }
  }
};

}  // namespace

std::int64_t CudaBackend::rnn_saved_size(const RnnDims& d) {
  return d.steps * d.batch * rnn_saved_width(d.kind, d.hidden);
}

std::int64_t CudaBackend::rnn_forward_workspace(const RnnDims& d) {
  const std::int64_t gh = rnn_gate_count(d.kind) * d.hidden;
  return gh + d.hidden + d.batch * gh;  // combined biases (+ GRU's b_hn), recurrent products
}

std::int64_t CudaBackend::rnn_step_workspace(const RnnDims& d) {  // + the step's saved values
  return rnn_forward_workspace(d) + d.batch * rnn_saved_width(d.kind, d.hidden);
}

std::int64_t CudaBackend::rnn_backward_workspace(const RnnDims& d) {
  return d.steps * d.batch * rnn_grad_width(d.kind, d.hidden) + 3 * d.batch * d.hidden;  // dG, dh, dc, dfh
}

void CudaBackend::rnn_forward(const RnnDims& d, const RnnWeights& w, const RnnForwardBuffers& f) {
  dispatch_float(d.dtype, [&](auto zero) { RnnGpu<decltype(zero)>(*this, d, w).forward(f); });
}

void CudaBackend::rnn_backward(const RnnDims& d, const RnnWeights& w, const RnnBackwardBuffers& b) {
  dispatch_float(d.dtype, [&](auto zero) { RnnGpu<decltype(zero)>(*this, d, w).backward(b); });
}

void CudaBackend::rnn_step(const RnnDims& d, const RnnWeights& w, const void* input, void* h, void* c,
                           void* workspace, const void* added, const std::int64_t* added_rows) {
  dispatch_float(d.dtype, [&](auto zero) {
    using T = decltype(zero);
    RnnGpu<T>(*this, d, w).step(static_cast<const T*>(input), static_cast<T*>(h), static_cast<T*>(c),
                                static_cast<T*>(workspace), static_cast<const T*>(added), added_rows);
  });
}

}  // namespace recur::backend
