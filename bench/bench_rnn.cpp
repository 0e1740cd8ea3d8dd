// Fused recurrent layers (rnn_layer, rnn_step_), float32, at the shapes.
//
//   BM_RnnTrainStep/cell/hidden/layers  forward + backward of a stack of `layers` unidirectional
//                        layers over T = 64 steps, batch 32, input size = hidden; every weight
//                        gets its gradient (dropped before each step, as zero_grad() does), the
//                        data input does not. items/s = sequences (batch rows) per second.
//   BM_RnnInferenceStep/cell/hidden     one generation step of a 2-layer model at batch 1,
//                        no autograd, workspaces kept between steps (rnn_step_).
// cell: 0 RNN tanh, 2 LSTM, 3 GRU, 4 MGU (recur::RnnCell's order).
//
//   scripts/bench rnn
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "recur/recur.hpp"

namespace {

using recur::RnnCell;
using recur::RnnLayerWeights;
using recur::Tensor;

constexpr std::int64_t kSteps = 64, kBatch = 32;

Tensor rand_uniform(const recur::Shape& shape, double bound, std::uint64_t seed) {
  recur::Generator gen(seed);
  return recur::uniform(shape, -bound, bound, recur::DType::Float32, &gen);
}

// PyTorch's initialisation: every weight U(-1/sqrt(H), 1/sqrt(H)).
std::vector<RnnLayerWeights> make_layers(RnnCell cell, std::int64_t hidden, std::int64_t layers, bool grad) {
  const std::int64_t gh = recur::rnn_gate_count(cell) * hidden;
  const double bound = 1.0 / std::sqrt(static_cast<double>(hidden));
  std::vector<RnnLayerWeights> result;
  for (std::int64_t l = 0; l < layers; ++l) {
    RnnLayerWeights w;
    w.w_ih = rand_uniform({gh, hidden}, bound, 10 * l + 1);
    w.w_hh = rand_uniform({gh, hidden}, bound, 10 * l + 2);
    w.b_ih = rand_uniform({gh}, bound, 10 * l + 3);
    w.b_hh = rand_uniform({gh}, bound, 10 * l + 4);
    if (grad)
      for (const Tensor* t : {&w.w_ih, &w.w_hh, &w.b_ih, &w.b_hh}) t->set_requires_grad();
    result.push_back(w);
  }
  return result;
}

void set_counters(benchmark::State& state) {
  state.counters["threads"] = recur::get_num_threads();
}

void BM_RnnTrainStep(benchmark::State& state) {
  const auto cell = static_cast<RnnCell>(state.range(0));
  const std::int64_t hidden = state.range(1), layers = state.range(2);
  std::vector<RnnLayerWeights> w = make_layers(cell, hidden, layers, true);
  Tensor x = rand_uniform({kSteps, kBatch, hidden}, 1, 7);
  Tensor dy = rand_uniform({kSteps, kBatch, hidden}, 1, 8);
  for (auto _ : state) {
    for (RnnLayerWeights& l : w)
      for (const Tensor* t : {&l.w_ih, &l.w_hh, &l.b_ih, &l.b_hh}) t->zero_grad();
    Tensor h = x;
    for (const RnnLayerWeights& l : w) h = recur::rnn_layer(cell, h, l).output;
    h.backward(dy);
    benchmark::DoNotOptimize(w[0].w_ih.grad().raw_data());
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
  set_counters(state);
}

void BM_RnnInferenceStep(benchmark::State& state) {
  const auto cell = static_cast<RnnCell>(state.range(0));
  const std::int64_t hidden = state.range(1), layers = 2;
  std::vector<RnnLayerWeights> w = make_layers(cell, hidden, layers, false);
  recur::NoGradGuard no_grad;
  Tensor x = rand_uniform({1, hidden}, 1, 7);
  std::vector<Tensor> h, c, workspace(layers);
  for (std::int64_t l = 0; l < layers; ++l) {
    h.push_back(recur::zeros({1, hidden}));
    c.push_back(cell == RnnCell::Lstm ? recur::zeros({1, hidden}) : Tensor());
  }
  for (auto _ : state) {
    const Tensor* in = &x;
    for (std::int64_t l = 0; l < layers; ++l) {
      recur::rnn_step_(cell, *in, w[l], h[l], c[l], workspace[l]);
      in = &h[l];
    }
    benchmark::DoNotOptimize(h.back().raw_data());
  }
  state.SetItemsProcessed(state.iterations());
  set_counters(state);
}

void train_shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t cell : {2, 3})
    for (std::int64_t hidden : {128, 512})
      for (std::int64_t layers : {1, 2}) b->Args({cell, hidden, layers});
  b->Args({0, 128, 2})->Args({4, 128, 2});
}

void step_shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t cell : {2, 3})
    for (std::int64_t hidden : {128, 512}) b->Args({cell, hidden});
}

}  // namespace

BENCHMARK(BM_RnnTrainStep)->Apply(train_shapes)->Unit(benchmark::kMillisecond)->UseRealTime();
BENCHMARK(BM_RnnInferenceStep)->Apply(step_shapes)->Unit(benchmark::kMicrosecond)->UseRealTime();

BENCHMARK_MAIN();
