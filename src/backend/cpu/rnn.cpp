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
// carried state passes through unchanged. Workspaces come from the caller, sized once per
// call: nothing is allocated per step.
#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"
#include "backend/cpu/vec_math.hpp"

namespace recur::backend {

std::int64_t rnn_gate_count(RnnKind kind) {
  switch (kind) {
    case RnnKind::Lstm: return 4;
    case RnnKind::Gru: return 3;
    case RnnKind::Mgu: return 2;
    default: return 1;
  }
}

// GRU keeps r, z, n and W_hn h + b_hn; MGU keeps f, n and f * h(t-1).
std::int64_t rnn_saved_width(RnnKind kind, std::int64_t hidden) {
  switch (kind) {
    case RnnKind::Gru: return 4 * hidden;
    case RnnKind::Mgu: return 3 * hidden;
    default: return rnn_gate_count(kind) * hidden;
  }
}

namespace {

using namespace cpu;

// Width of the pre-activation gradients: G*H, except GRU's 4H (dr, dz, r dn for W_hh, dn for W_ih).
std::int64_t grad_width(RnnKind kind, std::int64_t hidden) {
  return kind == RnnKind::Gru ? 4 * hidden : rnn_gate_count(kind) * hidden;
}

}  // namespace

std::int64_t rnn_forward_workspace(const RnnDims& d) {
  const std::int64_t gh = rnn_gate_count(d.kind) * d.hidden;
  return gh + d.batch * gh;  // combined bias, recurrent products
}

std::int64_t rnn_step_workspace(const RnnDims& d) {
  return rnn_forward_workspace(d) + d.batch * rnn_saved_width(d.kind, d.hidden);
}

std::int64_t rnn_backward_workspace(const RnnDims& d) {
  const std::int64_t rows = d.steps * d.batch;
  return rows * grad_width(d.kind, d.hidden) + 3 * d.batch * d.hidden + rows;  // dG, dh, dc, d(f h), ones
}

namespace {

template <class T>
struct RnnKernel {
  CpuBackend& be;
  RnnKind kind;
  std::int64_t steps, batch, input, hidden, gh, saved_width;
  bool reverse;
  DType dtype;
  const T *w_ih, *w_hh, *b_ih, *b_hh, *peep;
  const std::int64_t* lengths;

  RnnKernel(CpuBackend& backend, const RnnDims& d, const RnnWeights& w)
      : be(backend), kind(d.kind), steps(d.steps), batch(d.batch), input(d.input), hidden(d.hidden),
        gh(rnn_gate_count(d.kind) * d.hidden), saved_width(rnn_saved_width(d.kind, d.hidden)),
        reverse(d.reverse), dtype(d.dtype), w_ih(static_cast<const T*>(w.w_ih)),
        w_hh(static_cast<const T*>(w.w_hh)), b_ih(static_cast<const T*>(w.b_ih)),
        b_hh(static_cast<const T*>(w.b_hh)), peep(static_cast<const T*>(w.peephole)), lengths(nullptr) {}

  // C (m x n, ldc) = alpha op(A) op(B) + beta C through the backend's one GEMM entry point.
  void gemm(bool ta, bool tb, std::int64_t m, std::int64_t n, std::int64_t k, const T* a, std::int64_t lda,
            const T* b, std::int64_t ldb, double beta, T* c, std::int64_t ldc) {
    be.gemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc, dtype);
  }

  bool active(std::int64_t t, std::int64_t row) const { return lengths == nullptr || t < lengths[row]; }
  std::int64_t time_of(std::int64_t s) const { return reverse ? steps - 1 - s : s; }
  // Slots of the time-aligned state buffers (see RnnForwardBuffers).
  std::int64_t prev_slot(std::int64_t t) const { return reverse ? t + 1 : t; }
  std::int64_t next_slot(std::int64_t t) const { return reverse ? t : t + 1; }

  // Row-parallel pointwise passes: threads only when a step has enough work to pay for them
  // (hidden 512 x batch 32 does, hidden 128 x batch 32 does not).
  template <class F>
  void for_rows(F&& f) {
    parallel_range(batch, gh * 4, [&](std::int64_t r0, std::int64_t r1) { f(r0, r1); }, 1);
  }

  // Everything added to a gate's pre-activation besides the two products: b_ih + b_hh,
  // except GRU's n gate, which gets b_in here and b_hn inside r (...).
  void combined_bias(T* bias) const {
    for (std::int64_t j = 0; j < gh; ++j) {
      const bool inner = kind == RnnKind::Gru && j >= 2 * hidden;
      bias[j] = (b_ih ? b_ih[j] : T(0)) + (b_hh && !inner ? b_hh[j] : T(0));
    }
  }

