// nn::AdaptiveLogSoftmaxWithLoss: PyTorch's structure, names and initialisation; float64
// gradchecks of output and loss through the input and every parameter; agreement with
// torch.nn.AdaptiveLogSoftmaxWithLoss (tests/fixtures/conformance_adaptive_softmax.safetensors,
// made by tests/conformance/make_adaptive_fixture.py); log_prob and predict; errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <limits>

#include "conformance/conformance.hpp"
#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;
using testing::ElementsAre;
using testing::HasSubstr;
using Adaptive = nn::AdaptiveLogSoftmaxWithLoss;

namespace {

Tensor targets(const std::vector<std::int64_t>& values) {
  return from_vector(values, {static_cast<std::int64_t>(values.size())});
}

// The module's parameters, for gradcheck to perturb in place.
std::vector<Tensor> with_parameters(const Tensor& input, const nn::Module& m) {
  std::vector<Tensor> all{input};
  for (const Tensor& p : m.parameters()) all.push_back(p);
  return all;
}

// Largest |logsumexp(row)| over the rows of a [N, C] log-distribution.
double worst_row_normalisation(const Tensor& logp) {
  std::vector<double> v = logp.to_vector<double>();
  std::int64_t rows = logp.size(0), cols = logp.size(1);
  double worst = 0;
  for (std::int64_t r = 0; r < rows; ++r) {
    double total = 0;
    for (std::int64_t c = 0; c < cols; ++c) total += std::exp(v[static_cast<std::size_t>(r * cols + c)]);
    worst = std::max(worst, std::abs(std::log(total)));
  }
  return worst;
}

}  // namespace

// ------------------------------------------------------------------ structure

TEST(AdaptiveLogSoftmax, PyTorchNamesShapesAndAttributes) {
  Adaptive m(16, 20, {5, 12});
  EXPECT_THAT(parameter_names(m),
              ElementsAre("head.weight", "tail.0.0.weight", "tail.0.1.weight", "tail.1.0.weight", "tail.1.1.weight"));
  // hsz = floor(16 / 4) = 4 and floor(16 / 16) = 1; osz = 12 - 5 and 20 - 12.
  EXPECT_EQ(m.head->weight.shape(), (Shape{7, 16}));
  EXPECT_FALSE(m.head->bias.defined());
  ASSERT_EQ(m.tail.size(), 2u);
  EXPECT_EQ(m.tail[0]->at<nn::Linear>(0)->weight.shape(), (Shape{4, 16}));
  EXPECT_EQ(m.tail[0]->at<nn::Linear>(1)->weight.shape(), (Shape{7, 4}));
  EXPECT_EQ(m.tail[1]->at<nn::Linear>(0)->weight.shape(), (Shape{1, 16}));
  EXPECT_EQ(m.tail[1]->at<nn::Linear>(1)->weight.shape(), (Shape{8, 1}));
  EXPECT_EQ(m.cutoffs, (std::vector<std::int64_t>{5, 12, 20}));
  EXPECT_EQ(m.shortlist_size, 5);
  EXPECT_EQ(m.n_clusters, 2);
  EXPECT_EQ(m.head_size, 7);
  EXPECT_EQ(m.div_value, 4.0);
  EXPECT_FALSE(m.head_bias);
  EXPECT_THAT(m.str(), HasSubstr("(head): Linear(in_features=16, out_features=7, bias=false)"));
  EXPECT_THAT(m.str(), HasSubstr("(tail): ModuleList("));

  Adaptive with_bias(20, 30, {4, 10, 18}, 2.5, true);
  EXPECT_THAT(parameter_names(with_bias),
              ElementsAre("head.weight", "head.bias", "tail.0.0.weight", "tail.0.1.weight", "tail.1.0.weight",
                          "tail.1.1.weight", "tail.2.0.weight", "tail.2.1.weight"));
  EXPECT_EQ(with_bias.head->bias.shape(), (Shape{7}));
  // floor(20 / 2.5), floor(20 / 6.25), floor(20 / 15.625)
  EXPECT_EQ(with_bias.tail[0]->at<nn::Linear>(0)->weight.shape(), (Shape{8, 20}));
  EXPECT_EQ(with_bias.tail[1]->at<nn::Linear>(0)->weight.shape(), (Shape{3, 20}));
  EXPECT_EQ(with_bias.tail[2]->at<nn::Linear>(0)->weight.shape(), (Shape{1, 20}));
  EXPECT_EQ(with_bias.tail[2]->at<nn::Linear>(1)->weight.shape(), (Shape{12, 1}));
}

