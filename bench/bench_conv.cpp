// conv2d and max_pool2d at LeNet's shapes, float32, as a training step runs them.
//
//   BM_Conv2dForward         y = conv2d(x, w, b) with grad mode off (inference)
//   BM_Conv2dForwardBackward y = conv2d(x, w, b); y.backward(dy), the gradients dropped
//                            before each step as zero_grad() does. The first layer's
//                            input is data (no gradient), the second's is an activation.
//   BM_MaxPool2dForward / BM_MaxPool2dForwardBackward: 2x2 windows, stride 2.
//   BM_BatchNormForwardBackward: batch_norm in training (batch statistics, running
//                            statistics updated, affine), forward and backward.
// Arguments: batch, input channels, input height = width, output channels (pooling: batch,
// channels, height = width). LeNet-5 as in PyTorch's tutorials has 1->6 and 6->16 5x5 convs
// on 28x28 images; Caffe's LeNet has 1->20 and 20->50. Wall-clock time, every thread.
//
//   scripts/bench conv
#include <benchmark/benchmark.h>

#include <cstdint>

#include "recur/recur.hpp"

namespace {

using recur::Tensor;

Tensor randn(const recur::Shape& shape, std::uint64_t seed) {
  recur::Generator gen(seed);
  return recur::normal(shape, 0, 1, recur::DType::Float32, &gen);
}

struct ConvShapes {
  Tensor x, w, b;
};

ConvShapes conv_inputs(const benchmark::State& state) {
  const std::int64_t n = state.range(0), c = state.range(1), hw = state.range(2), o = state.range(3);
  return {randn({n, c, hw, hw}, 1), randn({o, c, 5, 5}, 2), randn({o}, 3)};
}

void set_counters(benchmark::State& state) { state.counters["threads"] = recur::get_num_threads(); }

void BM_Conv2dForward(benchmark::State& state) {
  ConvShapes s = conv_inputs(state);
  recur::NoGradGuard no_grad;
  for (auto _ : state) {
    Tensor y = recur::conv2d(s.x, s.w, s.b);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_counters(state);
}

void BM_Conv2dForwardBackward(benchmark::State& state) {
  ConvShapes s = conv_inputs(state);
  const bool input_grad = state.range(1) > 1;  // a first layer's input is data
  if (input_grad) s.x.set_requires_grad();
  s.w.set_requires_grad();
  s.b.set_requires_grad();
  Tensor dy;
  {
    recur::NoGradGuard no_grad;
    dy = randn(recur::conv2d(s.x, s.w, s.b).shape(), 4);
  }
  for (auto _ : state) {
    s.x.zero_grad(), s.w.zero_grad(), s.b.zero_grad();
    Tensor y = recur::conv2d(s.x, s.w, s.b);
    y.backward(dy);
    benchmark::DoNotOptimize(s.w.grad().raw_data());
  }
  set_counters(state);
}

void BM_MaxPool2dForward(benchmark::State& state) {
  Tensor x = randn({state.range(0), state.range(1), state.range(2), state.range(2)}, 5);
  recur::NoGradGuard no_grad;
  for (auto _ : state) {
    Tensor y = recur::max_pool2d(x, 2);
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_counters(state);
}

void BM_MaxPool2dForwardBackward(benchmark::State& state) {
  Tensor x = randn({state.range(0), state.range(1), state.range(2), state.range(2)}, 5);
  x.set_requires_grad();
  Tensor dy = randn({state.range(0), state.range(1), state.range(2) / 2, state.range(2) / 2}, 6);
  for (auto _ : state) {
    x.zero_grad();
    Tensor y = recur::max_pool2d(x, 2);
    y.backward(dy);
    benchmark::DoNotOptimize(x.grad().raw_data());
  }
  set_counters(state);
}

void BM_BatchNormForwardBackward(benchmark::State& state) {
  const std::int64_t n = state.range(0), c = state.range(1), hw = state.range(2);
  Tensor x = hw > 1 ? randn({n, c, hw, hw}, 7) : randn({n, c}, 7);
  Tensor w = recur::ones({c}), b = recur::zeros({c});
  Tensor running_mean = recur::zeros({c}), running_var = recur::ones({c});
  x.set_requires_grad(), w.set_requires_grad(), b.set_requires_grad();
  Tensor dy = randn(x.shape(), 8);
  for (auto _ : state) {
    x.zero_grad(), w.zero_grad(), b.zero_grad();
    Tensor y = recur::batch_norm(x, running_mean, running_var, w, b, true, 0.1, 1e-5);
    y.backward(dy);
    benchmark::DoNotOptimize(x.grad().raw_data());
  }
  set_counters(state);
}

// {batch, in channels, height = width, out channels}
void conv_shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : {64, 128}) {
    b->Args({n, 1, 28, 6})->Args({n, 6, 12, 16});    // LeNet-5
    b->Args({n, 1, 28, 20})->Args({n, 20, 12, 50});  // Caffe's LeNet
  }
}

// {batch, channels, height = width}: the outputs of the convolutions above.
void pool_shapes(benchmark::internal::Benchmark* b) {
  for (std::int64_t n : {64, 128}) b->Args({n, 6, 24})->Args({n, 16, 8})->Args({n, 20, 24})->Args({n, 50, 8});
}

// {batch, channels, height = width}; 1 for a (batch, features) input (BatchNorm1d after
// LeNet's first fully connected layer).
void batch_norm_shapes(benchmark::internal::Benchmark* b) {
  b->Args({64, 6, 24})->Args({64, 16, 8})->Args({64, 120, 1});
}

BENCHMARK(BM_Conv2dForward)->Apply(conv_shapes)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_Conv2dForwardBackward)->Apply(conv_shapes)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MaxPool2dForward)->Apply(pool_shapes)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_MaxPool2dForwardBackward)->Apply(pool_shapes)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_BatchNormForwardBackward)->Apply(batch_norm_shapes)->UseRealTime()->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
