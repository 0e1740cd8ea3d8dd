// One optimizer step over the parameters of the tutorials' 784-300-10 MLP (238,510
// float32 elements in four tensors): the time a training loop spends in optimizer.step().
// Each step is one fused pass per parameter. Two sets of random gradients alternate from
// step to step (a constant gradient would drive centered RMSprop's variance to zero, and
// its arithmetic into denormals).
//
//   scripts/bench optim
//
// PyTorch's side (its single-tensor optimizers, same shapes, same thread count) for
// docs/BENCHMARKS.md: bench/optim_torch.py.
#include <benchmark/benchmark.h>

#include <functional>
#include <memory>

#include "recur/recur.hpp"

namespace {

using recur::Tensor;
using namespace recur::optim;

void run(benchmark::State& state, const std::function<std::unique_ptr<Optimizer>(const std::vector<Tensor>&)>& make) {
  recur::Generator gen(1);
  std::vector<Tensor> params, grads[2];
  for (const recur::Shape& shape : {recur::Shape{300, 784}, recur::Shape{300}, recur::Shape{10, 300}, recur::Shape{10}}) {
    params.push_back(recur::normal(shape, 0, 0.05, recur::DType::Float32, &gen));
    params.back().set_requires_grad();
    for (auto& g : grads) g.push_back(recur::normal(shape, 0, 0.01, recur::DType::Float32, &gen));
  }
  auto set_grads = [&](int which) {
    for (std::size_t i = 0; i < params.size(); ++i) params[i].set_grad(grads[which][i]);
  };
  std::unique_ptr<Optimizer> opt = make(params);
  set_grads(1);
  opt->step();  // allocate the state outside the timing
  int which = 0;
  for (auto _ : state) {
    set_grads(which);
    which ^= 1;
    opt->step();
  }
  state.counters["params"] = 238510;
}

void BM_SGD(benchmark::State& state) {
  run(state, [](const std::vector<Tensor>& p) { return std::make_unique<SGD>(p, SGDOptions{.lr = 0.01}); });
}
void BM_SGDMomentumNesterov(benchmark::State& state) {
  run(state, [](const std::vector<Tensor>& p) {
    return std::make_unique<SGD>(p, SGDOptions{.lr = 0.01, .momentum = 0.9, .weight_decay = 1e-4, .nesterov = true});
  });
}
void BM_Adagrad(benchmark::State& state) {
  run(state, [](const std::vector<Tensor>& p) { return std::make_unique<Adagrad>(p); });
}
void BM_RMSpropCenteredMomentum(benchmark::State& state) {
  run(state, [](const std::vector<Tensor>& p) {
    return std::make_unique<RMSprop>(p, RMSpropOptions{.momentum = 0.9, .centered = true});
  });
}
void BM_Adam(benchmark::State& state) {
  run(state, [](const std::vector<Tensor>& p) { return std::make_unique<Adam>(p); });
}
void BM_AdamW(benchmark::State& state) {
  run(state, [](const std::vector<Tensor>& p) { return std::make_unique<AdamW>(p); });
}

BENCHMARK(BM_SGD)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_SGDMomentumNesterov)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Adagrad)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RMSpropCenteredMomentum)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Adam)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_AdamW)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
