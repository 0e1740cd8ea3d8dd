// Generating token sequences from any model that predicts one token at a time: greedy
// decoding and beam search with GNMT's length penalty, batch-parallel (every hypothesis of
// every input advances in one call of the model per step).
//
//   Seq2SeqStepper stepper(model, model.encode(src, src_lengths));  // B inputs
//   auto best = nn::beam_search(stepper, B, {.beam = 5, .bos = 1, .eos = 2});
//   best[b][0].tokens: the most probable output of input b (without <eos>)
#pragma once

#include <cstdint>
#include <vector>

#include "recur/core/constant_weights.hpp"
#include "recur/core/tensor.hpp"
#include "recur/nn/language_model.hpp"
#include "recur/nn/seq2seq.hpp"

namespace recur::nn {

// A model's state for N rows (hypotheses) that grow by one token per step. Implementations
// run without autograd.
class StepModel {
 public:
  virtual ~StepModel() = default;
  // The log-probabilities of each row's next token, given its last one: tokens (N) ->
  // (N, V) row-major, each row's values a log-distribution over the V tokens; the rows'
  // states advance by that token.
  virtual std::vector<float> next_log_probs(const std::vector<std::int64_t>& tokens) = 0;
  // The rows continue as rows[0], rows[1], ... of the current ones (a row may be repeated or
  // dropped), so that there are rows.size() of them.
  virtual void reorder(const std::vector<std::int64_t>& rows) = 0;
};

struct Hypothesis {
  std::vector<std::int32_t> tokens;  // without <bos>, and without the <eos> that ended it
  double logprob = 0;                // of the tokens and the ending <eos> (if one ended it)
  double score = 0;                  // logprob / the length penalty: the ranking
};

struct BeamOptions {
  std::int64_t beam = 5;  // hypotheses kept per input; 1 is greedy decoding
  std::int64_t n_best = 1;  // hypotheses returned per input, best first; <= beam
  std::int64_t max_length = 100;  // tokens generated at most (a hypothesis cut there has no <eos>)
  // GNMT's lp(Y) = ((5 + |Y|) / 6)^alpha, |Y| counting the tokens generated (an ending <eos>
  // included); alpha = 0 ranks by log-probability alone.
  double length_penalty = 0;
  std::int64_t bos = 1, eos = 2;
};

// Requires: the model's state has `inputs` rows, one per input; 1 <= n_best <= beam;
// max_length >= 1 (checked). Step s extends every live hypothesis by its beam best
// continuations; among them, those ending in <eos> are finished, and the best `beam` others
// live on. An input is done when `beam` hypotheses have finished, or at max_length, when its
// live hypotheses finish as they are. Returns, per input, its n_best finished hypotheses by
// score (ties: the earlier found). The model's rows are reordered as hypotheses are kept,
// so the model ends in an unspecified state.
std::vector<std::vector<Hypothesis>> beam_search(StepModel& model, std::int64_t inputs, const BeamOptions& options);

// A LanguageModel as a StepModel: `inputs` rows from zero states, each step the model's
// next-token log-probabilities (log_softmax of the head, or the adaptive head's), stepped in
// place as TokenSampler steps (rnn_step_ per layer); beam search over a language model then
// finds its most likely continuations of the token given as `bos` (a word model's <eos>, a
// character model's line break). No autograd, eval mode while it lives (the model's mode
// restored after), the weights held constant. Used on the thread that made it.
class LanguageModelStepper : public StepModel {
 public:
  // Requires inputs >= 1.
  LanguageModelStepper(LanguageModel& model, std::int64_t inputs);
  LanguageModelStepper(const LanguageModelStepper&) = delete;
  LanguageModelStepper& operator=(const LanguageModelStepper&) = delete;
  std::vector<float> next_log_probs(const std::vector<std::int64_t>& tokens) override;
  void reorder(const std::vector<std::int64_t>& rows) override;

 private:
  LanguageModel& model_;
  EvalModeGuard eval_mode_;
  ConstantWeightsGuard constant_;
  std::vector<Tensor> h_, c_;  // each layer's state (N, H); c_ LSTM only
  Tensor workspace_;           // rnn_step_'s scratch
};

// A Seq2Seq model as a StepModel: the decoding step of include/recur/nn/seq2seq.hpp with
// log_softmax(head), run in place as the language models' TokenSampler runs (rnn_step_ on
// each layer's state, the fused attention read, linear_ into buffers kept between steps),
// no autograd, in eval mode (restored to the model's mode when the stepper ends), its weights
// held constant (ConstantWeightsGuard) while it lives. Used on the thread that made it.
class Seq2SeqStepper : public StepModel {
 public:
  // state: the model's encode() of the batch (the stepper takes it over). The first layer's
  // split (below) is decided by this batch's size.
  Seq2SeqStepper(Seq2Seq& model, DecoderState state);
  // Starts over on another batch's encoding, keeping what the stepper derived from the
  // weights (and packed) and its buffers.
  void restart(DecoderState state);
  Seq2SeqStepper(const Seq2SeqStepper&) = delete;
  Seq2SeqStepper& operator=(const Seq2SeqStepper&) = delete;
  std::vector<float> next_log_probs(const std::vector<std::int64_t>& tokens) override;
  void reorder(const std::vector<std::int64_t>& rows) override;

 private:
  Seq2Seq& model_;
  EvalModeGuard eval_mode_;
  // With attention and a small target vocabulary, the first decoder layer's input projection
  // W_ih [e; a] is taken in two parts: W_e e from a table made once per vocabulary entry
  // (rnn_step_'s `added`), and W_a a_{t-1} by the step's product, which is then a third
  // smaller. Undefined otherwise.
  Tensor embed_table_;           // (Vt, G*H): tgt_embed.weight W_e^T
  RnnLayerWeights first_layer_;  // the first decoder layer's weights; w_ih = W_a with the table
  ConstantWeightsGuard constant_;  // the parameters, and the two above
  AttentionKeys keys_;
  std::vector<Tensor> h_, c_;  // each decoder layer's state (N, H); c_ LSTM only
  // x_t = [tgt_embed(y_{t-1}); a_{t-1}] (N, E + H); a_{t-1} alone (N, H) with the table;
  // tgt_embed(y_{t-1}) (N, E) without attention.
  Tensor input_;
  // Kept between steps, grown to the most rows seen: combine's input [c_t; h_t] (2H), the
  // logits (Vt), and rnn_step_'s scratch.
  Tensor joined_, logits_, workspace_;
  // The input each row decodes: rows of one input read its source's keys (keys_.sources),
  // never copied per row.
  std::vector<std::int64_t> input_of_row_;
};

}  // namespace recur::nn
