// perceptron_and: a perceptron with a step activation learns the AND function by the
// perceptron learning rule (Rosenblatt), as in the "zero-basics deep learning" tutorial.
//
//   prediction:  y = step(w . x + b)            step(z) = 1 if z > 0 else 0
//   rule:        w += lr (t - y) x,   b += lr (t - y)      for each sample, each epoch
//
// The rule needs no gradient: the weights of an nn::Linear are updated in place, with
// autograd off, and nn::Step classifies. The last line of output is one JSON object.
#include <cstdio>
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <recur/recur.hpp>

using namespace recur;

int main(int argc, char** argv) {
  int epochs = 10;
  double lr = 0.1;
  CLI::App app{"A perceptron with a step activation learns AND by the perceptron rule."};
  app.add_option("--epochs", epochs, "passes over the four samples")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "learning rate of the perceptron rule")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    const Tensor inputs = tensor({{0, 0}, {0, 1}, {1, 0}, {1, 1}});
    const float labels[4] = {0, 0, 0, 1};

    NoGradGuard no_grad;
    auto unit = std::make_shared<nn::Linear>(2, 1);
    nn::init::zeros_(unit->weight), nn::init::zeros_(unit->bias);  // the tutorial starts from zero
    nn::Step step;
    float* w = unit->weight.data<float>();
    float* b = unit->bias.data<float>();

    for (int epoch = 1; epoch <= epochs; ++epoch) {
      int mistakes = 0;
      for (int i = 0; i < 4; ++i) {
        const Tensor x = select(inputs, 0, i).contiguous();
        const float y = static_cast<float>(step(unit->forward(x)).item());
        const float delta = labels[i] - y;
        mistakes += delta != 0;
        w[0] += static_cast<float>(lr) * delta * x.data<float>()[0];
        w[1] += static_cast<float>(lr) * delta * x.data<float>()[1];
        b[0] += static_cast<float>(lr) * delta;
      }
      std::printf("epoch %2d  weights [%.2f, %.2f]  bias %.2f  mistakes %d\n", epoch, w[0], w[1], b[0], mistakes);
    }

    const Tensor predictions = step(unit->forward(inputs));
    int correct = 0;
    std::string predicted;
    for (int i = 0; i < 4; ++i) {
      const float p = predictions.data<float>()[i];
      correct += p == labels[i];
      std::printf("%g and %g = %g\n", inputs.data<float>()[2 * i], inputs.data<float>()[2 * i + 1], p);
      predicted += (i ? "," : "") + std::to_string(static_cast<int>(p));
    }
    std::printf("{\"example\":\"perceptron_and\",\"epochs\":%d,\"weights\":[%.6g,%.6g],\"bias\":%.6g,"
                "\"predictions\":[%s],\"accuracy\":%.2f}\n",
                epochs, w[0], w[1], b[0], predicted.c_str(), correct / 4.0);
    return correct == 4 ? 0 : 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "perceptron_and: %s\n", e.what());
    return 1;
  }
}
