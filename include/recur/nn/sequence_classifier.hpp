// A recurrent sequence classifier (many-to-one: a whole sequence in, one label out), with
// PyTorch's names:
//
//   embed   : Embedding(V, E)
//   rnn     : RNN / LSTM / GRU / MGU   `layers` layers of `hidden` units, dropout between
//                                      them, bidirectional by choice
//   (pool)  : the top layer's outputs over each sequence's real steps -> one vector (pool_steps)
//   (dropout on the pooled vector, in training)
//   head    : Linear(D * H, C)         the labels' logits (D = 2 when bidirectional)
//
// Sequences of different lengths share a padded batch; each one's result is its own alone,
// whatever its batch-mates (the recurrent layers stop at each length).
//
//   nn::SequenceClassifier model({.vocab_size = 20000, .num_labels = 2});
//   Tensor logits = model.forward(batch.inputs, batch.lengths);   // [T, B], [B] -> [B, 2]
//   Tensor loss = cross_entropy(logits, batch.targets);
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "recur/nn/embedding.hpp"
#include "recur/nn/linear.hpp"
#include "recur/nn/module.hpp"
#include "recur/nn/rnn.hpp"

namespace recur::nn {

// How a sequence's outputs become one vector. Last: the output at the last real step (with
// two directions, the forward direction's at the last step joined with the reverse
// direction's at the first: each has then read the whole sequence). Mean, Max: over the real
// steps, each feature on its own (both directions' features side by side).
enum class Pool { Last, Mean, Max };
// "last" / "mean" / "max", and the inverse (anything else is an Error listing the names).
const char* pool_name(Pool pool);
Pool parse_pool(const std::string& name);

// outputs (T, B, D*H) as the recurrent layers give them with `lengths` (int64 (B), each in
// [1, T]; checked), directions D = 2 when `bidirectional` -> (B, D*H) by `pool`. Differentiable.
Tensor pool_steps(const Tensor& outputs, const Tensor& lengths, Pool pool, bool bidirectional);

struct SequenceClassifierConfig {
  std::string cell = "lstm";  // lstm, gru, rnn_tanh, rnn_relu or mgu
  std::int64_t layers = 1;
  std::int64_t hidden = 128;
  std::int64_t embed = 128;
  std::int64_t vocab_size = 0;
  std::int64_t num_labels = 0;
  bool bidirectional = true;
  Pool pool = Pool::Max;
  double dropout = 0;  // between recurrent layers and on the pooled vector, in training only
};

// Throws recur::Error naming the first field out of range: a known cell, layers, hidden,
// embed, vocab_size >= 1, num_labels >= 2, 0 <= dropout < 1.
void validate(const SequenceClassifierConfig& config);

class SequenceClassifier : public Module {
 public:
  // Builds the layers (validate(config) first), initialised as PyTorch's would be from
  // default_generator(): embed N(0, 1), rnn U(-1/sqrt(H), 1/sqrt(H)), head as Linear.
  explicit SequenceClassifier(const SequenceClassifierConfig& config);

  // inputs int64 (T, B), each in [0, vocab_size) (checked by the lookup); lengths int64 (B)
  // in [1, T], the real steps of each column (the rest is padding, never read) -> logits (B, C).
  Tensor forward(const Tensor& inputs, const Tensor& lengths);
  // All T steps real.
  Tensor forward(const Tensor& inputs) override;

  const SequenceClassifierConfig config;
  std::shared_ptr<Embedding> embed;
  std::shared_ptr<RNNBase> rnn;
  std::shared_ptr<Linear> head;
};

}  // namespace recur::nn
