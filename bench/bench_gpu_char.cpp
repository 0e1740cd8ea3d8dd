// Character-model training and generation speed on a GPU, the recur half of issue 15's
// comparison (bench/char_torch_gpu.py is the PyTorch half; scripts/gpu-check runs both):
//
//   training    2-layer LSTM of 512 units, embedding 64, vocabulary 65, batch 100,
//               sequence 100, cross-entropy, clip_grad_norm_ 5, Adam 2e-3; the loss read
//               back every step as `recur train` does
//   generation  the same model, batch 1, one character per step (TokenSampler)
//
// The tokens are a fixed pseudo-random stream: this measures speed, not learning.
// Prints one JSON line: {"impl": "recur", "train_chars_per_sec", "sample_chars_per_sec", ...}.
//
//   build-cuda/bench/bench_gpu_char [--device cuda:0] [--steps 30] [--chars 2000]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "recur/recur.hpp"

namespace {

using namespace recur;
using Clock = std::chrono::steady_clock;

constexpr std::int64_t kVocab = 65, kBatch = 100, kSteps = 100;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// Token t of a fixed stream, uniform over the vocabulary.
std::int64_t token(std::uint64_t t) { return static_cast<std::int64_t>((t * 2654435761u) >> 7) % kVocab; }

}  // namespace

int main(int argc, char** argv) {
  int index = 0, train_steps = 30, chars = 2000;
  for (int i = 1; i + 1 < argc; i += 2) {
    if (!std::strcmp(argv[i], "--device") && !std::strncmp(argv[i + 1], "cuda:", 5)) index = std::atoi(argv[i + 1] + 5);
    else if (!std::strcmp(argv[i], "--steps")) train_steps = std::atoi(argv[i + 1]);
    else if (!std::strcmp(argv[i], "--chars")) chars = std::atoi(argv[i + 1]);
  }
  if (device_count(DeviceType::CUDA) <= index) {
    std::fprintf(stderr, "bench_gpu_char: no GPU cuda:%d (recur %s CUDA)\n", index,
                 has_backend(DeviceType::CUDA) ? "built with" : "built without");
    return 1;
  }
  const Device gpu = Device::cuda(index);
  try {
    manual_seed(1);
    nn::LanguageModel model({.cell = "lstm", .layers = 2, .hidden = 512, .embed = 64, .vocab_size = kVocab});
    model.to(gpu);
    optim::Adam adam(model.parameters(), optim::AdamOptions{.lr = 2e-3});

    std::vector<std::int64_t> tokens((kSteps + 1) * kBatch);
    auto train_step = [&](int step) {
      for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = token(step * tokens.size() + i);
      const Tensor all = to(from_vector(tokens, {kSteps + 1, kBatch}), gpu);
      Tensor logits = model.forward(narrow(all, 0, 0, kSteps));
      Tensor loss = cross_entropy(reshape(logits, {-1, kVocab}), reshape(narrow(all, 0, 1, kSteps), {-1}));
      loss.backward();
      optim::clip_grad_norm_(model.parameters(), 5.0);
      adam.step();
      adam.zero_grad();
      return loss.item();
    };
    for (int step = 0; step < 3; ++step) train_step(step);  // warm-up: allocator cache, cuBLAS
    auto start = Clock::now();
    double loss = 0;
    for (int step = 0; step < train_steps; ++step) loss = train_step(3 + step);
    const double train_seconds = seconds_since(start);

    NoGradGuard no_grad;
    model.eval();
    nn::TokenSampler sampler(model, 1);
    Generator gen(5);
    std::vector<std::int64_t> next = {0};
    sampler.feed(next);
    for (int i = 0; i < 50; ++i) sampler.draw(next, {}, gen), sampler.feed(next);  // warm-up
    start = Clock::now();
    for (int i = 0; i < chars; ++i) sampler.draw(next, {}, gen), sampler.feed(next);
    const double sample_seconds = seconds_since(start);

    std::printf("{\"impl\": \"recur\", \"device\": \"cuda:%d\", \"train_chars_per_sec\": %.0f, "
                "\"sample_chars_per_sec\": %.0f, \"train_steps\": %d, \"last_loss\": %.4f}\n",
                index, train_steps * kBatch * kSteps / train_seconds, chars / sample_seconds, train_steps, loss);
  } catch (const Error& e) {
    std::fprintf(stderr, "bench_gpu_char: %s\n", e.what());
    return 1;
  }
  return 0;
}
