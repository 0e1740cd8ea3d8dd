// SequenceTagger: word embeddings (joined with character features), a (bi)RNN, a per-token
// head. The backward comes from the ops' autograd.

#include "recur/nn/sequence_tagger.hpp"

#include <algorithm>
#include <vector>

#include "recur/autograd.hpp"
#include "recur/nn/sequence_classifier.hpp"
#include "recur/ops.hpp"

namespace recur::nn {

void validate(const SequenceTaggerConfig& config) {
  parse_cell_name(config.cell);
  RECUR_CHECK(config.layers >= 1, "layers must be at least 1, got " << config.layers);
  RECUR_CHECK(config.hidden >= 1, "hidden size must be at least 1, got " << config.hidden);
  RECUR_CHECK(config.embed >= 1, "embedding size must be at least 1, got " << config.embed);
  RECUR_CHECK(config.vocab_size >= 1, "vocabulary size must be at least 1, got " << config.vocab_size);
  RECUR_CHECK(config.num_labels >= 2, "a tagger needs at least 2 tags, got " << config.num_labels);
  RECUR_CHECK(config.dropout >= 0 && config.dropout < 1, "dropout must be in [0, 1), got " << config.dropout);
  const bool chars = config.char_embed > 0;
  RECUR_CHECK(chars ? config.char_hidden >= 1 && config.char_vocab_size >= 1
                    : config.char_embed == 0 && config.char_hidden == 0 && config.char_vocab_size == 0,
              "character features need char_embed, char_hidden and char_vocab_size all at least 1 (or all 0), got "
                  << config.char_embed << ", " << config.char_hidden << " and " << config.char_vocab_size);
}

namespace {

// Spellings run through the character LSTM together in project_words.
constexpr std::int64_t kSpellingChunk = 512;

SequenceTaggerConfig validated(const SequenceTaggerConfig& config) {
  validate(config);
  return config;
}

}  // namespace

SequenceTagger::SequenceTagger(const SequenceTaggerConfig& config) : config(validated(config)) {
  embed = register_module("embed", std::make_shared<Embedding>(config.vocab_size, config.embed));
  std::int64_t input = config.embed;
  if (has_char_features()) {
    char_embed = register_module("char_embed", std::make_shared<Embedding>(config.char_vocab_size, config.char_embed));
    char_rnn = register_module("char_rnn", std::make_shared<LSTM>(config.char_embed, config.char_hidden,
                                                                   RNNOptions{.bidirectional = true}));
    input += 2 * config.char_hidden;
  }
  rnn = register_module("rnn", make_rnn(parse_cell_name(config.cell), input, config.hidden,
                                        {.num_layers = config.layers, .dropout = config.dropout,
                                         .bidirectional = config.bidirectional}));
  const std::int64_t directions = config.bidirectional ? 2 : 1;
  head = register_module("head", std::make_shared<Linear>(directions * config.hidden, config.num_labels));
}

// x_t = dropout([embed(w_t) ; chars(w_t)]),  chars(w) = [fwd_LSTM(c_1..c_n) at n ; bwd_LSTM at 1]
// logits_t = head(dropout(rnn(x)_t))
// In inference (no gradients, eval mode) the recurrent layers' input projections are made
// once per distinct character, word or (word, spelling) of the batch: the same values, far
// fewer multiply-adds (RNNBase::forward_tokens, forward_projected).
Tensor SequenceTagger::forward(const Tensor& inputs, const Tensor& lengths, const WordSpellings& spellings) {
  RECUR_CHECK(inputs.defined() && inputs.dim() == 2 && inputs.dtype() == DType::Int64,
              "SequenceTagger: inputs must be int64 [T, B], got "
                  << (inputs.defined() ? inputs.shape().str() : std::string("an undefined tensor")));
  RECUR_CHECK(has_char_features() == spellings.chars.defined(),
              "SequenceTagger: " << (has_char_features() ? "a tagger with character features needs the words' spellings"
                                                          : "this tagger has no character features to spell words with"));
  const std::int64_t T = inputs.size(0), B = inputs.size(1);
  const auto dropped = [&](const Tensor& x) { return dropout(x, config.dropout, is_training()); };
  if (!has_char_features()) {
    const RNNOutput r = rnn->forward_tokens(inputs, [&](const Tensor& ids) { return dropped(embed->forward(ids)); },
                                            {}, lengths);
    return head->forward(dropped(r.output));
  }
  RECUR_CHECK(spellings.index.defined() && spellings.index.shape() == (Shape{T, B}),
              "SequenceTagger: the spellings' index must be int64 [" << T << ", " << B << "]");
  if (is_grad_enabled() || is_training()) {
    const Tensor per_position = index_select(spelling_features(spellings), 0, reshape(spellings.index, {T * B}));
    const Tensor x = cat({embed->forward(inputs), reshape(per_position, {T, B, 2 * config.char_hidden})}, 2);
    return head->forward(dropped(rnn->forward(dropped(x), RNNState{}, lengths).output));
  }
  // Inference: the batch's distinct (word, spelling) pairs, as word * W + spelling, each
  // projected once.
  const std::int64_t W = spellings.lengths.size(0);
  std::vector<std::int64_t> pairs = inputs.to_vector<std::int64_t>();
  const std::vector<std::int64_t> spelled = spellings.index.to_vector<std::int64_t>();
  for (std::size_t i = 0; i < pairs.size(); ++i) pairs[i] = pairs[i] * W + spelled[i];
  const auto [distinct, slots] = unique(from_vector(pairs, {T * B}, inputs.device()));
  std::vector<std::int64_t> word_of = distinct.to_vector<std::int64_t>(), spelling_of(word_of.size());
  for (std::size_t u = 0; u < word_of.size(); ++u) spelling_of[u] = word_of[u] % W, word_of[u] /= W;
  const auto on_device = [&](const std::vector<std::int64_t>& v) {
    return from_vector(v, {static_cast<std::int64_t>(v.size())}, inputs.device());
  };
  const Tensor table = project_words(on_device(word_of), {spellings.chars, spellings.lengths, on_device(spelling_of)});
  return forward_projected(table, reshape(slots, {T, B}), lengths);
}

Tensor SequenceTagger::project_words(const Tensor& words, const WordSpellings& spellings) {
  RECUR_CHECK(!is_grad_enabled() && !is_training(), "SequenceTagger::project_words is for inference: grad mode "
                                                    "off and eval mode");
  RECUR_CHECK(words.defined() && words.dim() == 1 && words.dtype() == DType::Int64,
              "SequenceTagger::project_words: words must be int64 [N]");
  RECUR_CHECK(has_char_features() == spellings.chars.defined(),
              "SequenceTagger::project_words: " << (has_char_features() ? "character features need the words' spellings"
                                                                        : "this tagger has no character features"));
  Tensor x = embed->forward(words);
  if (has_char_features()) {
    RECUR_CHECK(spellings.index.defined() && spellings.index.shape() == words.shape(),
                "SequenceTagger::project_words: the spellings' index must be int64 [" << words.size(0) << "]");
    // The spellings a chunk at a time, each running as many steps as its longest word has
    // characters: many words of one length or another would otherwise all run (and carry
    // their states through) as many steps as the longest of them has.
    const std::int64_t W = spellings.lengths.size(0);
    const std::vector<std::int64_t> length = spellings.lengths.to_vector<std::int64_t>();
    std::vector<Tensor> features;
    for (std::int64_t w0 = 0; w0 < W; w0 += kSpellingChunk) {
      const std::int64_t n = std::min(kSpellingChunk, W - w0);
      const std::int64_t steps = *std::max_element(length.begin() + w0, length.begin() + w0 + n);
      features.push_back(spelling_features({narrow(narrow(spellings.chars, 0, 0, steps), 1, w0, n),
                                            narrow(spellings.lengths, 0, w0, n), Tensor()}));
    }
    x = cat({x, index_select(cat(features, 0), 0, spellings.index)}, 1);
  }
  return rnn->project(x, Tensor()).table;
}

Tensor SequenceTagger::forward_projected(const Tensor& table, const Tensor& rows, const Tensor& lengths) {
  return head->forward(rnn->forward_projected({table, rows}, RNNState{}, lengths).output);
}

// Each distinct word's character features (W, 2 char_hidden): its final states both ways.
Tensor SequenceTagger::spelling_features(const WordSpellings& spellings) {
  const RNNOutput spelled = char_rnn->forward_tokens(
      spellings.chars, [&](const Tensor& ids) { return char_embed->forward(ids); }, {}, spellings.lengths);
  return pool_steps(spelled.output, spellings.lengths, Pool::Last, /*bidirectional=*/true);
}

Tensor SequenceTagger::forward(const Tensor& inputs) {
  return forward(inputs, full({inputs.size(1)}, static_cast<double>(inputs.size(0)), DType::Int64));
}

}  // namespace recur::nn
