// The data layer's costs: one epoch of the mini-batch loader over Fashion-MNIST-sized
// tensors (60000 x [1, 28, 28] float32, batch 64, shuffled), and loading Fashion-MNIST's
// training split from its gzip files (skipped when it is not installed).
//
//   build/bench/bench_data
#include <benchmark/benchmark.h>

#include <filesystem>
#include <string>

#include "recur/recur.hpp"

namespace {

using recur::Tensor;

void BM_LoaderEpoch(benchmark::State& state) {
  Tensor images = recur::uniform({60000, 1, 28, 28});
  Tensor labels = recur::zeros({60000}, recur::DType::Int64);
  recur::data::DataLoader loader(images, labels, {.batch_size = state.range(0), .seed = 1});
  recur::data::Batch batch;
  for (auto _ : state) {
    while (loader.next(batch)) benchmark::DoNotOptimize(batch.inputs.raw_data());
  }
  state.SetBytesProcessed(state.iterations() * images.numel() * 4);
}
BENCHMARK(BM_LoaderEpoch)->Arg(64)->Arg(256)->Unit(benchmark::kMillisecond);

void BM_LoadFashionMnistTrain(benchmark::State& state) {
  std::string dir = recur::data::kFashionMnistDir;
  if (!std::filesystem::exists(dir)) {
    state.SkipWithError("Fashion-MNIST is not installed (scripts/setup installs it)");
    return;
  }
  for (auto _ : state) {
    recur::data::MnistData train = recur::data::load_mnist(dir, recur::data::Split::Train);
    benchmark::DoNotOptimize(train.images.raw_data());
  }
}
BENCHMARK(BM_LoadFashionMnistTrain)->Unit(benchmark::kMillisecond);

}  // namespace

BENCHMARK_MAIN();
