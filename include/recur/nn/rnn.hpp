// Recurrent layers: nn::RNN, nn::LSTM, nn::GRU, nn::MGU (stacked, bidirectional, variable
// length) and their single-step cells, with PyTorch's parameter names, shapes, gate orders
// and initialisation (torch/nn/modules/rnn.py). Each layer and direction runs as one fused
// op, recur::rnn_layer (see include/recur/ops.hpp for the cells' equations).
//
//   auto lstm = std::make_shared<nn::LSTM>(32, 128, nn::RNNOptions{.num_layers = 2});
//   nn::RNNOutput r = lstm->forward(x);                        // x (T, B, 32)
//   r = lstm->forward(next_x, {r.h_n.detach(), r.c_n.detach()});  // truncated BPTT
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "recur/core/random.hpp"
#include "recur/nn/module.hpp"
#include "recur/ops.hpp"

namespace recur::nn {

enum class Nonlinearity { Tanh, Relu };

struct RNNOptions {
  std::int64_t num_layers = 1;
  bool bias = true;            // bias_ih_l{k} and bias_hh_l{k}
  bool batch_first = false;    // input and output (B, T, features) instead of (T, B, features)
  double dropout = 0;          // on each layer's output but the last, in training mode only
  bool bidirectional = false;  // a reverse direction per layer (parameters suffixed _reverse)
  Nonlinearity nonlinearity = Nonlinearity::Tanh;  // nn::RNN only
  bool peephole = false;       // nn::LSTM only: weight_peephole_l{k} (3, H), rows i, f, o
};

// Initial or final states: h (num_layers * num_directions, B, H), layer-major (the reverse
// direction of layer k at index 2k+1), as PyTorch; c likewise, LSTM only. Undefined = zeros.
struct RNNState {
  Tensor h;
  Tensor c;
};

struct RNNOutput {
  Tensor output;  // (T, B, num_directions * H), or (B, T, ...) with batch_first; 0 past a length
  Tensor h_n;     // (num_layers * num_directions, B, H): each sequence's state after its last step
  Tensor c_n;     // LSTM only
};

// What the four sequence modules share. Parameters, per layer k and direction (suffix "" or
// "_reverse"), in this order: weight_ih_l{k} (G*H, I_k), weight_hh_l{k} (G*H, H), bias_ih_l{k},
// bias_hh_l{k} (G*H) when bias, weight_peephole_l{k} (3, H) for an LSTM with peepholes;
// I_0 = input_size, I_k = num_directions * H above. All start U(-1/sqrt(H), 1/sqrt(H)) from
// default_generator(), drawn in that order (PyTorch's), so manual_seed fixes them.
// Requires input_size, hidden_size, num_layers >= 1 and 0 <= dropout < 1.
class RNNBase : public Module {
 public:
  RNNBase(RnnCell cell, std::int64_t input_size, std::int64_t hidden_size, const RNNOptions& options);

  // input (T, B, input_size) (or (B, T, ...) with batch_first); lengths int64 (B) in [1, T],
  // or undefined for all T (see recur::rnn_layer). state.c only for LSTM.
  RNNOutput forward(const Tensor& input, const RNNState& state, const Tensor& lengths = Tensor());
  // The output sequence alone, from zero states (what Sequential calls).
  Tensor forward(const Tensor& input) override;
  // forward() for inference from the first layer's input projections, each distinct input
  // once (rnn_layer's RnnProjections; rows (B, T) if batch_first): equal to forward(input)
  // where project(distinct, rows) gives them, input[t][b] = distinct[rows[t][b]].
  RNNOutput forward_projected(const RnnProjections& projections, const RNNState& state,
                              const Tensor& lengths = Tensor());
  // The first layer's input projections of distinct (U, input_size), both directions side by
  // side, to be read at rows: {distinct W^T, rows}, W layer 0's weight_ih (stacked with
  // weight_ih_l0_reverse). Differentiable, though forward_projected is not.
  RnnProjections project(const Tensor& distinct, const Tensor& rows) const;
  // forward(encode(tokens), state, lengths) for int64 tokens (T, B) (batch_first: (B, T)),
  // encode mapping int64 ids of any shape to their inputs (shape + [input_size]). In inference
  // (grad mode off, eval mode) each distinct token is encoded and projected once
  // (forward_projected): a batch of text repeats its words.
  RNNOutput forward_tokens(const Tensor& tokens, const std::function<Tensor(const Tensor&)>& encode,
                           const RNNState& state = {}, const Tensor& lengths = Tensor());

