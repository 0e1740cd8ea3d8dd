// The losses against PyTorch: values and input gradients from the committed fixtures
// (tests/fixtures/conformance_losses.safetensors, made by tests/conformance/make_fixtures.py).
#include <gtest/gtest.h>

#include "conformance/conformance.hpp"

using namespace recur;
using conformance::Case;

namespace {

Reduction reduction_of(const Case& c) {
  const std::string r = c.config.at("reduction");
  return r == "mean" ? Reduction::Mean : r == "sum" ? Reduction::Sum : Reduction::None;
}

bool starts_with(const std::string& s, const char* prefix) { return s.rfind(prefix, 0) == 0; }

TEST(ConformanceLosses, EveryCaseMatchesPyTorch) {
  std::vector<Case> cases = conformance::load_cases("losses");
  ASSERT_EQ(cases.size(), 24u);
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    Tensor input = conformance::leaf(c.at("input"));
    const Tensor& target = c.at("target");
    Tensor out;
    if (starts_with(c.name, "mse_")) {
      out = mse_loss(input, target, reduction_of(c));
    } else if (starts_with(c.name, "bce_with_logits_")) {
      out = binary_cross_entropy_with_logits(input, target, reduction_of(c));
    } else if (starts_with(c.name, "cross_entropy_")) {
      out = cross_entropy(input, target, reduction_of(c), c.config.at("ignore_index").get<std::int64_t>());
    } else if (starts_with(c.name, "nll_")) {
      out = nll_loss(log_softmax(input, 1), target, reduction_of(c), c.config.at("ignore_index").get<std::int64_t>());
    } else {
      FAIL() << "unknown loss case " << c.name;
    }
    conformance::expect_matches(out, c.at("out"), c.tolerance(), "loss");
    if (starts_with(c.name, "cross_entropy_")) {  // again without a graph: straight from the logits
      NoGradGuard no_grad;
      const std::int64_t ignore_index = c.config.at("ignore_index").get<std::int64_t>();
      conformance::expect_matches(cross_entropy(input, target, reduction_of(c), ignore_index), c.at("out"),
                                  c.tolerance(), "loss without a graph");
    }
    out.backward(c.at("grad_out"));
    conformance::expect_matches(input.grad(), c.at("grad_input"), c.tolerance(), "grad_input");
  }
}

}  // namespace
