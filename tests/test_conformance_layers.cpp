// Linear, Conv2d, MaxPool2d, AvgPool2d and BatchNorm1d/2d (train and eval) against PyTorch:
// outputs, every gradient and the updated running statistics, in float32 and float64, from
// tests/fixtures/conformance_layers.safetensors (made by tests/conformance/make_fixtures.py).
#include <gtest/gtest.h>

#include "conformance/conformance.hpp"

using namespace recur;
using conformance::Case;

namespace {

Size2 size2(const nlohmann::json& pair) { return Size2(pair.at(0).get<std::int64_t>(), pair.at(1).get<std::int64_t>()); }

// Runs fn on leaf copies of the case's tensors named in `inputs` (absent ones stay
// undefined), backpropagates grad_out and compares the output and each gradient.
void check_case(const Case& c, const std::vector<std::string>& inputs,
                const std::function<Tensor(const std::vector<Tensor>&)>& fn) {
  std::vector<Tensor> leaves;
  for (const std::string& name : inputs) leaves.push_back(c.has(name) ? conformance::leaf(c.at(name)) : Tensor());
  Tensor out = fn(leaves);
  conformance::expect_matches(out, c.at("out"), c.tolerance(), "out");
  out.backward(c.at("grad_out"));
  for (std::size_t i = 0; i < inputs.size(); ++i)
    if (leaves[i].defined())
      conformance::expect_matches(leaves[i].grad(), c.at("grad_" + inputs[i]), c.tolerance(), "grad_" + inputs[i]);
}

std::vector<Case> cases_starting(const char* prefix) {
  std::vector<Case> selected;
  for (Case& c : conformance::load_cases("layers"))
    if (c.name.rfind(prefix, 0) == 0) selected.push_back(std::move(c));
  return selected;
}

TEST(ConformanceLayers, Linear) {
  std::vector<Case> cases = cases_starting("linear");
  ASSERT_EQ(cases.size(), 4u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    check_case(c, {"x", "weight", "bias"}, [](const std::vector<Tensor>& in) { return linear(in[0], in[1], in[2]); });
  }
}

TEST(ConformanceLayers, Conv2d) {
  std::vector<Case> cases = cases_starting("conv2d");
  ASSERT_EQ(cases.size(), 10u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    check_case(c, {"x", "weight", "bias"}, [&](const std::vector<Tensor>& in) {
      return conv2d(in[0], in[1], in[2], size2(c.config["stride"]), size2(c.config["padding"]),
                    size2(c.config["dilation"]));
    });
  }
}

TEST(ConformanceLayers, Pooling) {
  std::vector<Case> max_cases = cases_starting("max_pool2d"), avg_cases = cases_starting("avg_pool2d");
  ASSERT_EQ(max_cases.size(), 6u);
  ASSERT_EQ(avg_cases.size(), 6u);
  for (const Case& c : max_cases) {
    SCOPED_TRACE(c.name);
    check_case(c, {"x"}, [&](const std::vector<Tensor>& in) {
      return max_pool2d(in[0], size2(c.config["kernel"]), size2(c.config["stride"]), size2(c.config["padding"]));
    });
  }
  for (const Case& c : avg_cases) {
    SCOPED_TRACE(c.name);
    check_case(c, {"x"}, [&](const std::vector<Tensor>& in) {
      return avg_pool2d(in[0], size2(c.config["kernel"]), size2(c.config["stride"]), size2(c.config["padding"]),
                        c.config["count_include_pad"].get<bool>());
    });
  }
}

TEST(ConformanceLayers, BatchNormTrainAndEval) {
  std::vector<Case> cases = cases_starting("batch_norm");
  ASSERT_EQ(cases.size(), 12u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor running_mean = clone(c.at("running_mean_before")), running_var = clone(c.at("running_var_before"));
    check_case(c, {"x", "weight", "bias"}, [&](const std::vector<Tensor>& in) {
      return batch_norm(in[0], running_mean, running_var, in[1], in[2], c.config["training"].get<bool>(),
                        c.config["momentum"].get<double>(), c.config["eps"].get<double>());
    });
    conformance::expect_matches(running_mean, c.at("running_mean_after"), c.tolerance(), "running_mean");
    conformance::expect_matches(running_var, c.at("running_var_after"), c.tolerance(), "running_var");
  }
}

}  // namespace
