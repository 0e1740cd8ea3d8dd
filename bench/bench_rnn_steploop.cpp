// The step loop in the backend (recur's fused layer) against the step loop in generic ops
// code with only the pointwise part fused per backend (Marian's design), one LSTM layer,
// float32, training: forward + backward through time with every gradient (dX, dW_ih, dW_hh,
// db_ih, db_hh). T = 64, B = 32, input 64, hidden 128 and 512. Wall-clock ms per training
// step (forward + backward), items/s = sequences per second.
//
//   BM_FusedApi/H        recur::rnn_layer + backward through autograd, as bench_rnn does
//                        (zero_grad, fresh output and saved tensors each step)
//   BM_FusedKernel/H     the same kernels (CpuBackend::rnn_forward / rnn_backward) on
//                        preallocated buffers: the fused op without the autograd around it
//   BM_StepLoop/H/M/D    the Marian-style loop written here, preallocated buffers:
//                          forward:  P = X W_ih^T, one GEMM for all T*B rows; per step one
//                                    GEMM h(t-1) W_hh^T (the backend's, as recur::matmul calls
//                                    it, split over the thread pool), then one pool job over the
//                                    rows fusing the LSTM pointwise maths (biases, gates, c(t),
//                                    h(t), the activations backward reads);
//                          backward: per step one pool job (dh(t) = dy(t) + the recurrent
//                                    gradient, dc -> dG(t), dc(t-1)), then GEMMs dh(t-1) =
//                                    dG(t) W_hh and (D = 0) dW_hh += dG(t)^T h(t-1); after the
//                                    loop dX = dG W_ih, dW_ih = dG^T X, db = 1^T dG and (D = 1)
//                                    dW_hh = dG^T H_prev as one GEMM over all T*B rows, as the
//                                    fused kernel does.
//                        M: 0 libm (std::exp, std::tanh: scalar calls, the bench is built
//                        without -ffast-math), 1 recur's vectorised Cephes float32
//                        sigmoid/tanh (src/backend/cpu/vec_math.hpp), the fused kernel's own.
//   BM_Pointwise/H/M     the step loop's pointwise kernels alone: T forward and T backward
//                        passes, no GEMMs (the share of the math functions in BM_StepLoop).
//
// Setup checks the step loop against the fused op on the same weights: output, dX, dW_ih,
// dW_hh and db within 1e-4 (absolute, relative to max(1, |largest value|) for gradients);
// a mismatch aborts the benchmark with an error.
//
// Timing (threads from RECUR_NUM_THREADS):
//   RECUR_NUM_THREADS=2 build/bench/bench_rnn_steploop
//     --benchmark_repetitions=7 --benchmark_report_aggregates_only=true
//     --benchmark_enable_random_interleaving=true

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "recur/recur.hpp"
// Internal interfaces, reached by path: the backend's kernels (BM_FusedKernel) and the
// fused kernel's float32 sigmoid/tanh (the step loop's M = 1).
#include "../src/backend/backend.hpp"
#include "../src/backend/cpu/thread_pool.hpp"
#include "../src/backend/cpu/vec_math.hpp"

