// Fused recurrent layers: one layer, one direction, the whole sequence in one kernel call.
//
// Notation: T steps, B batch rows, I inputs, H hidden units, G gates; x(t) (B, I), h(t) (B, H).
// Row-major weights stack the gates' blocks: W_ih (G*H, I), W_hh (G*H, H), as PyTorch.
//
//   RNN:  h = act(W_ih x + b_ih + W_hh h(t-1) + b_hh),  act = tanh or relu
//   LSTM: i = s(.. + p_i c(t-1)),  f = s(.. + p_f c(t-1)),  g = tanh(..),
//         c = f c(t-1) + i g,  o = s(.. + p_o c),  h = o tanh(c)        (p: optional peepholes)
//   GRU:  r = s(..), z = s(..), n = tanh(W_in x + b_in + r (W_hn h(t-1) + b_hn)),
//         h = (1 - z) n + z h(t-1)                                       (PyTorch's)
//   MGU:  f = s(W_f x + b_if + U_f h(t-1) + b_hf),
//         n = tanh(W_n x + b_in + U_n (f h(t-1)) + b_hn),  h = (1 - f) h(t-1) + f n
// where ".." is the gate's block of W_ih x + b_ih + W_hh h(t-1) + b_hh and s the sigmoid.
//
// Forward:  1. the input projections of all T steps, X W_ih^T, one GEMM straight into the
//              saved-gates buffer (row width rnn_saved_width);
//           2. per step, one recurrent GEMM h(t-1) W_hh^T into a (B, G*H) workspace (MGU: two,
//              the second needs f), then one pointwise pass per row that adds both biases,
//              applies the gates and overwrites the projections with the activations the
//              backward pass reads.
// Backward: per step (in reverse processing order) one pointwise pass that turns dh, dc into
//           the pre-activation gradients dG (T, B, ·) and the pointwise part of dh(t-1), then
//           dh(t-1) += dG W_hh, one GEMM (MGU: two). After the loop, over all T*B rows at once:
//           dW_ih = dG^T X, dW_hh = dG^T H_prev, dX = dG W_ih, db = 1^T dG (GEMMs).
// Rows past their sequence's length keep their state and get dG = 0, so the gradient of a
// carried state passes through unchanged. The per-step products use W_hh packed once per
// call (packed_gemm.hpp) when the sequence is long enough to repay the packing. Workspaces
// come from the caller, sized once per call: nothing is allocated per step.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <functional>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"
#include "backend/cpu/packed_gemm.hpp"
#include "backend/cpu/thread_pool.hpp"
#include "backend/cpu/vec_math.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

// W_hh's blocks of gate rows with a product of their own: MGU's U_f and U_n (the second
// product needs f), one block of all the gates otherwise.
std::int64_t recurrent_blocks(RnnCell kind) { return kind == RnnCell::Mgu ? 2 : 1; }

// Packing W_hh costs about as much as one BLAS product of a step; batch-1 rows go to BLAS's
// matrix-vector product, which packs nothing.
bool packs_recurrent_weights(const RnnDims& d) { return d.steps >= 4 && d.batch >= 2; }

// Values of W_hh's packed blocks: each block transposed (k = H) for the forward products
// h(t-1) W^T, as stored (n = H) for the backward products dG W.
template <class T>
std::int64_t packed_recurrent_size(const RnnDims& d, bool backward) {
  if (!packs_recurrent_weights(d)) return 0;
  const std::int64_t blocks = recurrent_blocks(d.kind), rows = rnn_gate_count(d.kind) * d.hidden / blocks;
  return blocks * (backward ? packed_size<T>(rows, d.hidden) : packed_size<T>(d.hidden, rows));
}

std::int64_t packed_recurrent_size(const RnnDims& d, bool backward) {
  return d.dtype == DType::Float64 ? packed_recurrent_size<double>(d, backward)
                                   : packed_recurrent_size<float>(d, backward);
}

}  // namespace

std::int64_t CpuBackend::rnn_saved_size(const RnnDims& d) {
  return d.steps * d.batch * rnn_saved_width(d.kind, d.hidden);
}

std::int64_t CpuBackend::rnn_forward_workspace(const RnnDims& d) {
  const std::int64_t gh = rnn_gate_count(d.kind) * d.hidden;
  // combined biases (+ GRU's b_hn), recurrent products, packed W_hh
  return gh + d.hidden + d.batch * gh + packed_recurrent_size(d, false);
}

std::int64_t CpuBackend::rnn_step_workspace(const RnnDims& d) {  // + saved values, new h and c
  return rnn_forward_workspace(d) + d.batch * (rnn_saved_width(d.kind, d.hidden) + 2 * d.hidden);
}