TEST(AdaptiveLogSoftmax, HiddenSizeIsPythonFloatFloorDivision) {
  // PyTorch computes int(in_features // div_value ** (i + 1)); Python's 10 // 0.1 is 99.0
  // (0.1 is a little more than a tenth), where floor(10 / 0.1) would be 100.
  Adaptive m(10, 5, {2}, 0.1);
  EXPECT_EQ(m.tail[0]->at<nn::Linear>(0)->weight.shape(), (Shape{99, 10}));
  Adaptive third(20, 10, {3, 6}, 3.0);  // 20 // 3.0 = 6.0, 20 // 9.0 = 2.0
  EXPECT_EQ(third.tail[0]->at<nn::Linear>(0)->weight.shape(), (Shape{6, 20}));
  EXPECT_EQ(third.tail[1]->at<nn::Linear>(0)->weight.shape(), (Shape{2, 20}));
}

TEST(AdaptiveLogSoftmax, PyTorchLinearInitialisation) {
  manual_seed(3);
  Adaptive m(64, 300, {100, 200}, 4.0, true);
  // Every Linear: U(-1/sqrt(fan_in), 1/sqrt(fan_in)), the bias included.
  auto expect_bound = [](const Tensor& t, double fan_in) {
    Moments w = moments(t);
    double bound = 1 / std::sqrt(fan_in);
    EXPECT_GE(w.min, -bound);
    EXPECT_LE(w.max, bound);
    EXPECT_GT(w.max - w.min, bound);  // spread, not constant
  };
  expect_bound(m.head->weight, 64);
  expect_bound(m.head->bias, 64);
  expect_bound(m.tail[0]->at<nn::Linear>(0)->weight, 64);
  expect_bound(m.tail[0]->at<nn::Linear>(1)->weight, 16);
  expect_bound(m.tail[1]->at<nn::Linear>(1)->weight, 4);
  manual_seed(3);
  Adaptive again(64, 300, {100, 200}, 4.0, true);
  EXPECT_EQ(again.tail[1]->at<nn::Linear>(1)->weight.to_vector<float>(),
            m.tail[1]->at<nn::Linear>(1)->weight.to_vector<float>());
}

// ------------------------------------------------------------------ gradients

TEST(AdaptiveLogSoftmax, GradcheckEveryClusterUsed) {
  Adaptive m(16, 20, {5, 12});
  m.to(DType::Float64);
  Tensor x = random_leaf({7, 16}, 11);
  Tensor t = targets({0, 13, 5, 19, 11, 4, 12});  // shortlist, cluster 0 and 1, each twice or more
  expect_gradcheck([&](const std::vector<Tensor>& in) { return m.forward(in[0], t).output; }, with_parameters(x, m));
  expect_gradcheck([&](const std::vector<Tensor>& in) { return m.forward(in[0], t).loss; }, with_parameters(x, m));
}

TEST(AdaptiveLogSoftmax, GradcheckWithAnEmptyClusterAndAHeadBias) {
  Adaptive m(16, 20, {5, 12}, 4.0, true);
  m.to(DType::Float64);
  Tensor x = random_leaf({5, 16}, 12);
  Tensor t = targets({6, 0, 11, 3, 7});  // nothing in cluster 1
  expect_gradcheck([&](const std::vector<Tensor>& in) { return m.forward(in[0], t).output; }, with_parameters(x, m));
  m.zero_grad();
  m.forward(x, t).loss.backward();
  EXPECT_TRUE(m.tail[0]->at<nn::Linear>(1)->weight.grad().defined());
  // As in PyTorch, a tail that no row reached gets no gradient (an optimizer skips it).
  EXPECT_FALSE(m.tail[1]->at<nn::Linear>(0)->weight.grad().defined());
  EXPECT_FALSE(m.tail[1]->at<nn::Linear>(1)->weight.grad().defined());

  // Only shortlist targets: no tail runs.
  Tensor shortlist_only = targets({0, 4, 2});
  Tensor x3 = random_leaf({3, 16}, 13);
  expect_gradcheck([&](const std::vector<Tensor>& in) { return m.forward(in[0], shortlist_only).output; },
                   with_parameters(x3, m));
}

