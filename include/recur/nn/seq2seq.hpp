// An encoder-decoder with attention and input feeding (Luong et al. 2015; the layout of
// OpenNMT's RNN models), with PyTorch's names:
//
//   src_embed : Embedding(Vs, E)
//   encoder   : RNN / LSTM / GRU / MGU   enc_layers layers over the source; bidirectional by
//                                        default, each direction H/2 units (H when not)
//   tgt_embed : Embedding(Vt, E)
//   decoder   : the same cell kind       dec_layers layers of H units, input E + H
//                                        (E without attention)
//   attention : nn::Attention            query = the decoder's top output h_t, keys = the
//                                        encoder's top outputs (H features)
//   combine   : Linear(2H, H, no bias)   the attentional vector a_t = tanh(W_c [c_t; h_t])
//   head      : Linear(H, Vt)            the next target token's logits
//
// Decoding step t, from y_{t-1} (the previous target token; <bos> first) and a_{t-1} (zeros
// first):
//   x_t = [tgt_embed(y_{t-1}); a_{t-1}]       (input feeding; without attention x_t = tgt_embed(y_{t-1}))
//   h_t = decoder(x_t, state)                 (one step of every layer)
//   c_t = attention(h_t, encoder outputs)     (the source's real positions only)
//   a_t = dropout(tanh(W_c [c_t; h_t]))       (without attention a_t = dropout(h_t))
//   logits_t = head(a_t)
// The decoder's layer k starts from the encoder's layer k final state (both directions'
// joined: forward then reverse), for k < enc_layers, and from zeros above.
//
//   nn::Seq2Seq model({.src_vocab = 30, .tgt_vocab = 42});
//   Tensor logits = model.forward(src, src_lengths, tgt_in);   // (S, B), (B), (T, B) -> (T, B, Vt)
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "recur/nn/attention.hpp"
#include "recur/nn/embedding.hpp"
#include "recur/nn/linear.hpp"
#include "recur/nn/module.hpp"
#include "recur/nn/rnn.hpp"

namespace recur::nn {

struct Seq2SeqConfig {
  std::string cell = "lstm";  // lstm, gru, rnn_tanh, rnn_relu or mgu
  std::int64_t src_vocab = 0, tgt_vocab = 0;
  std::int64_t embed = 128;
  std::int64_t hidden = 256;  // the decoder's size, and the encoder's (both directions together)
  std::int64_t enc_layers = 2, dec_layers = 2;
  bool bidirectional = true;  // the encoder
  std::optional<AttentionKind> attention = AttentionKind::Additive;  // nullopt: no attention
  double dropout = 0.2;  // between recurrent layers and on a_t, in training only
};

// Throws recur::Error naming the first field out of range: a known cell, vocabularies >= 1,
// embed >= 1, hidden >= 1 (and even for a bidirectional encoder), layers >= 1, dot attention
// only where query and key sizes agree (always: both are H), 0 <= dropout < 1.
void validate(const Seq2SeqConfig& config);

// The decoder's state between steps, for a batch of N rows (hypotheses or sequences).
struct DecoderState {
  RNNState rnn;        // h, c (dec_layers, N, H)
  Tensor feed;         // a_{t-1} (N, H); undefined without attention
  AttentionKeys keys;  // the rows' sources (undefined tensors without attention)
};

class Seq2Seq : public Module {
 public:
  // Builds the layers (validate(config) first), initialised as PyTorch's would be from
  // default_generator(), in the order of the names above.
  explicit Seq2Seq(const Seq2SeqConfig& config);

  // Encodes a batch of sources: src int64 (S, B) in [0, src_vocab), src_lengths int64 (B) in
  // [1, S] -> the decoder's starting state for those B rows. Differentiable.
  DecoderState encode(const Tensor& src, const Tensor& src_lengths);
  // One decoding step for every row: tokens int64 (N), the previous target tokens -> a_t
  // (N, H) (the head's input; logits = head->forward(a_t)), advancing `state`. When weights
  // is not null it receives the attention weights (N, S) (undefined without attention).
  Tensor decode_step(DecoderState& state, const Tensor& tokens, Tensor* weights = nullptr);
  // Teacher forcing: tgt_in int64 (T, B), each column <bos> followed by the target's tokens
  // but the last -> logits (T, B, tgt_vocab). Rows past a target's end are computed but are
  // the caller's to ignore (their loss targets are data::kIgnoreLabel).
  Tensor forward(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in);

  const Seq2SeqConfig config;
  std::shared_ptr<Embedding> src_embed, tgt_embed;
  std::shared_ptr<RNNBase> encoder, decoder;
  std::shared_ptr<Attention> attention;  // null without attention
  std::shared_ptr<Linear> combine;       // null without attention
  std::shared_ptr<Linear> head;
};

}  // namespace recur::nn