std::int64_t CpuBackend::rnn_backward_workspace(const RnnDims& d) {
  const std::int64_t rows = d.steps * d.batch;
  // dG, dh, dc, d(f h), ones, packed W_hh
  return rows * rnn_grad_width(d.kind, d.hidden) + 3 * d.batch * d.hidden + rows + packed_recurrent_size(d, true);
}

namespace {

// ---- The pointwise passes over one batch row, written as plain loops over j < H with
// restrict pointers and no branches inside, so that they vectorise. `g` holds the row's
// input projections on entry (forward) and the saved values on exit; `hr` the recurrent
// products; `bias` the combined biases (see combined_bias).

template <class T, bool kRelu>
void rnn_forward_row(std::int64_t H, T* __restrict g, const T* __restrict hr, const T* __restrict bias,
                     T* __restrict hn) {
  for (std::int64_t j = 0; j < H; ++j) {
    const T v = g[j] + hr[j] + bias[j];
    const T h = kRelu ? (v > T(0) ? v : T(0)) : tanh_any(v);
    g[j] = h;
    hn[j] = h;
  }
}

template <class T, bool kPeep>
void lstm_forward_row(std::int64_t H, T* __restrict g, const T* __restrict hr, const T* __restrict bias,
                      const T* __restrict peep, const T* __restrict cp, T* __restrict cn, T* __restrict hn) {
  for (std::int64_t j = 0; j < H; ++j) {
    const T c_prev = cp[j];
    T pi = g[j] + hr[j] + bias[j], pf = g[H + j] + hr[H + j] + bias[H + j];
    if constexpr (kPeep) pi += peep[j] * c_prev, pf += peep[H + j] * c_prev;
    const T i = sigmoid_any(pi), f = sigmoid_any(pf);
    const T gg = tanh_any(g[2 * H + j] + hr[2 * H + j] + bias[2 * H + j]);
    const T c = f * c_prev + i * gg;
    T po = g[3 * H + j] + hr[3 * H + j] + bias[3 * H + j];
    if constexpr (kPeep) po += peep[2 * H + j] * c;
    const T o = sigmoid_any(po);
    g[j] = i, g[H + j] = f, g[2 * H + j] = gg, g[3 * H + j] = o;
    cn[j] = c;
    hn[j] = o * tanh_any(c);
  }
}

// bias[2H .. 3H) is b_in; b_hn sits at bias[3H ..).
template <class T>
void gru_forward_row(std::int64_t H, T* __restrict g, const T* __restrict hr, const T* __restrict bias,
                     const T* __restrict hp, T* __restrict hn) {
  for (std::int64_t j = 0; j < H; ++j) {
    const T r = sigmoid_any(g[j] + hr[j] + bias[j]);
    const T z = sigmoid_any(g[H + j] + hr[H + j] + bias[H + j]);
    const T hlin = hr[2 * H + j] + bias[3 * H + j];
    const T n = tanh_any(g[2 * H + j] + bias[2 * H + j] + r * hlin);
    g[j] = r, g[H + j] = z, g[2 * H + j] = n, g[3 * H + j] = hlin;
    hn[j] = (T(1) - z) * n + z * hp[j];
  }
}

// MGU in two passes around the candidate's GEMM: f and f h(t-1), then the candidate and h.
template <class T>
void mgu_forward_row_f(std::int64_t H, T* __restrict g, const T* __restrict hr, const T* __restrict bias,
                       const T* __restrict hp) {
  for (std::int64_t j = 0; j < H; ++j) {
    const T f = sigmoid_any(g[j] + hr[j] + bias[j]);
    g[j] = f;
    g[2 * H + j] = f * hp[j];
  }
}

template <class T>
void mgu_forward_row_n(std::int64_t H, T* __restrict g, const T* __restrict hr, const T* __restrict bias,
                       const T* __restrict hp, T* __restrict hn) {
  for (std::int64_t j = 0; j < H; ++j) {
    const T f = g[j];
    const T n = tanh_any(g[H + j] + hr[H + j] + bias[H + j]);
    g[H + j] = n;
    hn[j] = (T(1) - f) * hp[j] + f * n;
  }
}

// Backward rows: dh holds dL/dh(t) (the output's gradient already added) and is left
// holding the pointwise part of dL/dh(t-1); dc likewise for the cell state.
template <class T, bool kRelu>
void rnn_backward_row(std::int64_t H, const T* __restrict g, T* __restrict dg, T* __restrict dh) {
  for (std::int64_t j = 0; j < H; ++j) {
    dg[j] = kRelu ? (g[j] > T(0) ? dh[j] : T(0)) : dh[j] * (T(1) - g[j] * g[j]);
    dh[j] = T(0);
  }
}

template <class T, bool kPeep>
void lstm_backward_row(std::int64_t H, const T* __restrict g, const T* __restrict peep, const T* __restrict cp,
                       const T* __restrict cn, T* __restrict dg, T* __restrict dh, T* __restrict dc) {
  for (std::int64_t j = 0; j < H; ++j) {
    const T gh = dh[j];
    const T i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
    const T tc = tanh_any(cn[j]);
    const T d_o = gh * tc * o * (T(1) - o);
    T dct = dc[j] + gh * o * (T(1) - tc * tc);
    if constexpr (kPeep) dct += d_o * peep[2 * H + j];
    const T d_i = dct * gg * i * (T(1) - i);
    const T d_f = dct * cp[j] * f * (T(1) - f);
    const T d_g = dct * i * (T(1) - gg * gg);
    dg[j] = d_i, dg[H + j] = d_f, dg[2 * H + j] = d_g, dg[3 * H + j] = d_o;
    T dcp = dct * f;
    if constexpr (kPeep) dcp += d_i * peep[j] + d_f * peep[H + j];
    dc[j] = dcp;
    dh[j] = T(0);
  }
}

// dG = (dr, dz, r dn, dn): W_hh's n block sees r dn, W_ih's sees dn.
template <class T>
void gru_backward_row(std::int64_t H, const T* __restrict g, const T* __restrict hp, T* __restrict dg,
                      T* __restrict dh) {
  for (std::int64_t j = 0; j < H; ++j) {
    const T gh = dh[j];
    const T r = g[j], z = g[H + j], n = g[2 * H + j], hlin = g[3 * H + j];
    const T d_n = gh * (T(1) - z) * (T(1) - n * n);
    const T d_z = gh * (hp[j] - n) * z * (T(1) - z);
    const T d_r = d_n * hlin * r * (T(1) - r);
    dg[j] = d_r, dg[H + j] = d_z, dg[2 * H + j] = d_n * r, dg[3 * H + j] = d_n;
    dh[j] = gh * z;
  }
}

// MGU, first the candidate (dh kept whole for the second pass), then f once
// dfh = d(f h(t-1)) = dn_pre U_n is known.
template <class T>
void mgu_backward_row_n(std::int64_t H, const T* __restrict g, T* __restrict dg, const T* __restrict dh) {
  for (std::int64_t j = 0; j < H; ++j) dg[H + j] = dh[j] * g[j] * (T(1) - g[H + j] * g[H + j]);
}

template <class T>
void mgu_backward_row_f(std::int64_t H, const T* __restrict g, const T* __restrict hp, const T* __restrict dfh,
                        T* __restrict dg, T* __restrict dh) {
  for (std::int64_t j = 0; j < H; ++j) {
    const T f = g[j], n = g[H + j], gh = dh[j];
    const T df = gh * (n - hp[j]) + dfh[j] * hp[j];
    dg[j] = df * f * (T(1) - f);
    dh[j] = gh * (T(1) - f) + dfh[j] * f;
  }
}

// Pointwise passes of fewer gate values than this per step run on the calling thread.
constexpr std::int64_t kRowParallelWork = std::int64_t{1} << 18;

// Fewest rows of a group that runs its step loop on a thread of its own (for_row_groups).
constexpr std::int64_t kGroupRows = 8;

template <class T>
struct RnnKernel {
  CpuBackend& be;
  RnnCell kind;
  std::int64_t steps, batch, input, hidden, gh, saved_width;
  bool reverse, packs_weights;
  DType dtype;
  const T *w_ih, *w_hh, *b_ih, *b_hh, *peep;
  const std::int64_t* lengths;
  bool sorted_lengths = false;  // lengths non-increasing (rows_in_play)
  PackedMatrix<T> packed[2];  // W_hh's blocks for this call's direction, when packed

