// gradient_check: the tutorials' gradient check on a small fully connected network.
//
// For every weight w, the gradient that backpropagation computes is compared with the
// central difference of the error
//
//     dE/dw  ~  (E(w + eps) - E(w - eps)) / (2 eps),      E = 1/2 sum (t - y)^2
//
// on one sample, as the "zero-basics deep learning" tutorial does for its 2-2-2 sigmoid
// network. Everything runs in float64, so the two agree to about eps^2. The last line of
// output is one JSON object.
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <recur/recur.hpp>

using namespace recur;

int main(int argc, char** argv) {
  std::vector<int> sizes = {2, 2, 2};
  double eps = 1e-4;
  std::uint64_t seed = 0;
  CLI::App app{"Compares backpropagated gradients with finite differences on a small sigmoid network."};
  app.add_option("--sizes", sizes, "layer sizes, input first (default 2 2 2)")->expected(2, 16)
      ->check(CLI::PositiveNumber);
  app.add_option("--eps", eps, "finite-difference step")->check(CLI::PositiveNumber);
  app.add_option("--seed", seed, "seed of the initial weights and the sample");
  CLI11_PARSE(app, argc, argv);

  try {
    manual_seed(seed);
    auto network = std::make_shared<nn::Sequential>();
    for (size_t i = 0; i + 1 < sizes.size(); ++i) {
      network->push_back(std::make_shared<nn::Linear>(sizes[i], sizes[i + 1]));
      network->push_back(std::make_shared<nn::Sigmoid>());
    }
    network->to(DType::Float64);
    const Tensor sample = uniform({1, sizes.front()}, 0, 1, DType::Float64);
    const Tensor label = uniform({1, sizes.back()}, 0, 1, DType::Float64);
    auto error = [&] { return mul(sum(pow(sub(label, network->forward(sample)), 2.0)), 0.5); };

    network->zero_grad();
    error().backward();

    double max_abs_error = 0, max_rel_error = 0;
    int checked = 0;
    for (const nn::NamedTensor& parameter : network->named_parameters()) {
      Tensor w = parameter.tensor;
      double* values = w.data<double>();
      const double* computed = w.grad().data<double>();
      for (std::int64_t i = 0; i < w.numel(); ++i) {
        const double saved = values[i];
        double expected;
        {
          NoGradGuard no_grad;
          values[i] = saved + eps;
          const double plus = error().item();
          values[i] = saved - eps;
          const double minus = error().item();
          values[i] = saved;
          expected = (plus - minus) / (2 * eps);
        }
        const double abs_error = std::abs(expected - computed[i]);
        max_abs_error = std::max(max_abs_error, abs_error);
        max_rel_error = std::max(max_rel_error, abs_error / std::max(std::abs(expected), 1e-12));
        ++checked;
        std::printf("%-10s[%2lld]  expected %+.10e  computed %+.10e  difference %.1e\n", parameter.name.c_str(),
                    static_cast<long long>(i), expected, computed[i], abs_error);
      }
    }
    const bool ok = max_abs_error < 1e-8;
    std::printf("%s: %d gradients, largest difference %.2e\n", ok ? "gradients agree" : "GRADIENTS DIFFER", checked,
                max_abs_error);
    std::printf("{\"example\":\"gradient_check\",\"checked\":%d,\"eps\":%g,\"max_abs_error\":%.3e,"
                "\"max_rel_error\":%.3e,\"ok\":%s}\n",
                checked, eps, max_abs_error, max_rel_error, ok ? "true" : "false");
    return ok ? 0 : 1;
  } catch (const Error& e) {
    std::fprintf(stderr, "gradient_check: %s\n", e.what());
    return 1;
  }
}