namespace {

using recur::RnnCell;
using recur::Tensor;
using i64 = std::int64_t;

constexpr i64 kSteps = 64, kBatch = 32, kInput = 64;

Tensor rand_uniform(const recur::Shape& shape, double bound, std::uint64_t seed) {
  recur::Generator gen(seed);
  return recur::uniform(shape, -bound, bound, recur::DType::Float32, &gen);
}

// One problem: PyTorch's initialisation U(-1/sqrt(H), 1/sqrt(H)), input and output
// gradient U(-1, 1), the same seeds for every variant.
struct Problem {
  i64 T, B, I, H, G;
  Tensor w_ih, w_hh, b_ih, b_hh, x, dy;
  Problem(i64 steps, i64 hidden) : T(steps), B(kBatch), I(kInput), H(hidden), G(4 * hidden) {
    const double bound = 1.0 / std::sqrt(static_cast<double>(H));
    w_ih = rand_uniform({G, I}, bound, 1), w_hh = rand_uniform({G, H}, bound, 2);
    b_ih = rand_uniform({G}, bound, 3), b_hh = rand_uniform({G}, bound, 4);
    x = rand_uniform({T, B, I}, 1, 7), dy = rand_uniform({T, B, H}, 1, 8);
  }
};

// What every variant exposes, for the checks.
struct Variant {
  virtual ~Variant() = default;
  virtual void forward() = 0;
  virtual void backward() = 0;
  virtual const float* output() = 0;  // (T, B, H)
  virtual const float* grad_x() = 0;
  virtual const float* grad_w_ih() = 0;
  virtual const float* grad_w_hh() = 0;
  virtual const float* grad_b() = 0;  // of b_ih (b_hh's is the same)
};

// ---- (a) the fused op through the public API.
struct FusedApi final : Variant {
  const Problem& p;
  recur::RnnLayerWeights w;
  Tensor x, out;
  explicit FusedApi(const Problem& problem) : p(problem) {
    w.w_ih = p.w_ih.detach(), w.w_hh = p.w_hh.detach(), w.b_ih = p.b_ih.detach(), w.b_hh = p.b_hh.detach();
    for (const Tensor* t : {&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh}) t->set_requires_grad();
    x = p.x.detach();
    x.set_requires_grad();
  }
  void forward() override {
    for (const Tensor* t : {&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh, &x}) t->zero_grad();
    out = recur::rnn_layer(RnnCell::Lstm, x, w).output;
  }
  void backward() override { out.backward(p.dy); }
  const float* output() override { return out.data<float>(); }
  const float* grad_x() override { return x.grad().data<float>(); }
  const float* grad_w_ih() override { return w.w_ih.grad().data<float>(); }
  const float* grad_w_hh() override { return w.w_hh.grad().data<float>(); }
  const float* grad_b() override { return w.b_ih.grad().data<float>(); }
};

// ---- (a') the fused op's kernels on preallocated buffers.
struct FusedKernel final : Variant {
  const Problem& p;
  recur::backend::Backend& be = recur::backend::backend_for(recur::Device::cpu());
  recur::backend::RnnDims d;
  recur::backend::RnnWeights w;
  Tensor out, hs, cs, gates, fws, bws, dx, dwi, dwh, dbi, dbh;
  explicit FusedKernel(const Problem& problem) : p(problem) {
    d.kind = RnnCell::Lstm, d.steps = p.T, d.batch = p.B, d.input = p.I, d.hidden = p.H;
    w.w_ih = p.w_ih.raw_data(), w.w_hh = p.w_hh.raw_data(), w.b_ih = p.b_ih.raw_data(), w.b_hh = p.b_hh.raw_data();
    out = recur::zeros({p.T, p.B, p.H});
    hs = recur::zeros({p.T + 1, p.B, p.H}), cs = recur::zeros({p.T + 1, p.B, p.H});  // h0 = c0 = 0
    gates = recur::zeros({be.rnn_saved_size(d)});
    fws = recur::zeros({be.rnn_forward_workspace(d)}), bws = recur::zeros({be.rnn_backward_workspace(d)});
    dx = recur::zeros({p.T, p.B, p.I}), dwi = recur::zeros({p.G, p.I}), dwh = recur::zeros({p.G, p.H});
    dbi = recur::zeros({p.G}), dbh = recur::zeros({p.G});
  }
  void forward() override {
    recur::backend::RnnForwardBuffers f;
    f.input = p.x.raw_data(), f.output = out.raw_data(), f.h_states = hs.raw_data(), f.c_states = cs.raw_data();
    f.gates = gates.raw_data(), f.workspace = fws.raw_data();
    be.rnn_forward(d, w, f);
  }
  void backward() override {
    recur::backend::RnnBackwardBuffers b;
    b.input = p.x.raw_data(), b.h_states = hs.raw_data(), b.c_states = cs.raw_data(), b.gates = gates.raw_data();
    b.grad_output = p.dy.raw_data();
    b.grad_input = dx.raw_data(), b.grad_w_ih = dwi.raw_data(), b.grad_w_hh = dwh.raw_data();
    b.grad_b_ih = dbi.raw_data(), b.grad_b_hh = dbh.raw_data(), b.workspace = bws.raw_data();
    be.rnn_backward(d, w, b);
  }
  const float* output() override { return out.data<float>(); }
  const float* grad_x() override { return dx.data<float>(); }
  const float* grad_w_ih() override { return dwi.data<float>(); }
  const float* grad_w_hh() override { return dwh.data<float>(); }
  const float* grad_b() override { return dbi.data<float>(); }
};

// ---- (b) the step loop in "ops", the pointwise part as a backend kernel.

struct LibmMath {
  static float sigmoid(float v) { return 1.0f / (1.0f + std::exp(-v)); }
  static float tanh(float v) { return std::tanh(v); }
};

struct CephesMath {
  static float sigmoid(float v) { return recur::backend::cpu::sigmoid_f32(v); }
  static float tanh(float v) { return recur::backend::cpu::tanh_f32(v); }
};

// f(row) for every row, one job on the thread pool per step (a pointwise kernel launch).
template <class F>
void for_rows(i64 rows, const F& f) {
  const int parts = recur::get_num_threads();
  recur::backend::cpu::thread_pool().run(parts, [&](int part) {
    for (i64 b = rows * part / parts; b < rows * (part + 1) / parts; ++b) f(b);
  });
}

// Forward pointwise kernel of one step, gates i f g o: from the step's input projections
// `pre` and recurrent products `hr` (B, 4H), the combined bias, c(t-1): writes the
// activations `act` (B, 4H), c(t), h(t) and the output row. One pool job over rows; the row
// is a function of its own so that its restrict pointers survive the lambda's captures
// (through them the loop would not vectorise).
template <class M>
void lstm_forward_row(i64 H, const float* __restrict pre, const float* __restrict hr, const float* __restrict bias,
                      const float* __restrict cp, float* __restrict act, float* __restrict cn, float* __restrict hn,
                      float* __restrict out) {
  for (i64 j = 0; j < H; ++j) {
    const float i = M::sigmoid(pre[j] + hr[j] + bias[j]);
    const float f = M::sigmoid(pre[H + j] + hr[H + j] + bias[H + j]);
    const float g = M::tanh(pre[2 * H + j] + hr[2 * H + j] + bias[2 * H + j]);
    const float o = M::sigmoid(pre[3 * H + j] + hr[3 * H + j] + bias[3 * H + j]);
    const float c = f * cp[j] + i * g;
    const float h = o * M::tanh(c);
    act[j] = i, act[H + j] = f, act[2 * H + j] = g, act[3 * H + j] = o;
    cn[j] = c;
    hn[j] = h;
    out[j] = h;
  }
}

template <class M>
void lstm_pointwise_forward(i64 B, i64 H, const float* pre, const float* hr, const float* bias, const float* cp,
                            float* act, float* cn, float* hn, float* out) {
  const i64 G = 4 * H;
  for_rows(B, [&](i64 b) {
    lstm_forward_row<M>(H, pre + b * G, hr + b * G, bias, cp + b * H, act + b * G, cn + b * H, hn + b * H,
                        out + b * H);
  });
}

// Backward pointwise kernel of one step: dh(t) = dy(t) + dh_rec (the recurrent gradient from
// step t+1's product), dc (in: dL/dc(t) from step t+1, out: dL/dc(t-1)) -> dG(t) (B, 4H).
template <class M>
void lstm_backward_row(i64 H, const float* __restrict act, const float* __restrict cp, const float* __restrict cn,
                       const float* __restrict dy, const float* __restrict dh_rec, float* __restrict dc,
                       float* __restrict dg) {
  for (i64 j = 0; j < H; ++j) {
    const float gh = dy[j] + dh_rec[j];
    const float i = act[j], f = act[H + j], g = act[2 * H + j], o = act[3 * H + j];
    const float tc = M::tanh(cn[j]);
    const float d_o = gh * tc * o * (1.0f - o);
    const float dct = dc[j] + gh * o * (1.0f - tc * tc);
    dg[j] = dct * g * i * (1.0f - i);
    dg[H + j] = dct * cp[j] * f * (1.0f - f);
    dg[2 * H + j] = dct * i * (1.0f - g * g);
    dg[3 * H + j] = d_o;
    dc[j] = dct * f;
  }
}

template <class M>
void lstm_pointwise_backward(i64 B, i64 H, const float* act, const float* cp, const float* cn, const float* dy,
                             const float* dh_rec, float* dc, float* dg) {
  const i64 G = 4 * H;
  for_rows(B, [&](i64 b) {
    lstm_backward_row<M>(H, act + b * G, cp + b * H, cn + b * H, dy + b * H, dh_rec + b * H, dc + b * H, dg + b * G);
  });
}

// C (m x n) = op(A) op(B) + beta C, row-major: the backend's GEMM, what recur::matmul reaches.
void sgemm(bool ta, bool tb, i64 m, i64 n, i64 k, const float* a, i64 lda, const float* b, i64 ldb, float beta,
           float* c, i64 ldc) {
  recur::backend::backend_for(recur::Device::cpu())
      .gemm(ta, tb, m, n, k, 1.0, a, lda, b, ldb, beta, c, ldc, recur::DType::Float32);
}

template <class M>
struct StepLoop final : Variant {
  const Problem& p;
  bool hoist_dw_hh;  // dW_hh as one GEMM after the loop instead of one per step
  const float *x, *w_ih, *w_hh, *dy;
  std::vector<float> bias, pre, act, hs, cs, out, hg, dG, dh, dc, ones, dx, dwi, dwh, db;
  StepLoop(const Problem& problem, bool hoist)
      : p(problem), hoist_dw_hh(hoist), x(p.x.data<float>()), w_ih(p.w_ih.data<float>()),
        w_hh(p.w_hh.data<float>()), dy(p.dy.data<float>()) {
    const i64 T = p.T, B = p.B, H = p.H, G = p.G, rows = T * B;
    bias.resize(G), pre.resize(rows * G), act.resize(rows * G), hs.resize((T + 1) * B * H);
    cs.resize((T + 1) * B * H), out.resize(rows * H), hg.resize(B * G), dG.resize(rows * G);
    dh.resize(B * H), dc.resize(B * H), ones.assign(rows, 1.0f), dx.resize(rows * p.I);
    dwi.resize(G * p.I), dwh.resize(G * H), db.resize(G);
  }