  RnnKernel(CpuBackend& backend, const RnnDims& d, const RnnWeights& w)
      : be(backend), kind(d.kind), steps(d.steps), batch(d.batch), input(d.input), hidden(d.hidden),
        gh(rnn_gate_count(d.kind) * d.hidden), saved_width(rnn_saved_width(d.kind, d.hidden)),
        reverse(d.reverse), packs_weights(packs_recurrent_weights(d)), dtype(d.dtype), w_ih(static_cast<const T*>(w.w_ih)),
        w_hh(static_cast<const T*>(w.w_hh)), b_ih(static_cast<const T*>(w.b_ih)),
        b_hh(static_cast<const T*>(w.b_hh)), peep(static_cast<const T*>(w.peephole)), lengths(nullptr) {}

  // C (m x n, ldc) = alpha op(A) op(B) + beta C through the backend's one GEMM entry point.
  void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
            const T* b, std::int64_t ldb, double beta, T* c, std::int64_t ldc) {
    be.gemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc, dtype);
  }

  // Gate rows of each of W_hh's blocks (recurrent_blocks).
  std::int64_t block_rows() const { return gh / recurrent_blocks(kind); }

  // Packs W_hh's blocks into `storage` for forward (transposed) or backward products, when
  // the sequence repays it; otherwise the products go to BLAS.
  void pack_recurrent_weights(bool backward, T* storage) {
    if (!packs_weights) return;
    const std::int64_t rows = block_rows(), H = hidden;
    for (std::int64_t block = 0; block < recurrent_blocks(kind); ++block) {
      const T* w = w_hh + block * rows * H;
      packed[block] = backward ? pack_matrix<T>(false, rows, H, w, H, storage) : pack_matrix<T>(true, H, rows, w, H, storage);
      storage += backward ? packed_size<T>(rows, H) : packed_size<T>(H, rows);
    }
  }

  // C (rows x block_rows, row stride gh) = A W_block^T, for the first `rows` rows.
  void recurrent_forward(std::int64_t block, std::int64_t rows, const T* a, std::int64_t lda, T* c) {
    if (packed[block].data) return gemm_packed<T>(rows, a, lda, packed[block], false, nullptr, c, gh);
    gemm(false, true, rows, block_rows(), hidden, a, lda, w_hh + block * block_rows() * hidden, hidden, 0.0, c, gh);
  }

  // Rows [first, last) of C (batch x H) = dG_block W_block, or += it, where dG_block is the
  // block's columns of dG.
  void recurrent_backward(std::int64_t block, std::int64_t first, std::int64_t last, const T* dg_all, T* c,
                          bool accumulate) {
    const std::int64_t rows = block_rows(), dw = rnn_grad_width(kind, hidden);
    const T* dg = dg_all + first * dw + block * rows;
    c += first * hidden;
    if (packed[block].data) return gemm_packed<T>(last - first, dg, dw, packed[block], accumulate, nullptr, c, hidden);
    gemm(false, false, last - first, hidden, rows, dg, dw, w_hh + block * rows * hidden, hidden,
         accumulate ? 1.0 : 0.0, c, hidden);
  }

  // Each of the first `count` rows of `pre` (saved_width apart) = its row of a projections
  // table (rows table_ld apart): the rows' input projections, given rather than computed.
  void gather_projections(T* pre, const T* table, std::int64_t table_ld, const std::int64_t* rows,
                          std::int64_t count) const {
    for (std::int64_t b = 0; b < count; ++b)
      std::memcpy(pre + b * saved_width, table + rows[b] * table_ld, sizeof(T) * gh);
  }

  bool active(std::int64_t t, std::int64_t row) const { return lengths == nullptr || t < lengths[row]; }
  // Rows past which none is active at time t: with the lengths non-increasing (a length-sorted
  // batch: LengthBatches, a tagger's spellings), those longer than t, a prefix; else all. The
  // steps then skip the finished rows' products, as PyTorch's packed sequences do.
  std::int64_t rows_in_play(std::int64_t t) const {
    if (!sorted_lengths) return batch;
    return std::partition_point(lengths, lengths + batch, [t](std::int64_t n) { return n > t; }) - lengths;
  }
  std::int64_t time_of(std::int64_t s) const { return reverse ? steps - 1 - s : s; }
  // Slots of the time-aligned state buffers (see RnnForwardBuffers).
  std::int64_t prev_slot(std::int64_t t) const { return reverse ? t + 1 : t; }
  std::int64_t next_slot(std::int64_t t) const { return reverse ? t : t + 1; }

  // Row-parallel pointwise passes. A step's pointwise work is a few percent of its GEMM's
  // (hidden 512 x batch 32: ~10 us against ~350 us), so a pool job, one more hand-out and wait
  // per step, pays off only for much larger batches.
  template <class F>
  void for_rows(std::int64_t first, std::int64_t last, F&& f) {
    if ((last - first) * gh < kRowParallelWork) return f(first, last);
    parallel_range(last - first, gh, [&](std::int64_t r0, std::int64_t r1) { f(first + r0, first + r1); }, 1);
  }

  // f(first, last) for groups of the batch's rows that run their whole step loops side by
  // side, one group a thread: a group's steps wait for nothing, where splitting each step's
  // product and gate loop over the threads costs two hand-offs and waits a step, and on a
  // machine that other processes share, waits for whichever thread the system has
  // descheduled (docs/BENCHMARKS.md, "Rows in groups"). Only when every thread gets a group
  // of kGroupRows rows or more, and only where this call packed W_hh: every group's products
  // then run one kernel on the same packs, so a row's result never depends on its group or on
  // the thread count. Groups start at multiples of kGroupRows, the packed kernel's tile.
  template <class F>
  void for_row_groups(F&& f) {
    const std::int64_t groups = thread_pool().size();
    if (!packs_weights || groups < 2 || batch < groups * kGroupRows) return f(std::int64_t{0}, batch);
    const auto start = [&](std::int64_t g) {
      return g == groups ? batch : batch * g / groups / kGroupRows * kGroupRows;
    };
    thread_pool().run(static_cast<int>(groups), [&](int g) { f(start(g), start(g + 1)); });
  }

  // Everything added to a gate's pre-activation besides the two products: b_ih + b_hh,
  // except GRU's n gate, which gets b_in here and b_hn (stored after the gh values) inside r (...).
  void combined_bias(T* bias) const {
    for (std::int64_t j = 0; j < gh; ++j) {
      const bool inner = kind == RnnCell::Gru && j >= 2 * hidden;
      bias[j] = (b_ih ? b_ih[j] : T(0)) + (b_hh && !inner ? b_hh[j] : T(0));
    }
    for (std::int64_t j = 0; j < hidden; ++j)
      bias[gh + j] = kind == RnnCell::Gru && b_hh ? b_hh[2 * hidden + j] : T(0);
  }

  // ---- forward of one step for rows [first, last) of the buffers. `pre` holds the rows'
  // input projections (saved_width apart), overwritten with the saved values; hg the
  // recurrent products (gh apart). Rows from `in_play` on are past their ends (rows_in_play).
  void forward_step(std::int64_t t, std::int64_t first, std::int64_t in_play, std::int64_t last, T* pre,
                    const T* hprev, T* hnew, const T* cprev, T* cnew, T* out, std::int64_t out_ld, T* hg,
                    const T* bias) {
    const std::int64_t H = hidden, sw = saved_width;
    const auto finished = [&](std::int64_t b) {  // past the end: carry the state, output 0
      std::memcpy(hnew + b * H, hprev + b * H, sizeof(T) * H);
      if (cnew) std::memcpy(cnew + b * H, cprev + b * H, sizeof(T) * H);
      if (out) std::memset(out + b * out_ld, 0, sizeof(T) * H);
      std::memset(pre + b * sw, 0, sizeof(T) * sw);
    };
    for (std::int64_t b = in_play; b < last; ++b) finished(b);
    if (in_play == first) return;
    recurrent_forward(0, in_play - first, hprev + first * H, H, hg + first * gh);
    if (kind == RnnCell::Mgu) {
      // f first: the candidate's recurrent product needs f * h(t-1).
      for_rows(first, in_play, [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t b = r0; b < r1; ++b) mgu_forward_row_f(H, pre + b * sw, hg + b * gh, bias, hprev + b * H);
      });
      recurrent_forward(1, in_play - first, pre + first * sw + 2 * H, sw, hg + first * gh + H);
    }
    for_rows(first, in_play, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t b = r0; b < r1; ++b) {
        T* g = pre + b * sw;
        const T* hp = hprev + b * H;
        const T* hr = hg + b * gh;
        T* hn = hnew + b * H;
        T* o = out ? out + b * out_ld : nullptr;
        if (!active(t, b)) {
          finished(b);
          continue;
        }
        switch (kind) {
          case RnnCell::RnnTanh: rnn_forward_row<T, false>(H, g, hr, bias, hn); break;
          case RnnCell::RnnRelu: rnn_forward_row<T, true>(H, g, hr, bias, hn); break;
          case RnnCell::Lstm:
            if (peep) lstm_forward_row<T, true>(H, g, hr, bias, peep, cprev + b * H, cnew + b * H, hn);
            else lstm_forward_row<T, false>(H, g, hr, bias, peep, cprev + b * H, cnew + b * H, hn);
            break;
          case RnnCell::Gru: gru_forward_row(H, g, hr, bias, hp, hn); break;
          case RnnCell::Mgu: mgu_forward_row_n(H, g, hr, bias, hp, hn); break;
        }
        if (o) std::memcpy(o, hn, sizeof(T) * H);
      }
    });
  }

  void forward(const RnnForwardBuffers& f) {
    const std::int64_t B = batch, H = hidden, sw = saved_width;
    lengths = f.lengths;
    T* ws = static_cast<T*>(f.workspace);
    T* bias = ws;
    T* hg = ws + gh + H;
    combined_bias(bias);
    pack_recurrent_weights(false, hg + B * gh);
    T* gates = static_cast<T*>(f.gates);
    T* hs = static_cast<T*>(f.h_states);
    T* cs = static_cast<T*>(f.c_states);
    T* out = static_cast<T*>(f.output);
    const std::int64_t out_ld = f.output_ld ? f.output_ld : H;
    const T* x = static_cast<const T*>(f.input);
    sorted_lengths = lengths && std::is_sorted(lengths, lengths + B, std::greater<>());
    if (w_ih) gemm(false, true, steps * B, gh, input, x, input, w_ih, input, 0.0, gates, sw);
    for_row_groups([&](std::int64_t first, std::int64_t last) {
      for (std::int64_t s = 0; s < steps; ++s) {
        const std::int64_t t = time_of(s), in_play = std::clamp(rows_in_play(t), first, last);
        std::int64_t p = prev_slot(t) * B * H, n = next_slot(t) * B * H;
        T* g = gates + t * B * sw;
        if (!w_ih) {  // a table of projections; gates for one step, states in two slots (RnnWeights)
          g = gates, p = s % 2 * B * H, n = (s + 1) % 2 * B * H;
          gather_projections(g + first * sw, x, input, f.input_rows + t * B + first, in_play - first);
        }
        forward_step(t, first, in_play, last, g, hs + p, hs + n, cs ? cs + p : nullptr, cs ? cs + n : nullptr,
                     out + t * B * out_ld, out_ld, hg, bias);
      }
    });
  }

  // The new state goes to scratch first (the rows' loops assume distinct buffers), then back.
  // Rows added_rows[b] of `added` (a table gh wide, or null) go into the input projections
  // before the product adds to them.
  void step(const T* x, T* h, T* c, T* ws, const T* added, const std::int64_t* added_rows) {
    const std::int64_t B = batch, H = hidden;
    T* bias = ws;
    T* hg = bias + gh + H;
    T* pre = hg + B * gh;
    T* h_new = pre + B * saved_width;
    T* c_new = h_new + B * H;
    combined_bias(bias);
    if (added) gather_projections(pre, added, gh, added_rows, B);
    gemm(false, true, B, gh, input, x, input, w_ih, input, added ? 1.0 : 0.0, pre, saved_width);
    forward_step(0, 0, batch, batch, pre, h, h_new, c, c ? c_new : nullptr, nullptr, 0, hg, bias);
    std::memcpy(h, h_new, sizeof(T) * B * H);
    if (c) std::memcpy(c, c_new, sizeof(T) * B * H);
  }

  // ---- backward of one step for rows [first, last): from dh (B, H), dc and the saved values
  // of time t, writes dG of time t and leaves in dh, dc the gradients of h(t-1), c(t-1).
  void backward_step(std::int64_t t, std::int64_t first, std::int64_t last, const T* g_all, const T* hprev,
                     const T* cprev, const T* cnew, const T* gout, T* dg_all, T* dh, T* dc, T* dfh) {
    const std::int64_t H = hidden, sw = saved_width, dw = rnn_grad_width(kind, H);
    for_rows(first, last, [&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t b = r0; b < r1; ++b) {
        T* dg = dg_all + b * dw;
        if (!active(t, b)) {
          std::memset(dg, 0, sizeof(T) * dw);
          continue;
        }
        const T* g = g_all + b * sw;
        const T* hp = hprev + b * H;
        T* dhr = dh + b * H;
        if (gout) {
          const T* go = gout + b * H;
          for (std::int64_t j = 0; j < H; ++j) dhr[j] += go[j];
        }
        switch (kind) {
          case RnnCell::RnnTanh: rnn_backward_row<T, false>(H, g, dg, dhr); break;
          case RnnCell::RnnRelu: rnn_backward_row<T, true>(H, g, dg, dhr); break;
          case RnnCell::Lstm:
            if (peep) lstm_backward_row<T, true>(H, g, peep, cprev + b * H, cnew + b * H, dg, dhr, dc + b * H);
            else lstm_backward_row<T, false>(H, g, peep, cprev + b * H, cnew + b * H, dg, dhr, dc + b * H);
            break;
          case RnnCell::Gru: gru_backward_row(H, g, hp, dg, dhr); break;
          case RnnCell::Mgu: mgu_backward_row_n(H, g, dg, dhr); break;
        }
      }
    });
    if (kind == RnnCell::Mgu) {
      recurrent_backward(1, first, last, dg_all, dfh, false);
      for_rows(first, last, [&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t b = r0; b < r1; ++b)
          if (active(t, b))
            mgu_backward_row_f(H, g_all + b * sw, hprev + b * H, dfh + b * H, dg_all + b * dw, dh + b * H);
      });
      recurrent_backward(0, first, last, dg_all, dh, true);  // + df_pre U_f
      return;
    }
    recurrent_backward(0, first, last, dg_all, dh, true);
  }

  void backward(const RnnBackwardBuffers& bb) {
    const std::int64_t B = batch, H = hidden, sw = saved_width, dw = rnn_grad_width(kind, H), rows = steps * B;
    lengths = bb.lengths;
    const T* x = static_cast<const T*>(bb.input);
    const T* gates = static_cast<const T*>(bb.gates);
    const T* hs = static_cast<const T*>(bb.h_states);
    const T* cs = static_cast<const T*>(bb.c_states);
    const T* gout = static_cast<const T*>(bb.grad_output);
    T* dG = static_cast<T*>(bb.workspace);
    T* dh = dG + rows * dw;
    T* dc = dh + B * H;
    T* dfh = dc + B * H;
    T* ones = dfh + B * H;
    pack_recurrent_weights(true, ones + rows);
    auto start = [&](T* dst, const void* src) {
      if (src) std::memcpy(dst, src, sizeof(T) * B * H);
      else std::memset(dst, 0, sizeof(T) * B * H);
    };
    start(dh, bb.grad_h_n);
    start(dc, kind == RnnCell::Lstm ? bb.grad_c_n : nullptr);
    for_row_groups([&](std::int64_t first, std::int64_t last) {
      for (std::int64_t s = steps - 1; s >= 0; --s) {
        const std::int64_t t = time_of(s);
        const std::int64_t p = prev_slot(t) * B * H, n = next_slot(t) * B * H;
        backward_step(t, first, last, gates + t * B * sw, hs + p, cs ? cs + p : nullptr, cs ? cs + n : nullptr,
                      gout ? gout + t * B * H : nullptr, dG + t * B * dw, dh, dc, dfh);
      }
    });
    if (bb.grad_h0) std::memcpy(bb.grad_h0, dh, sizeof(T) * B * H);
    if (bb.grad_c0) std::memcpy(bb.grad_c0, dc, sizeof(T) * B * H);

    // Over all T*B rows at once. dG's column blocks that multiply W_ih: all of them, except
    // that GRU's n gate uses its last block (dn, not r dn).
    const T* h_prev_all = hs + (reverse ? B * H : 0);  // slots of h(t-1), t = 0 .. T-1
    T* gw_ih = static_cast<T*>(bb.grad_w_ih);
    T* gw_hh = static_cast<T*>(bb.grad_w_hh);
    T* gx = static_cast<T*>(bb.grad_input);
    T* gb_ih = static_cast<T*>(bb.grad_b_ih);
    T* gb_hh = static_cast<T*>(bb.grad_b_hh);
    std::fill(ones, ones + rows, T(1));
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
        gemm(false, false, 1, 2 * H, rows, ones, rows, dG, dw, 0.0, gb_ih, 2 * H);
        gemm(false, false, 1, H, rows, ones, rows, dn, dw, 0.0, gb_ih + 2 * H, H);
      }
      if (gw_hh) gemm(true, false, 3 * H, H, rows, dG, dw, h_prev_all, H, 0.0, gw_hh, H);
      if (gb_hh) gemm(false, false, 1, 3 * H, rows, ones, rows, dG, dw, 0.0, gb_hh, 3 * H);
      return;
    }
    if (gw_ih) gemm(true, false, gh, input, rows, dG, dw, x, input, 0.0, gw_ih, input);
    if (gx) gemm(false, false, rows, input, gh, dG, dw, w_ih, input, 0.0, gx, input);
    // Both biases add to the same pre-activations: one sum serves both.
    if (T* first = gb_ih ? gb_ih : gb_hh) {
      gemm(false, false, 1, gh, rows, ones, rows, dG, dw, 0.0, first, gh);
      if (gb_ih && gb_hh) std::memcpy(gb_hh, gb_ih, sizeof(T) * gh);
    }
    if (gw_hh) {
      if (kind == RnnCell::Mgu) {  // U_f sees h(t-1), U_n sees f h(t-1)
        gemm(true, false, H, H, rows, dG, dw, h_prev_all, H, 0.0, gw_hh, H);
        gemm(true, false, H, H, rows, dG + H, dw, gates + 2 * H, sw, 0.0, gw_hh + H * H, H);
      } else {
        gemm(true, false, gh, H, rows, dG, dw, h_prev_all, H, 0.0, gw_hh, H);
      }
    }
    if (bb.grad_peephole) peephole_grad(dG, cs, static_cast<T*>(bb.grad_peephole));
  }

  // dp_i = sum over rows of di_pre c(t-1), dp_f likewise, dp_o = sum of do_pre c(t),
  // accumulated in double.
  void peephole_grad(const T* dG, const T* cs, T* grad) const {
    const std::int64_t H = hidden, rows = steps * batch, dw = 4 * H;
    const T* c_prev_all = cs + (reverse ? batch * H : 0);
    const T* c_new_all = cs + (reverse ? 0 : batch * H);
    std::vector<double> acc(3 * H, 0.0);
    for (std::int64_t r = 0; r < rows; ++r) {
      const T* dg = dG + r * dw;
      const T* cp = c_prev_all + r * H;
      const T* cn = c_new_all + r * H;
      for (std::int64_t j = 0; j < H; ++j) {
        acc[j] += double(dg[j]) * cp[j];
        acc[H + j] += double(dg[H + j]) * cp[j];
        acc[2 * H + j] += double(dg[3 * H + j]) * cn[j];
      }
    }
    for (std::int64_t j = 0; j < 3 * H; ++j) grad[j] = static_cast<T>(acc[j]);
  }
};

}  // namespace