TEST(AdaptiveLogSoftmax, GradcheckThreeClustersAndLogProb) {
  Adaptive m(20, 30, {4, 10, 18}, 2.5, true);
  m.to(DType::Float64);
  Tensor x = random_leaf({6, 20}, 14);
  Tensor t = targets({29, 3, 10, 18, 9, 4});
  expect_gradcheck([&](const std::vector<Tensor>& in) { return m.forward(in[0], t).output; }, with_parameters(x, m));
  Tensor x2 = random_leaf({2, 20}, 15);
  expect_gradcheck([&](const std::vector<Tensor>& in) { return m.log_prob(in[0]); }, with_parameters(x2, m));
}

// ------------------------------------------------------------------ against PyTorch

TEST(AdaptiveLogSoftmax, MatchesPyTorch) {
  std::vector<conformance::Case> cases = conformance::load_cases("adaptive_softmax");
  ASSERT_EQ(cases.size(), 6u);
  for (const conformance::Case& c : cases) {
    SCOPED_TRACE(c.name);
    std::vector<std::int64_t> cutoffs = c.config["cutoffs"].get<std::vector<std::int64_t>>();
    Adaptive m(c.config["in_features"].get<std::int64_t>(), c.config["n_classes"].get<std::int64_t>(), cutoffs,
               c.config["div_value"].get<double>(), c.config["head_bias"].get<bool>());
    if (c.is_f64()) m.to(DType::Float64);

    // PyTorch's state_dict: the same names in the same order, loaded strictly.
    std::vector<std::string> names = names_of(m.named_parameters());
    EXPECT_EQ(names, c.config["state_dict_names"].get<std::vector<std::string>>());
    TensorMap state;
    for (const std::string& name : names) state[name] = c.at(name);
    m.load_state_dict(state, /*strict=*/true);

    Tensor input = conformance::leaf(c.at("input"));
    Adaptive::Output out = m.forward(input, c.at("target"));
    conformance::expect_matches(out.output, c.at("output"), c.tolerance(), "output");
    conformance::expect_matches(out.loss, c.at("loss"), c.tolerance(), "loss");
    add(sum(mul(out.output, c.at("grad_output"))), out.loss).backward();
    conformance::expect_matches(input.grad(), c.at("grad_input"), c.tolerance(), "grad_input");
    for (const nn::NamedTensor& p : m.named_parameters()) {
      if (c.has("grad_" + p.name))
        conformance::expect_matches(p.tensor.grad(), c.at("grad_" + p.name), c.tolerance(), "grad_" + p.name);
      else
        EXPECT_FALSE(p.tensor.grad().defined()) << p.name << ": PyTorch leaves its grad None";
    }

    NoGradGuard no_grad;
    conformance::expect_matches(m.log_prob(input), c.at("log_prob"), c.tolerance(), "log_prob");
    EXPECT_EQ(m.predict(input).to_vector<std::int64_t>(), c.at("predict").to_vector<std::int64_t>());
  }
}

// ------------------------------------------------------------------ log_prob, predict, shapes

TEST(AdaptiveLogSoftmax, LogProbIsNormalisedAndAgreesWithForwardAndPredict) {
  manual_seed(5);
  Adaptive m(12, 40, {6, 15, 30}, 2.0, true);
  m.to(DType::Float64);
  Tensor x = randn64({9, 12}, 21, 3.0);
  Tensor lp = m.log_prob(x);
  ASSERT_EQ(lp.shape(), (Shape{9, 40}));
  EXPECT_LT(worst_row_normalisation(lp), 1e-12);

  Tensor t = targets({0, 5, 6, 14, 15, 29, 30, 39, 22});
  Adaptive::Output out = m.forward(x, t);
  ASSERT_EQ(out.output.shape(), (Shape{9}));
  ASSERT_EQ(out.loss.shape(), (Shape{}));
  expect_close(out.output, squeeze(gather(lp, 1, reshape(t, {9, 1})), 1), 1e-12);
  EXPECT_NEAR(out.loss.item(), -mean(out.output).item(), 1e-12);

  // predict is the argmax of the full distribution, on rows of both kinds.
  Tensor big = randn64({200, 12}, 22, 4.0);
  std::vector<std::int64_t> predicted = m.predict(big).to_vector<std::int64_t>();
  EXPECT_EQ(predicted, argmax(m.log_prob(big), 1).to_vector<std::int64_t>());
  int in_shortlist = 0;
  for (std::int64_t p : predicted) in_shortlist += p < 6;
  EXPECT_GT(in_shortlist, 0);
  EXPECT_LT(in_shortlist, 200);
}

