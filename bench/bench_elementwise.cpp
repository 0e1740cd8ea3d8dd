// Elementwise and reduction throughput in GB/s against memcpy bandwidth, on float32
// tensors of 1 MB, 16 MB and 64 MB.
//
// Bytes counted are the bytes each kernel must move: memcpy and a unary op read n and
// write n bytes; a binary op reads 2n and writes n; sum reads n. Two families:
//   BM_Op_*     the public ops (recur::add, recur::tanh, ...), each allocating its result,
//               as user code calls them;
//   BM_Kernel_* the CPU backend's kernel writing into a preallocated tensor: the loop
//               itself, without the allocator.
// BM_Memcpy is one std::memcpy (one thread); BM_MemcpyThreads splits it over recur's
// threads, the fairer bound for kernels that use every core.
//
//   scripts/bench elementwise
#include <benchmark/benchmark.h>
#include <omp.h>

#include <cstdint>
#include <cstring>

#include "recur/recur.hpp"
// The kernel interface is internal (src/), reached here by path for the kernel-only runs.
#include "../src/backend/backend.hpp"

namespace {

using recur::Tensor;

enum class Kind { Add, Mul, Relu, Tanh, Sigmoid, Exp, Sum };

// Bytes moved per element of a float32 tensor.
double bytes_per_element(Kind k) {
  switch (k) {
    case Kind::Add:
    case Kind::Mul: return 12;
    case Kind::Sum: return 4;
    default: return 8;
  }
}

Tensor input(std::int64_t n, std::uint64_t seed) {
  recur::Generator gen(seed);
  return recur::uniform({n}, -3, 3, recur::DType::Float32, &gen);
}

// An output buffer with its pages already mapped, so no run pays the first-touch faults.
Tensor output(std::int64_t n) {
  Tensor t = recur::empty({n});
  std::memset(t.raw_data(), 0, n * sizeof(float));
  return t;
}

void set_bandwidth(benchmark::State& state, double bytes_per_iteration) {
  state.SetBytesProcessed(static_cast<std::int64_t>(bytes_per_iteration * state.iterations()));
  state.counters["MB"] = static_cast<double>(state.range(0) >> 20);
}

void BM_Memcpy(benchmark::State& state) {
  const std::int64_t bytes = state.range(0);
  Tensor a = input(bytes / 4, 1), b = output(bytes / 4);
  for (auto _ : state) {
    std::memcpy(b.raw_data(), a.raw_data(), bytes);
    benchmark::ClobberMemory();
  }
  set_bandwidth(state, 2.0 * bytes);
}

void BM_MemcpyThreads(benchmark::State& state) {
  const std::int64_t bytes = state.range(0);
  Tensor a = input(bytes / 4, 1), b = output(bytes / 4);
  const char* src = static_cast<const char*>(a.raw_data());
  char* dst = static_cast<char*>(b.raw_data());
  const int threads = recur::get_num_threads();
  for (auto _ : state) {
#pragma omp parallel num_threads(threads)
    {
      std::int64_t t = omp_get_thread_num(), nt = omp_get_num_threads();
      std::int64_t begin = bytes * t / nt / 64 * 64, end = t == nt - 1 ? bytes : bytes * (t + 1) / nt / 64 * 64;
      std::memcpy(dst + begin, src + begin, end - begin);
    }
    benchmark::ClobberMemory();
  }
  set_bandwidth(state, 2.0 * bytes);
}

template <Kind K>
void BM_Op(benchmark::State& state) {
  recur::NoGradGuard no_grad;
  const std::int64_t n = state.range(0) / 4;
  Tensor a = input(n, 1), b = input(n, 2);
  for (auto _ : state) {
    Tensor y;
    switch (K) {
      case Kind::Add: y = recur::add(a, b); break;
      case Kind::Mul: y = recur::mul(a, b); break;
      case Kind::Relu: y = recur::relu(a); break;
      case Kind::Tanh: y = recur::tanh(a); break;
      case Kind::Sigmoid: y = recur::sigmoid(a); break;
      case Kind::Exp: y = recur::exp(a); break;
      case Kind::Sum: y = recur::sum(a); break;
    }
    benchmark::DoNotOptimize(y.raw_data());
  }
  set_bandwidth(state, bytes_per_element(K) * n);
}

template <Kind K>
void BM_Kernel(benchmark::State& state) {
  namespace be = recur::backend;
  const std::int64_t n = state.range(0) / 4;
  Tensor a = input(n, 1), b = input(n, 2);
  Tensor y = output(K == Kind::Sum ? 1 : n);
  be::Backend& cpu = be::backend_for(recur::Device::cpu());
  const be::View va = be::view_of(a), vb = be::view_of(b), vy = be::view_of(y);
  for (auto _ : state) {
    switch (K) {
      case Kind::Add: cpu.binary(be::BinaryOp::Add, vy, va, vb, {}); break;
      case Kind::Mul: cpu.binary(be::BinaryOp::Mul, vy, va, vb, {}); break;
      case Kind::Relu: cpu.unary(be::UnaryOp::Relu, vy, va, {}); break;
      case Kind::Tanh: cpu.unary(be::UnaryOp::Tanh, vy, va, {}); break;
      case Kind::Sigmoid: cpu.unary(be::UnaryOp::Sigmoid, vy, va, {}); break;
      case Kind::Exp: cpu.unary(be::UnaryOp::Exp, vy, va, {}); break;
      case Kind::Sum: cpu.reduce(be::ReduceOp::Sum, vy, va); break;
    }
    benchmark::ClobberMemory();
  }
  set_bandwidth(state, bytes_per_element(K) * n);
}

#define RECUR_SIZES ->Arg(1 << 20)->Arg(16 << 20)->Arg(64 << 20)->UseRealTime()->Unit(benchmark::kMicrosecond)

BENCHMARK(BM_Memcpy) RECUR_SIZES;
BENCHMARK(BM_MemcpyThreads) RECUR_SIZES;
BENCHMARK(BM_Kernel<Kind::Add>)->Name("BM_Kernel_add") RECUR_SIZES;
BENCHMARK(BM_Kernel<Kind::Mul>)->Name("BM_Kernel_mul") RECUR_SIZES;
BENCHMARK(BM_Kernel<Kind::Relu>)->Name("BM_Kernel_relu") RECUR_SIZES;
BENCHMARK(BM_Kernel<Kind::Tanh>)->Name("BM_Kernel_tanh") RECUR_SIZES;
BENCHMARK(BM_Kernel<Kind::Sigmoid>)->Name("BM_Kernel_sigmoid") RECUR_SIZES;
BENCHMARK(BM_Kernel<Kind::Exp>)->Name("BM_Kernel_exp") RECUR_SIZES;
BENCHMARK(BM_Kernel<Kind::Sum>)->Name("BM_Kernel_sum") RECUR_SIZES;
BENCHMARK(BM_Op<Kind::Add>)->Name("BM_Op_add") RECUR_SIZES;
BENCHMARK(BM_Op<Kind::Mul>)->Name("BM_Op_mul") RECUR_SIZES;
BENCHMARK(BM_Op<Kind::Relu>)->Name("BM_Op_relu") RECUR_SIZES;
BENCHMARK(BM_Op<Kind::Tanh>)->Name("BM_Op_tanh") RECUR_SIZES;
BENCHMARK(BM_Op<Kind::Sigmoid>)->Name("BM_Op_sigmoid") RECUR_SIZES;
BENCHMARK(BM_Op<Kind::Exp>)->Name("BM_Op_exp") RECUR_SIZES;
BENCHMARK(BM_Op<Kind::Sum>)->Name("BM_Op_sum") RECUR_SIZES;

}  // namespace

BENCHMARK_MAIN();
