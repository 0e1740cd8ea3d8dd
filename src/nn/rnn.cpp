// Recurrent modules: stacking, directions, batch_first and dropout around recur::rnn_layer,
// which runs (and differentiates) each layer and direction as one fused op.
#include "recur/nn/rnn.hpp"

#include <array>
#include <cmath>
#include <optional>
#include <sstream>

#include "recur/autograd.hpp"
#include "recur/core/constant_weights.hpp"
#include "recur/nn/init.hpp"

namespace recur::nn {
namespace {

RnnCell rnn_cell(Nonlinearity nonlinearity) {
  return nonlinearity == Nonlinearity::Relu ? RnnCell::RnnRelu : RnnCell::RnnTanh;
}

std::string module_name(RnnCell cell) { return rnn_cell_info(cell).module; }

// An uninitialised float32 parameter on the parameter device.
Tensor new_weight(const Shape& shape) { return empty(shape, DType::Float32, parameter_device()); }

void check_sizes(const std::string& name, std::int64_t input_size, std::int64_t hidden_size) {
  RECUR_CHECK(input_size >= 1 && hidden_size >= 1,
              name << ": input_size and hidden_size must be at least 1, got " << input_size << " and " << hidden_size);
}

// The layer's slice of a (L*D, B, H) state, or undefined.
Tensor state_at(const Tensor& state, std::int64_t index) { return state.defined() ? select(state, 0, index) : Tensor(); }

}  // namespace

RNNBase::RNNBase(RnnCell cell, std::int64_t input_size, std::int64_t hidden_size, const RNNOptions& options)
    : cell(cell), input_size(input_size), hidden_size(hidden_size), options(options) {
  const std::string name = module_name(cell);
  check_sizes(name, input_size, hidden_size);
  RECUR_CHECK(options.num_layers >= 1, name << ": num_layers must be at least 1, got " << options.num_layers);
  RECUR_CHECK(options.dropout >= 0 && options.dropout < 1,
              name << ": dropout must lie in [0, 1), got " << options.dropout);
  RECUR_CHECK(!options.peephole || cell == RnnCell::Lstm, name << ": peephole connections are for LSTM only");
  const std::int64_t gates = rnn_gate_count(cell) * hidden_size;
  for (std::int64_t k = 0; k < options.num_layers; ++k)
    for (std::int64_t d = 0; d < num_directions(); ++d) {
      const std::string suffix = "_l" + std::to_string(k) + (d == 1 ? "_reverse" : "");
      const std::int64_t in = k == 0 ? input_size : num_directions() * hidden_size;
      RnnLayerWeights w;
      w.w_ih = register_parameter("weight_ih" + suffix, new_weight({gates, in}));
      w.w_hh = register_parameter("weight_hh" + suffix, new_weight({gates, hidden_size}));
      if (options.bias) {
        w.b_ih = register_parameter("bias_ih" + suffix, new_weight({gates}));
        w.b_hh = register_parameter("bias_hh" + suffix, new_weight({gates}));
      }
      if (options.peephole) w.peephole = register_parameter("weight_peephole" + suffix, new_weight({3, hidden_size}));
      weights_.push_back(w);
    }
  reset_parameters();
}

// PyTorch's RNNBase.reset_parameters: every parameter U(-1/sqrt(H), 1/sqrt(H)), in order.
void RNNBase::reset_parameters() {
  const double bound = 1 / std::sqrt(static_cast<double>(hidden_size));
  for (const Tensor& p : parameters(false)) init::uniform_(p, -bound, bound);
}

RNNOutput RNNBase::forward(const Tensor& input, const RNNState& state, const Tensor& lengths) {
  const std::string name = module_name(cell);
  RECUR_CHECK(input.defined() && input.dim() == 3,
              name << ": expected a 3-D input " << (options.batch_first ? "(batch, steps, " : "(steps, batch, ")
                   << input_size << "), got " << (input.defined() ? input.shape().str() : std::string("undefined")));
  RECUR_CHECK(input.size(2) == input_size,
              name << ": input of shape " << input.shape() << " has " << input.size(2) << " features, expected "
                   << input_size);
  return run(input, nullptr, state, lengths);
}

RNNOutput RNNBase::forward_projected(const RnnProjections& projections, const RNNState& state, const Tensor& lengths) {
  const std::int64_t width = num_directions() * rnn_gate_count(cell) * hidden_size;
  RECUR_CHECK(projections.table.defined() && projections.table.dim() == 2 && projections.table.size(1) == width,
              module_name(cell) << ": the projections' table must be (rows, " << width << "), got "
                                << (projections.table.defined() ? projections.table.shape().str()
                                                                : std::string("undefined")));
  RECUR_CHECK(projections.rows.defined() && projections.rows.dim() == 2,
              module_name(cell) << ": projection rows must be " << (options.batch_first ? "(batch, steps)" : "(steps, batch)")
                                << ", got " << (projections.rows.defined() ? projections.rows.shape().str()
                                                                           : std::string("undefined")));
  const RnnProjections time_major{projections.table,
                                  options.batch_first ? transpose(projections.rows, 0, 1) : projections.rows};
  // Layer 0's output stands in for the input from there on.
  return run(Tensor(), &time_major, state, lengths);
}

RnnProjections RNNBase::project(const Tensor& distinct, const Tensor& rows) const {
  const Tensor w = num_directions() == 1 ? weights_[0].w_ih : cat({weights_[0].w_ih, weights_[1].w_ih}, 0);
  // Two directions' weights joined here are no caller's constant weights: in inference they
  // are declared so for this product, which may then take the packed kernel (gemm.cpp).
  std::optional<ConstantWeightsGuard> constant;
  if (!is_grad_enabled()) constant.emplace(std::vector<Tensor>{w});
  return {matmul(distinct, transpose(w, 0, 1)), rows};
}

RNNOutput RNNBase::forward_tokens(const Tensor& tokens, const std::function<Tensor(const Tensor&)>& encode,
                                  const RNNState& state, const Tensor& lengths) {
  if (is_grad_enabled() || is_training()) return forward(encode(tokens), state, lengths);
  const auto [distinct, rows] = unique(tokens);
  return forward_projected(project(encode(distinct), rows), state, lengths);
}

// The layers over input (T, B, I) (batch_first: (B, T, I)), or layer 0 over time-major
// projections and the rest over its output.
RNNOutput RNNBase::run(const Tensor& input, const RnnProjections* projections, const RNNState& state,
                       const Tensor& lengths) {
  const std::string name = module_name(cell);
  RECUR_CHECK(!state.c.defined() || cell == RnnCell::Lstm, name << ": c is LSTM's cell state; " << name
                                                                << " has none");
  Tensor x = projections || !options.batch_first ? input : transpose(input, 0, 1);
  const std::int64_t batch = projections ? projections->rows.size(1) : x.size(1);
  const std::int64_t layers = options.num_layers, dirs = num_directions();
  for (const Tensor* s : {&state.h, &state.c})
    RECUR_CHECK(!s->defined() || (s->dim() == 3 && s->size(0) == layers * dirs && s->size(1) == batch &&
                                  s->size(2) == hidden_size),
                name << ": initial state must be (num_layers * num_directions " << layers * dirs << ", batch "
                     << batch << ", hidden " << hidden_size << "), got " << s->shape());
  RNNOutput result;
  std::vector<Tensor> h_n, c_n;
  for (std::int64_t k = 0; k < layers; ++k) {
    const std::int64_t first = k * dirs;
    std::array<RnnLayerWeights, 2> w{weights_[first], weights_[first + dirs - 1]};
    const std::array<Tensor, 2> h0{state_at(state.h, first), state_at(state.h, first + dirs - 1)};
    const std::array<Tensor, 2> c0{state_at(state.c, first), state_at(state.c, first + dirs - 1)};
    std::vector<RnnLayerOutput> layer;
    Tensor joined;  // both directions' outputs written side by side: no concatenation
    if (k == 0 && projections) {
      w[0].w_ih = w[1].w_ih = Tensor();
      if (dirs == 1) {
        layer = {rnn_layer(cell, *projections, w[0], h0[0], c0[0], lengths)};
      } else {
        const Tensor& table = projections->table;
        joined = empty({projections->rows.size(0), batch, 2 * hidden_size}, table.dtype(), table.device());
        const auto both = rnn_bidirectional_layer(cell, *projections, w, h0, c0, lengths, joined);
        layer.assign(both.begin(), both.end());
      }
    } else if (dirs == 1) {
      layer = {rnn_layer(cell, x, w[0], h0[0], c0[0], lengths)};
    } else {
      const auto both = rnn_bidirectional_layer(cell, x, w, h0, c0, lengths);
      layer.assign(both.begin(), both.end());
    }
    std::vector<Tensor> outputs;
    for (const RnnLayerOutput& r : layer) {
      outputs.push_back(r.output);
      h_n.push_back(r.h_n);
      if (r.c_n.defined()) c_n.push_back(r.c_n);
    }
    x = joined.defined() ? joined : dirs == 1 ? outputs[0] : cat(outputs, 2);
    if (k + 1 < layers && options.dropout > 0 && is_training()) x = dropout(x, options.dropout, true);
  }
  result.output = options.batch_first ? transpose(x, 0, 1) : x;
  result.h_n = stack(h_n, 0);
  if (!c_n.empty()) result.c_n = stack(c_n, 0);
  return result;
}

Tensor RNNBase::forward(const Tensor& input) { return forward(input, RNNState{}).output; }

std::string RNNBase::extra_repr() const {
  std::ostringstream os;
  os << input_size << ", " << hidden_size;
  if (options.num_layers != 1) os << ", num_layers=" << options.num_layers;
  if (cell == RnnCell::RnnRelu) os << ", nonlinearity=relu";
  if (!options.bias) os << ", bias=false";
  if (options.batch_first) os << ", batch_first=true";
  if (options.dropout > 0) os << ", dropout=" << options.dropout;
  if (options.bidirectional) os << ", bidirectional=true";
  if (options.peephole) os << ", peephole=true";
  return os.str();
}

RNN::RNN(std::int64_t input_size, std::int64_t hidden_size, const RNNOptions& options)
    : RNNBase(rnn_cell(options.nonlinearity), input_size, hidden_size, options) {}
LSTM::LSTM(std::int64_t input_size, std::int64_t hidden_size, const RNNOptions& options)
    : RNNBase(RnnCell::Lstm, input_size, hidden_size, options) {}
GRU::GRU(std::int64_t input_size, std::int64_t hidden_size, const RNNOptions& options)
    : RNNBase(RnnCell::Gru, input_size, hidden_size, options) {}
MGU::MGU(std::int64_t input_size, std::int64_t hidden_size, const RNNOptions& options)
    : RNNBase(RnnCell::Mgu, input_size, hidden_size, options) {}

RnnCell parse_cell_name(const std::string& name) {
  if (const std::optional<RnnCell> cell = rnn_cell_from_key(name)) return *cell;
  RECUR_FAIL("unknown cell '" << name << "' (expected " << rnn_cell_keys() << ")");
}

std::shared_ptr<RNNBase> make_rnn(RnnCell cell, std::int64_t input_size, std::int64_t hidden_size,
                                  RNNOptions options) {
  switch (cell) {
    case RnnCell::Lstm: return std::make_shared<LSTM>(input_size, hidden_size, options);
    case RnnCell::Gru: return std::make_shared<GRU>(input_size, hidden_size, options);
    case RnnCell::Mgu: return std::make_shared<MGU>(input_size, hidden_size, options);
    case RnnCell::RnnTanh: options.nonlinearity = Nonlinearity::Tanh; break;
    case RnnCell::RnnRelu: options.nonlinearity = Nonlinearity::Relu; break;
  }
  return std::make_shared<RNN>(input_size, hidden_size, options);
}

// ---- cells

RNNCellBase::RNNCellBase(RnnCell cell, std::int64_t input_size, std::int64_t hidden_size, bool bias)
    : cell(cell), input_size(input_size), hidden_size(hidden_size) {
  check_sizes(module_name(cell) + "Cell", input_size, hidden_size);
  const std::int64_t gates = rnn_gate_count(cell) * hidden_size;
  weights_.w_ih = register_parameter("weight_ih", new_weight({gates, input_size}));
  weights_.w_hh = register_parameter("weight_hh", new_weight({gates, hidden_size}));
  if (bias) {
    weights_.b_ih = register_parameter("bias_ih", new_weight({gates}));
    weights_.b_hh = register_parameter("bias_hh", new_weight({gates}));
  }
  reset_parameters();
}

void RNNCellBase::reset_parameters() {
  const double bound = 1 / std::sqrt(static_cast<double>(hidden_size));
  for (const Tensor& p : parameters(false)) init::uniform_(p, -bound, bound);
}

// One step is rnn_layer over a sequence of length 1.
RNNState RNNCellBase::forward(const Tensor& input, const RNNState& state) {
  const std::string name = module_name(cell) + "Cell";
  RECUR_CHECK(input.defined() && input.dim() == 2 && input.size(1) == input_size,
              name << ": expected an input (batch, " << input_size << "), got "
                   << (input.defined() ? input.shape().str() : std::string("undefined")));
  RnnLayerOutput r = rnn_layer(cell, unsqueeze(input, 0), weights_, state.h, state.c);
  return {r.h_n, r.c_n};
}

Tensor RNNCellBase::forward(const Tensor& input) { return forward(input, RNNState{}).h; }

std::string RNNCellBase::extra_repr() const {
  std::ostringstream os;
  os << input_size << ", " << hidden_size;
  if (!weights_.b_ih.defined()) os << ", bias=false";
  if (cell == RnnCell::RnnRelu) os << ", nonlinearity=relu";
  return os.str();
}

RNNCell::RNNCell(std::int64_t input_size, std::int64_t hidden_size, bool bias, Nonlinearity nonlinearity)
    : RNNCellBase(rnn_cell(nonlinearity), input_size, hidden_size, bias) {}
LSTMCell::LSTMCell(std::int64_t input_size, std::int64_t hidden_size, bool bias)
    : RNNCellBase(RnnCell::Lstm, input_size, hidden_size, bias) {}
GRUCell::GRUCell(std::int64_t input_size, std::int64_t hidden_size, bool bias)
    : RNNCellBase(RnnCell::Gru, input_size, hidden_size, bias) {}
MGUCell::MGUCell(std::int64_t input_size, std::int64_t hidden_size, bool bias)
    : RNNCellBase(RnnCell::Mgu, input_size, hidden_size, bias) {}

}  // namespace recur::nn
