// Seq2Seq: encoder, attention, input-feeding decoder, head (equations in
// include/recur/nn/seq2seq.hpp). The backward comes from the ops' autograd.

#include "recur/nn/seq2seq.hpp"

#include <vector>

#include "recur/ops.hpp"

namespace recur::nn {

void validate(const Seq2SeqConfig& config) {
  parse_cell_name(config.cell);
  RECUR_CHECK(config.src_vocab >= 1 && config.tgt_vocab >= 1, "vocabulary sizes must be at least 1, got source "
                                                                  << config.src_vocab << " and target "
                                                                  << config.tgt_vocab);
  RECUR_CHECK(config.embed >= 1, "embedding size must be at least 1, got " << config.embed);
  RECUR_CHECK(config.hidden >= 1, "hidden size must be at least 1, got " << config.hidden);
  RECUR_CHECK(!config.bidirectional || config.hidden % 2 == 0,
              "a bidirectional encoder splits the hidden size between its directions: it must be even, got "
                  << config.hidden);
  RECUR_CHECK(config.enc_layers >= 1 && config.dec_layers >= 1, "layers must be at least 1, got encoder "
                                                                    << config.enc_layers << " and decoder "
                                                                    << config.dec_layers);
  RECUR_CHECK(config.dropout >= 0 && config.dropout < 1, "dropout must be in [0, 1), got " << config.dropout);
}

namespace {

Seq2SeqConfig validated(const Seq2SeqConfig& config) {
  validate(config);
  return config;
}

}  // namespace

Seq2Seq::Seq2Seq(const Seq2SeqConfig& config) : config(validated(config)) {
  const RnnCell cell = parse_cell_name(config.cell);
  const std::int64_t H = config.hidden, E = config.embed;
  src_embed = register_module("src_embed", std::make_shared<Embedding>(config.src_vocab, E));
  encoder = register_module("encoder", make_rnn(cell, E, config.bidirectional ? H / 2 : H,
                                                {.num_layers = config.enc_layers, .dropout = config.dropout,
                                                 .bidirectional = config.bidirectional}));
  tgt_embed = register_module("tgt_embed", std::make_shared<Embedding>(config.tgt_vocab, E));
  decoder = register_module("decoder", make_rnn(cell, config.attention ? E + H : E, H,
                                                {.num_layers = config.dec_layers, .dropout = config.dropout}));
  if (config.attention) {
    attention = register_module("attention", std::make_shared<Attention>(*config.attention, H, H, H));
    combine = register_module("combine", std::make_shared<Linear>(2 * H, H, false));
  }
  head = register_module("head", std::make_shared<Linear>(H, config.tgt_vocab));
}

// The decoder's layer k < enc_layers starts from the encoder's layer k: h_n's rows 2k and 2k+1
// (forward, reverse) joined along the features when bidirectional, row k otherwise.
DecoderState Seq2Seq::encode(const Tensor& src, const Tensor& src_lengths) {
  RECUR_CHECK(src.defined() && src.dim() == 2 && src.dtype() == DType::Int64,
              "Seq2Seq: sources must be int64 (steps, batch), got "
                  << (src.defined() ? src.shape().str() : std::string("an undefined tensor")));
  const RNNOutput r =
      encoder->forward_tokens(src, [&](const Tensor& ids) { return src_embed->forward(ids); }, {}, src_lengths);
  const std::int64_t B = src.size(1), H = config.hidden;
  auto start = [&](const Tensor& finals) {
    std::vector<Tensor> layers;
    for (std::int64_t k = 0; k < config.dec_layers; ++k) {
      if (k >= config.enc_layers) layers.push_back(zeros({B, H}, finals.dtype(), finals.device()));
      else if (config.bidirectional) layers.push_back(cat({select(finals, 0, 2 * k), select(finals, 0, 2 * k + 1)}, 1));
      else layers.push_back(select(finals, 0, k));
    }
    return stack(layers, 0);
  };
  DecoderState state;
  state.rnn.h = start(r.h_n);
  if (r.c_n.defined()) state.rnn.c = start(r.c_n);
  if (attention) {
    state.keys = attention->prepare(r.output, src_lengths);
    state.feed = zeros({B, H}, r.output.dtype(), r.output.device());
  }
  return state;
}

Tensor Seq2Seq::decode_step(DecoderState& state, const Tensor& tokens, Tensor* weights) {
  RECUR_CHECK(tokens.defined() && tokens.dim() == 1 && tokens.dtype() == DType::Int64 &&
                  tokens.size(0) == state.rnn.h.size(1),
              "Seq2Seq: a step's tokens must be int64 (" << state.rnn.h.size(1) << "), got "
                                                         << (tokens.defined() ? tokens.shape().str() : "undefined"));
  Tensor x = tgt_embed->forward(tokens);  // (N, E)
  if (attention) x = cat({x, state.feed}, 1);
  RNNOutput r = decoder->forward(unsqueeze(x, 0), state.rnn);
  state.rnn = {r.h_n, r.c_n};
  const Tensor h = select(r.output, 0, 0);  // (N, H)
  if (!attention) {
    if (weights) *weights = Tensor();
    return dropout(h, config.dropout, is_training());
  }
  AttentionOutput a = attention->forward(h, state.keys);
  if (weights) *weights = a.weights;
  state.feed = dropout(tanh(combine->forward(cat({a.context, h}, 1))), config.dropout, is_training());
  return state.feed;
}

Tensor Seq2Seq::forward(const Tensor& src, const Tensor& src_lengths, const Tensor& tgt_in) {
  RECUR_CHECK(tgt_in.defined() && tgt_in.dim() == 2 && tgt_in.dtype() == DType::Int64 && src.defined() &&
                  src.dim() == 2 && tgt_in.size(1) == src.size(1),
              "Seq2Seq: targets must be int64 (steps, " << (src.defined() && src.dim() == 2 ? src.size(1) : -1)
                                                        << "), got "
                                                        << (tgt_in.defined() ? tgt_in.shape().str() : "undefined"));
  DecoderState state = encode(src, src_lengths);
  std::vector<Tensor> outputs;
  for (std::int64_t t = 0; t < tgt_in.size(0); ++t) outputs.push_back(decode_step(state, select(tgt_in, 0, t)));
  return head->forward(stack(outputs, 0));
}

}  // namespace recur::nn
