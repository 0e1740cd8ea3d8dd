// Conv2d, MaxPool2d, AvgPool2d, BatchNorm1d/2d as modules: PyTorch's names, shapes, default
// initialisation and printouts; train/eval behaviour of batch norm; float64 gradchecks
// through each module with its parameters; errors. The ops' own values are checked in
// tests/test_ops_conv.cpp and against PyTorch in tests/test_conformance_layers.cpp.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;
using testing::ElementsAre;

namespace {

double max_abs(const Tensor& t) {
  double m = 0;
  for (double v : t.to_vector<double>()) m = std::max(m, std::abs(v));
  return m;
}

TEST(Conv2dModule, HasPyTorchsParametersAndInitialisation) {
  manual_seed(3);
  nn::Conv2d conv(3, 8, 5);
  EXPECT_THAT(parameter_names(conv), ElementsAre("weight", "bias"));
  EXPECT_EQ(conv.weight.shape(), Shape({8, 3, 5, 5}));
  EXPECT_EQ(conv.bias.shape(), Shape({8}));
  const double bound = 1 / std::sqrt(3.0 * 25);  // U(±1/sqrt(fan_in))
  EXPECT_LE(max_abs(conv.weight), bound);
  EXPECT_GT(max_abs(conv.weight), 0.9 * bound);
  EXPECT_LE(max_abs(conv.bias), bound);
  EXPECT_EQ(conv.str(), "Conv2d(3, 8, kernel_size=(5, 5), stride=(1, 1))");

  nn::Conv2d no_bias(2, 4, {3, 2}, 2, {1, 0}, 1, false);
  EXPECT_THAT(parameter_names(no_bias), ElementsAre("weight"));
  EXPECT_EQ(no_bias.str(), "Conv2d(2, 4, kernel_size=(3, 2), stride=(2, 2), padding=(1, 0), bias=false)");
}

TEST(Conv2dModule, ForwardShapeAndGradcheck) {
  nn::Conv2d conv(2, 3, 3, 2, 1);
  conv.to(DType::Float64);
  const Tensor x = randn64({2, 2, 5, 6}, 1);
  x.set_requires_grad();
  EXPECT_EQ(conv(x).shape(), Shape({2, 3, 3, 3}));
  expect_gradcheck(
      [&](const std::vector<Tensor>& in) { return conv2d(in[0], in[1], in[2], 2, 1); }, {x, conv.weight, conv.bias});
}

TEST(Conv2dModule, SizeErrors) {
  nn::Conv2d conv(3, 4, 5);
  expect_error([&] { conv(zeros({1, 2, 8, 8})); }, {"conv2d", "channels"});
  expect_error([&] { conv(zeros({1, 3, 4, 4})); }, {"conv2d", "[1, 3, 4, 4]"});
  expect_error([] { nn::Conv2d(0, 4, 3); }, {"Conv2d", "at least 1"});
}

TEST(PoolModules, StrideDefaultsToKernelAndPrint) {
  nn::MaxPool2d max_pool(2);
  nn::AvgPool2d avg_pool(3, 2, 1, false);
  EXPECT_EQ(max_pool(zeros({1, 1, 6, 6})).shape(), Shape({1, 1, 3, 3}));
  EXPECT_EQ(avg_pool(zeros({1, 1, 6, 6})).shape(), Shape({1, 1, 3, 3}));
  EXPECT_EQ(max_pool.str(), "MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0))");
  EXPECT_EQ(avg_pool.str(), "AvgPool2d(kernel_size=(3, 3), stride=(2, 2), padding=(1, 1), count_include_pad=false)");
  EXPECT_TRUE(max_pool.parameters().empty());
  expect_error([&] { max_pool(zeros({1, 1, 1, 1})); }, {"max_pool2d"});
}

TEST(BatchNormModule, HasPyTorchsParametersAndBuffers) {
  nn::BatchNorm2d bn(4);
  EXPECT_THAT(parameter_names(bn), ElementsAre("weight", "bias"));
  std::vector<std::string> state;
  for (const auto& [name, value] : bn.state_dict()) state.push_back(name);
  EXPECT_THAT(state, ElementsAre("bias", "num_batches_tracked", "running_mean", "running_var", "weight"));
  EXPECT_EQ(bn.weight.to_vector<float>(), std::vector<float>(4, 1));
  EXPECT_EQ(bn.bias.to_vector<float>(), std::vector<float>(4, 0));
  EXPECT_EQ(bn.running_var.to_vector<float>(), std::vector<float>(4, 1));
  EXPECT_EQ(bn.num_batches_tracked.dtype(), DType::Int64);
  EXPECT_EQ(bn.str(), "BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=true, track_running_stats=true)");

  nn::BatchNorm1d plain(3, 1e-5, 0.1, false, false);
  EXPECT_TRUE(plain.parameters().empty());
  EXPECT_TRUE(plain.state_dict().empty());
}

TEST(BatchNormModule, TrainingUpdatesRunningStatisticsAndEvalUsesThem) {
  nn::BatchNorm1d bn(2);
  const Tensor x = tensor({{1, 10}, {3, 20}, {5, 60}});
  const Tensor y = bn(x);
  // Batch statistics: channel 0 mean 3, biased var 8/3; y = (x - mean) / sqrt(var + eps).
  EXPECT_NEAR(y.to_vector<float>()[0], (1 - 3) / std::sqrt(8.0 / 3 + 1e-5), 1e-5);
  EXPECT_EQ(bn.num_batches_tracked.item(), 1);
  // running = 0.9 * running + 0.1 * statistic, the variance unbiased (var 4 for channel 0).
  EXPECT_NEAR(bn.running_mean.to_vector<float>()[0], 0.3, 1e-6);
  EXPECT_NEAR(bn.running_var.to_vector<float>()[0], 0.9 + 0.1 * 4, 1e-6);

  bn.eval();
  const Tensor before = clone(bn.running_mean);
  const Tensor z = bn(x);
  EXPECT_NEAR(z.to_vector<float>()[0], (1 - 0.3) / std::sqrt(1.3 + 1e-5), 1e-5);
  EXPECT_EQ(bn.running_mean.to_vector<float>(), before.to_vector<float>());
  EXPECT_EQ(bn.num_batches_tracked.item(), 1);
}

TEST(BatchNormModule, GradcheckInTrainingAndEvaluation) {
  nn::BatchNorm2d bn(3);
  bn.to(DType::Float64);
  {
    NoGradGuard no_grad;
    copy_(bn.weight, randn64({3}, 4));
    copy_(bn.bias, randn64({3}, 5));
  }
  const Tensor x = randn64({2, 3, 2, 2}, 6);
  x.set_requires_grad();
  for (bool training : {true, false}) {
    bn.train(training);
    expect_gradcheck(
        [&](const std::vector<Tensor>& in) {
          // Fresh running statistics each call, so every evaluation sees the same ones.
          Tensor mean = zeros({3}, DType::Float64), var = ones({3}, DType::Float64);
          return batch_norm(in[0], mean, var, in[1], in[2], training, 0.1, 1e-5);
        },
        {x, bn.weight, bn.bias});
  }
}

TEST(BatchNormModule, Errors) {
  nn::BatchNorm2d bn2(3);
  nn::BatchNorm1d bn1(3);
  expect_error([&] { bn2(zeros({2, 3, 4})); }, {"BatchNorm2d(3)", "rank 4", "[2, 3, 4]"});
  expect_error([&] { bn1(zeros({2, 4})); }, {"BatchNorm1d(3)", "C = 3", "[2, 4]"});
  expect_error([] { nn::BatchNorm1d(0); }, {"BatchNorm", "num_features"});
}

TEST(ConvNet, LeNetStateDictNamesMatchPyTorch) {
  auto lenet = std::make_shared<nn::Sequential>(
      std::make_shared<nn::Conv2d>(1, 20, 5), std::make_shared<nn::BatchNorm2d>(20), std::make_shared<nn::ReLU>(),
      std::make_shared<nn::MaxPool2d>(2), std::make_shared<nn::Flatten>(), std::make_shared<nn::Linear>(2880, 10));
  std::vector<std::string> names;
  for (const auto& [name, value] : lenet->state_dict()) names.push_back(name);
  EXPECT_THAT(names, ElementsAre("0.bias", "0.weight", "1.bias", "1.num_batches_tracked", "1.running_mean",
                                 "1.running_var", "1.weight", "5.bias", "5.weight"));
  EXPECT_EQ(lenet->forward(zeros({2, 1, 28, 28})).shape(), Shape({2, 10}));
}

}  // namespace
