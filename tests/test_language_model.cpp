// nn::LanguageModel (names and shapes, validation, forward with carried state, gradcheck, nll),
// the in-place linear_, nn::TokenSampler (its logits against the model's forward, argmax,
// top-k, temperature, seeding, errors) and the model files of train/model_file.hpp
// (round trip, checkpoints, every load error naming the file).
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <vector>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;

namespace {

constexpr std::int64_t kVocab = 7;

// A small model: 2 layers of 5 units, embedding 4 (or one-hot with embed = 0).
nn::LanguageModelConfig small_config(const std::string& cell, std::int64_t embed = 4, bool peephole = false) {
  return {.cell = cell, .layers = 2, .hidden = 5, .embed = embed, .vocab_size = kVocab, .peephole = peephole};
}

// Every configuration the sampler and the chunked forward are checked for.
std::vector<nn::LanguageModelConfig> all_configs() {
  std::vector<nn::LanguageModelConfig> configs;
  for (const char* cell : {"lstm", "gru", "rnn_tanh", "rnn_relu", "mgu"}) {
    configs.push_back(small_config(cell));
    configs.push_back(small_config(cell, 0));
  }
  configs.push_back(small_config("lstm", 4, true));
  configs.push_back(small_config("lstm", 0, true));
  return configs;
}

std::string describe(const nn::LanguageModelConfig& config) {
  return config.cell + " embed=" + std::to_string(config.embed) + (config.peephole ? " peephole" : "");
}

// Reproducible tokens in [0, vocab) shaped [steps, batch].
Tensor random_tokens(std::int64_t steps, std::int64_t batch, std::uint64_t seed, std::int64_t vocab = kVocab) {
  Generator gen(seed);
  std::vector<std::int64_t> values(static_cast<std::size_t>(steps * batch));
  for (std::int64_t& v : values) v = static_cast<std::int64_t>(gen.next_u32() % static_cast<std::uint32_t>(vocab));
  return from_vector(values, {steps, batch});
}

// Multiplies every parameter by `factor`, so that logits spread out and differences show.
void scale_parameters(nn::Module& model, double factor) {
  NoGradGuard no_grad;
  for (const Tensor& p : model.parameters()) mul_(p, factor);
}

// ------------------------------------------------------------------ LanguageModel

TEST(LanguageModel, StateDictNamesAndShapesAsPyTorch) {
  const std::map<std::string, std::int64_t> gates = {
      {"lstm", 4}, {"gru", 3}, {"rnn_tanh", 1}, {"rnn_relu", 1}, {"mgu", 2}};
  const std::int64_t H = 5, E = 4, V = kVocab;
  for (const auto& [cell, G] : gates) {
    SCOPED_TRACE(cell);
    nn::LanguageModel model(small_config(cell));
    EXPECT_EQ(model.cell, nn::parse_cell_name(cell));
    EXPECT_EQ(model.rnn->cell, model.cell);
    EXPECT_THAT(parameter_names(model),
                testing::ElementsAre("embed.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                                     "rnn.bias_hh_l0", "rnn.weight_ih_l1", "rnn.weight_hh_l1", "rnn.bias_ih_l1",
                                     "rnn.bias_hh_l1", "head.weight", "head.bias"));
    TensorMap state = model.state_dict();
    EXPECT_EQ(state.size(), 11u);
    EXPECT_EQ(state.at("embed.weight").shape(), Shape({V, E}));
    EXPECT_EQ(state.at("rnn.weight_ih_l0").shape(), Shape({G * H, E}));
    EXPECT_EQ(state.at("rnn.weight_hh_l0").shape(), Shape({G * H, H}));
    EXPECT_EQ(state.at("rnn.bias_ih_l0").shape(), Shape({G * H}));
    EXPECT_EQ(state.at("rnn.bias_hh_l0").shape(), Shape({G * H}));
    EXPECT_EQ(state.at("rnn.weight_ih_l1").shape(), Shape({G * H, H}));
    EXPECT_EQ(state.at("head.weight").shape(), Shape({V, H}));
    EXPECT_EQ(state.at("head.bias").shape(), Shape({V}));
    for (const auto& [name, tensor] : state) EXPECT_EQ(tensor.dtype(), DType::Float32) << name;

    nn::LanguageModel one_hot(small_config(cell, 0));
    EXPECT_EQ(one_hot.embed, nullptr);
    TensorMap one_hot_state = one_hot.state_dict();
    EXPECT_EQ(one_hot_state.count("embed.weight"), 0u);
    EXPECT_EQ(one_hot_state.size(), 10u);
    EXPECT_EQ(one_hot_state.at("rnn.weight_ih_l0").shape(), Shape({G * H, V}));
    EXPECT_EQ(one_hot_state.at("rnn.weight_ih_l1").shape(), Shape({G * H, H}));
  }
  nn::LanguageModel peephole(small_config("lstm", 4, true));
  TensorMap state = peephole.state_dict();
  EXPECT_EQ(state.at("rnn.weight_peephole_l0").shape(), Shape({3, H}));
  EXPECT_EQ(state.at("rnn.weight_peephole_l1").shape(), Shape({3, H}));
  EXPECT_EQ(state.size(), 13u);
}

TEST(LanguageModel, InitialisedAsPyTorch) {
  manual_seed(5);
  nn::LanguageModel a({.cell = "gru", .layers = 1, .hidden = 16, .embed = 8, .vocab_size = 30});
  manual_seed(5);
  nn::LanguageModel b({.cell = "gru", .layers = 1, .hidden = 16, .embed = 8, .vocab_size = 30});
  TensorMap sa = a.state_dict(), sb = b.state_dict();
  for (const auto& [name, tensor] : sa) expect_close(tensor, sb.at(name), 0);
  Moments embed = moments(sa.at("embed.weight"));  // N(0, 1)
  EXPECT_NEAR(embed.mean, 0, 0.3);
  EXPECT_NEAR(embed.stddev, 1, 0.2);
  Moments rnn = moments(sa.at("rnn.weight_hh_l0"));  // U(-1/4, 1/4)
  EXPECT_LE(rnn.max, 0.25);
  EXPECT_GE(rnn.min, -0.25);
  EXPECT_GT(rnn.max, 0.2);
  Moments head = moments(sa.at("head.weight"));  // Linear: U(-1/sqrt(16), 1/sqrt(16))
  EXPECT_LE(head.max, 0.25);
  EXPECT_GE(head.min, -0.25);
  EXPECT_GT(head.max, 0.2);
}

TEST(LanguageModel, ValidateNamesTheField) {
  auto with = [](auto change) {
    nn::LanguageModelConfig config = small_config("lstm");
    change(config);
    return config;
  };
  EXPECT_NO_THROW(nn::validate(small_config("lstm")));
  EXPECT_NO_THROW(nn::validate(small_config("mgu", 0)));
  expect_error([&] { nn::validate(with([](auto& c) { c.cell = "transformer"; })); },
               {"unknown cell 'transformer'", "rnn_tanh, rnn_relu, lstm, gru or mgu"});
  expect_error([&] { nn::validate(with([](auto& c) { c.layers = 0; })); }, {"layers", "got 0"});
  expect_error([&] { nn::validate(with([](auto& c) { c.hidden = -3; })); }, {"hidden", "got -3"});
  expect_error([&] { nn::validate(with([](auto& c) { c.embed = -1; })); }, {"embedding size", "got -1"});
  expect_error([&] { nn::validate(with([](auto& c) { c.vocab_size = 0; })); }, {"vocabulary size", "got 0"});
  expect_error([&] { nn::validate(with([](auto& c) { c.dropout = 1; })); }, {"dropout", "[0, 1)", "got 1"});
  expect_error([&] { nn::validate(with([](auto& c) { c.dropout = -0.5; })); }, {"dropout", "got -0.5"});
  expect_error([&] { nn::validate(with([](auto& c) { c.dropout = NAN; })); }, {"dropout"});
  expect_error([&] { nn::validate(with([](auto& c) { c.cell = "gru", c.peephole = true; })); },
               {"peephole", "lstm", "gru"});
  expect_error([&] { nn::validate(with([](auto& c) { c.tie_weights = true; })); },
               {"tied weights", "embed " + std::to_string(small_config("lstm").embed), "hidden"});
  expect_error([] { nn::parse_cell_name("LSTM"); }, {"unknown cell 'LSTM'"});
  // The constructor validates before building anything.
  expect_error([&] { nn::LanguageModel(with([](auto& c) { c.layers = 0; })); }, {"layers"});
}

TEST(LanguageModel, ForwardShapesAndErrors) {
  for (const nn::LanguageModelConfig& config : all_configs()) {
    SCOPED_TRACE(describe(config));
    nn::LanguageModel model(config);
    nn::LanguageModel::Output out = model.forward(random_tokens(6, 3, 1), {});
    EXPECT_EQ(out.logits.shape(), Shape({6, 3, kVocab}));
    EXPECT_EQ(out.state.h.shape(), Shape({2, 3, 5}));
    EXPECT_EQ(out.state.c.defined(), config.cell == "lstm");
    if (out.state.c.defined()) {
      EXPECT_EQ(out.state.c.shape(), Shape({2, 3, 5}));
    }
    EXPECT_TRUE(out.logits.requires_grad());
    nn::LanguageModel::State detached = out.state.detached();
    EXPECT_FALSE(detached.h.requires_grad());
    EXPECT_EQ(detached.c.defined(), config.cell == "lstm");
    expect_close(model.forward(random_tokens(6, 3, 1)), out.logits, 0);
  }
  nn::LanguageModel model(small_config("gru"));
  expect_error([&] { model.forward(from_vector(std::vector<std::int64_t>{1, 2}, {2})); },
               {"int64 [T, B]", "[2]"});
  expect_error([&] { model.forward(zeros({2, 2})); }, {"int64 [T, B]"});
  expect_error([&] { model.forward(from_vector(std::vector<std::int64_t>{1, kVocab}, {2, 1})); },
               {std::to_string(kVocab)});
  nn::LanguageModel one_hot(small_config("gru", 0));
  expect_error([&] { one_hot.forward(from_vector(std::vector<std::int64_t>{-1, 0}, {2, 1})); }, {"-1"});
}

// Truncated BPTT's premise: forwarding [0, 2) then [2, T) with the carried state is one
// forward over [0, T). To float32 rounding relative to the values (rnn_relu's grow past 5
// here): the 7-step forward multiplies by a packed W_hh, the 2-step one through BLAS.
TEST(LanguageModel, ChunkedForwardWithCarriedStateEqualsWholeForward) {
  for (const nn::LanguageModelConfig& config : all_configs()) {
    SCOPED_TRACE(describe(config));
    manual_seed(2);
    nn::LanguageModel model(config);
    scale_parameters(model, 2);
    Tensor tokens = random_tokens(7, 3, 4);
    nn::LanguageModel::Output whole = model.forward(tokens, {});
    nn::LanguageModel::Output first = model.forward(narrow(tokens, 0, 0, 2), {});
    nn::LanguageModel::Output second = model.forward(narrow(tokens, 0, 2, 5), first.state);
    expect_close_rel(cat({first.logits, second.logits}, 0), whole.logits, 1e-5);
    expect_close_rel(second.state.h, whole.state.h, 1e-6);
    if (config.cell == "lstm") expect_close_rel(second.state.c, whole.state.c, 1e-5);
  }
}

// In inference (grad mode off, eval mode) the first layer's input projections are made once
// per distinct token (RNNBase::forward_tokens): the logits and states of the path that
// training takes, from a carried state, every cell, embedded or one-hot.
TEST(LanguageModel, InferenceEqualsTheTrainingPath) {
  for (const nn::LanguageModelConfig& config : all_configs()) {
    SCOPED_TRACE(describe(config));
    manual_seed(4);
    nn::LanguageModel model(config);
    model.to(DType::Float64);
    model.eval();
    const Tensor tokens = random_tokens(6, 3, 5), start = random_tokens(2, 3, 6);
    const nn::LanguageModel::State state = model.forward(start, {}).state;
    const nn::LanguageModel::Output trained = model.forward(tokens, state);
    ASSERT_TRUE(trained.logits.requires_grad());
    NoGradGuard no_grad;
    const nn::LanguageModel::Output inferred = model.forward(tokens, state);
    expect_close_rel(inferred.logits, trained.logits, 1e-12);
    expect_close_rel(inferred.state.h, trained.state.h, 1e-12);
    if (config.cell == "lstm") expect_close_rel(inferred.state.c, trained.state.c, 1e-12);
  }
}

// The whole model in float64: the gradient of its logits and final state in every
// parameter and in the initial state.
void gradcheck_model(const nn::LanguageModelConfig& config) {
  SCOPED_TRACE(describe(config));
  manual_seed(3);
  nn::LanguageModel model(config);
  model.to(DType::Float64);
  const bool lstm = config.cell == "lstm";
  Tensor tokens = random_tokens(3, 2, 5, config.vocab_size);
  Tensor h0 = random_leaf({config.layers, 2, config.hidden}, 6), c0 = random_leaf({config.layers, 2, config.hidden}, 7);
  std::vector<Tensor> inputs = {h0};
  if (lstm) inputs.push_back(c0);
  for (const Tensor& p : model.parameters()) inputs.push_back(p);
  expect_gradcheck(
      [&](const std::vector<Tensor>&) {
        nn::LanguageModel::Output out = model.forward(tokens, {h0, lstm ? c0 : Tensor()});
        std::vector<Tensor> parts = {reshape(out.logits, {-1}), reshape(out.state.h, {-1})};
        if (lstm) parts.push_back(reshape(out.state.c, {-1}));
        return cat(parts, 0);
      },
      inputs);
}

TEST(LanguageModel, GradcheckFloat64) {
  gradcheck_model({.cell = "lstm", .layers = 2, .hidden = 3, .embed = 3, .vocab_size = 4});
  gradcheck_model({.cell = "gru", .layers = 2, .hidden = 3, .embed = 0, .vocab_size = 4});
  gradcheck_model({.cell = "lstm", .layers = 1, .hidden = 2, .embed = 0, .vocab_size = 3, .peephole = true});
  gradcheck_model({.cell = "mgu", .layers = 1, .hidden = 3, .embed = 2, .vocab_size = 3});
}

TEST(LanguageModel, TiedWeightsShareOneMatrix) {
  manual_seed(3);
  nn::LanguageModel model({.cell = "gru", .layers = 1, .hidden = 4, .embed = 4, .vocab_size = 6, .tie_weights = true});
  // One tensor, listed once for the optimizer, both names in the state dict (PyTorch's
  // strict load takes it); initialised as the head, U(-1/sqrt(H), 1/sqrt(H)).
  EXPECT_EQ(&model.embed->weight.impl(), &model.head->weight.impl());
  const std::vector<std::string> names = parameter_names(model);
  EXPECT_EQ(std::count(names.begin(), names.end(), "embed.weight"), 1);
  EXPECT_EQ(std::count(names.begin(), names.end(), "head.weight"), 0);
  EXPECT_TRUE(model.state_dict().count("head.weight"));
  EXPECT_LE(max(abs(model.embed->weight)).item(), 0.5);
  // Its gradient is the sum of both uses: checked in float64 against central differences.
  gradcheck_model({.cell = "gru", .layers = 1, .hidden = 3, .embed = 3, .vocab_size = 4, .tie_weights = true});
}

TEST(LanguageModel, AdaptiveSoftmaxHead) {
  manual_seed(4);
  nn::LanguageModel model(
      {.cell = "lstm", .layers = 1, .hidden = 16, .embed = 4, .vocab_size = 12, .adaptive_softmax = {4, 8}});
  ASSERT_EQ(model.head, nullptr);
  ASSERT_NE(model.adaptive_head, nullptr);
  // PyTorch's AdaptiveLogSoftmaxWithLoss names under head.
  const std::vector<std::string> names = parameter_names(model);
  for (const char* name : {"head.head.weight", "head.tail.0.0.weight", "head.tail.0.1.weight", "head.tail.1.0.weight",
                           "head.tail.1.1.weight"})
    EXPECT_EQ(std::count(names.begin(), names.end(), name), 1) << name;
  // The loss through the clusters equals the cross-entropy of the full log-distribution.
  Tensor tokens = random_tokens(5, 3, 9, 12), targets = random_tokens(5, 3, 10, 12);
  nn::LanguageModel::Output features = model.features(tokens, {});
  nn::LanguageModel::Output out = model.forward(tokens, {});
  const double via_clusters = model.loss(features.logits, targets).item();
  const double via_logits = cross_entropy(reshape(out.logits, {15, 12}), reshape(targets, {15})).item();
  EXPECT_NEAR(via_clusters, via_logits, 1e-5);
  EXPECT_NEAR(model.loss(features.logits, targets, Reduction::Sum).item(), 15 * via_clusters, 1e-4);
  // Float64 gradients through the adaptive head.
  gradcheck_model({.cell = "gru", .layers = 1, .hidden = 4, .embed = 3, .vocab_size = 6, .adaptive_softmax = {3}});
  expect_error([] { nn::validate({.cell = "gru", .embed = 4, .vocab_size = 6, .adaptive_softmax = {4, 2}}); },
               {"cutoffs must increase", "4 then 2"});
  expect_error([] { nn::validate({.cell = "gru", .embed = 4, .vocab_size = 6, .adaptive_softmax = {6}}); },
               {"cutoff 6", "vocabulary size 6"});
  expect_error(
      [] {
        nn::validate({.cell = "gru", .hidden = 4, .embed = 4, .vocab_size = 6, .tie_weights = true,
                      .adaptive_softmax = {3}});
      },
      {"tied weights", "adaptive"});
}

TEST(LanguageModel, NllIsTheSumOfCrossEntropiesAndIndependentOfChunk) {
  for (const nn::LanguageModelConfig& config : {small_config("lstm"), small_config("gru", 0)}) {
    SCOPED_TRACE(describe(config));
    manual_seed(8);
    nn::LanguageModel model(config);
    scale_parameters(model, 3);
    std::vector<std::int64_t> tokens = random_tokens(25, 1, 9).to_vector<std::int64_t>();
    std::vector<std::int32_t> tokens32(tokens.begin(), tokens.end());

    // By hand: one forward over tokens[0, N-1), -log_softmax at each next token.
    const std::int64_t n = static_cast<std::int64_t>(tokens.size());
    Tensor logits = model.forward(from_vector(std::vector<std::int64_t>(tokens.begin(), tokens.end() - 1), {n - 1, 1}));
    std::vector<double> log_p = log_softmax(to_dtype(reshape(logits, {n - 1, kVocab}), DType::Float64), 1)
                                    .to_vector<double>();
    double expected = 0;
    for (std::int64_t i = 1; i < n; ++i) expected -= log_p[static_cast<std::size_t>((i - 1) * kVocab + tokens[i])];
    EXPECT_GT(expected, 10);  // the scaled model is far from uniform: a meaningful sum

    model.train();
    for (std::int64_t chunk : {512, 1, 3, 24, 5}) {
      SCOPED_TRACE("chunk " + std::to_string(chunk));
      EXPECT_NEAR(model.nll(tokens32, chunk), expected, 1e-5 * expected);
    }
    EXPECT_TRUE(model.is_training());  // restored
    model.eval();
    EXPECT_NEAR(model.nll(tokens32), expected, 1e-5 * expected);
    EXPECT_FALSE(model.is_training());

    EXPECT_EQ(model.nll(std::span<const std::int32_t>(tokens32.data(), 1)), 0);  // nothing to predict
    EXPECT_EQ(model.nll({}), 0);
    expect_error([&] { model.nll(tokens32, 0); }, {"chunk must be at least 1", "got 0"});
    std::vector<std::int32_t> bad = {1, 2, static_cast<std::int32_t>(kVocab)};
    expect_error([&] { model.nll(bad); }, {std::to_string(kVocab)});
    model.train();
    expect_error([&] { model.nll(bad); }, {std::to_string(kVocab)});
    EXPECT_TRUE(model.is_training());  // restored after the error too
  }
}

TEST(LanguageModel, SequenceLogprobsAreEachSequencesAloneWhateverTheBatch) {
  for (const nn::LanguageModelConfig& config :
       {small_config("lstm"), nn::LanguageModelConfig{.cell = "gru", .layers = 1, .hidden = 16, .embed = 4,
                                                      .vocab_size = kVocab, .adaptive_softmax = {2, 4}}}) {
    SCOPED_TRACE(describe(config));
    manual_seed(5);
    nn::LanguageModel model(config);
    model.train();
    // Lengths 0 to 11, in no order; token 1 is the start token.
    std::vector<std::vector<std::int32_t>> sequences;
    Generator gen(9);
    for (int length : {3, 0, 11, 1, 7, 7, 2, 5}) {
      std::vector<std::int32_t> s;
      for (int i = 0; i < length; ++i) s.push_back(static_cast<std::int32_t>(gen.next_u32() % kVocab));
      sequences.push_back(s);
    }
    std::vector<std::vector<double>> per_token;
    const std::vector<double> batched = model.sequence_logprobs(sequences, 1, 64, &per_token);
    EXPECT_TRUE(model.is_training());  // the caller's mode is back
    for (std::size_t i = 0; i < sequences.size(); ++i) {
      SCOPED_TRACE(i);
      // Alone: the stream [start, s...] from a zero state, as nll computes it.
      std::vector<std::int32_t> stream = {1};
      stream.insert(stream.end(), sequences[i].begin(), sequences[i].end());
      EXPECT_NEAR(batched[i], -model.nll(stream), 1e-4);
      ASSERT_EQ(per_token[i].size(), sequences[i].size());
      double sum = 0;
      for (double term : per_token[i]) sum += term;
      EXPECT_NEAR(sum, batched[i], 1e-9);
    }
    EXPECT_EQ(batched[1], 0.0);  // the empty sequence
    for (std::int64_t batch : {1, 3}) {
      const std::vector<double> other = model.sequence_logprobs(sequences, 1, batch);
      for (std::size_t i = 0; i < sequences.size(); ++i) EXPECT_NEAR(other[i], batched[i], 1e-5 * std::abs(batched[i]));
    }
    expect_error([&] { model.sequence_logprobs(sequences, kVocab); }, {"start token", "outside the vocabulary"});
    expect_error([&] { model.sequence_logprobs(sequences, 1, 0); }, {"batch", "got 0"});
  }
}

TEST(LanguageModel, NllIgnoresDropoutAndGradMode) {
  nn::LanguageModelConfig config = small_config("lstm");
  config.dropout = 0.5;
  manual_seed(9);
  nn::LanguageModel model(config);
  std::vector<std::int32_t> tokens = {0, 3, 1, 6, 2, 2, 5, 4};
  model.train();
  const double first = model.nll(tokens, 3);
  manual_seed(100);
  EXPECT_EQ(model.nll(tokens, 3), first);  // no dropout mask drawn
  model.eval();
  EXPECT_EQ(model.nll(tokens, 3), first);
}

// ------------------------------------------------------------------ linear_

TEST(LinearInPlace, EqualsLinear) {
  Tensor w = randn32({5, 4}, 1), b = randn32({5}, 2);
  for (const Shape& x_shape : {Shape{3, 4}, Shape{2, 3, 4}, Shape{4}}) {
    Tensor x = randn32(x_shape, 3);
    Shape y_shape = x_shape;
    y_shape[y_shape.size() - 1] = 5;
    Tensor out = full(y_shape, 99);
    linear_(out, x, w, b);
    expect_close(out, linear(x, w, b), 1e-6);
    linear_(out, x, w);
    expect_close(out, linear(x, w), 1e-6);  // the old contents do not leak in without bias
  }
  Tensor x64 = randn64({3, 4}, 4), w64 = randn64({5, 4}, 5), b64 = randn64({5}, 6);
  Tensor out64 = zeros({3, 5}, DType::Float64);
  linear_(out64, x64, w64, b64);
  expect_close(out64, linear(x64, w64, b64), 1e-14);
}

TEST(LinearInPlace, Errors) {
  Tensor w = randn32({5, 4}, 1), b = randn32({5}, 2), x = randn32({3, 4}, 3);
  expect_error([&] { linear_(zeros({3, 4}), x, w, b); }, {"linear_", "out must be contiguous of shape", "[3, 5]"});
  expect_error([&] { linear_(zeros({5, 3}), x, w, b); }, {"linear_", "[5, 3]"});
  expect_error([&] { linear_(transpose(zeros({5, 3}), 0, 1), x, w, b); }, {"linear_", "contiguous"});
  expect_error([&] { linear_(zeros({3, 5}, DType::Float64), x, w, b); }, {"linear_"});
  expect_error([&] { linear_(zeros({3, 5}), randn32({3, 6}, 3), w, b); }, {"linear_", "expects 4"});
  expect_error([&] { linear_(zeros({3, 5}), x, w, randn32({4}, 2)); }, {"linear_", "bias"});
  Tensor square = randn32({4, 4}, 4);
  expect_error([&] { linear_(square, square, randn32({4, 4}, 5)); }, {"linear_", "shares memory"});
  expect_error([&] { linear_(narrow(square, 0, 0, 2), narrow(square, 0, 2, 2), randn32({4, 4}, 5)); },
               {"shares memory"});

  Tensor weight = leaf(randn32({5, 4}, 1));
  expect_error([&] { linear_(zeros({3, 5}), x, weight, b); }, {"linear_", "not differentiable", "NoGradGuard"});
  expect_error([&] { linear_(zeros({3, 5}), leaf(randn32({3, 4}, 3)), w, b); }, {"not differentiable"});
  expect_error([&] { linear_(zeros({3, 5}), x, w, leaf(randn32({5}, 2))); }, {"not differentiable"});
  NoGradGuard no_grad;
  Tensor out = zeros({3, 5});
  linear_(out, x, weight, b);
  expect_close(out, linear(x, weight, b), 1e-6);
  EXPECT_FALSE(out.requires_grad());
}

// Writing in place bumps the version, so autograd refuses a graph that saved the old values.
TEST(LinearInPlace, BumpsTheVersion) {
  Tensor a = leaf(randn32({3, 5}, 1)), out = zeros({3, 5});
  Tensor y = sum(mul(a, out));  // saves out for a's gradient
  {
    NoGradGuard no_grad;
    linear_(out, randn32({3, 4}, 2), randn32({5, 4}, 3));
  }
  expect_error([&] { y.backward(); }, {"mul", "modified in place"});
}

// ------------------------------------------------------------------ TokenSampler

TEST(TokenSampler, LogitsEqualForwardAtEveryStep) {
  const std::int64_t steps = 6, batch = 3;
  for (const nn::LanguageModelConfig& config : all_configs()) {
    SCOPED_TRACE(describe(config));
    manual_seed(10);
    nn::LanguageModel model(config);
    scale_parameters(model, 2);
    Tensor tokens = random_tokens(steps, batch, 11);  // different tokens per stream
    Tensor logits = model.forward(tokens);
    std::vector<std::int64_t> all = tokens.to_vector<std::int64_t>();

    nn::TokenSampler sampler(model, batch);
    EXPECT_EQ(sampler.batch(), batch);
    for (int pass = 0; pass < 2; ++pass) {  // the second after reset()
      for (std::int64_t t = 0; t < steps; ++t) {
        sampler.feed(std::span<const std::int64_t>(all.data() + t * batch, batch));
        EXPECT_EQ(sampler.logits().shape(), Shape({batch, kVocab}));
        EXPECT_EQ(sampler.logits().dtype(), DType::Float32);
        expect_close(sampler.logits(), select(logits, 0, t), 1e-5);
      }
      sampler.reset();
    }
  }
}

// The model with spread-out logits and the sampler after one feed.
struct FedSampler {
  std::shared_ptr<nn::LanguageModel> model;
  std::unique_ptr<nn::TokenSampler> sampler;
};

FedSampler fed_sampler(std::int64_t batch, double scale = 4) {
  manual_seed(12);
  FedSampler s;
  s.model = std::make_shared<nn::LanguageModel>(small_config("lstm"));
  scale_parameters(*s.model, scale);
  s.sampler = std::make_unique<nn::TokenSampler>(*s.model, batch);
  std::vector<std::int64_t> tokens(static_cast<std::size_t>(batch));
  for (std::int64_t b = 0; b < batch; ++b) tokens[b] = b % kVocab;
  s.sampler->feed(tokens);
  return s;
}

// The row's indices sorted by decreasing logit.
std::vector<std::int64_t> ranked(const Tensor& logits, std::int64_t row) {
  std::vector<float> values = select(logits, 0, row).to_vector<float>();
  std::vector<std::int64_t> order(values.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
  std::stable_sort(order.begin(), order.end(), [&](std::int64_t a, std::int64_t b) { return values[a] > values[b]; });
  return order;
}

TEST(TokenSampler, ArgmaxAndTopOne) {
  const std::int64_t batch = 5;
  FedSampler s = fed_sampler(batch);
  std::vector<std::int64_t> drawn(batch), top_one(batch);
  Generator gen(1);
  s.sampler->draw(drawn, {.argmax = true}, gen);
  for (std::int64_t b = 0; b < batch; ++b) {
    EXPECT_EQ(drawn[b], argmax(select(s.sampler->logits(), 0, b)).item()) << "stream " << b;
    EXPECT_EQ(drawn[b], ranked(s.sampler->logits(), b)[0]);
  }
  // Not all streams agree: the test tells streams apart.
  EXPECT_GT(std::set<std::int64_t>(drawn.begin(), drawn.end()).size(), 1u);
  for (double temperature : {0.1, 1.0, 50.0})
    for (int repeat = 0; repeat < 20; ++repeat) {
      s.sampler->draw(top_one, {.temperature = temperature, .top_k = 1}, gen);
      EXPECT_EQ(top_one, drawn);
    }
}

TEST(TokenSampler, ArgmaxTiesPickTheSmallestIndex) {
  manual_seed(13);
  nn::LanguageModel model(small_config("gru"));
  {
    NoGradGuard no_grad;
    zero_(model.head->weight);
    zero_(model.head->bias);
  }
  nn::TokenSampler sampler(model, 2);
  sampler.feed(std::vector<std::int64_t>{3, 4});
  std::vector<std::int64_t> out(2);
  Generator gen(1);
  sampler.draw(out, {.argmax = true}, gen);
  EXPECT_THAT(out, testing::ElementsAre(0, 0));
  sampler.draw(out, {.top_k = 1}, gen);
  EXPECT_THAT(out, testing::ElementsAre(0, 0));
}

// However small the temperature, nothing overflows: the draw is the argmax.
TEST(TokenSampler, TinyTemperatureIsArgmax) {
  const std::int64_t batch = 5;
  FedSampler s = fed_sampler(batch);
  std::vector<std::int64_t> greedy(batch), out(batch);
  Generator gen(4);
  s.sampler->draw(greedy, {.argmax = true}, gen);
  for (double temperature : {1e-30, 1e-300, 5e-324})
    for (std::int64_t top_k : {0, 3}) {
      SCOPED_TRACE(temperature);
      for (int repeat = 0; repeat < 10; ++repeat) {
        s.sampler->draw(out, {.temperature = temperature, .top_k = top_k}, gen);
        EXPECT_EQ(out, greedy);
      }
    }
  // And however large, the draw is uniform: every token comes up.
  std::set<std::int64_t> seen;
  for (int repeat = 0; repeat < 500; ++repeat) {
    s.sampler->draw(out, {.temperature = INFINITY}, gen);
    seen.insert(out[0]);
  }
  EXPECT_EQ(seen.size(), static_cast<std::size_t>(kVocab));
}

TEST(TokenSampler, TopKDrawsOnlyAmongTheKLargest) {
  const std::int64_t batch = 4, k = 3;
  FedSampler s = fed_sampler(batch, 1);  // flat enough that every candidate is drawn
  Generator gen(2);
  std::vector<std::int64_t> out(batch);
  std::vector<std::set<std::int64_t>> seen(batch);
  for (int i = 0; i < 2000; ++i) {
    s.sampler->draw(out, {.temperature = 2, .top_k = k}, gen);
    for (std::int64_t b = 0; b < batch; ++b) seen[b].insert(out[b]);
  }
  for (std::int64_t b = 0; b < batch; ++b) {
    std::vector<std::int64_t> order = ranked(s.sampler->logits(), b);
    EXPECT_EQ(seen[b], std::set<std::int64_t>(order.begin(), order.begin() + k)) << "stream " << b;
  }
  // top_k at or above the vocabulary's size is no restriction.
  std::set<std::int64_t> all;
  for (int i = 0; i < 3000; ++i) {
    s.sampler->draw(out, {.temperature = 3, .top_k = kVocab + 5}, gen);
    all.insert(out[0]);
  }
  EXPECT_EQ(all.size(), static_cast<std::size_t>(kVocab));
}

// Pearson's chi-square statistic of `counts` against probabilities `p`.
double chi_square(const std::vector<std::int64_t>& counts, const std::vector<double>& p) {
  double n = 0, statistic = 0;
  for (std::int64_t c : counts) n += static_cast<double>(c);
  for (std::size_t i = 0; i < counts.size(); ++i) {
    const double expected = n * p[i];
    statistic += (static_cast<double>(counts[i]) - expected) * (static_cast<double>(counts[i]) - expected) / expected;
  }
  return statistic;
}

// softmax(logits / temperature) of one row over the `k` largest (all with k = 0), in double.
std::vector<double> expected_probabilities(const Tensor& logits, std::int64_t row, double temperature,
                                           std::int64_t k = 0) {
  std::vector<float> values = select(logits, 0, row).to_vector<float>();
  std::vector<std::int64_t> order = ranked(logits, row);
  std::vector<double> p(values.size(), 0);
  double top = values[order[0]] / temperature, total = 0;
  const std::size_t candidates = k > 0 ? static_cast<std::size_t>(k) : values.size();
  for (std::size_t j = 0; j < candidates; ++j) total += p[order[j]] = std::exp(values[order[j]] / temperature - top);
  for (double& q : p) q /= total;
  return p;
}

// Many draws with a fixed seed: the frequencies fit softmax(logits / T) (chi-square with
// 6 degrees of freedom below 25, p ~ 3e-4 for a correct sampler; the test is deterministic)
// and do not fit softmax(logits) when T != 1 (above 100: the temperature is applied).
TEST(TokenSampler, TemperatureFrequenciesMatchSoftmax) {
  const std::int64_t batch = 2, draws = 20000;
  FedSampler s = fed_sampler(batch, 1.5);
  Generator gen(3);
  std::vector<std::int64_t> out(batch);
  for (double temperature : {0.5, 1.0, 2.0}) {
    SCOPED_TRACE("temperature " + std::to_string(temperature));
    std::vector<std::vector<std::int64_t>> counts(batch, std::vector<std::int64_t>(kVocab, 0));
    for (std::int64_t i = 0; i < draws; ++i) {
      s.sampler->draw(out, {.temperature = temperature}, gen);
      for (std::int64_t b = 0; b < batch; ++b) ++counts[b][out[b]];
    }
    for (std::int64_t b = 0; b < batch; ++b) {
      std::vector<double> p = expected_probabilities(s.sampler->logits(), b, temperature);
      for (double q : p) ASSERT_GT(q * draws, 5);  // chi-square needs every cell populated
      EXPECT_LT(chi_square(counts[b], p), 25) << "stream " << b;
      if (temperature != 1.0) {
        EXPECT_GT(chi_square(counts[b], expected_probabilities(s.sampler->logits(), b, 1.0)), 100) << "stream " << b;
      }
    }
  }
  // top_k = 3 with a temperature: the renormalised softmax of the three largest.
  std::vector<std::int64_t> counts(kVocab, 0);
  for (std::int64_t i = 0; i < draws; ++i) {
    s.sampler->draw(out, {.temperature = 1.5, .top_k = 3}, gen);
    ++counts[out[0]];
  }
  std::vector<double> p = expected_probabilities(s.sampler->logits(), 0, 1.5, 3);
  std::vector<std::int64_t> kept;
  std::vector<double> kept_p;
  for (std::int64_t i = 0; i < kVocab; ++i) {
    if (p[i] > 0) kept.push_back(counts[i]), kept_p.push_back(p[i]);
    else EXPECT_EQ(counts[i], 0);
  }
  ASSERT_EQ(kept.size(), 3u);
  EXPECT_LT(chi_square(kept, kept_p), 20);  // 2 degrees of freedom: p ~ 5e-5
}

TEST(TokenSampler, SameSeedSameDraws) {
  const std::int64_t batch = 3;
  FedSampler s = fed_sampler(batch, 1);
  auto draw_many = [&](std::uint64_t seed) {
    Generator gen(seed);
    std::vector<std::int64_t> all, out(batch);
    for (int i = 0; i < 100; ++i) {
      s.sampler->draw(out, {.temperature = 1.3, .top_k = i % 2 ? 4 : 0}, gen);
      all.insert(all.end(), out.begin(), out.end());
    }
    return all;
  };
  EXPECT_EQ(draw_many(42), draw_many(42));
  EXPECT_NE(draw_many(42), draw_many(43));
  // One generator draw per stream and call: the generator's position is predictable.
  Generator gen(5);
  std::vector<std::int64_t> out(batch);
  s.sampler->draw(out, {}, gen);
  EXPECT_EQ(gen.offset(), static_cast<std::uint64_t>(batch));
}

TEST(TokenSampler, Errors) {
  manual_seed(14);
  nn::LanguageModel model(small_config("lstm"));
  expect_error([&] { nn::TokenSampler(model, 0); }, {"batch must be at least 1", "got 0"});
  nn::TokenSampler sampler(model, 2);
  std::vector<std::int64_t> out(2);
  Generator gen(1);
  expect_error([&] { sampler.draw(out, {}, gen); }, {"feed() a token first"});
  expect_error([&] { sampler.feed(std::vector<std::int64_t>{1, kVocab}); },
               {"token 7 is outside the vocabulary [0, 7)"});
  expect_error([&] { sampler.feed(std::vector<std::int64_t>{-1, 0}); }, {"token -1"});
  expect_error([&] { sampler.feed(std::vector<std::int64_t>{1}); }, {"expected 2 tokens, got 1"});
  sampler.feed(std::vector<std::int64_t>{1, 2});
  expect_error([&] { sampler.draw(out, {.temperature = 0}, gen); }, {"temperature must be greater than 0", "got 0"});
  expect_error([&] { sampler.draw(out, {.temperature = -1}, gen); }, {"temperature", "got -1"});
  expect_error([&] { sampler.draw(out, {.temperature = NAN}, gen); }, {"temperature"});
  std::vector<std::int64_t> small(1);
  expect_error([&] { sampler.draw(small, {}, gen); }, {"expected room for 2 tokens, got 1"});
  sampler.draw(out, {}, gen);
  sampler.reset();
  expect_error([&] { sampler.draw(out, {}, gen); }, {"feed() a token first"});

  model.to(DType::Float64);
  expect_error([&] { nn::TokenSampler(model, 1); }, {"must be float32", "float64"});
}

// ------------------------------------------------------------------ model files

data::Vocab test_vocab() { return data::Vocab::from_tokens({"a", "é", "唐", "\n", " ", "\"", "<unk>"}); }

void expect_same_tensors(const nn::Module& a, const nn::Module& b) {
  TensorMap sa = a.state_dict(), sb = b.state_dict();
  ASSERT_EQ(names_of(a.named_parameters()), names_of(b.named_parameters()));
  for (const auto& [name, tensor] : sa) {
    SCOPED_TRACE(name);
    expect_close(sb.at(name), tensor, 0);
  }
}

TEST(ModelFile, ConfigJsonRoundTrip) {
  nn::LanguageModelConfig config{.cell = "lstm", .layers = 3, .hidden = 17, .embed = 0, .vocab_size = 9,
                             .dropout = 0.25, .peephole = true};
  const std::string json = train::config_to_json(config, data::Vocab::from_tokens({"a"}, data::TokenMode::Char, true));
  EXPECT_EQ(json, R"({"tokens":"char","lowercase":true,"split_punctuation":false,"cell":"lstm","layers":3,)"
                  R"("hidden":17,"embed":0,"vocab_size":9,"dropout":0.25,"peephole":true,"tie_weights":false})");
  nn::LanguageModelConfig back = train::config_from_json(json, "x");
  EXPECT_EQ(back.cell, "lstm");
  EXPECT_EQ(back.layers, 3);
  EXPECT_EQ(back.hidden, 17);
  EXPECT_EQ(back.embed, 0);
  EXPECT_EQ(back.vocab_size, 9);
  EXPECT_EQ(back.dropout, 0.25);
  EXPECT_TRUE(back.peephole);
  // Unknown keys are ignored; an integral dropout is a number; tie_weights, added with word
  // models, may be missing.
  back = train::config_from_json(
      R"({"cell":"gru","layers":1,"hidden":2,"embed":3,"vocab_size":4,"dropout":0,"peephole":false,"note":"x"})", "x");
  EXPECT_EQ(back.cell, "gru");
  EXPECT_EQ(back.dropout, 0);

  EXPECT_EQ(train::model_metadata(small_config("gru"), test_vocab()).size(), 2u);
  expect_error([] { train::model_metadata({.cell = "gru", .vocab_size = 9}, test_vocab()); },
               {"vocab_size 9", "vocabulary's size 7"});
}

TEST(ModelFile, SaveLoadRoundTrip) {
  TempDir dir;
  const data::Vocab vocab = test_vocab();
  nn::LanguageModelConfig config = small_config("lstm", 4, true);
  config.dropout = 0.25;
  nn::LanguageModelConfig adaptive = small_config("gru");
  adaptive.adaptive_softmax = {2};
  for (const nn::LanguageModelConfig& c : {config, small_config("gru", 0), adaptive}) {
    SCOPED_TRACE(describe(c));
    manual_seed(15);
    nn::LanguageModel model(c);
    const std::string path = dir.file(c.cell + ".safetensors");
    train::save_language_model(path, model, vocab, {{"note", "written by the test"}});
    EXPECT_THAT(dir.entries(), testing::Contains(c.cell + ".safetensors"));

    train::LoadedLanguageModel loaded = train::load_language_model(path);
    ASSERT_NE(loaded.model, nullptr);
    EXPECT_FALSE(loaded.model->is_training());
    const nn::LanguageModelConfig& back = loaded.model->config;
    EXPECT_EQ(back.cell, c.cell);
    EXPECT_EQ(back.layers, c.layers);
    EXPECT_EQ(back.hidden, c.hidden);
    EXPECT_EQ(back.embed, c.embed);
    EXPECT_EQ(back.vocab_size, c.vocab_size);
    EXPECT_EQ(back.dropout, c.dropout);
    EXPECT_EQ(back.peephole, c.peephole);
    EXPECT_EQ(back.adaptive_softmax, c.adaptive_softmax);
    EXPECT_EQ(loaded.vocab.tokens(), vocab.tokens());
    EXPECT_TRUE(loaded.vocab.has_unknown());
    EXPECT_EQ(loaded.vocab.find(U'唐'), 2);
    EXPECT_EQ(loaded.vocab.find(U'z'), 6);  // <unk>
    EXPECT_EQ(loaded.metadata.at("note"), "written by the test");
    EXPECT_EQ(loaded.metadata.at(train::kConfigKey), train::config_to_json(c, vocab));
    EXPECT_EQ(loaded.metadata.at(train::kVocabKey), "[\"a\",\"é\",\"唐\",\"\\n\",\" \",\"\\\"\",\"<unk>\"]");
    expect_same_tensors(model, *loaded.model);

    // Exactly the model's tensors, float32, under PyTorch's names.
    io::SafetensorsFile file = io::load_safetensors(path);
    TensorMap state = model.state_dict();
    EXPECT_EQ(file.tensors.size(), state.size());
    for (const auto& [name, tensor] : file.tensors) {
      EXPECT_EQ(state.count(name), 1u) << name;
      EXPECT_EQ(tensor.dtype(), DType::Float32) << name;
    }
  }
}

TEST(ModelFile, CheckpointsAndFloat64FilesLoad) {
  TempDir dir;
  const data::Vocab vocab = test_vocab();
  manual_seed(16);
  nn::LanguageModel model(small_config("gru"));
  optim::Adam adam(model.parameters(), {.lr = 0.01});
  Tensor loss = sum(model.forward(random_tokens(4, 2, 1)));
  loss.backward();
  adam.step();
  Generator gen(9);
  const std::string checkpoint = dir.file("checkpoint.safetensors");
  train::save_checkpoint(checkpoint, {.model = &model, .optimizer = &adam, .generator = &gen, .step = 3},
                         train::model_metadata(model.config, vocab));
  io::SafetensorsFile file = io::load_safetensors(checkpoint);
  EXPECT_EQ(file.tensors.count("train/step"), 1u);
  EXPECT_GT(file.tensors.size(), model.state_dict().size() + 2);  // optimizer state too
  train::LoadedLanguageModel loaded = train::load_language_model(checkpoint);
  expect_same_tensors(model, *loaded.model);
  EXPECT_EQ(loaded.vocab.tokens(), vocab.tokens());

  // A float64 file (as a PyTorch double model would write) loads as float32.
  TensorMap doubles;
  for (const auto& [name, tensor] : model.state_dict()) doubles[name] = to_dtype(tensor, DType::Float64);
  const std::string f64 = dir.file("f64.safetensors");
  io::save_safetensors(f64, doubles, train::model_metadata(model.config, vocab));
  loaded = train::load_language_model(f64);
  for (const Tensor& p : loaded.model->parameters()) EXPECT_EQ(p.dtype(), DType::Float32);
  expect_same_tensors(model, *loaded.model);
}

// A safetensors file from its header text and data bytes, as written by hand.
void write_raw(const std::string& path, const std::string& header, const std::string& data) {
  std::ofstream out(path, std::ios::binary);
  const std::uint64_t length = header.size();
  char bytes[8];
  for (int i = 0; i < 8; ++i) bytes[i] = static_cast<char>((length >> (8 * i)) & 0xff);
  out.write(bytes, 8);
  out << header << data;
}

std::string read_bytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Every way a model file can be wrong gives an Error naming the file and the problem.
TEST(ModelFile, LoadErrorsNameTheFile) {
  TempDir dir;
  const data::Vocab vocab = test_vocab();
  manual_seed(17);
  nn::LanguageModel model(small_config("lstm"));
  const TensorMap state = model.state_dict();
  const std::map<std::string, std::string> metadata = train::model_metadata(model.config, vocab);
  const std::string path = dir.file("model.safetensors");
  auto write = [&](const TensorMap& tensors, const std::map<std::string, std::string>& meta) {
    io::save_safetensors(path, tensors, meta);
  };
  auto load = [&] { train::load_language_model(path); };

  expect_error([&] { train::load_language_model(dir.file("missing.safetensors")); },
               {"cannot read", dir.file("missing.safetensors")});

  write(state, metadata);
  const std::string good = read_bytes(path);
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << good.substr(0, good.size() / 2);
  }
  expect_error(load, {path, "past the end of the data buffer"});
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << good.substr(0, 5);
  }
  expect_error(load, {path, "too short"});
  write_raw(path, R"({"head.bias":{"dtype":"F32","shape":[7],"data_offsets":[0,28]}})", std::string(8, '\0'));
  expect_error(load, {path, "head.bias", "data_offsets [0, 28] run past the end of the data buffer (8 bytes)"});

