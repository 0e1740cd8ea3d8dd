// The basic layers: PyTorch's parameter names, shapes and default initialisation, forward
// values, float64 gradchecks through each layer (parameters included), train/eval
// behaviour, printouts and errors.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;
using testing::ElementsAre;

namespace {

using Fn = std::function<Tensor(const std::vector<Tensor>&)>;

}  // namespace

// ------------------------------------------------------------------ Linear

TEST(Linear, ParameterNamesShapesAndPyTorchInit) {
  manual_seed(0);
  nn::Linear fc(784, 300);
  EXPECT_THAT(parameter_names(fc), ElementsAre("weight", "bias"));
  EXPECT_EQ(fc.weight.shape(), (Shape{300, 784}));
  EXPECT_EQ(fc.bias.shape(), (Shape{300}));
  EXPECT_EQ(fc.weight.dtype(), DType::Float32);
  EXPECT_TRUE(fc.weight.requires_grad());
  EXPECT_EQ(fc.num_parameters(), 784 * 300 + 300);

  // kaiming_uniform_(a = sqrt(5)) and the bias rule: both U(-1/sqrt(784), 1/sqrt(784)).
  const double bound = 1.0 / 28;
  Moments w = moments(fc.weight);
  EXPECT_GE(w.min, -bound);
  EXPECT_LE(w.max, bound);
  EXPECT_LT(w.min, -0.999 * bound);  // 235200 draws reach the ends of the interval
  EXPECT_GT(w.max, 0.999 * bound);
  EXPECT_NEAR(w.mean, 0, 5 * bound / std::sqrt(3.0 * 235200));
  EXPECT_NEAR(w.stddev, bound / std::sqrt(3.0), 0.01 * bound / std::sqrt(3.0));
  Moments b = moments(fc.bias);
  EXPECT_GE(b.min, -bound);
  EXPECT_LE(b.max, bound);
  EXPECT_GT(b.max - b.min, bound);  // spread over the interval, not a constant

  nn::Linear no_bias(5, 2, /*bias=*/false);
  EXPECT_THAT(parameter_names(no_bias), ElementsAre("weight"));
  EXPECT_FALSE(no_bias.bias.defined());
}

TEST(Linear, SameSeedSameParameters) {
  manual_seed(42);
  nn::Linear a(6, 4);
  manual_seed(42);
  nn::Linear b(6, 4);
  EXPECT_EQ(a.weight.to_vector<float>(), b.weight.to_vector<float>());
  EXPECT_EQ(a.bias.to_vector<float>(), b.bias.to_vector<float>());
}

TEST(Linear, ForwardIsXWTransposedPlusB) {
  nn::Linear fc(3, 2);
  nn::init::zeros_(fc.weight);
  {
    NoGradGuard no_grad;
    copy_(fc.weight, tensor({{1, 2, 3}, {-1, 0, 1}}));
    copy_(fc.bias, tensor({10, 20}));
  }
  Tensor y = fc.forward(tensor({{1, 1, 1}, {2, 0, -1}}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{16, 20, 9, 17}));
  // Leading dimensions pass through: (2, 5, 3) -> (2, 5, 2).
  EXPECT_EQ(fc.forward(zeros({2, 5, 3})).shape(), (Shape{2, 5, 2}));
  EXPECT_EQ(fc.str(), "Linear(in_features=3, out_features=2, bias=true)");
  EXPECT_EQ(nn::Linear(3, 2, false).str(), "Linear(in_features=3, out_features=2, bias=false)");
}

TEST(Linear, Gradcheck) {
  nn::Linear fc(4, 3);
  fc.to(DType::Float64);
  Tensor x = leaf(randn64({5, 4}, 1));
  expect_gradcheck([&](const std::vector<Tensor>& in) { return fc.forward(in[0]); }, {x, fc.weight, fc.bias});

  nn::Linear no_bias(4, 3, false);
  no_bias.to(DType::Float64);
  expect_gradcheck([&](const std::vector<Tensor>& in) { return no_bias.forward(in[0]); }, {x, no_bias.weight});
}