  void reset_parameters();
  std::string extra_repr() const override;  // "32, 128, num_layers=2, bidirectional=true"

  std::int64_t num_directions() const { return options.bidirectional ? 2 : 1; }
  // The weights of layer k, direction d (0 forward, 1 reverse), as rnn_layer takes them.
  const RnnLayerWeights& layer_weights(std::int64_t layer, std::int64_t direction) const {
    return weights_[layer * num_directions() + direction];
  }

  const RnnCell cell;
  const std::int64_t input_size;
  const std::int64_t hidden_size;
  const RNNOptions options;

 private:
  RNNOutput run(const Tensor& input, const RnnProjections* projections, const RNNState& state, const Tensor& lengths);
  std::vector<RnnLayerWeights> weights_;  // layer-major, direction inner
};

class RNN : public RNNBase {
 public:
  RNN(std::int64_t input_size, std::int64_t hidden_size, const RNNOptions& options = {});
};

class LSTM : public RNNBase {
 public:
  LSTM(std::int64_t input_size, std::int64_t hidden_size, const RNNOptions& options = {});
};

class GRU : public RNNBase {
 public:
  GRU(std::int64_t input_size, std::int64_t hidden_size, const RNNOptions& options = {});
};

class MGU : public RNNBase {
 public:
  MGU(std::int64_t input_size, std::int64_t hidden_size, const RNNOptions& options = {});
};

// The cell a `--cell` name stands for ("lstm", "gru", "rnn_tanh", "rnn_relu", "mgu");
// throws recur::Error listing the valid names.
RnnCell parse_cell_name(const std::string& name);

// The stacked layer of `cell` (RNN with options.nonlinearity set from a rnn_tanh / rnn_relu
// cell, else LSTM, GRU or MGU), for code that picks the cell at run time (a --cell flag).
std::shared_ptr<RNNBase> make_rnn(RnnCell cell, std::int64_t input_size, std::int64_t hidden_size,
                                  RNNOptions options = {});

// ---- Single-step cells (torch.nn.RNNCell, LSTMCell, GRUCell, and MGUCell): parameters
// weight_ih (G*H, I), weight_hh (G*H, H), bias_ih, bias_hh (G*H) when bias, all
// U(-1/sqrt(H), 1/sqrt(H)). forward(input (B, I), state (B, H) each, undefined = zeros)
// returns the new state; differentiable. For generation without autograd, rnn_step_ on the
// same weights (cell_weights()) advances a state in place with no allocation.
class RNNCellBase : public Module {
 public:
  RNNCellBase(RnnCell cell, std::int64_t input_size, std::int64_t hidden_size, bool bias);

  RNNState forward(const Tensor& input, const RNNState& state);
  Tensor forward(const Tensor& input) override;  // h after one step from zeros

  void reset_parameters();
  std::string extra_repr() const override;  // "32, 128, bias=true"
  const RnnLayerWeights& cell_weights() const { return weights_; }

  const RnnCell cell;
  const std::int64_t input_size;
  const std::int64_t hidden_size;

 private:
  RnnLayerWeights weights_;
};

class RNNCell : public RNNCellBase {
 public:
  RNNCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true,
          Nonlinearity nonlinearity = Nonlinearity::Tanh);
};

class LSTMCell : public RNNCellBase {
 public:
  LSTMCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true);
};

class GRUCell : public RNNCellBase {
 public:
  GRUCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true);
};

class MGUCell : public RNNCellBase {
 public:
  MGUCell(std::int64_t input_size, std::int64_t hidden_size, bool bias = true);
};

}  // namespace recur::nn