  void forward() override {
    const i64 T = p.T, B = p.B, H = p.H, G = p.G;
    const float* bi = p.b_ih.data<float>();
    const float* bh = p.b_hh.data<float>();
    for (i64 j = 0; j < G; ++j) bias[j] = bi[j] + bh[j];
    sgemm(false, true, T * B, G, p.I, x, p.I, w_ih, p.I, 0.0f, pre.data(), G);  // h0 = c0 = 0 in slot 0
    for (i64 t = 0; t < T; ++t) {
      const float* hp = hs.data() + t * B * H;
      sgemm(false, true, B, G, H, hp, H, w_hh, H, 0.0f, hg.data(), G);
      lstm_pointwise_forward<M>(B, H, pre.data() + t * B * G, hg.data(), bias.data(), cs.data() + t * B * H,
                                act.data() + t * B * G, cs.data() + (t + 1) * B * H, hs.data() + (t + 1) * B * H,
                                out.data() + t * B * H);
    }
  }

  void backward() override {
    const i64 T = p.T, B = p.B, H = p.H, G = p.G, rows = T * B;
    std::fill(dh.begin(), dh.end(), 0.0f);
    std::fill(dc.begin(), dc.end(), 0.0f);
    for (i64 t = T - 1; t >= 0; --t) {
      float* dg = dG.data() + t * B * G;
      lstm_pointwise_backward<M>(B, H, act.data() + t * B * G, cs.data() + t * B * H, cs.data() + (t + 1) * B * H,
                                 dy + t * B * H, dh.data(), dc.data(), dg);
      if (t > 0) sgemm(false, false, B, H, G, dg, G, w_hh, H, 0.0f, dh.data(), H);  // dh(t-1), not needed for h0
      if (!hoist_dw_hh)
        sgemm(true, false, G, H, B, dg, G, hs.data() + t * B * H, H, t == T - 1 ? 0.0f : 1.0f, dwh.data(), H);
    }
    if (hoist_dw_hh) sgemm(true, false, G, H, rows, dG.data(), G, hs.data(), H, 0.0f, dwh.data(), H);
    sgemm(false, false, rows, p.I, G, dG.data(), G, w_ih, p.I, 0.0f, dx.data(), p.I);
    sgemm(true, false, G, p.I, rows, dG.data(), G, x, p.I, 0.0f, dwi.data(), p.I);
    sgemm(false, false, 1, G, rows, ones.data(), rows, dG.data(), G, 0.0f, db.data(), G);
  }