TEST(Linear, Errors) {
  expect_error([] { nn::Linear(0, 3); }, {"Linear", "at least 1", "0"});
  nn::Linear fc(4, 3);
  auto wrong_width = [&] { fc.forward(zeros({2, 5})); };
  expect_error(wrong_width, {"Linear(in_features=4, out_features=3)", "last dimension is 4", "[2, 5]"});
}

// ------------------------------------------------------------------ Embedding

TEST(Embedding, ParameterAndNormalInit) {
  manual_seed(0);
  nn::Embedding emb(1000, 64);
  EXPECT_THAT(parameter_names(emb), ElementsAre("weight"));
  EXPECT_EQ(emb.weight.shape(), (Shape{1000, 64}));
  Moments w = moments(emb.weight);  // N(0, 1), 64000 draws
  EXPECT_NEAR(w.mean, 0, 5 / std::sqrt(64000.0));
  EXPECT_NEAR(w.stddev, 1, 0.02);
  EXPECT_EQ(nn::Embedding(10, 3).str(), "Embedding(10, 3)");
}

TEST(Embedding, ForwardLooksUpRows) {
  nn::Embedding emb(4, 2);
  {
    NoGradGuard no_grad;
    copy_(emb.weight, tensor({{0, 1}, {10, 11}, {20, 21}, {30, 31}}));
  }
  Tensor y = emb.forward(from_vector(std::vector<std::int64_t>{3, 0, 3, 1}, {2, 2}));
  EXPECT_EQ(y.shape(), (Shape{2, 2, 2}));
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{30, 31, 0, 1, 30, 31, 10, 11}));
  expect_error([&] { emb.forward(from_vector(std::vector<std::int64_t>{4})); }, {"4"});
  expect_error([&] { emb.forward(zeros({2})); }, {"int64"});
  expect_error([] { nn::Embedding(0, 3); }, {"Embedding", "at least 1"});
}

TEST(Embedding, GradcheckThroughTheWeight) {
  nn::Embedding emb(5, 3);
  emb.to(DType::Float64);
  Tensor indices = from_vector(std::vector<std::int64_t>{1, 4, 1, 0, 2, 1}, {2, 3});  // repeats accumulate
  expect_gradcheck([&](const std::vector<Tensor>&) { return emb.forward(indices); }, {emb.weight});
}

// ------------------------------------------------------------------ Dropout

TEST(Dropout, TrainingDropsAndScalesEvaluationPassesThrough) {
  Generator gen(7);
  nn::Dropout drop(0.25, &gen);
  Tensor x = ones({100000});
  std::vector<float> y = drop.forward(x).to_vector<float>();
  std::int64_t dropped = 0;
  for (float v : y) {
    dropped += v == 0;
    if (v != 0) {
      EXPECT_FLOAT_EQ(v, 1 / 0.75f);
    }
  }
  // Binomial(100000, 0.25): standard deviation 137.
  EXPECT_NEAR(static_cast<double>(dropped), 25000, 5 * 137);

  drop.eval();
  EXPECT_TRUE(drop.forward(x).is_same(x));
  EXPECT_EQ(drop.str(), "Dropout(p=0.25)");
  EXPECT_EQ(nn::Dropout().p, 0.5);  // PyTorch's default
}

TEST(Dropout, MasksAreReproducible) {
  Tensor x = ones({1000});
  // With the module's own generator: the same seed gives the same masks.
  Generator g1(3), g2(3);
  nn::Dropout a(0.5, &g1), b(0.5, &g2);
  std::vector<float> first_a = a.forward(x).to_vector<float>();
  EXPECT_EQ(first_a, b.forward(x).to_vector<float>());
  // Each call draws a fresh mask: the generator moved on.
  EXPECT_NE(a.forward(x).to_vector<float>(), first_a);
  // Without one: recur::default_generator(), which manual_seed resets.
  nn::Dropout c(0.5);
  manual_seed(11);
  std::vector<float> first = c.forward(x).to_vector<float>();
  manual_seed(11);
  EXPECT_EQ(c.forward(x).to_vector<float>(), first);
  expect_error([] { nn::Dropout(1.0); }, {"Dropout", "outside [0, 1)"});
}

