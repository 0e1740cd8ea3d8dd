// linear_unit: a linear unit y = w x + b fits monthly salary against years of experience,
// trained by stochastic gradient descent on the squared error, as in the "zero-basics
// deep learning" tutorial (its five samples, zero initial weights, rate 0.01, 10 passes).
//
//   E = 1/2 (t - y)^2,   dE/dw = -(t - y) x,   dE/db = -(t - y)
//
// The closed-form least-squares line is printed beside it: the trained unit is close.
// The last line of output is one JSON object.
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <recur/recur.hpp>

using namespace recur;

int main(int argc, char** argv) {
  int epochs = 10;
  double lr = 0.01;
  CLI::App app{"A linear unit fits salary against years of experience by stochastic gradient descent."};
  app.add_option("--epochs", epochs, "passes over the five samples")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "learning rate")->check(CLI::PositiveNumber);
  CLI11_PARSE(app, argc, argv);

  try {
    const std::vector<double> years = {5, 3, 8, 1.4, 10.1}, salary = {5500, 2300, 7600, 1800, 11400};
    const std::vector<double> queries = {3.4, 15, 1.5, 6.3};

    auto unit = std::make_shared<nn::Linear>(1, 1);
    unit->to(DType::Float64);  // salaries in the thousands: keep the arithmetic exact
    nn::init::zeros_(unit->weight), nn::init::zeros_(unit->bias);
    optim::SGD sgd(unit->parameters(), {.lr = lr});

    for (int epoch = 1; epoch <= epochs; ++epoch) {
      double total = 0;
      for (std::size_t i = 0; i < years.size(); ++i) {
        const Tensor x = from_vector(std::vector<double>{years[i]}, {1, 1});
        const Tensor t = from_vector(std::vector<double>{salary[i]}, {1, 1});
        const Tensor error = mul(sum(pow(sub(t, unit->forward(x)), 2.0)), 0.5);
        sgd.zero_grad();
        error.backward();
        sgd.step();
        total += error.item();
      }
      std::printf("epoch %2d  w %9.3f  b %8.3f  squared error %.1f\n", epoch, unit->weight.item(), unit->bias.item(),
                  total);
    }

    // Least squares: w = cov(x, t) / var(x), b = mean(t) - w mean(x).
    double mx = 0, mt = 0, sxt = 0, sxx = 0;
    for (std::size_t i = 0; i < years.size(); ++i) mx += years[i] / 5, mt += salary[i] / 5;
    for (std::size_t i = 0; i < years.size(); ++i)
      sxt += (years[i] - mx) * (salary[i] - mt), sxx += (years[i] - mx) * (years[i] - mx);
    const double ls_w = sxt / sxx, ls_b = mt - ls_w * mx;

    NoGradGuard no_grad;
    std::string json_predictions;
    for (double q : queries) {
      const double predicted = unit->forward(from_vector(std::vector<double>{q}, {1, 1})).item();
      std::printf("%4.1f years: %8.2f a month   (least squares: %8.2f)\n", q, predicted, ls_w * q + ls_b);
      json_predictions += (json_predictions.empty() ? "" : ",") + std::to_string(predicted);
    }
    std::printf("{\"example\":\"linear_unit\",\"epochs\":%d,\"weight\":%.6f,\"bias\":%.6f,"
                "\"least_squares_weight\":%.6f,\"least_squares_bias\":%.6f,\"queries\":[3.4,15,1.5,6.3],"
                "\"predictions\":[%s]}\n",
                epochs, unit->weight.item(), unit->bias.item(), ls_w, ls_b, json_predictions.c_str());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "linear_unit: %s\n", e.what());
    return 1;
  }
}
