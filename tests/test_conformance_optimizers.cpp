// Every optimizer configuration against PyTorch: two parameters, ten steps with the stored
// gradients, the parameters compared after step 1 and step 10, in float32 and float64
// (tests/fixtures/conformance_optimizers.safetensors, made by tests/conformance/make_fixtures.py).
#include <gtest/gtest.h>

#include <memory>

#include "conformance/conformance.hpp"

using namespace recur;
using conformance::Case;

namespace {

double number(const nlohmann::json& config, const char* key, double fallback) {
  return config.contains(key) ? config[key].get<double>() : fallback;
}
bool flag(const nlohmann::json& config, const char* key) { return config.contains(key) && config[key].get<bool>(); }

// The optimizer of a fixture case, with PyTorch's defaults for the options it leaves out.
std::unique_ptr<optim::Optimizer> make_optimizer(const nlohmann::json& c, const std::vector<Tensor>& params) {
  const std::string kind = c.at("optimizer");
  const double lr = c.at("lr");
  if (kind == "SGD")
    return std::make_unique<optim::SGD>(
        params, optim::SGDOptions{.lr = lr, .momentum = number(c, "momentum", 0), .dampening = number(c, "dampening", 0),
                                  .weight_decay = number(c, "weight_decay", 0), .nesterov = flag(c, "nesterov")});
  if (kind == "Adagrad")
    return std::make_unique<optim::Adagrad>(
        params, optim::AdagradOptions{.lr = lr, .lr_decay = number(c, "lr_decay", 0),
                                      .weight_decay = number(c, "weight_decay", 0),
                                      .initial_accumulator_value = number(c, "initial_accumulator_value", 0),
                                      .eps = number(c, "eps", 1e-10)});
  if (kind == "RMSprop")
    return std::make_unique<optim::RMSprop>(
        params, optim::RMSpropOptions{.lr = lr, .alpha = number(c, "alpha", 0.99), .eps = number(c, "eps", 1e-8),
                                      .weight_decay = number(c, "weight_decay", 0),
                                      .momentum = number(c, "momentum", 0), .centered = flag(c, "centered")});
  std::pair<double, double> betas = {0.9, 0.999};
  if (c.contains("betas")) betas = {c["betas"][0].get<double>(), c["betas"][1].get<double>()};
  if (kind == "Adam")
    return std::make_unique<optim::Adam>(
        params, optim::AdamOptions{.lr = lr, .betas = betas, .eps = number(c, "eps", 1e-8),
                                   .weight_decay = number(c, "weight_decay", 0), .amsgrad = flag(c, "amsgrad")});
  if (kind == "AdamW")
    return std::make_unique<optim::AdamW>(
        params, optim::AdamWOptions{.lr = lr, .betas = betas, .eps = number(c, "eps", 1e-8),
                                    .weight_decay = number(c, "weight_decay", 1e-2), .amsgrad = flag(c, "amsgrad")});
  throw std::runtime_error("unknown optimizer " + kind);
}

TEST(ConformanceOptimizers, OneAndTenStepsOfEveryConfiguration) {
  std::vector<Case> cases = conformance::load_cases("optimizers");
  ASSERT_EQ(cases.size(), 32u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<Tensor> params = {conformance::leaf(c.at("param0.initial")), conformance::leaf(c.at("param1.initial"))};
    std::unique_ptr<optim::Optimizer> optimizer = make_optimizer(c.config, params);
    const int steps = c.config.at("steps");
    for (int step = 1; step <= steps; ++step) {
      for (int i = 0; i < 2; ++i)
        params[i].set_grad(clone(c.at("param" + std::to_string(i) + ".grad" + std::to_string(step))));
      optimizer->step();
      if (step == 1 || step == steps)
        for (int i = 0; i < 2; ++i) {
          const std::string key = "param" + std::to_string(i) + ".after" + std::to_string(step);
          conformance::expect_matches(params[i], c.at(key), c.tolerance(), key);
        }
    }
  }
}

}  // namespace