TEST(Dropout, GradcheckWithAFixedMask) {
  Generator gen(5);
  nn::Dropout drop(0.4, &gen);
  Tensor x = leaf(randn64({3, 4}, 2));
  // Resetting the generator in fn makes every evaluation use the same mask.
  expect_gradcheck(
      [&](const std::vector<Tensor>& in) {
        gen.set_state(5, 0);
        return drop.forward(in[0]);
      },
      {x});
}

// ------------------------------------------------------------------ Flatten, Identity, activations

TEST(Flatten, KeepsTheBatchDimensionByDefault) {
  EXPECT_EQ(nn::Flatten().forward(zeros({2, 3, 4, 5})).shape(), (Shape{2, 60}));
  EXPECT_EQ(nn::Flatten(0).forward(zeros({2, 3, 4})).shape(), (Shape{24}));
  EXPECT_EQ(nn::Flatten(1, 2).forward(zeros({2, 3, 4, 5})).shape(), (Shape{2, 12, 5}));
  EXPECT_EQ(nn::Flatten().str(), "Flatten(start_dim=1, end_dim=-1)");
  nn::Flatten flatten;
  expect_gradcheck([&](const std::vector<Tensor>& in) { return flatten.forward(in[0]) * 2.0; },
                   {leaf(randn64({2, 3, 2}, 3))});
}

TEST(Activations, ValuesMatchTheOps) {
  Tensor x = tensor({{-2, -0.5, 0.5, 3}});
  Tensor x64 = to_dtype(x, DType::Float64);
  expect_close(nn::Sigmoid().forward(x), sigmoid(x), 0);
  expect_close(nn::Tanh().forward(x), tanh(x), 0);
  EXPECT_EQ(nn::ReLU().forward(x).to_vector<float>(), (std::vector<float>{0, 0, 0.5f, 3}));
  EXPECT_EQ(nn::LeakyReLU().forward(x).to_vector<float>(), (std::vector<float>{-0.02f, -0.005f, 0.5f, 3}));
  EXPECT_EQ(nn::LeakyReLU(0.2).forward(x).to_vector<float>(), (std::vector<float>{-0.4f, -0.1f, 0.5f, 3}));
  expect_close(nn::Softmax(1).forward(x64), softmax(x64, 1), 0);
  expect_close(nn::LogSoftmax(-1).forward(x64), log_softmax(x64, 1), 0);
  EXPECT_NEAR(sum(nn::Softmax(1).forward(x64)).item(), 1, 1e-15);
  EXPECT_TRUE(nn::Identity().forward(x).is_same(x));
}

TEST(Activations, Gradcheck) {
  // Away from 0, where ReLU and LeakyReLU have no derivative.
  Tensor x = leaf(from_vector(std::vector<double>{-1.5, -0.3, 0.2, 0.7, 1.9, -2.2}, {2, 3}));
  std::vector<std::shared_ptr<nn::Module>> layers = {
      std::make_shared<nn::Sigmoid>(),      std::make_shared<nn::Tanh>(),     std::make_shared<nn::ReLU>(),
      std::make_shared<nn::LeakyReLU>(0.1), std::make_shared<nn::Softmax>(1), std::make_shared<nn::LogSoftmax>(0),
      std::make_shared<nn::Identity>()};
  for (const auto& layer : layers) {
    SCOPED_TRACE(layer->str());
    expect_gradcheck([&](const std::vector<Tensor>& in) { return layer->forward(in[0]) * 1.0; }, {x});
  }
}

TEST(Activations, Printouts) {
  EXPECT_EQ(nn::Sigmoid().str(), "Sigmoid()");
  EXPECT_EQ(nn::Tanh().str(), "Tanh()");
  EXPECT_EQ(nn::ReLU().str(), "ReLU()");
  EXPECT_EQ(nn::LeakyReLU().str(), "LeakyReLU(negative_slope=0.01)");
  EXPECT_EQ(nn::Softmax(1).str(), "Softmax(dim=1)");
  EXPECT_EQ(nn::LogSoftmax(-1).str(), "LogSoftmax(dim=-1)");
  EXPECT_EQ(nn::Identity().str(), "Identity()");
  EXPECT_EQ(nn::Step().str(), "Step()");
}

