// The autograd engine: accumulation, shared leaves, zero_grad, detach, NoGradGuard,
// retain_graph, in-place modification of saved tensors, and the errors users hit.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <functional>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;
using testing::HasSubstr;

namespace {

}  // namespace

TEST(Autograd, SimpleChainRule) {
  Tensor x = leaf(f64({1, 2, 3}, {3}));
  Tensor y = sum(mul(x, x));  // dy/dx = 2x
  EXPECT_TRUE(y.requires_grad());
  EXPECT_FALSE(y.is_leaf());
  y.backward();
  expect_values(x.grad(), {2, 4, 6});
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = leaf(f64({1, 2}, {2}));
  sum(mul(x, 3.0)).backward();
  expect_values(x.grad(), {3, 3});
  sum(mul(x, x)).backward();
  expect_values(x.grad(), {3 + 2, 3 + 4});
}

TEST(Autograd, LeafUsedTwiceInOneGraph) {
  Tensor x = leaf(f64({2, -1}, {2}));
  // y = sum(x * 3 + exp(x)): both paths reach x.
  Tensor y = sum(add(mul(x, 3.0), exp(x)));
  y.backward();
  expect_values(x.grad(), {3 + std::exp(2.0), 3 + std::exp(-1.0)});
  // Through a matmul whose both operands are x.
  Tensor a = leaf(f64({1, 2, 3, 4}, {2, 2}));
  sum(matmul(a, a)).backward();
  // d/dA sum(A A) = 1 A^T + A^T 1 (1 = all ones): entry (i, j) = sum_k A[j, k] + sum_k A[k, i].
  expect_values(a.grad(), {3 + 4, 7 + 4, 3 + 6, 7 + 6});
}

TEST(Autograd, PostAccumulateGradHookRunsOnceWithTheWholeGradient) {
  Tensor x = leaf(f64({2, -1}, {2}));
  int calls = 0;
  std::vector<double> seen;
  const std::uint64_t key = add_post_accumulate_grad_hook(x, [&](const Tensor& leaf) {
    ++calls;
    seen = leaf.grad().to_vector<double>();
  });
  // Both uses of x feed one accumulator: one call, with their sum.
  sum(add(mul(x, 3.0), exp(x))).backward();
  EXPECT_EQ(calls, 1);
  EXPECT_THAT(seen, testing::ElementsAre(3 + std::exp(2.0), 3 + std::exp(-1.0)));
  remove_post_accumulate_grad_hook(x, key);
  sum(x).backward();
  EXPECT_EQ(calls, 1);
  EXPECT_THROW(add_post_accumulate_grad_hook(mul(x, 2.0), [](const Tensor&) {}), Error);
}

TEST(Autograd, PostAccumulateGradHookRunsBeforeTheRestOfThePass) {
  // loss = sum(exp(exp(w1)) * w2): w2's gradient is complete before backward has gone
  // through the two exps to w1, and its hook sees that.
  Tensor w1 = leaf(f64({0.5, 0.25}, {2})), w2 = leaf(f64({1, 2}, {2}));
  bool w1_done_before_w2_hook = true;
  add_post_accumulate_grad_hook(w2, [&](const Tensor&) { w1_done_before_w2_hook = w1.grad().defined(); });
  sum(mul(exp(exp(w1)), w2)).backward();
  EXPECT_FALSE(w1_done_before_w2_hook);
  EXPECT_TRUE(w1.grad().defined());
}

TEST(Autograd, ZeroGradStartsFromZero) {
  Tensor x = leaf(f64({1, 2}, {2}));
  sum(mul(x, 2.0)).backward();
  x.zero_grad();
  EXPECT_FALSE(x.grad().defined());
  sum(mul(x, 5.0)).backward();
  expect_values(x.grad(), {5, 5});
}

TEST(Autograd, DetachCutsTheGraph) {
  Tensor x = leaf(f64({1, 2}, {2}));
  Tensor d = mul(x, 2.0).detach();
  EXPECT_FALSE(d.requires_grad());
  EXPECT_TRUE(d.is_leaf());
  expect_values(d, {2, 4});
  // d is constant: the gradient comes only through the second factor.
  sum(mul(d, x)).backward();
  expect_values(x.grad(), {2, 4});
}

TEST(Autograd, NoGradGuardStopsRecording) {
  Tensor x = leaf(f64({1, 2}, {2}));
  {
    NoGradGuard guard;
    EXPECT_FALSE(is_grad_enabled());
    Tensor y = mul(x, x);
    EXPECT_FALSE(y.requires_grad());
    EXPECT_TRUE(y.is_leaf());
    {
      NoGradGuard nested;
      EXPECT_FALSE(is_grad_enabled());
    }
    EXPECT_FALSE(is_grad_enabled());
  }
  EXPECT_TRUE(is_grad_enabled());
  EXPECT_TRUE(mul(x, x).requires_grad());
}

TEST(Autograd, NoInputRequiresGradMeansNoGraph) {
  Tensor x = f64({1, 2}, {2});
  Tensor y = sum(exp(x));
  EXPECT_FALSE(y.requires_grad());
  expect_error([&] { y.backward(); }, {"backward", "does not require grad"});
}

