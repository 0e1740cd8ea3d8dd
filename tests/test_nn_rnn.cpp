// nn::RNN, LSTM, GRU, MGU and their cells: PyTorch's parameter names, shapes and init
// bounds, gradcheck of stacked bidirectional modules with lengths and dropout, batch_first,
// states, and the cells against the layer op.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;

namespace {

Tensor rand(const Shape& shape, std::uint64_t seed, DType dtype = DType::Float64) {
  Generator gen(seed);
  return uniform(shape, -1, 1, dtype, &gen);
}

TEST(NnRnn, NamesShapesAndInitAsPyTorch) {
  nn::LSTM lstm(3, 4, {.num_layers = 2, .bidirectional = true});
  EXPECT_THAT(parameter_names(lstm),
              testing::ElementsAre("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0", "weight_ih_l0_reverse",
                                   "weight_hh_l0_reverse", "bias_ih_l0_reverse", "bias_hh_l0_reverse", "weight_ih_l1",
                                   "weight_hh_l1", "bias_ih_l1", "bias_hh_l1", "weight_ih_l1_reverse",
                                   "weight_hh_l1_reverse", "bias_ih_l1_reverse", "bias_hh_l1_reverse"));
  TensorMap state = lstm.state_dict();
  EXPECT_EQ(state.at("weight_ih_l0").shape(), Shape({16, 3}));
  EXPECT_EQ(state.at("weight_hh_l0_reverse").shape(), Shape({16, 4}));
  EXPECT_EQ(state.at("weight_ih_l1").shape(), Shape({16, 8}));  // both directions of layer 0 in
  EXPECT_EQ(state.at("bias_hh_l1_reverse").shape(), Shape({16}));
  for (const Tensor& p : lstm.parameters()) {
    EXPECT_LE(max(abs(p)).item(), 0.5);  // U(-1/sqrt(4), 1/sqrt(4))
    EXPECT_GT(max(abs(p)).item(), 0.2);
  }

  EXPECT_EQ(nn::GRU(5, 6).state_dict().at("weight_hh_l0").shape(), Shape({18, 6}));
  EXPECT_EQ(nn::MGU(5, 6).state_dict().at("weight_ih_l0").shape(), Shape({12, 5}));
  EXPECT_EQ(nn::RNN(5, 6, {.nonlinearity = nn::Nonlinearity::Relu}).cell, RnnCell::RnnRelu);
  EXPECT_THAT(parameter_names(nn::RNN(5, 6, {.bias = false})), testing::ElementsAre("weight_ih_l0", "weight_hh_l0"));
  nn::LSTM peep(5, 6, {.peephole = true});
  EXPECT_THAT(parameter_names(peep), testing::ElementsAre("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0",
                                                   "weight_peephole_l0"));
  EXPECT_EQ(peep.state_dict().at("weight_peephole_l0").shape(), Shape({3, 6}));
  EXPECT_THAT(parameter_names(nn::GRUCell(5, 6)), testing::ElementsAre("weight_ih", "weight_hh", "bias_ih", "bias_hh"));
  EXPECT_EQ(nn::LSTMCell(5, 6).state_dict().at("weight_ih").shape(), Shape({24, 5}));
  EXPECT_EQ(lstm.str(), "LSTM(3, 4, num_layers=2, bidirectional=true)");
}

TEST(NnRnn, SeededInitIsReproducible) {
  manual_seed(7);
  nn::GRU a(3, 4, {.num_layers = 2});
  manual_seed(7);
  nn::GRU b(3, 4, {.num_layers = 2});
  for (std::size_t i = 0; i < a.parameters().size(); ++i) expect_close(a.parameters()[i], b.parameters()[i], 0);
}

// A 2-layer bidirectional module with lengths, initial states and a dropout mask fixed by
// reseeding: gradients of the output and both final states in every parameter, the input
// and the states.
template <class M>
void gradcheck_module(nn::RNNOptions options, bool lstm) {
  options.num_layers = 2, options.bidirectional = true;
  auto m = std::make_shared<M>(3, 2, options);
  m->to(DType::Float64);
  const std::int64_t steps = 3, batch = 3;
  Tensor x = rand(options.batch_first ? Shape{batch, steps, 3} : Shape{steps, batch, 3}, 1);
  Tensor h0 = rand({4, batch, 2}, 2), c0 = rand({4, batch, 2}, 3);
  Tensor lengths = from_vector(std::vector<std::int64_t>{2, 3, 1}, {3});
  std::vector<Tensor> inputs = {x, h0};
  if (lstm) inputs.push_back(c0);
  for (const Tensor& t : inputs) t.set_requires_grad();
  for (const Tensor& p : m->parameters()) inputs.push_back(p);
  expect_gradcheck(
      [&](const std::vector<Tensor>&) {
        manual_seed(11);  // the same dropout mask at every evaluation
        nn::RNNOutput r = m->forward(x, {h0, lstm ? c0 : Tensor()}, lengths);
        std::vector<Tensor> parts = {reshape(r.output, {-1}), reshape(r.h_n, {-1})};
        if (lstm) parts.push_back(reshape(r.c_n, {-1}));
        return cat(parts, 0);
      },
      inputs);
}

TEST(NnRnn, GradcheckStackedBidirectionalWithLengths) {
  gradcheck_module<nn::LSTM>({.peephole = true}, true);
  gradcheck_module<nn::GRU>({.batch_first = true}, false);
  gradcheck_module<nn::MGU>({.dropout = 0.3}, false);
  gradcheck_module<nn::RNN>({.dropout = 0.3}, false);
}

TEST(NnRnn, BatchFirstEqualsTransposedInput) {
  manual_seed(3);
  nn::LSTM a(3, 4, {.num_layers = 2, .bidirectional = true});
  nn::LSTM b(3, 4, {.num_layers = 2, .batch_first = true, .bidirectional = true});
  b.load_state_dict(a.state_dict());
  Tensor x = rand({5, 2, 3}, 4, DType::Float32);
  Tensor lengths = from_vector(std::vector<std::int64_t>{5, 3}, {2});
  nn::RNNOutput ra = a.forward(x, {}, lengths);
  nn::RNNOutput rb = b.forward(transpose(x, 0, 1), {}, lengths);
  EXPECT_EQ(rb.output.shape(), Shape({2, 5, 8}));
  expect_close(transpose(rb.output, 0, 1), ra.output, 0);
  expect_close(rb.h_n, ra.h_n, 0);
  expect_close(rb.c_n, ra.c_n, 0);
  EXPECT_EQ(ra.h_n.shape(), Shape({4, 2, 4}));
}

// The module's stacking and directions equal rnn_layer calls made by hand.
TEST(NnRnn, ForwardEqualsLayerCalls) {
  nn::GRU gru(3, 4, {.num_layers = 2, .bidirectional = true});
  Tensor x = rand({5, 2, 3}, 4, DType::Float32);
  nn::RNNOutput r = gru.forward(x, {});
  Tensor l0 = cat({rnn_layer(RnnCell::Gru, x, gru.layer_weights(0, 0)).output,
                   rnn_layer(RnnCell::Gru, x, gru.layer_weights(0, 1), {}, {}, {}, true).output},
                  2);
  RnnLayerOutput back = rnn_layer(RnnCell::Gru, l0, gru.layer_weights(1, 1), {}, {}, {}, true);
  expect_close(narrow(r.output, 2, 4, 4), back.output, 0);
  expect_close(select(r.h_n, 0, 3), back.h_n, 0);
}

// Given layer 0's input projections in place of its input, every module gives the same outputs
// and states: one direction and two, batch_first or not, with lengths and initial states.
template <class M>
void expect_projected_equals_forward(nn::RNNOptions options, bool lstm) {
  manual_seed(6);
  M m(3, 4, options);
  m.to(DType::Float64);
  const std::int64_t steps = 5, batch = 3, dirs = options.bidirectional ? 2 : 1;
  Tensor x = rand(options.batch_first ? Shape{batch, steps, 3} : Shape{steps, batch, 3}, 1);
  nn::RNNState state{rand({options.num_layers * dirs, batch, 4}, 2),
                     lstm ? rand({options.num_layers * dirs, batch, 4}, 3) : Tensor()};
  Tensor lengths = from_vector(std::vector<std::int64_t>{4, 5, 2}, {3});
  NoGradGuard no_grad;
  nn::RNNOutput want = m.forward(x, state, lengths);
  // The input's distinct rows: every row of x, then the rows in x's order.
  const std::int64_t n = steps * batch;
  Tensor rows = reshape(arange(n, DType::Int64), options.batch_first ? Shape{batch, steps} : Shape{steps, batch});
  nn::RNNOutput got = m.forward_projected(m.project(reshape(x, {n, 3}), rows), state, lengths);
  expect_close(got.output, want.output, 1e-13);
  expect_close(got.h_n, want.h_n, 1e-13);
  if (lstm) expect_close(got.c_n, want.c_n, 1e-13);
}

TEST(NnRnn, ForwardProjectedEqualsForward) {
  expect_projected_equals_forward<nn::LSTM>({.num_layers = 2, .bidirectional = true}, true);
  expect_projected_equals_forward<nn::LSTM>({.batch_first = true, .peephole = true}, true);
  expect_projected_equals_forward<nn::GRU>({.num_layers = 2, .batch_first = true, .bidirectional = true}, false);
  expect_projected_equals_forward<nn::MGU>({}, false);
  expect_projected_equals_forward<nn::RNN>({.bidirectional = true}, false);
  nn::GRU gru(3, 4, {.bidirectional = true});
  const Tensor rows = reshape(arange(10, DType::Int64), {5, 2});
  EXPECT_EQ(gru.project(rand({10, 3}, 1, DType::Float32), rows).table.shape(), Shape({10, 24}));
  NoGradGuard no_grad;
  expect_error([&] { gru.forward_projected({rand({10, 12}, 1, DType::Float32), rows}, {}); },
               {"GRU: the projections' table must be (rows, 24)", "[10, 12]"});
  expect_error([&] { gru.forward_projected({rand({10, 24}, 1, DType::Float32), Tensor()}, {}); },
               {"GRU: projection rows must be (steps, batch)", "undefined"});
}

// forward_tokens: in inference each distinct token encoded once (the encoder sees 4 ids, not
// 10), the outputs of forward(encode(tokens)); in training mode the ordinary path.
TEST(NnRnn, ForwardTokensEncodesEachDistinctTokenOnce) {
  manual_seed(8);
  nn::GRU gru(3, 4, {.bidirectional = true});
  gru.to(DType::Float64);
  const Tensor table = rand({6, 3}, 5);
  std::int64_t encoded = 0;
  const auto encode = [&](const Tensor& ids) {
    encoded = ids.numel();
    return embedding(table, ids);
  };
  const Tensor tokens = from_vector(std::vector<std::int64_t>{1, 4, 1, 1, 5, 4, 0, 1, 5, 0}, {5, 2});
  const Tensor lengths = from_vector(std::vector<std::int64_t>{5, 3}, {2});
  NoGradGuard no_grad;
  const nn::RNNOutput want = gru.forward(embedding(table, tokens), {}, lengths);
  EXPECT_EQ(gru.forward_tokens(tokens, encode, {}, lengths).output.shape(), want.output.shape());
  EXPECT_EQ(encoded, 10);  // training mode: every position
  gru.eval();
  const nn::RNNOutput got = gru.forward_tokens(tokens, encode, {}, lengths);
  EXPECT_EQ(encoded, 4);
  expect_close(got.output, want.output, 1e-13);
  expect_close(got.h_n, want.h_n, 1e-13);
}

TEST(NnRnn, DropoutOnlyInTraining) {
  nn::LSTM lstm(3, 4, {.num_layers = 2, .dropout = 0.5});
  Tensor x = rand({4, 2, 3}, 4, DType::Float32);
  manual_seed(1);
  Tensor train1 = lstm.forward(x);
  manual_seed(1);
  Tensor train2 = lstm.forward(x);
  manual_seed(2);
  Tensor train3 = lstm.forward(x);
  lstm.eval();
  Tensor eval1 = lstm.forward(x), eval2 = lstm.forward(x);
  expect_close(train1, train2, 0);
  expect_close(eval1, eval2, 0);
  EXPECT_GT(max(abs(train1 - train3)).item(), 1e-4);
  EXPECT_GT(max(abs(train1 - eval1)).item(), 1e-4);
}

TEST(NnRnn, CellsStepLikeTheLayer) {
  manual_seed(5);
  std::vector<std::shared_ptr<nn::RNNCellBase>> cells = {
      std::make_shared<nn::RNNCell>(3, 4), std::make_shared<nn::RNNCell>(3, 4, true, nn::Nonlinearity::Relu),
      std::make_shared<nn::LSTMCell>(3, 4), std::make_shared<nn::GRUCell>(3, 4), std::make_shared<nn::MGUCell>(3, 4)};
  Tensor x = rand({3, 2, 3}, 6, DType::Float32);
  for (const auto& cell : cells) {
    const bool lstm = cell->cell == RnnCell::Lstm;
    RnnLayerOutput want = rnn_layer(cell->cell, x, cell->cell_weights());
    nn::RNNState s;
    for (std::int64_t t = 0; t < 3; ++t) s = cell->forward(select(x, 0, t), s);
    expect_close(s.h, want.h_n, 1e-7);
    if (lstm) expect_close(s.c, want.c_n, 1e-7);
    // Generation without autograd: rnn_step_ on the cell's weights, in place.
    NoGradGuard no_grad;
    Tensor h = zeros({2, 4}), c = lstm ? zeros({2, 4}) : Tensor(), workspace;
    for (std::int64_t t = 0; t < 3; ++t) rnn_step_(cell->cell, contiguous(select(x, 0, t)), cell->cell_weights(), h, c, workspace);
    expect_close(h, want.h_n, 1e-6);
  }
}

TEST(NnRnn, Errors) {
  expect_error([] { nn::LSTM(0, 4); }, {"LSTM: input_size and hidden_size must be at least 1"});
  expect_error([] { nn::GRU(3, 4, {.num_layers = 0}); }, {"GRU: num_layers must be at least 1"});
  expect_error([] { nn::RNN(3, 4, {.dropout = 1}); }, {"RNN: dropout must lie in [0, 1)"});
  expect_error([] { nn::GRU(3, 4, {.peephole = true}); }, {"peephole connections are for LSTM only"});
  nn::LSTM lstm(3, 4, {.num_layers = 2});
  expect_error([&] { lstm.forward(zeros({5, 3})); }, {"LSTM: expected a 3-D input (steps, batch, 3)"});
  expect_error([&] { lstm.forward(zeros({5, 2, 4})); }, {"has 4 features, expected 3"});
  expect_error([&] { lstm.forward(zeros({5, 2, 3}), {zeros({1, 2, 4}), Tensor()}); },
               {"initial state must be (num_layers * num_directions 2, batch 2, hidden 4)"});
  nn::GRU gru(3, 4);
  expect_error([&] { gru.forward(zeros({5, 2, 3}), {Tensor(), zeros({1, 2, 4})}); }, {"GRU has none"});
  expect_error([] { nn::GRUCell(3, 4).forward(zeros({2, 4})); }, {"GRUCell: expected an input (batch, 3)"});
}

}  // namespace