  // ---- forward of one step. `pre` holds the row's input projections (saved_width apart),
  // overwritten with the saved values; hg the recurrent products (gh apart). hprev may equal
  // hnew and cprev cnew (inference in place): each element is read before it is written.
  void forward_step(std::int64_t t, T* pre, const T* hprev, T* hnew, const T* cprev, T* cnew, T* out,
                    T* hg, const T* bias) {
    const std::int64_t H = hidden, sw = saved_width;
    gemm(false, true, batch, kind == RnnKind::Mgu ? H : gh, H, hprev, H, w_hh, H, 0.0, hg, gh);
    if (kind == RnnKind::Mgu) {
      // f first: the candidate's recurrent product needs f * h(t-1).
      for_rows([&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t b = r0; b < r1; ++b) {
          T* g = pre + b * sw;
          const T* hp = hprev + b * H;
          const T* hr = hg + b * gh;
          for (std::int64_t j = 0; j < H; ++j) {
            const T f = sigmoid_any(g[j] + hr[j] + bias[j]);
            g[j] = f;
            g[2 * H + j] = f * hp[j];
          }
        }
      });
      gemm(false, true, batch, H, H, pre + 2 * H, sw, w_hh + H * H, H, 0.0, hg + H, gh);
    }
    for_rows([&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t b = r0; b < r1; ++b) {
        T* g = pre + b * sw;
        const T* hp = hprev + b * H;
        T* hn = hnew + b * H;
        T* o = out ? out + b * H : nullptr;
        if (!active(t, b)) {  // past the end: carry the state, output 0
          if (hn != hp) std::memcpy(hn, hp, sizeof(T) * H);
          if (cnew && cnew != cprev) std::memcpy(cnew + b * H, cprev + b * H, sizeof(T) * H);
          if (o) std::memset(o, 0, sizeof(T) * H);
          std::memset(g, 0, sizeof(T) * sw);
          continue;
        }
        const T* hr = hg + b * gh;
        switch (kind) {
          case RnnKind::RnnTanh:
            for (std::int64_t j = 0; j < H; ++j) g[j] = hn[j] = tanh_any(g[j] + hr[j] + bias[j]);
            break;
          case RnnKind::RnnRelu:
            for (std::int64_t j = 0; j < H; ++j) {
              const T v = g[j] + hr[j] + bias[j];
              g[j] = hn[j] = v > T(0) ? v : T(0);
            }
            break;
          case RnnKind::Lstm: lstm_row(g, hr, bias, cprev + b * H, cnew + b * H, hn); break;
          case RnnKind::Gru:
            for (std::int64_t j = 0; j < H; ++j) {
              const T r = sigmoid_any(g[j] + hr[j] + bias[j]);
              const T z = sigmoid_any(g[H + j] + hr[H + j] + bias[H + j]);
              const T hlin = hr[2 * H + j] + (b_hh ? b_hh[2 * H + j] : T(0));
              const T n = tanh_any(g[2 * H + j] + bias[2 * H + j] + r * hlin);
              const T h = (T(1) - z) * n + z * hp[j];
              g[j] = r, g[H + j] = z, g[2 * H + j] = n, g[3 * H + j] = hlin;
              hn[j] = h;
            }
            break;
          case RnnKind::Mgu:
            for (std::int64_t j = 0; j < H; ++j) {
              const T f = g[j];
              const T n = tanh_any(g[H + j] + hr[H + j] + bias[H + j]);
              g[H + j] = n;
              hn[j] = (T(1) - f) * hp[j] + f * n;
            }
            break;
        }
        if (o) std::memcpy(o, hn, sizeof(T) * H);
      }
    });
  }

  void lstm_row(T* g, const T* hr, const T* bias, const T* cp, T* cn, T* hn) const {
    const std::int64_t H = hidden;
    const T* pi = peep;
    const T* pf = peep ? peep + H : nullptr;
    const T* po = peep ? peep + 2 * H : nullptr;
    for (std::int64_t j = 0; j < H; ++j) {
      const T c_prev = cp[j];
      const T i = sigmoid_any(g[j] + hr[j] + bias[j] + (pi ? pi[j] * c_prev : T(0)));
      const T f = sigmoid_any(g[H + j] + hr[H + j] + bias[H + j] + (pf ? pf[j] * c_prev : T(0)));
      const T gg = tanh_any(g[2 * H + j] + hr[2 * H + j] + bias[2 * H + j]);
      const T c = f * c_prev + i * gg;
      const T o = sigmoid_any(g[3 * H + j] + hr[3 * H + j] + bias[3 * H + j] + (po ? po[j] * c : T(0)));
      g[j] = i, g[H + j] = f, g[2 * H + j] = gg, g[3 * H + j] = o;
      cn[j] = c;
      hn[j] = o * tanh_any(c);
    }
  }

  void forward(const RnnForwardBuffers& f) {
    const std::int64_t B = batch, H = hidden, sw = saved_width;
    lengths = f.lengths;
    T* ws = static_cast<T*>(f.workspace);
    T* bias = ws;
    T* hg = ws + gh;
    combined_bias(bias);
    T* gates = static_cast<T*>(f.gates);
    T* hs = static_cast<T*>(f.h_states);
    T* cs = static_cast<T*>(f.c_states);
    T* out = static_cast<T*>(f.output);
    gemm(false, true, steps * B, gh, input, static_cast<const T*>(f.input), input, w_ih, input, 0.0, gates, sw);
    for (std::int64_t s = 0; s < steps; ++s) {
      const std::int64_t t = time_of(s);
      const std::int64_t p = prev_slot(t) * B * H, n = next_slot(t) * B * H;
      forward_step(t, gates + t * B * sw, hs + p, hs + n, cs ? cs + p : nullptr, cs ? cs + n : nullptr,
                   out + t * B * H, hg, bias);
    }
  }

  void step(const T* x, T* h, T* c, T* ws) {
    T* bias = ws;
    T* hg = ws + gh;
    T* pre = hg + batch * gh;
    combined_bias(bias);
    gemm(false, true, batch, gh, input, x, input, w_ih, input, 0.0, pre, saved_width);
    forward_step(0, pre, h, h, c, c, nullptr, hg, bias);
  }

  // ---- backward of one step: from dh (B, H), dc and the saved values of time t, writes
  // dG of time t and leaves in dh, dc the gradients of h(t-1), c(t-1) (dh before its GEMM).
  void backward_step(std::int64_t t, const T* g_all, const T* hprev, const T* cprev, const T* cnew,
                     const T* gout, T* dg_all, T* dh, T* dc, T* dfh) {
    const std::int64_t H = hidden, sw = saved_width, dw = grad_width(kind, H);
    const T* pi = peep;
    const T* pf = peep ? peep + H : nullptr;
    const T* po = peep ? peep + 2 * H : nullptr;
    // Pass 1 (every cell): the gate gradients; for MGU only the candidate's, as its f needs
    // d(f h(t-1)) = dn_pre U_n from a GEMM first.
    for_rows([&](std::int64_t r0, std::int64_t r1) {
      for (std::int64_t b = r0; b < r1; ++b) {
        T* dg = dg_all + b * dw;
        if (!active(t, b)) {
          std::memset(dg, 0, sizeof(T) * dw);
          continue;
        }
        const T* g = g_all + b * sw;
        const T* hp = hprev + b * H;
        const T* go = gout ? gout + b * H : nullptr;
        T* dhr = dh + b * H;
        switch (kind) {
          case RnnKind::RnnTanh:
            for (std::int64_t j = 0; j < H; ++j) {
              const T gh_ = dhr[j] + (go ? go[j] : T(0));
              dg[j] = gh_ * (T(1) - g[j] * g[j]);
              dhr[j] = T(0);
            }
            break;
          case RnnKind::RnnRelu:
            for (std::int64_t j = 0; j < H; ++j) {
              const T gh_ = dhr[j] + (go ? go[j] : T(0));
              dg[j] = g[j] > T(0) ? gh_ : T(0);
              dhr[j] = T(0);
            }
            break;
          case RnnKind::Lstm: {
            const T* cp = cprev + b * H;
            const T* cn = cnew + b * H;
            T* dcr = dc + b * H;
            for (std::int64_t j = 0; j < H; ++j) {
              const T gh_ = dhr[j] + (go ? go[j] : T(0));
              const T i = g[j], f = g[H + j], gg = g[2 * H + j], o = g[3 * H + j];
              const T tc = tanh_any(cn[j]);
              const T d_o = gh_ * tc * o * (T(1) - o);
              const T dct = dcr[j] + gh_ * o * (T(1) - tc * tc) + (po ? d_o * po[j] : T(0));
              const T d_i = dct * gg * i * (T(1) - i);
              const T d_f = dct * cp[j] * f * (T(1) - f);
              const T d_g = dct * i * (T(1) - gg * gg);
              dg[j] = d_i, dg[H + j] = d_f, dg[2 * H + j] = d_g, dg[3 * H + j] = d_o;
              dcr[j] = dct * f + (pi ? d_i * pi[j] + d_f * pf[j] : T(0));
              dhr[j] = T(0);
            }
            break;
          }
          case RnnKind::Gru:
            for (std::int64_t j = 0; j < H; ++j) {
              const T gh_ = dhr[j] + (go ? go[j] : T(0));
              const T r = g[j], z = g[H + j], n = g[2 * H + j], hlin = g[3 * H + j];
              const T d_n = gh_ * (T(1) - z) * (T(1) - n * n);
              const T d_z = gh_ * (hp[j] - n) * z * (T(1) - z);
              const T d_r = d_n * hlin * r * (T(1) - r);
              dg[j] = d_r, dg[H + j] = d_z, dg[2 * H + j] = d_n * r, dg[3 * H + j] = d_n;
              dhr[j] = gh_ * z;
            }
            break;
          case RnnKind::Mgu:
            for (std::int64_t j = 0; j < H; ++j) {
              const T gh_ = dhr[j] + (go ? go[j] : T(0));
              const T f = g[j], n = g[H + j];
              dg[H + j] = gh_ * f * (T(1) - n * n);
              dhr[j] = gh_;  // the full dh(t), kept for pass 2
            }
            break;
        }
      }
    });
    const T* dg0 = dg_all;
    if (kind == RnnKind::Mgu) {
      gemm(false, false, batch, H, H, dg_all + H, dw, w_hh + H * H, H, 0.0, dfh, H);
      for_rows([&](std::int64_t r0, std::int64_t r1) {
        for (std::int64_t b = r0; b < r1; ++b) {
          if (!active(t, b)) continue;
          const T* g = g_all + b * sw;
          const T* hp = hprev + b * H;
          const T* dfr = dfh + b * H;
          T* dg = dg_all + b * dw;
          T* dhr = dh + b * H;
          for (std::int64_t j = 0; j < H; ++j) {
            const T f = g[j], n = g[H + j], gh_ = dhr[j];
            const T df = gh_ * (n - hp[j]) + dfr[j] * hp[j];
            dg[j] = df * f * (T(1) - f);
            dhr[j] = gh_ * (T(1) - f) + dfr[j] * f;
          }
        }
      });
      gemm(false, false, batch, H, H, dg0, dw, w_hh, H, 1.0, dh, H);  // + df_pre U_f
      return;
    }
    const std::int64_t k = kind == RnnKind::Gru ? 3 * H : gh;
    gemm(false, false, batch, H, k, dg0, dw, w_hh, H, 1.0, dh, H);
  }

  void backward(const RnnBackwardBuffers& bb) {
    const std::int64_t B = batch, H = hidden, sw = saved_width, dw = grad_width(kind, H), rows = steps * B;
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
    auto start = [&](T* dst, const void* src) {
      if (src) std::memcpy(dst, src, sizeof(T) * B * H);
      else std::memset(dst, 0, sizeof(T) * B * H);
    };
    start(dh, bb.grad_h_n);
    start(dc, kind == RnnKind::Lstm ? bb.grad_c_n : nullptr);
    for (std::int64_t s = steps - 1; s >= 0; --s) {
      const std::int64_t t = time_of(s);
      const std::int64_t p = prev_slot(t) * B * H, n = next_slot(t) * B * H;
      backward_step(t, gates + t * B * sw, hs + p, cs ? cs + p : nullptr, cs ? cs + n : nullptr,
                    gout ? gout + t * B * H : nullptr, dG + t * B * dw, dh, dc, dfh);
    }
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
    if (kind == RnnKind::Gru) {
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
    if (gb_ih) gemm(false, false, 1, gh, rows, ones, rows, dG, dw, 0.0, gb_ih, gh);
    if (gb_hh) gemm(false, false, 1, gh, rows, ones, rows, dG, dw, 0.0, gb_hh, gh);
    if (gw_hh) {
      if (kind == RnnKind::Mgu) {  // U_f sees h(t-1), U_n sees f h(t-1)
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

void CpuBackend::rnn_step(const RnnDims& d, const RnnWeights& w, const void* input, void* h, void* c,
                          void* workspace) {
  if (d.dtype == DType::Float64)
    RnnKernel<double>(*this, d, w).step(static_cast<const double*>(input), static_cast<double*>(h),
                                         static_cast<double*>(c), static_cast<double*>(workspace));
  else
    RnnKernel<float>(*this, d, w).step(static_cast<const float*>(input), static_cast<float*>(h),
                                       static_cast<float*>(c), static_cast<float*>(workspace));
}

}  // namespace recur::backend
