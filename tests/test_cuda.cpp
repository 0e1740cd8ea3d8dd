// The ops of include/recur/ops.hpp on the CUDA backend against the CPU backend (issue 15):
// every case runs forward and backward on both devices from the same inputs, and the
// outputs and every input's gradient must agree within the dtype's tolerance. Then whole
// pieces: an optimizer step of each optimizer, and a short character-model training run.
//
// Without the CUDA backend or without a GPU every test here is skipped and says why (the
// tests in test_backend.cpp check the kernels one by one, on every backend present).
#include <array>
#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "test_helpers.hpp"

namespace recur {
namespace {

const Device kGpu = Device::cuda(0);

// Skips the calling test unless a GPU can run it.
#define REQUIRE_GPU()                                                                                   \
  do {                                                                                                  \
    if (!has_backend(DeviceType::CUDA)) GTEST_SKIP() << "recur was built without CUDA (RECUR_CUDA=OFF)"; \
    if (device_count(DeviceType::CUDA) == 0) GTEST_SKIP() << "no CUDA GPU on this machine";              \
  } while (0)

// How each input of a case is made, on the CPU, before a copy goes to the GPU.
struct Input {
  Shape shape;
  enum Kind { Normal, Positive, Index } kind = Normal;
  std::int64_t index_range = 0;  // Index: values in [0, index_range)
  bool requires_grad = true;     // floating inputs only
};

struct OpCase {
  std::string name;
  std::vector<Input> inputs;
  std::function<Tensor(const std::vector<Tensor>&)> fn;
};

Input idx(const Shape& shape, std::int64_t range) { return {shape, Input::Index, range, false}; }
Input pos(const Shape& shape) { return {shape, Input::Positive}; }
Input val(const Shape& shape) { return {shape, Input::Normal}; }
Input data(const Shape& shape) { return {shape, Input::Normal, 0, false}; }

Tensor make_input(const Input& in, DType dtype, std::uint64_t seed) {
  Generator gen(seed);
  if (in.kind == Input::Index) {
    std::vector<std::int64_t> values(in.shape.numel());
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = (static_cast<std::int64_t>(i) * 7 + 3) % in.index_range;
    return from_vector(values, in.shape);
  }
  if (in.kind == Input::Positive) return uniform(in.shape, 0.5, 2, dtype, &gen);
  return normal(in.shape, 0, 1, dtype, &gen);
}

std::vector<OpCase> op_cases() {
  using V = std::vector<Tensor>;
  const RnnCell cells[] = {RnnCell::RnnTanh, RnnCell::RnnRelu, RnnCell::Lstm, RnnCell::Gru, RnnCell::Mgu};
  std::vector<OpCase> cases = {
      {"add_broadcast", {val({3, 1, 5}), val({4, 5})}, [](const V& x) { return x[0] + x[1]; }},
      {"sub_scalar", {val({7, 3})}, [](const V& x) { return 2.5 - x[0]; }},
      {"mul_transposed", {val({5, 6}), val({6, 5})}, [](const V& x) { return x[0] * transpose(x[1], 0, 1); }},
      {"div", {val({4, 9}), pos({9})}, [](const V& x) { return x[0] / x[1]; }},
      {"rdiv", {pos({33})}, [](const V& x) { return 3.0 / x[0]; }},
      {"neg_exp", {val({2, 3, 4})}, [](const V& x) { return exp(-x[0]); }},
      {"log_sqrt", {pos({17})}, [](const V& x) { return log(x[0]) + sqrt(x[0]); }},
      {"pow", {pos({5, 5})}, [](const V& x) { return pow(x[0], 2.5); }},
      {"abs_clamp", {val({40})}, [](const V& x) { return abs(x[0]) + clamp(x[0], -0.5, 0.7); }},
      {"activations", {val({6, 7})},
       [](const V& x) { return sigmoid(x[0]) + tanh(x[0]) + relu(x[0]) + leaky_relu(x[0], 0.1); }},
      {"softmax_dim0", {val({5, 3})}, [](const V& x) { return softmax(x[0], 0); }},
      {"log_softmax_strided", {val({4, 7})}, [](const V& x) { return log_softmax(transpose(x[0], 0, 1), 1); }},
      {"sum_mean_dims", {val({3, 4, 5})},
       [](const V& x) { return sum(x[0], {0, 2}) + mean(x[0], {0, 2}, false) * 2.0; }},
      {"sum_all_empty", {val({0, 3})}, [](const V& x) { return sum(x[0]); }},
      {"max_min_dim", {val({4, 6})}, [](const V& x) { return max(x[0], 1).values + sum(min(x[0], 0).values); }},
      {"max_all", {val({3, 5})}, [](const V& x) { return max(x[0]); }},
      {"argmax", {data({5, 8})}, [](const V& x) { return argmax(x[0], 1); }},
      {"reshape_permute_cat", {val({2, 3, 4}), val({2, 3, 4})},
       [](const V& x) { return cat({permute(x[0], {2, 0, 1}), reshape(x[1], {4, 2, 3})}, 1); }},
      {"slice_narrow_stack", {val({6, 5})},
       [](const V& x) { return stack({slice(x[0], 0, 0, 6, 2), narrow(x[0], 0, 1, 3)}, 0); }},
      {"expand_contiguous", {val({1, 4})}, [](const V& x) { return contiguous(expand(x[0], {3, 4})) * 1.5; }},
      {"index_select", {val({6, 4}), idx({9}, 6)}, [](const V& x) { return index_select(x[0], 0, x[1]); }},
      {"gather", {val({4, 5}), idx({4, 3}, 5)}, [](const V& x) { return gather(x[0], 1, x[1]); }},
      {"embedding_repeated", {val({7, 3}), idx({5, 4}, 7)}, [](const V& x) { return embedding(x[0], x[1]); }},
      {"one_hot", {idx({6}, 4)}, [](const V& x) { return one_hot(x[0], 4); }},
      {"matmul", {val({7, 5}), val({5, 3})}, [](const V& x) { return matmul(x[0], x[1]); }},
      {"matmul_batched", {val({2, 3, 4, 5}), val({5, 6})}, [](const V& x) { return matmul(x[0], x[1]); }},
      {"matmul_vector_transposed", {val({5, 4}), val({5})}, [](const V& x) { return matmul(t(x[0]), x[1]); }},
      {"linear", {val({3, 6}), val({4, 6}), val({4})}, [](const V& x) { return linear(x[0], x[1], x[2]); }},
      {"linear_one_row", {val({1, 64}), val({65, 64})}, [](const V& x) { return linear(x[0], x[1]); }},
      {"mse_loss", {val({4, 3}), data({4, 3})}, [](const V& x) { return mse_loss(x[0], x[1]); }},
      {"bce_with_logits", {val({8})}, [](const V& x) {
         return binary_cross_entropy_with_logits(x[0], sigmoid(x[0].detach() * 0.5));
       }},
      {"cross_entropy", {val({6, 5}), idx({6}, 5)}, [](const V& x) { return cross_entropy(x[0], x[1]); }},
      {"cross_entropy_no_graph_long_rows", {val({6, 300}), idx({6}, 300)}, [](const V& x) {
         NoGradGuard no_grad;  // straight from the logits, one block per row
         return cross_entropy(x[0], x[1], Reduction::None, 7);
       }},
      {"cross_entropy_no_graph_many_rows", {val({2100, 5}), idx({2100}, 5)}, [](const V& x) {
         NoGradGuard no_grad;  // one row per thread
         return cross_entropy(x[0], x[1], Reduction::Sum, 3);
       }},
      {"linear_cross_entropy_no_graph", {val({7, 33}), val({70, 33}), val({70}), idx({7}, 70)}, [](const V& x) {
         NoGradGuard no_grad;  // the backend's own (the CPU's folds the log-sum-exp into the product)
         return linear_cross_entropy(x[0], x[1], x[2], x[3], Reduction::None, 4);
       }},
      {"nll_loss_ignore", {val({6, 5}), idx({6}, 5)},
       [](const V& x) { return nll_loss(log_softmax(x[0], 1), x[1], Reduction::Sum, 3); }},
      {"conv2d", {val({2, 3, 7, 6}), val({4, 3, 3, 2}), val({4})},
       [](const V& x) { return conv2d(x[0], x[1], x[2], {2, 1}, {1, 0}, {1, 2}); }},
      {"conv2d_no_bias", {val({1, 2, 5, 5}), val({3, 2, 3, 3})}, [](const V& x) { return conv2d(x[0], x[1]); }},
      {"max_pool2d", {val({2, 3, 6, 7})}, [](const V& x) { return max_pool2d(x[0], 3, 2, 1); }},
      {"avg_pool2d", {val({2, 2, 5, 5})},
       [](const V& x) { return avg_pool2d(x[0], 2, 2, 1, false) + avg_pool2d(x[0], 2, 2, 1, true); }},
      {"batch_norm_train", {val({5, 3, 4}), pos({3}), val({3})},
       [](const V& x) { return batch_norm(x[0], Tensor(), Tensor(), x[1], x[2], true); }},
      {"batch_norm_eval", {val({4, 3, 2, 2}), data({3}), pos({3})}, [](const V& x) {
         return batch_norm(x[0], x[1], x[2], Tensor(), Tensor(), false);
       }},
      {"dropout", {val({50, 40})}, [](const V& x) {
         Generator gen(11);
         return dropout(x[0], 0.3, true, &gen);
       }},
  };
  for (RnnCell cell : cells) {
    for (bool reverse : {false, true}) {
      const std::int64_t g = rnn_gate_count(cell), h = 5, in = 4, batch = 3, steps = 6;
      const bool lstm = cell == RnnCell::Lstm;
      std::string name = std::string("rnn_") + rnn_cell_name(cell) + (reverse ? "_reverse" : "");
      std::vector<Input> inputs = {val({steps, batch, in}), val({g * h, in}), val({g * h, h}), val({g * h}),
                                   val({g * h}), val({batch, h}), val({batch, h})};
      cases.push_back({name, inputs, [=](const V& x) {
                         RnnLayerWeights w{x[1], x[2], x[3], x[4], Tensor()};
                         Tensor lengths = to(from_vector(std::vector<std::int64_t>{6, 2, 4}, {batch}), x[0].device());
                         RnnLayerOutput out = rnn_layer(cell, x[0], w, x[5], lstm ? x[6] : Tensor(), lengths, reverse);
                         Tensor result = sum(out.output * 0.5, {2}) + sum(out.h_n);
                         return lstm ? result + sum(out.c_n) : result;
                       }});
    }
  }
  for (RnnCell cell : cells) {  // rnn_bidirectional_layer: the backend's rnn_forward_all / rnn_backward_all
    const std::int64_t g = rnn_gate_count(cell), h = 4, in = 3, batch = 3, steps = 5;
    const bool lstm = cell == RnnCell::Lstm;
    std::vector<Input> inputs = {val({steps, batch, in}), val({g * h, in}), val({g * h, h}), val({g * h}),
                                 val({g * h, in}), val({g * h, h}), val({g * h}), val({2, batch, h})};
    cases.push_back({std::string("rnn_bidirectional_") + rnn_cell_name(cell), inputs, [=](const V& x) {
                       const std::array<RnnLayerWeights, 2> w{RnnLayerWeights{x[1], x[2], x[3], Tensor(), Tensor()},
                                                              RnnLayerWeights{x[4], x[5], Tensor(), x[6], Tensor()}};
                       const std::array<Tensor, 2> h0{select(x[7], 0, 0), select(x[7], 0, 1)};
                       Tensor lengths = to(from_vector(std::vector<std::int64_t>{2, 5, 3}, {batch}), x[0].device());
                       const auto out = rnn_bidirectional_layer(cell, x[0], w, h0, lstm ? h0 : std::array<Tensor, 2>{},
                                                                lengths);
                       Tensor result = sum(out[0].output * 0.5, {2}) + sum(out[1].output, {2}) + sum(out[1].h_n);
                       return lstm ? result + sum(out[0].c_n) : result;
                     }});
  }
  for (RnnCell cell : cells) {  // RnnProjections, inference only: the rows gathered from the table
    const std::int64_t g = rnn_gate_count(cell), h = 4, batch = 3, steps = 5, table = 7;
    std::vector<Input> inputs = {val({table, 2 * g * h}), idx({steps, batch}, table), val({g * h, h}), val({g * h}),
                                 val({g * h, h}), val({g * h})};
    cases.push_back({std::string("rnn_projections_") + rnn_cell_name(cell), inputs, [=](const V& x) {
                       NoGradGuard no_grad;
                       const std::array<RnnLayerWeights, 2> w{RnnLayerWeights{Tensor(), x[2], x[3], Tensor(), Tensor()},
                                                              RnnLayerWeights{Tensor(), x[4], Tensor(), x[5], Tensor()}};
                       Tensor lengths = to(from_vector(std::vector<std::int64_t>{2, 5, 3}, {batch}), x[0].device());
                       const RnnProjections given{x[0], x[1]};
                       const auto out = rnn_bidirectional_layer(cell, given, w, {}, {}, lengths);
                       const Tensor joined = empty({steps, batch, 2 * h}, x[0].dtype(), x[0].device());
                       rnn_bidirectional_layer(cell, given, w, {}, {}, lengths, joined);  // the strided writes
                       return cat({out[0].output, out[1].output, joined}, 2);
                     }});
  }
  // attention_read_, inference only: rows reading their sources' keys, padding masked out,
  // the context written into a wider buffer's columns.
  struct AttentionShape {
    const char* name;
    std::int64_t rows, batch, steps, features;
    bool additive;
  };
  for (const AttentionShape a : {AttentionShape{"attention_read_additive", 7, 3, 5, 6, true},
                                 AttentionShape{"attention_read_dot_long", 4, 2, 300, 40, false}}) {
    std::vector<Input> inputs = {val({a.rows, a.features}), val({a.batch, a.steps, a.features}),
                                 idx({a.rows}, a.batch)};
    if (a.additive) inputs.push_back(val({a.batch, a.steps, a.features})), inputs.push_back(val({a.features}));
    cases.push_back({a.name, inputs, [a](const V& x) {
                       NoGradGuard no_grad;
                       std::vector<double> mask(static_cast<std::size_t>(a.batch * a.steps), 0.0);
                       for (std::int64_t b = 0; b < a.batch; ++b)  // source b has steps - 2b real positions
                         for (std::int64_t s = a.steps - 2 * b; s < a.steps; ++s)
                           mask[b * a.steps + s] = -std::numeric_limits<double>::infinity();
                       const Tensor m =
                           to(to_dtype(from_vector(mask, {a.batch, a.steps}), x[0].dtype()), x[0].device());
                       const Tensor out = zeros({a.rows, a.features + 3 + a.steps}, x[0].dtype(), x[0].device());
                       const Tensor weights = empty({a.rows, a.steps}, x[0].dtype(), x[0].device());
                       attention_read_(narrow(out, 1, 3, a.features), weights, x[0], x[1], a.additive ? x[3] : Tensor(),
                                       a.additive ? x[4] : Tensor(), m, x[2]);
                       copy_(narrow(out, 1, 3 + a.features, a.steps), weights);
                       return out;
                     }});
  }
  cases.push_back({"rnn_step_added_LSTM", {data({3, 3}), data({8, 3}), data({8, 2}), data({8}), data({5, 8}),
                                           data({3, 2}), data({3, 2}), idx({3}, 5)},
                   [](const V& x) {  // inference in place, part of the input projections given
                     NoGradGuard no_grad;
                     Tensor h = clone(x[5]), c = clone(x[6]), workspace;
                     rnn_step_(RnnCell::Lstm, x[0], {x[1], x[2], x[3], Tensor(), Tensor()}, h, c, workspace,
                               {x[4], x[7]});
                     return cat({h, c}, 1);
                   }});
  cases.push_back({"unique", {idx({5, 4}, 6)}, [](const V& x) {
                     const auto [values, inverse] = unique(x[0]);
                     return cat({values, reshape(inverse, {-1})}, 0);
                   }});
  cases.push_back({"rnn_LSTM_peephole", {val({4, 2, 3}), val({12, 3}), val({12, 3}), val({3, 3})},
                   [](const V& x) {
                     RnnLayerWeights w{x[1], x[2], Tensor(), Tensor(), x[3]};
                     return rnn_layer(RnnCell::Lstm, x[0], w).output;
                   }});
  return cases;
}

// |a - b| <= tol * (1 + |b|) elementwise, on the host.
void expect_close(const Tensor& gpu, const Tensor& cpu, double tol, const std::string& what) {
  ASSERT_TRUE(gpu.defined() == cpu.defined()) << what << ": defined on one device only";
  if (!cpu.defined()) return;
  ASSERT_EQ(gpu.device(), kGpu) << what;
  ASSERT_EQ(gpu.shape(), cpu.shape()) << what;
  ASSERT_EQ(gpu.dtype(), cpu.dtype()) << what;
  const std::vector<double> a = to(gpu, Device::cpu()).to_vector<double>(), b = cpu.to_vector<double>();
  double worst = 0;
  std::size_t at = 0;
  for (std::size_t i = 0; i < b.size(); ++i) {
    if (std::isnan(a[i]) && std::isnan(b[i])) continue;
    const double err = std::fabs(a[i] - b[i]) / (1 + std::fabs(b[i]));
    if (!(err <= worst)) worst = err, at = i;
  }
  EXPECT_LE(worst, tol) << what << ": element " << at << " is " << a[at] << " on the GPU, " << b[at] << " on the CPU";
}

class CudaOps : public testing::TestWithParam<std::tuple<int, DType>> {};

TEST_P(CudaOps, ForwardAndBackwardMatchTheCpu) {
  REQUIRE_GPU();
  const auto [index, dtype] = GetParam();
  const OpCase c = op_cases()[index];
  const double tol = dtype == DType::Float64 ? 1e-10 : 2e-4;
  std::vector<Tensor> on_cpu, on_gpu;
  for (std::size_t i = 0; i < c.inputs.size(); ++i) {
    Tensor x = make_input(c.inputs[i], dtype, 100 + i);
    Tensor y = to(x, kGpu).detach();
    if (c.inputs[i].requires_grad && is_floating(x.dtype())) x.set_requires_grad(), y.set_requires_grad();
    on_cpu.push_back(x), on_gpu.push_back(y);
  }
  const Tensor out_cpu = c.fn(on_cpu), out_gpu = c.fn(on_gpu);
  expect_close(out_gpu, out_cpu, tol, c.name + " output");
  if (!out_cpu.requires_grad()) return;
  Generator gen(7);
  const Tensor weights = normal(out_cpu.shape(), 0, 1, dtype, &gen);
  sum(out_cpu * weights).backward();
  sum(out_gpu * to(weights, kGpu)).backward();
  for (std::size_t i = 0; i < c.inputs.size(); ++i)
    if (on_cpu[i].requires_grad())
      expect_close(on_gpu[i].grad(), on_cpu[i].grad(), tol, c.name + " gradient of input " + std::to_string(i));
}

INSTANTIATE_TEST_SUITE_P(
    Ops, CudaOps,
    testing::Combine(testing::Range(0, static_cast<int>(op_cases().size())),
                     testing::Values(DType::Float32, DType::Float64)),
    [](const testing::TestParamInfo<CudaOps::ParamType>& info) {
      const DType dtype = std::get<1>(info.param);
      return op_cases()[std::get<0>(info.param)].name + (dtype == DType::Float32 ? "_f32" : "_f64");
    });

// Each optimizer's fused step on the GPU against the CPU, from the same parameter and
// gradients, over three steps so the state buffers take part.
TEST(CudaOptim, EveryOptimizerStepMatchesTheCpu) {
  REQUIRE_GPU();
  using Factory = std::function<std::unique_ptr<optim::Optimizer>(std::vector<Tensor>)>;
  const std::vector<std::pair<std::string, Factory>> optimizers = {
      {"sgd", [](std::vector<Tensor> p) { return std::make_unique<optim::SGD>(p, optim::SGDOptions{.lr = 0.1, .momentum = 0.9, .nesterov = true}); }},
      {"adagrad", [](std::vector<Tensor> p) { return std::make_unique<optim::Adagrad>(p, optim::AdagradOptions{.lr = 0.1}); }},
      {"rmsprop", [](std::vector<Tensor> p) { return std::make_unique<optim::RMSprop>(p, optim::RMSpropOptions{.lr = 0.01, .momentum = 0.5, .centered = true}); }},
      {"adam", [](std::vector<Tensor> p) { return std::make_unique<optim::Adam>(p, optim::AdamOptions{.lr = 0.01, .weight_decay = 0.1, .amsgrad = true}); }},
      {"adamw", [](std::vector<Tensor> p) { return std::make_unique<optim::AdamW>(p, optim::AdamWOptions{.lr = 0.01}); }},
  };
  for (const auto& [name, make] : optimizers) {
    Tensor cpu_param = randn32({37, 3}, 1).detach(), gpu_param = to(cpu_param, kGpu).detach();
    cpu_param.set_requires_grad(), gpu_param.set_requires_grad();
    auto cpu_opt = make({cpu_param}), gpu_opt = make({gpu_param});
    for (int step = 0; step < 3; ++step) {
      const Tensor grad = randn32({37, 3}, 10 + step);
      sum(cpu_param * grad).backward();
      sum(gpu_param * to(grad, kGpu)).backward();
      cpu_opt->step(), gpu_opt->step();
      cpu_opt->zero_grad(), gpu_opt->zero_grad();
    }
    NoGradGuard no_grad;
    expect_close(gpu_param, cpu_param, 1e-5, name);
  }
}

// A few steps of a character model (embedding, 2-layer LSTM, head, cross-entropy, clipping,
// Adam) from the same weights on both devices: the losses must agree closely.
TEST(CudaLanguageModel, TrainingLossesMatchTheCpu) {
  REQUIRE_GPU();
  const nn::LanguageModelConfig config{.cell = "lstm", .layers = 2, .hidden = 32, .embed = 8, .vocab_size = 20};
  manual_seed(3);
  auto cpu_model = std::make_shared<nn::LanguageModel>(config);
  manual_seed(3);
  auto gpu_model = std::make_shared<nn::LanguageModel>(config);
  gpu_model->to(kGpu);
  optim::Adam cpu_opt(cpu_model->parameters(), optim::AdamOptions{.lr = 3e-3});
  optim::Adam gpu_opt(gpu_model->parameters(), optim::AdamOptions{.lr = 3e-3});
  for (int step = 0; step < 5; ++step) {
    std::vector<std::int64_t> tokens(9 * 4);
    for (std::size_t i = 0; i < tokens.size(); ++i) tokens[i] = static_cast<std::int64_t>(i * 7 + step) % 20;
    const Tensor all = from_vector(tokens, {9, 4});
    const Tensor inputs = narrow(all, 0, 0, 8), targets = narrow(all, 0, 1, 8);
    double losses[2];
    int k = 0;
    for (auto [model, opt, device] : {std::tuple{cpu_model, &cpu_opt, Device::cpu()}, std::tuple{gpu_model, &gpu_opt, kGpu}}) {
      Tensor logits = model->forward(to(inputs, device));
      Tensor loss = cross_entropy(reshape(logits, {-1, 20}), reshape(to(targets, device), {-1}));
      loss.backward();
      optim::clip_grad_norm_(model->parameters(), 1.0);
      opt->step();
      opt->zero_grad();
      losses[k++] = loss.item();
    }
    EXPECT_NEAR(losses[1], losses[0], 1e-4 * (1 + std::fabs(losses[0]))) << "step " << step;
  }
}

}  // namespace
}  // namespace recur