TEST(AdaptiveLogSoftmax, UnbatchedAndEmptyInputs) {
  Adaptive m(16, 20, {5, 12});
  Tensor x = randn32({3, 16}, 31);
  Tensor t = targets({2, 8, 15});
  Adaptive::Output batched = m.forward(x, t);
  for (std::int64_t r = 0; r < 3; ++r) {
    Adaptive::Output one = m.forward(select(x, 0, r), select(t, 0, r));
    EXPECT_EQ(one.output.shape(), (Shape{}));
    EXPECT_FLOAT_EQ(static_cast<float>(one.output.item()), static_cast<float>(select(batched.output, 0, r).item()));
  }
  Adaptive::Output empty_batch = m.forward(zeros({0, 16}), targets({}));
  EXPECT_EQ(empty_batch.output.shape(), (Shape{0}));
  EXPECT_TRUE(std::isnan(empty_batch.loss.item()));  // mean of nothing, as PyTorch
  EXPECT_EQ(m.predict(zeros({0, 16})).shape(), (Shape{0}));
  EXPECT_EQ(m.log_prob(zeros({0, 16})).shape(), (Shape{0, 20}));
}

// ------------------------------------------------------------------ errors

TEST(AdaptiveLogSoftmax, ConstructorErrors) {
  expect_error([] { Adaptive(16, 20, {}); }, {"AdaptiveLogSoftmaxWithLoss", "cutoffs is empty"});
  expect_error([] { Adaptive(16, 20, {5, 5}); }, {"[5, 5]", "cutoffs[1] = 5", "not greater than cutoffs[0] = 5"});
  expect_error([] { Adaptive(16, 20, {12, 5}); }, {"cutoffs[1] = 5", "not greater"});
  expect_error([] { Adaptive(16, 20, {0, 5}); }, {"cutoffs[0] = 0", "out of range", "between 1 and n_classes - 1 = 19"});
  expect_error([] { Adaptive(16, 20, {5, 20}); }, {"cutoffs[1] = 20", "out of range", "n_classes - 1 = 19"});
  expect_error([] { Adaptive(16, 20, {-3}); }, {"cutoffs[0] = -3"});
  expect_error([] { Adaptive(0, 20, {5}); }, {"in_features must be at least 1, got 0"});
  expect_error([] { Adaptive(16, 20, {5}, 0.0); }, {"div_value must be positive", "got 0"});
  expect_error([] { Adaptive(16, 20, {5}, -2.0); }, {"div_value", "-2"});
  expect_error([] { Adaptive(16, 20, {5}, std::numeric_limits<double>::infinity()); }, {"div_value", "inf"});
  // floor(16 / 4^3) = 0: the third tail would have no hidden units.
  expect_error([] { Adaptive(16, 20, {5, 10, 15}); }, {"cluster 2", "hidden size floor(16 / 4^3) = 0"});
}

TEST(AdaptiveLogSoftmax, ForwardErrors) {
  Adaptive m(16, 20, {5, 12});
  Tensor x = zeros({3, 16});
  expect_error([&] { m.forward(x, targets({1, 20, 3})); },
               {"AdaptiveLogSoftmaxWithLoss.forward", "target 20 at position 1", "20 classes", "0..19"});
  expect_error([&] { m.forward(x, targets({1, 2, -1})); }, {"target -1 at position 2"});
  expect_error([&] { m.forward(zeros({3, 15}), targets({1, 2, 3})); },
               {"AdaptiveLogSoftmaxWithLoss(in_features=16, n_classes=20).forward", "[N, 16]", "[3, 15]"});
  expect_error([&] { m.forward(zeros({3, 2, 16}), targets({1, 2, 3})); }, {"[N, 16]", "[3, 2, 16]"});
  expect_error([&] { m.forward(zeros({16}), targets({1})); }, {"[N, 16]", "[16]"});
  expect_error([&] { m.forward(x, targets({1, 2})); }, {"[3, 16]", "[2]", "batch dimension"});
  expect_error([&] { m.forward(x, zeros({3})); }, {"int64 target", "float32"});
  expect_error([&] { m.forward(x, zeros({3, 1}, DType::Int64)); }, {"target of shape [N] or []", "[3, 1]"});
  expect_error([&] { m.forward(x, Tensor()); }, {"int64 target"});
  expect_error([&] { m.forward(zeros({3, 16}, DType::Float64), targets({1, 2, 3})); }, {"float64", "float32"});
  expect_error([&] { m.log_prob(zeros({16})); }, {"log_prob", "[N, 16]", "[16]"});
  expect_error([&] { m.predict(zeros({2, 8})); }, {"predict", "[N, 16]", "[2, 8]"});
}
