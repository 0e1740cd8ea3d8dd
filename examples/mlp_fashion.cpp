// mlp_fashion: a 784-300-10 multilayer perceptron classifies Fashion-MNIST.
//
//   flatten(28x28) -> Linear(784, 300) -> ReLU or Sigmoid -> Linear(300, 10) -> cross-entropy
//
// Trained with SGD + momentum (lr 0.05, cosine decay) on mini-batches of 64 in a seeded
// shuffled order; prints the test accuracy per epoch, writes a chart of train loss and test
// accuracy (SVG), and ends with one JSON line. bench/fashion_torch.py is the same model in
// PyTorch.
#include "fashion_classifier.hpp"

int main(int argc, char** argv) {
  fashion::Options options;
  options.epochs = 10;
  std::string activation = "relu";
  CLI::App app{"A 784-300-10 MLP on Fashion-MNIST."};
  fashion::add_options(app, options);
  app.add_option("--activation", activation, "hidden activation: relu or sigmoid")
      ->check(CLI::IsMember({"relu", "sigmoid"}));
  CLI11_PARSE(app, argc, argv);

  using namespace recur;
  auto build = [&]() -> std::shared_ptr<nn::Module> {
    std::shared_ptr<nn::Module> act = activation == "relu" ? std::shared_ptr<nn::Module>(std::make_shared<nn::ReLU>())
                                                           : std::make_shared<nn::Sigmoid>();
    return std::make_shared<nn::Sequential>(std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 300),
                                            act, std::make_shared<nn::Linear>(300, 10));
  };
  return fashion::run("mlp_fashion", options, build, {{"activation", activation}});
}