void CpuBackend::rnn_forward(const RnnDims& d, const RnnWeights& w, const RnnForwardBuffers& f) {
  if (d.dtype == DType::Float64) RnnKernel<double>(*this, d, w).forward(f);
  else RnnKernel<float>(*this, d, w).forward(f);
}

void CpuBackend::rnn_backward(const RnnDims& d, const RnnWeights& w, const RnnBackwardBuffers& b) {
  if (d.dtype == DType::Float64) RnnKernel<double>(*this, d, w).backward(b);
  else RnnKernel<float>(*this, d, w).backward(b);
}

// Independent layers side by side, one thread each: a step's products and gate loops are
// too small to split well (every split costs a hand-off per step, docs/BENCHMARKS.md), so
// with two or three threads each call runs alone on its thread (a call inside a part runs
// serially) and waits for nothing until it ends. With more threads each call keeps the
// whole pool, its steps split as before. While other processes take the cores (a
// descheduled thread would hold a whole layer) the calls run one after the other on this
// thread, as parts would: with the products of each ignoring the constant weights, which
// only this thread sees, so that its rounding never depends on the thread that ran it.
namespace {
template <class Call, class Run>
void run_side_by_side(std::span<const Call> calls, const Run& run) {
  cpu::ThreadPool& pool = cpu::thread_pool();
  const auto part = [&](int i) {
    const IgnoreConstantWeights ignore;
    run(calls[i]);
  };
  if (calls.size() < 2 || pool.size() < 2 || pool.size() > 3) {
    for (const Call& c : calls) run(c);
  } else if (pool.contended()) {
    for (int i = 0; i < static_cast<int>(calls.size()); ++i) part(i);
  } else {
    pool.run(static_cast<int>(calls.size()), part);
  }
}
}  // namespace

void CpuBackend::rnn_forward_all(std::span<const RnnForwardCall> calls) {
  run_side_by_side(calls, [&](const RnnForwardCall& c) { rnn_forward(c.dims, c.weights, c.buffers); });
}

void CpuBackend::rnn_backward_all(std::span<const RnnBackwardCall> calls) {
  run_side_by_side(calls, [&](const RnnBackwardCall& c) { rnn_backward(c.dims, c.weights, c.buffers); });
}

void CpuBackend::rnn_step(const RnnDims& d, const RnnWeights& w, const void* input, void* h, void* c,
                          void* workspace, const void* added, const std::int64_t* added_rows) {
  if (d.dtype == DType::Float64)
    RnnKernel<double>(*this, d, w).step(static_cast<const double*>(input), static_cast<double*>(h),
                                         static_cast<double*>(c), static_cast<double*>(workspace),
                                         static_cast<const double*>(added), added_rows);
  else
    RnnKernel<float>(*this, d, w).step(static_cast<const float*>(input), static_cast<float*>(h),
                                       static_cast<float*>(c), static_cast<float*>(workspace),
                                       static_cast<const float*>(added), added_rows);
}

}  // namespace recur::backend
