// A recurrent language model over characters or words, char-rnn's architecture (and that of
// PyTorch's word-language-model example), with PyTorch's names:
//
//   embed : Embedding(V, E)          absent when E = 0 (the input is one-hot, width V)
//   rnn   : RNN / LSTM / GRU / MGU   `layers` layers of `hidden` units, dropout between them
//   head  : Linear(H, V)             the next token's logits; with tie_weights its weight is
//                                    embed's (Press & Wolf 2017), so E must equal H
//           or AdaptiveLogSoftmaxWithLoss(H, V, cutoffs)   with adaptive_softmax cutoffs:
//                                    Grave et al.'s adaptive softmax, PyTorch's names under
//                                    head. (head.head.weight, head.tail.0.0.weight, ...)
//
// and the tools that run it: the negative log-likelihood of a text (LanguageModel::nll) and a
// sampler that generates from it one token per step with no autograd and no allocation per
// step (TokenSampler). docs/FORMAT.md gives the file layout that train/model_file.hpp reads
// and writes.
//
//   nn::LanguageModel model({.cell = "lstm", .layers = 2, .hidden = 256, .embed = 64, .vocab_size = 65});
//   nn::LanguageModel::Output out = model.forward(inputs);          // inputs int64 [T, B]
//   Tensor loss = cross_entropy(out.logits.reshape({-1, 65}), targets.reshape({-1}));
//   out = model.forward(next_inputs, out.state.detached());     // truncated BPTT
#pragma once
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "recur/core/random.hpp"
#include "recur/nn/adaptive_softmax.hpp"
#include "recur/nn/embedding.hpp"
#include "recur/nn/linear.hpp"
#include "recur/nn/module.hpp"
#include "recur/nn/rnn.hpp"
#include "recur/ops.hpp"  // Reduction

namespace recur::nn {

struct LanguageModelConfig {
  std::string cell = "lstm";  // lstm, gru, rnn_tanh, rnn_relu or mgu
  std::int64_t layers = 2;
  std::int64_t hidden = 256;
  std::int64_t embed = 64;    // 0: one-hot input
  std::int64_t vocab_size = 0;
  double dropout = 0;         // between recurrent layers, in training only
  bool peephole = false;      // lstm only
  bool tie_weights = false;   // head.weight is embed.weight; needs embed == hidden
  std::vector<std::int64_t> adaptive_softmax = {};  // cutoffs of an adaptive softmax head; empty: Linear
};

// Throws recur::Error naming the first field out of range: layers, hidden, vocab_size >= 1,
// embed >= 0, 0 <= dropout < 1, a known cell, peephole only with lstm, tie_weights only with
// embed == hidden and a Linear head, adaptive_softmax cutoffs increasing in [1, vocab_size).
void validate(const LanguageModelConfig& config);

class LanguageModel : public Module {
 public:
  // Builds the layers (validate(config) first) and initialises them as PyTorch would,
  // from default_generator(): embed N(0, 1), rnn U(-1/sqrt(H), 1/sqrt(H)), head as Linear.
  // Tied weights start as the head's (PyTorch's `embed.weight = head.weight`): a matrix that
  // scales logits must not start at N(0, 1).
  explicit LanguageModel(const LanguageModelConfig& config);

  struct State {
    Tensor h, c;  // (layers, B, H); c for lstm only; undefined: zeros
    State detached() const { return {h.defined() ? h.detach() : h, c.defined() ? c.detach() : c}; }
  };
  struct Output {
    Tensor logits;  // [T, B, V]; an adaptive head gives log-probabilities (the same softmax)
    State state;    // after the last step
  };
  // inputs int64 [T, B], each in [0, vocab_size) (checked by the lookup).
  Output forward(const Tensor& inputs, const State& state);
  Tensor forward(const Tensor& inputs) override;  // logits from zero states

  // The top layer's outputs [T, B, H] (in `logits`' place) and the state: what the head reads.
  // With lengths (int64 [B]), batch b's steps from lengths[b] on are padding, as in RNNBase's
  // forward: their outputs are not the model's, and the state is each sequence's last.
  Output features(const Tensor& inputs, const State& state, const Tensor& lengths = {});
  // The cross-entropy of predicting `targets` (int64, the shape of the features' first
  // dimensions) from `features` ([..., H]): Mean, Sum or None (per token). With an adaptive
  // head only the clusters the targets need are computed, which is why training goes through
  // this rather than through the logits. Differentiable.
  Tensor loss(const Tensor& features, const Tensor& targets, Reduction reduction = Reduction::Mean);

  // Sum over i in [1, N) of -ln p(tokens[i] | tokens[0..i)) with the state starting at zero,
  // in evaluation mode and without autograd, `chunk` steps per forward call. Requires
  // every token in [0, vocab_size) (checked) and chunk >= 1.
  double nll(std::span<const std::int32_t> tokens, std::int64_t chunk = 512);

