// sequence_counting: a vanilla RNN learns to continue sequences that count upward from 0 to
// 8 and wrap around (3 4 5 6 7 8 0 1 ...), the toy task of the RNN tutorials.
//
//   input   one-hot x(t) of the digit at step t (9 classes)
//   model   h(t) = tanh(W_ih x(t) + b_ih + W_hh h(t-1) + b_hh)   (nn::RNN, 9 -> hidden)
//           logits(t) = W h(t) + b                               (nn::Linear, hidden -> 9)
//   loss    cross-entropy of logits(t) against the digit at t+1, Adam
//
// Then, on fresh sequences, it reports the accuracy of the next-digit predictions and lets
// the network continue a prompt on its own: greedy generation with rnn_step_, which advances
// the state in place with no autograd and no allocation per step. The last line of output
// is one JSON object.
#include <cstdio>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <recur/recur.hpp>

using namespace recur;

namespace {

constexpr std::int64_t kDigits = 9;

// `batch` sequences of `steps + 1` digits with random starts, as (steps + 1, batch) int64.
Tensor counting_sequences(std::int64_t steps, std::int64_t batch, std::mt19937_64& rng) {
  std::uniform_int_distribution<std::int64_t> start(0, kDigits - 1);
  std::vector<std::int64_t> digits((steps + 1) * batch);
  for (std::int64_t b = 0; b < batch; ++b) {
    const std::int64_t s = start(rng);
    for (std::int64_t t = 0; t <= steps; ++t) digits[t * batch + b] = (s + t) % kDigits;
  }
  return from_vector(digits, {steps + 1, batch});
}

}  // namespace

int main(int argc, char** argv) {
  int hidden = 16, train_steps = 300, print_every = 50, steps = 12, batch = 32;
  double lr = 0.01;
  std::uint64_t seed = 1;
  CLI::App app{"A vanilla RNN learns to continue counting sequences 0..8 with wrap-around."};
  app.add_option("--hidden", hidden, "hidden units")->check(CLI::PositiveNumber);
  app.add_option("--train-steps", train_steps, "Adam steps")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "sequence length")->check(CLI::PositiveNumber);
  app.add_option("--batch", batch, "sequences per step")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "Adam's learning rate")->check(CLI::PositiveNumber);
  app.add_option("--print-every", print_every, "print the loss every N steps")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of the weights and the data");
  CLI11_PARSE(app, argc, argv);

  try {
    manual_seed(seed);
    std::mt19937_64 rng(seed);
    auto rnn = std::make_shared<nn::RNN>(kDigits, hidden);
    auto head = std::make_shared<nn::Linear>(hidden, kDigits);
    std::vector<Tensor> params = rnn->parameters();
    for (const Tensor& p : head->parameters()) params.push_back(p);
    optim::Adam adam(params, {.lr = lr});
    std::printf("%s\n%s\n", rnn->str().c_str(), head->str().c_str());

    // logits (steps * batch, 9) for the sequences' first `steps` digits.
    auto logits_of = [&](const Tensor& digits) {
      const Tensor inputs = one_hot(narrow(digits, 0, 0, steps), kDigits);  // (steps, batch, 9)
      const Tensor output = rnn->forward(inputs);                           // (steps, batch, hidden)
      return head->forward(reshape(output, {-1, hidden}));
    };
    double loss_value = 0;
    for (int step = 1; step <= train_steps; ++step) {
      const Tensor digits = counting_sequences(steps, batch, rng);
      const Tensor targets = reshape(contiguous(narrow(digits, 0, 1, steps)), {-1});
      const Tensor loss = cross_entropy(logits_of(digits), targets);
      adam.zero_grad();
      loss.backward();
      adam.step();
      loss_value = loss.item();
      train::check_finite(loss_value, step);
      if (step % print_every == 0) std::printf("step %4d  loss %.4f\n", step, loss_value);
    }

    NoGradGuard no_grad;
    // Next-digit accuracy on 1000 fresh sequences.
    const std::int64_t fresh = 1000;
    const Tensor digits = counting_sequences(steps, fresh, rng);
    const std::vector<std::int64_t> predicted = argmax(logits_of(digits), 1).to_vector<std::int64_t>();
    const std::vector<std::int64_t> truth =
        reshape(contiguous(narrow(digits, 0, 1, steps)), {-1}).to_vector<std::int64_t>();
    std::int64_t correct = 0;
    for (std::size_t i = 0; i < truth.size(); ++i) correct += predicted[i] == truth[i];
    const double accuracy = static_cast<double>(correct) / static_cast<double>(truth.size());
    std::printf("next-digit accuracy on %lld fresh sequences: %.4f\n", static_cast<long long>(fresh), accuracy);

    // Greedy continuation of the prompt "5 6": one rnn_step_ per digit, state kept in place.
    const RnnLayerWeights& cell = rnn->layer_weights(0, 0);
    Tensor h = zeros({1, hidden}), workspace;
    std::string generated;
    std::int64_t digit = 0;
    for (std::int64_t prompt : {5, 6}) {
      rnn_step_(RnnCell::RnnTanh, one_hot(from_vector(std::vector<std::int64_t>{prompt}, {1}), kDigits), cell, h,
                Tensor(), workspace);
      digit = static_cast<std::int64_t>(argmax(head->forward(h), 1).item());
      generated += std::to_string(prompt) + " ";
    }
    for (int i = 0; i < 12; ++i) {
      generated += std::to_string(digit) + " ";
      rnn_step_(RnnCell::RnnTanh, one_hot(from_vector(std::vector<std::int64_t>{digit}, {1}), kDigits), cell, h,
                Tensor(), workspace);
      digit = static_cast<std::int64_t>(argmax(head->forward(h), 1).item());
    }
    generated.pop_back();
    std::printf("prompt 5 6 continues as: %s\n", generated.c_str());
    std::printf("{\"example\": \"sequence_counting\", \"loss\": %.6f, \"accuracy\": %.4f, \"generated\": \"%s\"}\n",
                loss_value, accuracy, generated.c_str());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "sequence_counting: %s\n", e.what());
    return 1;
  }
}
