// The data layer's costs: one epoch of the mini-batch loader over Fashion-MNIST-sized
// tensors (60000 x [1, 28, 28] float32, batch 64, shuffled), and loading Fashion-MNIST's
// training split from its gzip files (skipped when it is not installed), and reading a
// training text: UTF-8 decoding, counting and encoding 64 MB (data::encode_text) as
// characters and as words (issue 12: "in the tens of MB/s, as char mode does").
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

// 64 MB of tinyshakespeare repeated, every fourth copy with a line of Tang poetry, so the
// multi-byte paths and a vocabulary beyond ASCII are part of it.
// Arg 0: characters; 1: words; 2: lowercased words; 3: words split at punctuation too.
void BM_EncodeText(benchmark::State& state) {
  const std::string shakespeare = recur::io::read_file(RECUR_SOURCE_DIR "/data/tinyshakespeare.txt");
  const std::string poem = "\n\u5e8a\u524d\u660e\u6708\u5149\uff0c\u7591\u662f\u5730\u4e0a\u971c\u3002\n";
  std::string text;
  for (int copy = 0; text.size() < (std::size_t{64} << 20); ++copy) text += copy % 4 == 0 ? shakespeare + poem : shakespeare;
  const recur::data::TokenOptions options{
      .mode = state.range(0) == 0 ? recur::data::TokenMode::Char : recur::data::TokenMode::Word,
      .lowercase = state.range(0) == 2,
      .split_punctuation = state.range(0) == 3};
  for (auto _ : state) {
    recur::data::EncodedText encoded = recur::data::encode_text(text, "bench", options);
    benchmark::DoNotOptimize(encoded.tokens.data());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_EncodeText)->Arg(0)->Arg(1)->Arg(2)->Arg(3)->Unit(benchmark::kMillisecond);

// Strict UTF-8 decoding alone, of the bundled 1.1 MB text (all ASCII: the eight-byte path).
void BM_DecodeUtf8(benchmark::State& state) {
  const std::string text = recur::io::read_file(RECUR_SOURCE_DIR "/data/tinyshakespeare.txt");
  for (auto _ : state) benchmark::DoNotOptimize(recur::data::decode_utf8(text, "bench").data());
  state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(text.size()));
}
BENCHMARK(BM_DecodeUtf8)->Unit(benchmark::kMicrosecond);

}  // namespace

BENCHMARK_MAIN();
