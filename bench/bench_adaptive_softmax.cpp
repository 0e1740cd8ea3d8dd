// The output layer of a word-level language model, float32, forward + backward of one batch
// of 32 x 35 rows of hidden size 256 over a vocabulary of 25,000 words:
//
//   BM_FullSoftmaxTrainStep      Linear(256, 25000) + cross_entropy
//   BM_AdaptiveSoftmaxTrainStep  AdaptiveLogSoftmaxWithLoss(256, 25000, {2000, 10000}), div_value 4
//
// Both backpropagate the mean loss to the input and every parameter (gradients dropped
// before each step, as zero_grad() does). Targets follow a Zipf-like law, as a
// frequency-ordered vocabulary does: index = floor(V^u) - 1 for u uniform in [0, 1), which puts
// about 75% of the rows in the shortlist, 16% in cluster 0 and 9% in cluster 1. The batches
// cycle through 8 draws so the cluster sizes vary as in training. items/s = rows (tokens)
// per second; the ratio of the two is the speed-up of the output layer.
//
//   scripts/bench adaptive_softmax
#include <benchmark/benchmark.h>

#include <cmath>
#include <cstdint>
#include <vector>

#include "recur/recur.hpp"

namespace {

using recur::Tensor;

constexpr std::int64_t kRows = 32 * 35, kHidden = 256, kVocab = 25000, kBatches = 8;

std::vector<Tensor> zipf_targets() {
  recur::Generator gen(3);
  std::vector<Tensor> batches;
  for (std::int64_t b = 0; b < kBatches; ++b) {
    std::vector<double> u = recur::uniform({kRows}, 0, 1, recur::DType::Float64, &gen).to_vector<double>();
    std::vector<std::int64_t> t(u.size());
    for (std::size_t i = 0; i < u.size(); ++i)
      t[i] = static_cast<std::int64_t>(std::floor(std::pow(static_cast<double>(kVocab), u[i]))) - 1;
    batches.push_back(recur::from_vector(t, {kRows}));
  }
  return batches;
}

Tensor hidden_rows() {
  recur::Generator gen(4);
  Tensor x = recur::normal({kRows, kHidden}, 0, 1, recur::DType::Float32, &gen);
  x.set_requires_grad();
  return x;
}

void set_counters(benchmark::State& state) {
  state.SetItemsProcessed(state.iterations() * kRows);
  state.counters["threads"] = recur::get_num_threads();
}

void BM_FullSoftmaxTrainStep(benchmark::State& state) {
  recur::manual_seed(1);
  recur::nn::Linear out(kHidden, kVocab);
  Tensor x = hidden_rows();
  std::vector<Tensor> targets = zipf_targets();
  auto train_step = [&](std::int64_t step) {
    out.zero_grad();
    x.zero_grad();
    Tensor loss = recur::cross_entropy(out.forward(x), targets[step % kBatches]);
    loss.backward();
  };
  train_step(0);  // untimed: the allocator's first touch of the buffers
  std::int64_t step = 0;
  for (auto _ : state) {
    train_step(step++);
    benchmark::DoNotOptimize(x.grad().raw_data());
  }
  set_counters(state);
}

void BM_AdaptiveSoftmaxTrainStep(benchmark::State& state) {
  recur::manual_seed(1);
  recur::nn::AdaptiveLogSoftmaxWithLoss out(kHidden, kVocab, {2000, 10000});
  Tensor x = hidden_rows();
  std::vector<Tensor> targets = zipf_targets();
  auto train_step = [&](std::int64_t step) {
    out.zero_grad();
    x.zero_grad();
    Tensor loss = out.forward(x, targets[step % kBatches]).loss;
    loss.backward();
  };
  train_step(0);  // untimed: the allocator's first touch of the buffers
  std::int64_t step = 0;
  for (auto _ : state) {
    train_step(step++);
    benchmark::DoNotOptimize(x.grad().raw_data());
  }
  set_counters(state);
}

}  // namespace

// MinTime: the full softmax takes about half a second a step, and one step per repetition
// is too noisy to compare.
BENCHMARK(BM_FullSoftmaxTrainStep)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);
BENCHMARK(BM_AdaptiveSoftmaxTrainStep)->Unit(benchmark::kMillisecond)->UseRealTime()->MinTime(2.0);

BENCHMARK_MAIN();
