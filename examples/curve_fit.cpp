// curve_fit: a network with one hidden layer fits noisy samples of y = x^2 - 0.5 and
// draws the data and the fitted curve as an SVG plot (the classic TensorFlow/PyTorch
// tutorial regression).
//
//   y_hat = W2 relu(W1 x + b1) + b2    (1 -> hidden -> 1),  loss = mean (y_hat - y)^2
//   data:  x uniform on [-1, 1],  y = x^2 - 0.5 + N(0, noise^2)
//
// The last line of output is one JSON object.
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <recur/recur.hpp>

using namespace recur;

int main(int argc, char** argv) {
  int hidden = 10, samples = 300, steps = 1000, print_every = 100;
  double lr = 0.1, noise = 0.05;
  std::uint64_t seed = 1;
  std::string svg_path = "curve_fit.svg";
  CLI::App app{"A one-hidden-layer network fits noisy y = x^2 - 0.5 and plots the fit as SVG."};
  app.add_option("--hidden", hidden, "hidden units")->check(CLI::PositiveNumber);
  app.add_option("--samples", samples, "noisy training points")->check(CLI::PositiveNumber);
  app.add_option("--steps", steps, "full-batch gradient-descent steps")->check(CLI::PositiveNumber);
  app.add_option("--lr", lr, "learning rate")->check(CLI::PositiveNumber);
  app.add_option("--noise", noise, "standard deviation of the noise")->check(CLI::NonNegativeNumber);
  app.add_option("--print-every", print_every, "print the loss every N steps")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of the data and the initial weights");
  app.add_option("--svg", svg_path, "where to write the plot");
  CLI11_PARSE(app, argc, argv);

  try {
    manual_seed(seed);
    const Tensor x = uniform({samples, 1}, -1, 1);
    const Tensor y = add(add(pow(x, 2.0), -0.5), normal({samples, 1}, 0, noise));

    auto net = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(1, hidden), std::make_shared<nn::ReLU>(),
                                                std::make_shared<nn::Linear>(hidden, 1));
    optim::SGD sgd(net->parameters(), {.lr = lr});
    double loss_value = 0;
    for (int step = 1; step <= steps; ++step) {
      const Tensor loss = mse_loss(net->forward(x), y);
      sgd.zero_grad();
      loss.backward();
      sgd.step();
      loss_value = loss.item();
      train::check_finite(loss_value, step);
      if (step % print_every == 0) std::printf("step %5d  mse %.6f\n", step, loss_value);
    }

    NoGradGuard no_grad;
    std::vector<double> grid, fit, truth;
    for (int i = 0; i <= 200; ++i) grid.push_back(-1 + i / 100.0);
    std::vector<float> grid_f(grid.begin(), grid.end());
    const std::vector<float> predicted = net->forward(from_vector(grid_f, {201, 1})).to_vector<float>();
    double max_error = 0;  // against the noiseless curve
    for (std::size_t i = 0; i < grid.size(); ++i) {
      fit.push_back(predicted[i]);
      truth.push_back(grid[i] * grid[i] - 0.5);
      max_error = std::max(max_error, std::abs(fit[i] - truth[i]));
    }
    const std::vector<float> xs_f = x.to_vector<float>(), ys_f = y.to_vector<float>();
    train::Plot plot("y = x^2 - 0.5: noisy samples and the network's fit");
    plot.set_x_label("x").set_y_label("y");
    plot.add_points("samples", std::vector<double>(xs_f.begin(), xs_f.end()), std::vector<double>(ys_f.begin(), ys_f.end()));
    plot.add_line("x^2 - 0.5", grid, truth);
    plot.add_line("network", grid, fit);
    plot.save(svg_path);
    std::fprintf(stderr, "wrote %s\n", svg_path.c_str());

    const nlohmann::json summary = {{"example", "curve_fit"}, {"steps", steps}, {"train_mse", loss_value},
                                    {"max_error_vs_curve", max_error}, {"svg", svg_path}};
    std::printf("%s\n", summary.dump().c_str());
    return 0;
  } catch (const Error& e) {
    std::fprintf(stderr, "curve_fit: %s\n", e.what());
    return 1;
  }
}