  // The pointwise kernels alone, on the buffers a forward + backward left (same inputs,
  // same outputs every time).
  void pointwise_only() {
    const i64 T = p.T, B = p.B, H = p.H, G = p.G;
    for (i64 t = 0; t < T; ++t)
      lstm_pointwise_forward<M>(B, H, pre.data() + t * B * G, hg.data(), bias.data(), cs.data() + t * B * H,
                                act.data() + t * B * G, cs.data() + (t + 1) * B * H, hs.data() + (t + 1) * B * H,
                                out.data() + t * B * H);
    std::fill(dc.begin(), dc.end(), 0.0f);
    for (i64 t = T - 1; t >= 0; --t)
      lstm_pointwise_backward<M>(B, H, act.data() + t * B * G, cs.data() + t * B * H, cs.data() + (t + 1) * B * H,
                                 dy + t * B * H, dh.data(), dc.data(), dG.data() + t * B * G);
  }

  const float* output() override { return out.data(); }
  const float* grad_x() override { return dx.data(); }
  const float* grad_w_ih() override { return dwi.data(); }
  const float* grad_w_hh() override { return dwh.data(); }
  const float* grad_b() override { return db.data(); }
};

std::unique_ptr<Variant> make_step_loop(const Problem& p, int math, bool hoist) {
  if (math == 0) return std::make_unique<StepLoop<LibmMath>>(p, hoist);
  return std::make_unique<StepLoop<CephesMath>>(p, hoist);
}

// ---- checks

// Largest |a - b| over n values, against tol * max(1, largest |a|) when relative.
bool close(const char* what, const float* a, const float* b, i64 n, bool relative, std::string* error) {
  double diff = 0, scale = 1;
  for (i64 k = 0; k < n; ++k) {
    diff = std::max(diff, std::fabs(double(a[k]) - double(b[k])));
    if (relative) scale = std::max(scale, std::fabs(double(a[k])));
  }
  if (diff <= 1e-4 * scale) return true;
  *error += std::string(what) + " differs by " + std::to_string(diff) + " (scale " + std::to_string(scale) + "); ";
  return false;
}

// After one forward + backward of both: the candidate against the public API's results.
bool check_against_api(const Problem& p, Variant& v, benchmark::State& state) {
  FusedApi ref(p);
  ref.forward(), ref.backward();
  v.forward(), v.backward();
  std::string error;
  bool ok = close("output", ref.output(), v.output(), p.T * p.B * p.H, false, &error);
  ok &= close("dX", ref.grad_x(), v.grad_x(), p.T * p.B * p.I, true, &error);
  ok &= close("dW_ih", ref.grad_w_ih(), v.grad_w_ih(), p.G * p.I, true, &error);
  ok &= close("dW_hh", ref.grad_w_hh(), v.grad_w_hh(), p.G * p.H, true, &error);
  ok &= close("db", ref.grad_b(), v.grad_b(), p.G, true, &error);
  if (!ok) state.SkipWithError(error.c_str());
  return ok;
}

void finish(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kBatch);
  state.counters["threads"] = recur::get_num_threads();
}