TEST(Step, ThresholdsAtZeroForInferenceOnly) {
  Tensor x = leaf(tensor({-1, 0, 0.5, 2}));
  Tensor y = nn::Step().forward(x);
  EXPECT_EQ(y.to_vector<float>(), (std::vector<float>{0, 0, 1, 1}));
  EXPECT_FALSE(y.requires_grad());  // no gradient flows through a step
}

// ------------------------------------------------------------------ Sequential

TEST(Sequential, NamesByPositionAndChainsForward) {
  auto fc1 = std::make_shared<nn::Linear>(4, 3);
  auto fc2 = std::make_shared<nn::Linear>(3, 2);
  nn::Sequential mlp(fc1, std::make_shared<nn::ReLU>(), fc2);
  EXPECT_EQ(mlp.size(), 3u);
  EXPECT_THAT(parameter_names(mlp), ElementsAre("0.weight", "0.bias", "2.weight", "2.bias"));
  EXPECT_EQ(mlp[0], fc1);
  EXPECT_EQ(mlp.at<nn::Linear>(2), fc2);

  Tensor x = uniform({5, 4}, -1, 1);
  expect_close(mlp.forward(x), fc2->forward(relu(fc1->forward(x))), 0);
  EXPECT_EQ(mlp(x).shape(), (Shape{5, 2}));

  mlp.push_back("out", std::make_shared<nn::LogSoftmax>(1));
  mlp.push_back(std::make_shared<nn::Identity>());
  std::vector<std::string> names;
  for (const nn::NamedModule& child : mlp.named_children()) names.push_back(child.name);
  EXPECT_THAT(names, ElementsAre("0", "1", "2", "out", "4"));

  nn::Sequential empty;
  EXPECT_TRUE(empty.empty());
  EXPECT_TRUE(empty.forward(x).is_same(x));

  nn::Sequential from_list({std::make_shared<nn::Tanh>(), std::make_shared<nn::Sigmoid>()});
  EXPECT_EQ(from_list.size(), 2u);
}

TEST(Sequential, Errors) {
  nn::Sequential seq(std::make_shared<nn::Linear>(2, 2), std::make_shared<nn::ReLU>());
  expect_error([&] { seq[2]; }, {"Sequential[2]", "out of range", "2 modules"});
  expect_error([&] { seq.at<nn::Linear>(1); }, {"Sequential.at(1)", "ReLU"});
  expect_error([&] { seq.push_back(nullptr); }, {"null"});
}

TEST(Sequential, PrintoutOfTheTutorialMlp) {
  nn::Sequential mlp(std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(784, 300),
                     std::make_shared<nn::ReLU>(), std::make_shared<nn::Dropout>(0.2),
                     std::make_shared<nn::Linear>(300, 10));
  EXPECT_EQ(mlp.str(),
            "Sequential(\n"
            "  (0): Flatten(start_dim=1, end_dim=-1)\n"
            "  (1): Linear(in_features=784, out_features=300, bias=true)\n"
            "  (2): ReLU()\n"
            "  (3): Dropout(p=0.2)\n"
            "  (4): Linear(in_features=300, out_features=10, bias=true)\n"
            ")");
}

TEST(Sequential, GradcheckOfAnMlpThroughEveryParameter) {
  manual_seed(9);
  auto mlp = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(3, 4), std::make_shared<nn::Tanh>(),
                                              std::make_shared<nn::Linear>(4, 2), std::make_shared<nn::LogSoftmax>(1));
  mlp->to(DType::Float64);
  std::vector<Tensor> inputs = {leaf(randn64({2, 3}, 4))};
  for (const Tensor& p : mlp->parameters()) inputs.push_back(p);
  expect_gradcheck([&](const std::vector<Tensor>& in) { return mlp->forward(in[0]); }, inputs);
}