  // The log-probability of each sequence on its own, as a sentence: for s, the sum over i of
  // ln p(s[i] | start, s[0..i)), from a zero state first fed the token `start` (a word
  // model's <eos>, a char model's line break); an empty sequence has 0. With `per_token`,
  // also each term. In evaluation mode and without autograd; the sequences run `batch` at a
  // time, longest first, padded, so that scoring many sentences is fast, and each result is
  // the sequence's alone (up to float rounding, whatever its batch-mates). Requires every
  // token and `start` in [0, vocab_size) (checked) and batch >= 1.
  std::vector<double> sequence_logprobs(std::span<const std::vector<std::int32_t>> sequences, std::int64_t start,
                                        std::int64_t batch = 64,
                                        std::vector<std::vector<double>>* per_token = nullptr);

  // What the network computes at each step of one text (for `recur inspect`): every layer's
  // state after each token and the head's predictions (LanguageModel::Trace, below).
  struct Trace;
  // Reads `start` (as sequence_logprobs does: a word model's <eos>, a char model's line
  // break), then tokens[0..T), one step at a time from a zero state, layer by layer, in
  // evaluation mode and without autograd. Requires `start` and every token in
  // [0, vocab_size) (checked) and top_k >= 1 (checked; more than vocab_size keeps them all).
  // Guarantees: the same numbers as forward() on [start, tokens...] up to float rounding (the
  // per-step kernel, rnn_step_, is the sampler's); results are read back to host memory.
  Trace trace(std::span<const std::int32_t> tokens, std::int64_t start, std::int64_t top_k = 5);

  const LanguageModelConfig config;
  const RnnCell cell;
  std::shared_ptr<Embedding> embed;  // null with one-hot input
  std::shared_ptr<RNNBase> rnn;
  // The head, registered as "head": exactly one of the two is set.
  std::shared_ptr<Linear> head;                            // without adaptive_softmax
  std::shared_ptr<AdaptiveLogSoftmaxWithLoss> adaptive_head;  // with it

  // The device and dtype of the parameters.
  Device device() const;
  DType dtype() const;
};

// LanguageModel::trace's result for T tokens, layers L, hidden size H, k = top_k.
struct LanguageModel::Trace {
  std::int64_t steps = 0, layers = 0, hidden = 0, top_k = 0;
  // h[l][t * H + j]: unit j of layer l's hidden state after reading tokens[t] (layer 0 reads
  // the tokens, layer L - 1 feeds the head).
  std::vector<std::vector<float>> h;
  // An LSTM's cell state c, laid out as h; empty for the other cells.
  std::vector<std::vector<float>> c;
  // logprobs[t] = ln p(tokens[t] | start, tokens[0..t)): how expected each token was.
  std::vector<double> logprobs;
  // After reading tokens[t], the k most likely next tokens, most likely first (equal
  // probabilities: smaller index first): next_tokens[t * k + i], with their log-probabilities
  // next_logprobs[t * k + i].
  std::vector<std::int32_t> next_tokens;
  std::vector<float> next_logprobs;
};

struct SamplingOptions {
  double temperature = 1;  // > 0: logits are divided by it
  std::int64_t top_k = 0;  // > 0: draw among the k most likely characters only
  bool argmax = false;     // greedy: the most likely character (ties: the smallest index)
};

// Generates from a LanguageModel for `batch` independent streams: feed() advances every
// stream by one token and computes the next-token logits; draw() picks the next tokens
// from them. After the first feed() (which sizes rnn_step_'s scratch) neither allocates,
// except that an adaptive head computes its log-probabilities into a fresh tensor.
// Runs in float32 with no autograd, on the model's device (that of its head); the model must
// outlive the sampler and not change size or device. On a device other than the CPU, each
// feed() uploads the tokens and each draw() reads the logits back once: the only transfers.
class TokenSampler {
 public:
  // Requires a float32 model and batch >= 1.
  TokenSampler(const LanguageModel& model, std::int64_t batch);
  std::int64_t batch() const { return batch_; }
  // Zeroes every stream's state (and forgets the logits).
  void reset();
  // Advances each stream b by tokens[b] (in [0, vocab_size), checked); requires
  // tokens.size() == batch().
  void feed(std::span<const std::int64_t> tokens);
  // The logits after the last feed(): float32 [batch, vocab_size]. Requires a feed().
  const Tensor& logits() const { return logits_; }
  // Writes each stream's next token into `out` (size batch()) by the options: the argmax,
  // or a draw from softmax(logits / temperature) restricted to the top_k largest when
  // top_k > 0, one generator draw per stream. Requires a feed() and temperature > 0.
  void draw(std::span<std::int64_t> out, const SamplingOptions& options, Generator& generator);

 private:
  void feed_on_host(std::span<const std::int64_t> tokens);
  void feed_on_device(std::span<const std::int64_t> tokens);

  const LanguageModel& model_;
  std::int64_t batch_, vocab_size_, input_size_;
  Tensor input_;                  // [B, E or V]: the embedding rows or one-hot vectors
  std::vector<Tensor> h_, c_;     // per layer [B, H]
  Tensor logits_;                 // [B, V]
  // Only for a model on another device than the CPU: host staging of the tokens and logits.
  Tensor tokens_host_, tokens_, logits_host_;
  Tensor workspace_;              // rnn_step_'s scratch
  std::vector<float> weights_;    // one row's unnormalised probabilities
  std::vector<std::int32_t> order_;  // candidate indices for top-k
  bool fed_ = false;
};

}  // namespace recur::nn
