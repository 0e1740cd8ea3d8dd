// Square float32 matrix products: recur::matmul against a direct cblas_sgemm on
// preallocated buffers in the same process, so the ratio is recur's overhead (dispatch,
// checks, the output allocation) over the BLAS it calls. BM_RecurGemmKernel is the CPU
// backend's gemm writing into a preallocated output: recur without the allocator.
// Reported as GFLOP/s (2 n^3 per product) in wall-clock time, since all use every thread.
//
//   scripts/bench matmul
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cstdint>
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

BENCHMARK(BM_RecurMatmul)->RangeMultiplier(2)->Range(128, 2048)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RecurGemmKernel)->RangeMultiplier(2)->Range(128, 2048)->UseRealTime()->Unit(benchmark::kMillisecond);
BENCHMARK(BM_CblasSgemm)->RangeMultiplier(2)->Range(128, 2048)->UseRealTime()->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
