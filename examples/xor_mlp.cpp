// xor_mlp: a two-layer perceptron learns XOR, which no single perceptron can (XOR is not
// linearly separable: no line puts (0,1) and (1,0) on one side and (0,0), (1,1) on the other).
//
//   h = tanh(W1 x + b1)   (2 -> hidden)      logit = W2 h + b2   (hidden -> 1)
//   loss = binary cross-entropy of sigmoid(logit) against the label, full batch, Adam
//
// The last line of output is one JSON object.
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <recur/recur.hpp>

using namespace recur;

int main(int argc, char** argv) {
  int hidden = 4, max_steps = 2000, print_every = 200;
  double lr = 0.05;
  std::uint64_t seed = 1;
  CLI::App app{"A two-layer perceptron learns XOR."};
  app.add_option("--hidden", hidden, "hidden units")->check(CLI::PositiveNumber);
  app.add_option("--steps", max_steps, "largest number of full-batch Adam steps")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "Adam's learning rate")->check(CLI::PositiveNumber);
  app.add_option("--print-every", print_every, "print the loss every N steps")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of the initial weights");
  CLI11_PARSE(app, argc, argv);

  try {
    const Tensor inputs = tensor({{0, 0}, {0, 1}, {1, 0}, {1, 1}});
    const Tensor labels = from_vector(std::vector<float>{0, 1, 1, 0}, {4, 1});

    manual_seed(seed);
    auto mlp = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(2, hidden), std::make_shared<nn::Tanh>(),
                                                std::make_shared<nn::Linear>(hidden, 1));
    optim::Adam adam(mlp->parameters(), {.lr = lr});
    std::printf("%s\n", mlp->str().c_str());

    int steps = 0;
    double loss_value = 0;
    for (steps = 1; steps <= max_steps; ++steps) {
      const Tensor loss = binary_cross_entropy_with_logits(mlp->forward(inputs), labels);
      adam.zero_grad();
      loss.backward();
      adam.step();
      loss_value = loss.item();
      train::check_finite(loss_value, steps);
      if (steps % print_every == 0) std::printf("step %5d  loss %.6f\n", steps, loss_value);
      if (loss_value < 0.01) break;
    }
    steps = std::min(steps, max_steps);

    NoGradGuard no_grad;
    const Tensor probabilities = sigmoid(mlp->forward(inputs));
    int correct = 0;
    std::string json_outputs;
    for (int i = 0; i < 4; ++i) {
      const double p = probabilities.to_vector<float>()[i];
      const int predicted = p > 0.5;
      correct += predicted == static_cast<int>(labels.to_vector<float>()[i]);
      std::printf("%g xor %g = %d   (p = %.4f)\n", inputs.to_vector<float>()[2 * i], inputs.to_vector<float>()[2 * i + 1],
                  predicted, p);
      json_outputs += (i ? "," : "") + std::to_string(p);
    }
    std::printf("{\"example\":\"xor_mlp\",\"steps\":%d,\"loss\":%.6f,\"probabilities\":[%s],\"accuracy\":%.2f}\n",
                steps, loss_value, json_outputs.c_str(), correct / 4.0);
    return correct == 4 ? 0 : 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "xor_mlp: %s\n", e.what());
    return 1;
  }
}