TEST(Autograd, BackwardOnNonScalarNeedsAGradient) {
  Tensor x = leaf(f64({1, 2, 3, 4, 5, 6}, {2, 3}));
  Tensor y = mul(x, 2.0);
  expect_error([&] { y.backward(); }, {"backward", "one-element", "[2, 3]"});
  // With an explicit gradient it works.
  y.backward(f64({1, 1, 1, 0, 0, 0}, {2, 3}));
  expect_values(x.grad(), {2, 2, 2, 0, 0, 0});
  // A gradient of the wrong shape names both shapes.
  Tensor z = mul(x, 2.0);
  expect_error([&] { z.backward(f64({1, 1, 1}, {3})); }, {"backward", "[3]", "[2, 3]"});
}

TEST(Autograd, BackwardTwiceWithoutRetainGraphIsAnError) {
  Tensor x = leaf(f64({1, 2}, {2}));
  Tensor y = sum(tanh(x));
  y.backward();
  expect_error([&] { y.backward(); }, {"backward", "second time", "retain_graph"});
}

TEST(Autograd, RetainGraphAllowsASecondBackward) {
  Tensor x = leaf(f64({0.5, -1}, {2}));
  Tensor y = sum(tanh(x));
  y.backward(Tensor(), /*retain_graph=*/true);
  std::vector<double> once = x.grad().to_vector<double>();
  y.backward();
  std::vector<double> twice = x.grad().to_vector<double>();
  for (std::size_t i = 0; i < once.size(); ++i) EXPECT_NEAR(twice[i], 2 * once[i], 1e-12);
}

TEST(Autograd, ModifyingASavedTensorInPlaceIsDetected) {
  Tensor x = leaf(f64({1, 2}, {2}));
  Tensor w = f64({3, 4}, {2});
  Tensor y = sum(mul(x, w));  // saves w for x's gradient
  {
    NoGradGuard guard;
    add_(w, ones({2}, DType::Float64));
  }
  expect_error([&] { y.backward(); }, {"mul", "modified in place"});

  // The same for a saved output (tanh saves its result).
  Tensor a = leaf(f64({0.1, 0.2}, {2}));
  Tensor t = tanh(a);
  Tensor z = sum(t);
  {
    NoGradGuard guard;
    add_(t, ones({2}, DType::Float64));
  }
  expect_error([&] { z.backward(); }, {"tanh", "modified in place"});
}

TEST(Autograd, InPlaceOnATensorThatRequiresGradIsRefused) {
  Tensor x = leaf(f64({1, 2}, {2}));
  expect_error([&] { add_(x, ones({2}, DType::Float64)); }, {"add_", "requires grad", "NoGradGuard"});
  NoGradGuard guard;
  add_(x, ones({2}, DType::Float64));  // allowed, as optimizers do
  expect_values(x, {2, 3});
}

TEST(Autograd, SetRequiresGradRules) {
  expect_error([] { zeros({3}, DType::Int64).set_requires_grad(); }, {"set_requires_grad", "int64"});
  Tensor x = leaf(f64({1}, {1}));
  Tensor y = mul(x, 2.0);
  expect_error([&] { y.set_requires_grad(false); }, {"set_requires_grad", "leaf"});
  // Turning it off again on a leaf is fine.
  x.set_requires_grad(false);
  EXPECT_FALSE(x.requires_grad());
}

TEST(Autograd, GradientOnlyFlowsToInputsThatRequireIt) {
  Tensor x = leaf(f64({1, 2}, {2}));
  Tensor c = f64({5, 6}, {2});
  sum(mul(x, c)).backward();
  expect_values(x.grad(), {5, 6});
  EXPECT_FALSE(c.grad().defined());
}

TEST(Autograd, DiamondGraph) {
  // x -> a = x^2 -> b = a * 3, c = exp(a) -> y = sum(b + c)
  Tensor x = leaf(f64({0.5, -0.25}, {2}));
  Tensor a = mul(x, x);
  Tensor y = sum(add(mul(a, 3.0), exp(a)));
  y.backward();
  std::vector<double> xv = {0.5, -0.25};
  expect_values(x.grad(), {(3 + std::exp(xv[0] * xv[0])) * 2 * xv[0], (3 + std::exp(xv[1] * xv[1])) * 2 * xv[1]});
}

TEST(Autograd, GradcheckReportsAWrongGradient) {
  // A function whose graph misses a dependency: the check must fail and say where.
  Tensor x = leaf(f64({0.3, 0.7}, {2}));
  auto fn = [](const std::vector<Tensor>& in) {
    Tensor constant = in[0].detach();
    return mul(in[0], constant);  // true derivative 2x, autograd sees x
  };
  GradcheckResult r = gradcheck(fn, {x});
  EXPECT_FALSE(r.ok);
  EXPECT_GT(r.max_error, 0.1);
  EXPECT_THAT(r.report, HasSubstr("FAILED"));
}

TEST(Autograd, GradcheckPassesAComposite) {
  Tensor x = leaf(f64({0.3, -0.7, 1.1, 0.2}, {2, 2}));
  Tensor w = leaf(f64({0.5, -1, 2, 0.1}, {2, 2}));
  GradcheckResult r = gradcheck(
      [](const std::vector<Tensor>& in) { return log_softmax(tanh(matmul(in[0], in[1])), 1); }, {x, w});
  EXPECT_TRUE(r.ok) << r.report;
  EXPECT_LT(r.max_error, 1e-6);
}