  write(state, {});
  expect_error(load, {path, "not a recur language model", "recur.config"});
  write(state, {{train::kConfigKey, metadata.at(train::kConfigKey)}});
  expect_error(load, {path, "recur.vocab"});
  write(state, {{train::kConfigKey, "{\"cell\": \"lstm\","}, {train::kVocabKey, metadata.at(train::kVocabKey)}});
  expect_error(load, {path, "recur.config", "not valid JSON"});
  write(state, {{train::kConfigKey, "[1, 2]"}, {train::kVocabKey, metadata.at(train::kVocabKey)}});
  expect_error(load, {path, "recur.config", "JSON object"});

  const nlohmann::json config = nlohmann::json::parse(metadata.at(train::kConfigKey));
  for (const char* field : {"cell", "layers", "hidden", "embed", "vocab_size", "dropout", "peephole"}) {
    SCOPED_TRACE(field);
    nlohmann::json missing = config;
    missing.erase(field);
    write(state, {{train::kConfigKey, missing.dump()}, {train::kVocabKey, metadata.at(train::kVocabKey)}});
    expect_error(load, {path, "recur.config", std::string("lacks \"") + field + "\""});
    nlohmann::json mistyped = config;
    mistyped[field] = field == std::string("cell") ? nlohmann::json(3) : nlohmann::json("2");
    write(state, {{train::kConfigKey, mistyped.dump()}, {train::kVocabKey, metadata.at(train::kVocabKey)}});
    expect_error(load, {path, std::string("field \"") + field + "\" has the wrong type"});
  }
  nlohmann::json fractional = config;
  fractional["layers"] = 1.5;
  write(state, {{train::kConfigKey, fractional.dump()}, {train::kVocabKey, metadata.at(train::kVocabKey)}});
  expect_error(load, {path, "\"layers\" has the wrong type: 1.5"});
  nlohmann::json invalid = config;
  invalid["hidden"] = 0;
  write(state, {{train::kConfigKey, invalid.dump()}, {train::kVocabKey, metadata.at(train::kVocabKey)}});
  expect_error(load, {path, "recur.config", "hidden size must be at least 1"});

