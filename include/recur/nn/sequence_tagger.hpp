// A recurrent sequence tagger (aligned many-to-many: one label per input token), with
// PyTorch's names:
//
//   embed      : Embedding(V, E)             the word's vector
//   char_embed : Embedding(K, E_c)           (optional) character features of each word:
//   char_rnn   : LSTM(E_c, H_c, bidirectional) its final states, forward and backward,
//                                           joined to the word's vector (2 H_c more inputs)
//   (dropout on the joined vectors, in training)
//   rnn        : RNN / LSTM / GRU / MGU      `layers` of `hidden`, bidirectional by choice
//   (dropout on the outputs, in training)
//   head       : Linear(D * H, C)            each token's tag logits
//
// The character features let a word unseen in training (or rare) be tagged by its shape:
// suffixes, capitals, digits, hyphens. Each sentence's result is its own whatever its
// batch-mates: the recurrent layers stop at each length, and a word's character features
// depend on its characters only.
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "recur/nn/embedding.hpp"
#include "recur/nn/linear.hpp"
#include "recur/nn/module.hpp"
#include "recur/nn/rnn.hpp"

namespace recur::nn {

struct SequenceTaggerConfig {
  std::string cell = "lstm";  // lstm, gru, rnn_tanh, rnn_relu or mgu
  std::int64_t layers = 1;
  std::int64_t hidden = 128;
  std::int64_t embed = 100;
  std::int64_t vocab_size = 0;
  std::int64_t num_labels = 0;
  bool bidirectional = true;
  double dropout = 0;  // on the inputs of the recurrent layers, between them and on their outputs
  // Character features: none when char_embed is 0 (then char_hidden and char_vocab_size are 0).
  std::int64_t char_vocab_size = 0;
  std::int64_t char_embed = 0;
  std::int64_t char_hidden = 0;
};

// Throws recur::Error naming the first field out of range: a known cell, layers, hidden,
// embed, vocab_size >= 1, num_labels >= 2, 0 <= dropout < 1; char_embed, char_hidden and
// char_vocab_size all >= 1 or all 0.
void validate(const SequenceTaggerConfig& config);

// The words of a batch spelled out, for character features: the W distinct words' characters
// time-major (int64 [L, W], padded with 0), their lengths (int64 [W], each >= 1), and which
// of them each position of the batch holds (int64 [T, B]; any valid row at padding; int64 [N]
// for project_words).
struct WordSpellings {
  Tensor chars, lengths, index;
};

class SequenceTagger : public Module {
 public:
  // Builds the layers (validate(config) first), initialised as PyTorch's would be from
  // default_generator().
  explicit SequenceTagger(const SequenceTaggerConfig& config);

  // inputs int64 (T, B) in [0, vocab_size); lengths int64 (B) in [1, T]; spellings (required
  // exactly when the tagger has character features) -> logits (T, B, C), each position's
  // tag scores (past a sequence's length, the head's bias alone: losses ignore them).
  Tensor forward(const Tensor& inputs, const Tensor& lengths, const WordSpellings& spellings = {});
  // All T steps real; no character features.
  Tensor forward(const Tensor& inputs) override;

  // Inference (grad mode off, eval mode; checked) in two parts, so that many batches can
  // share the first: the word layer's input projections of N (word, spelling) pairs, words
  // int64 (N) and, with character features, spellings whose index (int64 (N)) holds each
  // pair's spelling -> a table (N, directions * gates * hidden) for forward_projected.
  Tensor project_words(const Tensor& words, const WordSpellings& spellings = {});
  // Logits (T, B, C) as forward's, of a batch whose position (t, b) holds the pair of row
  // rows[t][b] (int64 (T, B)) of project_words' table; lengths as forward's.
  Tensor forward_projected(const Tensor& table, const Tensor& rows, const Tensor& lengths);

  bool has_char_features() const { return config.char_embed > 0; }

  const SequenceTaggerConfig config;
  std::shared_ptr<Embedding> embed, char_embed;
  std::shared_ptr<RNNBase> rnn;
  std::shared_ptr<LSTM> char_rnn;
  std::shared_ptr<Linear> head;

 private:
  Tensor spelling_features(const WordSpellings& spellings);
};

}  // namespace recur::nn
