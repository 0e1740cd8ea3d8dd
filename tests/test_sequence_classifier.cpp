// nn::SequenceClassifier and the poolings: float64 gradient checks, padding that changes
// nothing, PyTorch's parameter names.
#include "test_helpers.hpp"

namespace recur {
namespace {

using nn::Pool;

Tensor lengths_of(std::vector<std::int64_t> lengths) {
  const auto n = static_cast<std::int64_t>(lengths.size());
  return from_vector(lengths, {n});
}

// Each pooling of a (T, B, 2H) output, by hand: the expected values of pool_steps.
TEST(PoolSteps, LastMeanMaxOverRealStepsOnly) {
  // T = 3, B = 2, features 2 (bidirectional, H = 1): out[t, b, :] = (10t + b, -(10t + b)).
  std::vector<double> values;
  for (int t = 0; t < 3; ++t)
    for (int b = 0; b < 2; ++b) values.push_back(10 * t + b), values.push_back(-(10 * t + b));
  Tensor out = f64(values, {3, 2, 2});
  Tensor lengths = lengths_of({2, 3});
  // last: forward feature at step L-1, reverse feature at step 0.
  expect_values(nn::pool_steps(out, lengths, Pool::Last, true), {10, 0, 21, -1});
  expect_values(nn::pool_steps(out, lengths, Pool::Last, false), {10, -10, 21, -21});
  // mean and max ignore sequence 0's step 2 (the recurrent layers leave 0 there; here it is
  // 20, which would show).
  expect_values(nn::pool_steps(out, lengths, Pool::Max, true), {10, 0, 21, -1});
  expect_error([&] { nn::pool_steps(out, lengths_of({2, 4}), Pool::Max, true); },
               {"length 4 of sequence 1 is outside [1, 3]"});
  Tensor zeroed = clone(out);
  fill_(select(select(zeroed, 0, 2), 0, 0), 0);
  expect_values(nn::pool_steps(zeroed, lengths, Pool::Mean, true), {5, -5, 11, -11});
}

TEST(PoolSteps, Gradcheck) {
  for (Pool pool : {Pool::Last, Pool::Mean, Pool::Max})
    for (bool bidirectional : {false, true}) {
      Tensor out = random_leaf({4, 3, 4}, 5);
      Tensor lengths = lengths_of({2, 4, 1});
      expect_gradcheck([&](const std::vector<Tensor>& in) { return nn::pool_steps(in[0], lengths, pool, bidirectional); },
                       {out});
    }
}

TEST(SequenceClassifier, PyTorchNamesAndShapes) {
  nn::SequenceClassifier model({.layers = 2, .hidden = 6, .embed = 5, .vocab_size = 11, .num_labels = 3});
  EXPECT_THAT(parameter_names(model),
              testing::ElementsAre("embed.weight", "rnn.weight_ih_l0", "rnn.weight_hh_l0", "rnn.bias_ih_l0",
                                   "rnn.bias_hh_l0", "rnn.weight_ih_l0_reverse", "rnn.weight_hh_l0_reverse",
                                   "rnn.bias_ih_l0_reverse", "rnn.bias_hh_l0_reverse", "rnn.weight_ih_l1",
                                   "rnn.weight_hh_l1", "rnn.bias_ih_l1", "rnn.bias_hh_l1", "rnn.weight_ih_l1_reverse",
                                   "rnn.weight_hh_l1_reverse", "rnn.bias_ih_l1_reverse", "rnn.bias_hh_l1_reverse",
                                   "head.weight", "head.bias"));
  EXPECT_EQ(model.state_dict().at("head.weight").shape(), Shape({3, 12}));
  EXPECT_EQ(model.state_dict().at("rnn.weight_ih_l1").shape(), Shape({24, 12}));
  expect_error([] { nn::SequenceClassifier({.vocab_size = 5, .num_labels = 1}); }, {"at least 2 labels"});
  expect_error([] { nn::SequenceClassifier({.cell = "tree", .vocab_size = 5, .num_labels = 2}); }, {"unknown cell"});
  EXPECT_EQ(nn::parse_pool("mean"), Pool::Mean);
  expect_error([] { nn::parse_pool("median"); }, {"unknown pooling 'median'", "last, mean or max"});
}

// A sequence's logits do not depend on its batch-mates or on the padding after it.
TEST(SequenceClassifier, PaddingAndBatchMatesChangeNothing) {
  for (Pool pool : {Pool::Last, Pool::Mean, Pool::Max})
    for (const char* cell : {"lstm", "gru"}) {
      manual_seed(3);
      nn::SequenceClassifier model({.cell = cell, .layers = 2, .hidden = 5, .embed = 4, .vocab_size = 9,
                                    .num_labels = 3, .pool = pool});
      model.to(DType::Float64);
      model.eval();
      NoGradGuard no_grad;
      // Column 0 is [3, 1, 4]; column 1 is longer, with other tokens.
      Tensor batch = from_vector(std::vector<std::int64_t>{3, 8, 1, 2, 4, 7, 0, 5, 6, 6}, {5, 2});
      Tensor logits = model.forward(batch, lengths_of({3, 5}));
      Tensor alone = model.forward(from_vector(std::vector<std::int64_t>{3, 1, 4}, {3, 1}));
      expect_close(select(logits, 0, 0), select(alone, 0, 0), 1e-12);
    }
}

// Without gradients the first layer's input comes from the batch's distinct words projected
// once (Embedding::forward_projected): the logits of the path that training takes.
TEST(SequenceClassifier, InferenceEqualsTheTrainingPath) {
  for (bool bidirectional : {false, true}) {
    manual_seed(5);
    nn::SequenceClassifier model({.cell = "lstm", .layers = 2, .hidden = 5, .embed = 4, .vocab_size = 9,
                                  .num_labels = 3, .bidirectional = bidirectional, .pool = Pool::Mean});
    model.to(DType::Float64);
    model.eval();
    Tensor batch = from_vector(std::vector<std::int64_t>{3, 8, 1, 3, 4, 3, 0, 8, 6, 6}, {5, 2});
    Tensor trained = model.forward(batch, lengths_of({3, 5}));  // grad mode: embedding, then the full layer
    ASSERT_TRUE(trained.requires_grad());
    NoGradGuard no_grad;
    expect_close(model.forward(batch, lengths_of({3, 5})), trained, 1e-13);
  }
}

TEST(SequenceClassifier, GradcheckThroughEveryParameter) {
  manual_seed(4);
  nn::SequenceClassifier model({.cell = "gru", .layers = 2, .hidden = 3, .embed = 2, .vocab_size = 6,
                                .num_labels = 2, .pool = Pool::Last, .dropout = 0.2});
  model.to(DType::Float64);
  Tensor inputs = from_vector(std::vector<std::int64_t>{1, 2, 3, 4, 5, 0}, {3, 2});
  Tensor lengths = lengths_of({3, 2});
  std::vector<Tensor> params = model.parameters();
  expect_gradcheck(
      [&](const std::vector<Tensor>&) {
        manual_seed(9);  // the same dropout masks at every evaluation
        return model.forward(inputs, lengths);
      },
      params);
}

}  // namespace
}  // namespace recur
