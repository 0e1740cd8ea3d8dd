// nn::RNN (tanh, relu), nn::LSTM, nn::GRU and their cells against PyTorch: 1 and 3 layers,
// uni- and bidirectional, with and without per-sequence lengths; outputs, final states and
// every gradient (input, initial states, each parameter by its PyTorch name), float32 within
// 1e-5, from tests/fixtures/conformance_rnn.safetensors (tests/conformance/make_fixtures.py).
#include <gtest/gtest.h>

#include <memory>

#include "conformance/conformance.hpp"

using namespace recur;
using conformance::Case;

namespace {

// The fixture's parameters (every tensor not an input, output or gradient) as a state dict.
TensorMap parameters_of(const Case& c, const nn::Module& module) {
  TensorMap state;
  for (const auto& [name, value] : module.state_dict()) state[name] = c.at(name);
  return state;
}

std::shared_ptr<nn::RNNBase> make_layer(const Case& c) {
  const std::string mode = c.config.at("mode");
  nn::RNNOptions options{.num_layers = c.config.at("num_layers").get<std::int64_t>(),
                         .bias = c.config.value("bias", true),
                         .bidirectional = c.config.at("bidirectional").get<bool>()};
  const std::int64_t in = c.config.at("input_size"), hidden = c.config.at("hidden_size");
  if (mode == "lstm") return std::make_shared<nn::LSTM>(in, hidden, options);
  if (mode == "gru") return std::make_shared<nn::GRU>(in, hidden, options);
  options.nonlinearity = mode == "rnn_relu" ? nn::Nonlinearity::Relu : nn::Nonlinearity::Tanh;
  return std::make_shared<nn::RNN>(in, hidden, options);
}

std::shared_ptr<nn::RNNCellBase> make_cell(const Case& c) {
  const std::string mode = c.config.at("mode");
  const std::int64_t in = c.config.at("input_size"), hidden = c.config.at("hidden_size");
  const bool bias = c.config.value("bias", true);
  if (mode == "lstm") return std::make_shared<nn::LSTMCell>(in, hidden, bias);
  if (mode == "gru") return std::make_shared<nn::GRUCell>(in, hidden, bias);
  return std::make_shared<nn::RNNCell>(in, hidden, bias,
                                       mode == "rnn_relu" ? nn::Nonlinearity::Relu : nn::Nonlinearity::Tanh);
}

// sum(value * weight): backpropagating it sends `weight` into `value`.
Tensor probe(const Tensor& value, const Tensor& weight) { return sum(mul(value, weight)); }

void expect_parameter_gradients(const Case& c, const nn::Module& module) {
  for (const nn::NamedTensor& p : module.named_parameters())
    conformance::expect_matches(p.tensor.grad(), c.at("grad_" + p.name), c.tolerance(), "grad_" + p.name);
}

TEST(ConformanceRnn, LayersMatchPyTorch) {
  int checked = 0;
  for (const Case& c : conformance::load_cases("rnn")) {
    if (c.config.value("cell", false)) continue;
    SCOPED_TRACE(c.name);
    std::shared_ptr<nn::RNNBase> layer = make_layer(c);
    layer->load_state_dict(parameters_of(c, *layer));
    const bool lstm = c.config.at("mode") == "lstm";
    Tensor input = conformance::leaf(c.at("input")), h0 = conformance::leaf(c.at("h0"));
    Tensor c0 = lstm ? conformance::leaf(c.at("c0")) : Tensor();
    const Tensor lengths = c.has("lengths") ? c.at("lengths") : Tensor();

    nn::RNNOutput out = layer->forward(input, {h0, c0}, lengths);
    conformance::expect_matches(out.output, c.at("output"), c.tolerance(), "output");
    conformance::expect_matches(out.h_n, c.at("h_n"), c.tolerance(), "h_n");
    Tensor loss = add(probe(out.output, c.at("grad_output")), probe(out.h_n, c.at("grad_h_n")));
    if (lstm) {
      conformance::expect_matches(out.c_n, c.at("c_n"), c.tolerance(), "c_n");
      loss = add(loss, probe(out.c_n, c.at("grad_c_n")));
    }
    loss.backward();
    conformance::expect_matches(input.grad(), c.at("grad_input"), c.tolerance(), "grad_input");
    conformance::expect_matches(h0.grad(), c.at("grad_h0"), c.tolerance(), "grad_h0");
    if (lstm) conformance::expect_matches(c0.grad(), c.at("grad_c0"), c.tolerance(), "grad_c0");
    expect_parameter_gradients(c, *layer);
    ++checked;
  }
  EXPECT_GE(checked, 32);
}

TEST(ConformanceRnn, CellsMatchPyTorch) {
  int checked = 0;
  for (const Case& c : conformance::load_cases("rnn")) {
    if (!c.config.value("cell", false)) continue;
    SCOPED_TRACE(c.name);
    std::shared_ptr<nn::RNNCellBase> cell = make_cell(c);
    cell->load_state_dict(parameters_of(c, *cell));
    const bool lstm = c.config.at("mode") == "lstm";
    Tensor input = conformance::leaf(c.at("input")), h0 = conformance::leaf(c.at("h0"));
    Tensor c0 = lstm ? conformance::leaf(c.at("c0")) : Tensor();

    nn::RNNState next = cell->forward(input, {h0, c0});
    conformance::expect_matches(next.h, c.at("h1"), c.tolerance(), "h1");
    Tensor loss = probe(next.h, c.at("grad_h1"));
    if (lstm) {
      conformance::expect_matches(next.c, c.at("c1"), c.tolerance(), "c1");
      loss = add(loss, probe(next.c, c.at("grad_c1")));
    }
    loss.backward();
    conformance::expect_matches(input.grad(), c.at("grad_input"), c.tolerance(), "grad_input");
    conformance::expect_matches(h0.grad(), c.at("grad_h0"), c.tolerance(), "grad_h0");
    if (lstm) conformance::expect_matches(c0.grad(), c.at("grad_c0"), c.tolerance(), "grad_c0");
    expect_parameter_gradients(c, *cell);
    ++checked;
  }
  EXPECT_GE(checked, 6);
}

}  // namespace
