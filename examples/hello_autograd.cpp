// hello_autograd: fits a two-layer perceptron to y = sin(x) with recur's tensors and
// autograd, and a plain gradient-descent step written out by hand.
//
//   model:  y_hat = W2 tanh(W1 x + b1) + b2       (1 -> hidden -> 1)
//   loss:   mean((y_hat - y)^2)
//   step:   p -= lr * dloss/dp for every parameter p, then the gradients are dropped
//
// Run with --help for the options. The last line of output is one JSON object with the
// key results, for scripts to read.
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <numbers>
#include <string>
#include <vector>

#include <recur/recur.hpp>

namespace {

struct Options {
  int steps = 1000;
  int hidden = 16;
  int samples = 64;
  double lr = 0.1;
  int print_every = 100;
  std::uint64_t seed = 0;
};

void print_help() {
  std::printf(
      "usage: hello_autograd [options]\n"
      "Fits y = sin(x) on [-pi, pi] with a 1-hidden-layer tanh network, by full-batch\n"
      "gradient descent using recur's autograd.\n\n"
      "  --steps N        gradient steps (default 1000)\n"
      "  --hidden N       hidden units (default 16)\n"
      "  --samples N      training points (default 64)\n"
      "  --lr X           learning rate (default 0.1)\n"
      "  --print-every N  print the loss every N steps (default 100)\n"
      "  --seed N         seed of the parameter initialisation (default 0)\n"
      "  -h, --help       show this help\n");
}

[[noreturn]] void usage_error(const std::string& message) {
  std::fprintf(stderr, "hello_autograd: %s (try --help)\n", message.c_str());
  std::exit(2);
}

// Parses "--name value" pairs; every option takes one value except --help.
Options parse_options(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "-h" || arg == "--help") {
      print_help();
      std::exit(0);
    }
    if (i + 1 >= argc) usage_error("unknown option or missing value: " + arg);
    std::string value = argv[++i];
    char* end = nullptr;
    double number = std::strtod(value.c_str(), &end);
    if (end == value.c_str() || *end != '\0') usage_error(arg + " expects a number, got '" + value + "'");
    bool positive = number > 0;
    if (arg == "--steps" && positive) o.steps = static_cast<int>(number);
    else if (arg == "--hidden" && positive) o.hidden = static_cast<int>(number);
    else if (arg == "--samples" && number >= 2) o.samples = static_cast<int>(number);
    else if (arg == "--lr" && positive) o.lr = number;
    else if (arg == "--print-every" && positive) o.print_every = static_cast<int>(number);
    else if (arg == "--seed" && number >= 0) o.seed = static_cast<std::uint64_t>(number);
    else usage_error("unknown option or out-of-range value: " + arg + " " + value);
  }
  return o;
}

// A parameter initialised like PyTorch's nn.Linear: uniform in +-1/sqrt(fan_in).
recur::Tensor parameter(const recur::Shape& shape, std::int64_t fan_in, recur::Generator& gen) {
  double bound = 1.0 / std::sqrt(static_cast<double>(fan_in));
  recur::Tensor p = recur::uniform(shape, -bound, bound, recur::DType::Float32, &gen);
  p.set_requires_grad();
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt = parse_options(argc, argv);
  try {
    // Training data: evenly spaced x in [-pi, pi] and y = sin(x), as (samples, 1) columns.
    std::vector<float> xs, ys;
    for (int i = 0; i < opt.samples; ++i) {
      double x = -std::numbers::pi + 2 * std::numbers::pi * i / (opt.samples - 1);
      xs.push_back(static_cast<float>(x));
      ys.push_back(static_cast<float>(std::sin(x)));
    }
    recur::Tensor x = recur::from_vector(xs, {opt.samples, 1});
    recur::Tensor y = recur::from_vector(ys, {opt.samples, 1});

    recur::Generator gen(opt.seed);
    recur::Tensor w1 = parameter({opt.hidden, 1}, 1, gen);
    recur::Tensor b1 = parameter({opt.hidden}, 1, gen);
    recur::Tensor w2 = parameter({1, opt.hidden}, opt.hidden, gen);
    recur::Tensor b2 = parameter({1}, opt.hidden, gen);
    std::vector<recur::Tensor> params = {w1, b1, w2, b2};

    auto forward = [&](const recur::Tensor& input) {
      return recur::linear(recur::tanh(recur::linear(input, w1, b1)), w2, b2);
    };

    std::printf("fitting sin(x) with %d samples, %d hidden units, lr %g\n", opt.samples, opt.hidden, opt.lr);
    auto start = std::chrono::steady_clock::now();
    double initial_loss = 0, final_loss = 0;
    for (int step = 1; step <= opt.steps; ++step) {
      recur::Tensor loss = recur::mse_loss(forward(x), y);
      loss.backward();
      double value = loss.item();
      if (step == 1) initial_loss = value;
      final_loss = value;
      if (step == 1 || step % opt.print_every == 0 || step == opt.steps)
        std::printf("step %5d  loss %.6f\n", step, value);

      recur::NoGradGuard no_grad;  // the update itself must not be recorded
      for (const recur::Tensor& p : params) {
        recur::add_(p, p.grad(), -opt.lr);
        p.zero_grad();
      }
    }
    double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();

    // A few points of the fitted curve next to the truth.
    recur::NoGradGuard no_grad;
    std::vector<float> probe_x = {-2.5f, -1.0f, 0.0f, 1.0f, 2.5f};
    recur::Tensor probe = recur::from_vector(probe_x, {static_cast<std::int64_t>(probe_x.size()), 1});
    std::vector<float> predicted = forward(probe).to_vector<float>();
    std::printf("\n     x    sin(x)   model\n");
    for (std::size_t i = 0; i < probe_x.size(); ++i)
      std::printf("%6.2f  %7.4f  %7.4f\n", probe_x[i], std::sin(probe_x[i]), predicted[i]);

    std::printf(
        "{\"example\":\"hello_autograd\",\"steps\":%d,\"hidden\":%d,\"samples\":%d,\"lr\":%g,"
        "\"seed\":%llu,\"initial_loss\":%.6g,\"final_loss\":%.6g,\"seconds\":%.3f}\n",
        opt.steps, opt.hidden, opt.samples, opt.lr, static_cast<unsigned long long>(opt.seed), initial_loss,
        final_loss, seconds);
    return final_loss < initial_loss ? 0 : 1;
  } catch (const recur::Error& e) {
    std::fprintf(stderr, "hello_autograd: error: %s\n", e.what());
    return 1;
  }
}