  auto with_vocab = [&](const std::string& vocab_json) {
    write(state, {{train::kConfigKey, metadata.at(train::kConfigKey)}, {train::kVocabKey, vocab_json}});
  };
  with_vocab(R"(["a","b","c","d","e","f"])");
  expect_error(load, {path, "the vocabulary has 6 tokens but the configuration says vocab_size 7"});
  with_vocab(R"({"a": 0})");
  expect_error(load, {path, "recur.vocab", "JSON array"});
  with_vocab(R"(["a","b","c","d","e","f",7])");
  expect_error(load, {path, "recur.vocab", "non-string: 7"});
  with_vocab(R"(["a","b","c","d","e","f","gh"])");
  expect_error(load, {path, "recur.vocab"});
  with_vocab(R"(["a","b","c","d","e","f")");
  expect_error(load, {path, "recur.vocab", "not valid JSON"});

  TensorMap missing = state;
  missing.erase("head.bias");
  write(missing, metadata);
  expect_error(load, {path, "head.bias"});
  TensorMap misshapen = state;
  misshapen["rnn.weight_hh_l1"] = zeros({20, 6});
  write(misshapen, metadata);
  expect_error(load, {path, "rnn.weight_hh_l1", "[20, 6]"});
  TensorMap unexpected = state;
  unexpected["extra.weight"] = zeros({2});
  write(unexpected, metadata);
  expect_error(load, {path, "extra.weight"});
}

}  // namespace
