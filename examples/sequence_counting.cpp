// sequence_counting: the tutorials' first recurrent toy task. Sequences count upward through
// 0..8 and wrap around (5 6 7 8 0 1 ...); each number enters as a one-hot vector, and a
// vanilla RNN learns to predict the next one from what it has seen.
//
//   h(t) = tanh(W_ih x(t) + b_ih + W_hh h(t-1) + b_hh)      (nn::RNN, one fused op per layer)
//   logits(t) = W h(t) + b,   loss = cross-entropy against x(t+1), Adam
//
// The test uses fresh sequences from random starting numbers, and the model then continues
// a few primes greedily. The last line of output is one JSON object.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <recur/recur.hpp>

using namespace recur;

namespace {

constexpr std::int64_t kSymbols = 9;

// `batch` sequences of `length + 1` numbers counting up from random starts, as int64 (T+1, B).
Tensor counting_sequences(std::int64_t length, std::int64_t batch, Generator& gen) {
  std::vector<std::int64_t> values(static_cast<std::size_t>((length + 1) * batch));
  for (std::int64_t b = 0; b < batch; ++b) {
    const auto start = static_cast<std::int64_t>(gen.next_uniform() * kSymbols);
    for (std::int64_t t = 0; t <= length; ++t) values[t * batch + b] = (start + t) % kSymbols;
  }
  return from_vector(values, {length + 1, batch});
}

}  // namespace

int main(int argc, char** argv) {
  std::int64_t hidden = 16, length = 10, batch = 32, steps = 300, test_sequences = 1000;
  double lr = 0.01;
  std::uint64_t seed = 1;
  CLI::App app{"A vanilla RNN learns to continue sequences counting 0..8 with wrap-around."};
  app.add_option("--hidden", hidden, "hidden units")->check(CLI::PositiveNumber);
  app.add_option("--length", length, "time steps per training sequence")->check(CLI::PositiveNumber);
  app.add_option("--batch-size", batch, "sequences per step")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "Adam steps")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "Adam's learning rate")->check(CLI::PositiveNumber);
  app.add_option("--test-sequences", test_sequences, "fresh sequences to measure accuracy on")
      ->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of the weights and the sequences");
  CLI11_PARSE(app, argc, argv);

  try {
    manual_seed(seed);
    Generator data_gen(seed + 1);
    auto rnn = std::make_shared<nn::RNN>(kSymbols, hidden);
    auto head = std::make_shared<nn::Linear>(hidden, kSymbols);
    std::vector<Tensor> parameters = rnn->parameters();
    for (const Tensor& p : head->parameters()) parameters.push_back(p);
    optim::Adam adam(parameters, {.lr = lr});

    // Logits (T*B, 9) for the inputs of a (T+1, B) batch of sequences.
    auto predict = [&](const Tensor& sequences) {
      const std::int64_t t = sequences.size(0) - 1;
      const Tensor inputs = one_hot(narrow(sequences, 0, 0, t), kSymbols);
      return head->forward(reshape(rnn->forward(inputs), {-1, hidden}));
    };
    auto targets_of = [](const Tensor& sequences) {
      return reshape(narrow(sequences, 0, 1, sequences.size(0) - 1).contiguous(), {-1});
    };

    double loss_value = 0;
    for (std::int64_t step = 1; step <= steps; ++step) {
      const Tensor sequences = counting_sequences(length, batch, data_gen);
      const Tensor loss = cross_entropy(predict(sequences), targets_of(sequences));
      adam.zero_grad();
      loss.backward();
      adam.step();
      loss_value = loss.item();
      train::check_finite(loss_value, step);
      if (step % 50 == 0) std::printf("step %4lld  loss %.4f\n", static_cast<long long>(step), loss_value);
    }

    NoGradGuard no_grad;
    const Tensor fresh = counting_sequences(length, test_sequences, data_gen);
    const std::vector<std::int64_t> predicted = argmax(predict(fresh), 1).to_vector<std::int64_t>();
    const std::vector<std::int64_t> expected = targets_of(fresh).to_vector<std::int64_t>();
    std::int64_t correct = 0;
    for (std::size_t i = 0; i < predicted.size(); ++i) correct += predicted[i] == expected[i];
    const double accuracy = static_cast<double>(correct) / static_cast<double>(predicted.size());
    std::printf("next-number accuracy on %lld fresh sequences: %.2f%%\n", static_cast<long long>(test_sequences),
                100 * accuracy);

    // Greedy continuation of a few primes: feed the prime, then each prediction back in.
    nlohmann::json continuations = nlohmann::json::object();
    for (const std::vector<std::int64_t>& prime : {std::vector<std::int64_t>{3}, {7, 8}, {8, 0, 1}}) {
      std::vector<std::int64_t> sequence = prime;
      while (sequence.size() < prime.size() + 10) {
        const Tensor inputs = one_hot(from_vector(sequence, {static_cast<std::int64_t>(sequence.size()), 1}), kSymbols);
        const Tensor logits = head->forward(select(rnn->forward(inputs), 0, -1));
        sequence.push_back(argmax(logits, 1).to_vector<std::int64_t>()[0]);
      }
      std::string text;
      for (std::int64_t v : sequence) text += std::to_string(v) + " ";
      text.pop_back();
      std::printf("%-6s -> %s\n", text.substr(0, 2 * prime.size() - 1).c_str(), text.c_str());
      continuations[text.substr(0, 2 * prime.size() - 1)] = text;
    }

    const nlohmann::json summary = {{"example", "sequence_counting"}, {"steps", steps},     {"hidden", hidden},
                                    {"final_loss", loss_value},      {"accuracy", accuracy}, {"continuations", continuations}};
    std::printf("%s\n", summary.dump().c_str());
    return accuracy > 0.9 ? 0 : 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "sequence_counting: %s\n", e.what());
    return 1;
  }
}