void time_train_steps(benchmark::State& state, Variant& v) {
  for (auto _ : state) {
    v.forward();
    v.backward();
    benchmark::DoNotOptimize(v.grad_w_ih());
    benchmark::ClobberMemory();
  }
  finish(state);
}

// ---- benchmarks

void BM_FusedApi(benchmark::State& state) {
  const i64 hidden = state.range(0);
  recur::get_num_threads();  // applies RECUR_NUM_THREADS before anything runs
  Problem p(kSteps, hidden);
  FusedApi v(p);
  time_train_steps(state, v);
}

void BM_FusedKernel(benchmark::State& state) {
  const i64 hidden = state.range(0);
  recur::get_num_threads();
  Problem p(kSteps, hidden);
  FusedKernel v(p);
  if (!check_against_api(p, v, state)) return;
  time_train_steps(state, v);
}

void BM_StepLoop(benchmark::State& state) {
  const i64 hidden = state.range(0);
  const int math = static_cast<int>(state.range(1));
  const bool hoist = state.range(2) != 0;
  recur::get_num_threads();
  Problem p(kSteps, hidden);
  std::unique_ptr<Variant> v = make_step_loop(p, math, hoist);
  if (!check_against_api(p, *v, state)) return;
  time_train_steps(state, *v);
}

template <class M>
void pointwise_only(benchmark::State& state, const Problem& p) {
  StepLoop<M> v(p, false);
  v.forward(), v.backward();
  for (auto _ : state) {
    v.pointwise_only();
    benchmark::DoNotOptimize(v.dG.data());
    benchmark::ClobberMemory();
  }
}

void BM_Pointwise(benchmark::State& state) {
  const i64 hidden = state.range(0);
  recur::get_num_threads();
  Problem p(kSteps, hidden);
  if (state.range(1) == 0) pointwise_only<LibmMath>(state, p);
  else pointwise_only<CephesMath>(state, p);
  finish(state);
}

void shapes(benchmark::internal::Benchmark* b) {
  for (i64 hidden : {128, 512}) b->Args({hidden});
}

void loop_shapes(benchmark::internal::Benchmark* b) {
  for (i64 hidden : {128, 512})
    for (i64 math : {0, 1})
      for (i64 hoist : {0, 1}) b->Args({hidden, math, hoist});
}

void pointwise_shapes(benchmark::internal::Benchmark* b) {
  for (i64 hidden : {128, 512})
    for (i64 math : {0, 1}) b->Args({hidden, math});
}

}  // namespace

BENCHMARK(BM_FusedApi)->Apply(shapes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_FusedKernel)->Apply(shapes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_StepLoop)->Apply(loop_shapes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_Pointwise)->Apply(pointwise_shapes)->Unit(benchmark::kMillisecond)->UseRealTime();

BENCHMARK_MAIN();

