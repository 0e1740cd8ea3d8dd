// Square float32 matrix products: recur::matmul against a direct cblas_sgemm on
// preallocated buffers in the same process, so the ratio is recur's overhead (dispatch,
// checks, the output allocation) over the BLAS it calls. BM_RecurGemmKernel is the CPU
// backend's gemm writing into a preallocated output: recur without the allocator.
// Reported as GFLOP/s (2 n^3 per product) in wall-clock time, since all use every thread.
//
// BM_LinearByWeight[Constant]: a decoder step's products, linear(x, W) with x of m rows and
// W of n x k, as BLAS runs them and under a ConstantWeightsGuard (W packed once, outside
// the timing); arguments m, k, n.
//
//   scripts/bench matmul
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdint>
#include <optional>
#include <tuple>
#include <vector>

#include "recur/recur.hpp"
// The kernel interface is internal (src/), reached here by path for the kernel-only run.
#include "../src/backend/backend.hpp"

namespace {

void set_flops(benchmark::State& state, std::int64_t n) {
  state.counters["GFLOP"] = benchmark::Counter(2.0 * n * n * n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = recur::get_num_threads();
}

void BM_RecurMatmul(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  recur::NoGradGuard no_grad;
  recur::Generator gen(1);
  recur::Tensor a = recur::uniform({n, n}, -1, 1, recur::DType::Float32, &gen);
  recur::Tensor b = recur::uniform({n, n}, -1, 1, recur::DType::Float32, &gen);
  for (auto _ : state) {
    recur::Tensor c = recur::matmul(a, b);
    benchmark::DoNotOptimize(c.raw_data());
  }
  set_flops(state, n);
}

void BM_CblasSgemm(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  recur::Generator gen(1);
  recur::Tensor a = recur::uniform({n, n}, -1, 1, recur::DType::Float32, &gen);
  recur::Tensor b = recur::uniform({n, n}, -1, 1, recur::DType::Float32, &gen);
  std::vector<float> c(n * n);  // zeroed, so its pages are mapped before timing
  const int size = static_cast<int>(n);
  for (auto _ : state) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, size, size, size, 1.0f, a.data<float>(), size,
                b.data<float>(), size, 0.0f, c.data(), size);
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  set_flops(state, n);
}

void BM_RecurGemmKernel(benchmark::State& state) {
  const std::int64_t n = state.range(0);
  recur::Generator gen(1);
  recur::Tensor a = recur::uniform({n, n}, -1, 1, recur::DType::Float32, &gen);
  recur::Tensor b = recur::uniform({n, n}, -1, 1, recur::DType::Float32, &gen);
  recur::Tensor c = recur::zeros({n, n});
  recur::backend::Backend& cpu = recur::backend::backend_for(recur::Device::cpu());
  for (auto _ : state) {
    cpu.gemm(false, false, n, n, n, 1.0, a.raw_data(), n, b.raw_data(), n, 0.0, c.raw_data(), n,
             recur::DType::Float32);
    benchmark::DoNotOptimize(c.raw_data());
    benchmark::ClobberMemory();
  }
  set_flops(state, n);
}

// y = x W^T, x (m, k), W (n, k), optionally with W held constant.
void linear_by_weight(benchmark::State& state, bool constant) {
  const std::int64_t m = state.range(0), k = state.range(1), n = state.range(2);
  recur::NoGradGuard no_grad;
  recur::Generator gen(1);
  recur::Tensor x = recur::uniform({m, k}, -1, 1, recur::DType::Float32, &gen);
  recur::Tensor w = recur::uniform({n, k}, -1, 1, recur::DType::Float32, &gen);
  std::optional<recur::ConstantWeightsGuard> guard;
  if (constant) guard.emplace(std::vector<recur::Tensor>{w});
  benchmark::DoNotOptimize(recur::linear(x, w).raw_data());  // packs W once, when constant
  for (auto _ : state) {
    recur::Tensor y = recur::linear(x, w);
    benchmark::DoNotOptimize(y.raw_data());
  }
  state.counters["GFLOP"] = benchmark::Counter(2.0 * m * k * n * 1e-9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["threads"] = recur::get_num_threads();
}

void BM_LinearByWeight(benchmark::State& state) { linear_by_weight(state, false); }
void BM_LinearByWeightConstant(benchmark::State& state) { linear_by_weight(state, true); }

// A seq2seq decoder step's products at batch 32 (LSTM layers 1 and 2, the combine layer),
// and beam search's 320 rows; then a Brown word model's full-softmax head (hidden 256,
// 14,115 words) over 128 positions.
void decoder_shapes(benchmark::internal::Benchmark* b) {
  for (const auto& [m, k, n] :
       {std::tuple{32, 384, 1024}, {32, 256, 1024}, {32, 512, 256}, {320, 384, 1024}, {128, 256, 14115}})
    b->Args({m, k, n});
}

BENCHMARK(BM_LinearByWeight)->Apply(decoder_shapes)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_LinearByWeightConstant)->Apply(decoder_shapes)->UseRealTime()->Unit(benchmark::kMicrosecond);
BENCHMARK(BM_RecurMatmul)->RangeMultiplier(2)->Range(128, 2048)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RecurGemmKernel)->RangeMultiplier(2)->Range(128, 2048)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CblasSgemm)->RangeMultiplier(2)->Range(128, 2048)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
