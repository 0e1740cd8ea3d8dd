// SequenceClassifier (embed -> rnn -> pool -> dropout -> head) and the poolings. The
// backward comes from the ops' autograd (embedding, rnn_layer, index_select, max, linear).

#include "recur/nn/sequence_classifier.hpp"

#include <cmath>
#include <vector>

#include "recur/ops.hpp"

namespace recur::nn {

const char* pool_name(Pool pool) {
  switch (pool) {
    case Pool::Last: return "last";
    case Pool::Mean: return "mean";
    case Pool::Max: return "max";
  }
  return "?";
}

Pool parse_pool(const std::string& name) {
  for (Pool pool : {Pool::Last, Pool::Mean, Pool::Max})
    if (name == pool_name(pool)) return pool;
  RECUR_FAIL("unknown pooling '" << name << "' (expected last, mean or max)");
}

// With L the lengths, for sequence b and feature j:
//   last: y[b, j] = out[L_b - 1, b, j] (reverse-direction features: out[0, b, j])
//   mean: y[b, j] = sum_{t < L_b} out[t, b, j] / L_b   (out is 0 past L_b, so a sum over all t)
//   max:  y[b, j] = max_{t < L_b} out[t, b, j]          (the padding masked with -inf)
Tensor pool_steps(const Tensor& outputs, const Tensor& lengths, Pool pool, bool bidirectional) {
  RECUR_CHECK(outputs.defined() && outputs.dim() == 3, "pool_steps: outputs must be (T, B, features), got "
                                                           << (outputs.defined() ? outputs.shape().str() : "undefined"));
  const std::int64_t T = outputs.size(0), B = outputs.size(1), features = outputs.size(2);
  RECUR_CHECK(lengths.defined() && lengths.dtype() == DType::Int64 && lengths.shape() == Shape{B},
              "pool_steps: lengths must be int64 (" << B << "), got "
                                                    << (lengths.defined() ? lengths.shape().str() : "undefined"));
  RECUR_CHECK(!bidirectional || features % 2 == 0, "pool_steps: two directions need an even feature count, got "
                                                       << features);
  const Tensor host_lengths = contiguous(to(lengths, Device::cpu()));
  const std::int64_t* L = host_lengths.data<std::int64_t>();
  for (std::int64_t b = 0; b < B; ++b)
    RECUR_CHECK(L[b] >= 1 && L[b] <= T, "pool_steps: length " << L[b] << " of sequence " << b << " is outside [1, "
                                                              << T << "]");
  const Device device = outputs.device();
  switch (pool) {
    case Pool::Last: {
      std::vector<std::int64_t> rows(static_cast<std::size_t>(B));
      for (std::int64_t b = 0; b < B; ++b) rows[b] = (L[b] - 1) * B + b;
      Tensor last = index_select(reshape(outputs, {T * B, features}), 0, from_vector(rows, {B}, device));
      if (!bidirectional) return last;
      const std::int64_t H = features / 2;
      return cat({narrow(last, 1, 0, H), narrow(select(outputs, 0, 0), 1, H, H)}, 1);
    }
    case Pool::Mean:
      return div(sum(outputs, {0}), unsqueeze(to(to_dtype(host_lengths, outputs.dtype()), device), 1));
    case Pool::Max: {  // each sequence over its own steps: no masked copy of all the outputs
      std::vector<Tensor> rows;
      for (std::int64_t b = 0; b < B; ++b) rows.push_back(max(narrow(select(outputs, 1, b), 0, 0, L[b]), 0).values);
      return stack(rows, 0);
    }
  }
  RECUR_FAIL("unreachable");
}

void validate(const SequenceClassifierConfig& config) {
  parse_cell_name(config.cell);
  RECUR_CHECK(config.layers >= 1, "layers must be at least 1, got " << config.layers);
  RECUR_CHECK(config.hidden >= 1, "hidden size must be at least 1, got " << config.hidden);
  RECUR_CHECK(config.embed >= 1, "embedding size must be at least 1, got " << config.embed);
  RECUR_CHECK(config.vocab_size >= 1, "vocabulary size must be at least 1, got " << config.vocab_size);
  RECUR_CHECK(config.num_labels >= 2, "a classifier needs at least 2 labels, got " << config.num_labels);
  RECUR_CHECK(config.dropout >= 0 && config.dropout < 1, "dropout must be in [0, 1), got " << config.dropout);
}

namespace {

SequenceClassifierConfig validated(const SequenceClassifierConfig& config) {
  validate(config);
  return config;
}

}  // namespace

SequenceClassifier::SequenceClassifier(const SequenceClassifierConfig& config) : config(validated(config)) {
  embed = register_module("embed", std::make_shared<Embedding>(config.vocab_size, config.embed));
  rnn = register_module("rnn", make_rnn(parse_cell_name(config.cell), config.embed, config.hidden,
                                        {.num_layers = config.layers, .dropout = config.dropout,
                                         .bidirectional = config.bidirectional}));
  const std::int64_t directions = config.bidirectional ? 2 : 1;
  head = register_module("head", std::make_shared<Linear>(directions * config.hidden, config.num_labels));
}

// logits = head(dropout(pool(rnn(embed(inputs), lengths))))
// In inference the first layer's input projections are made once per distinct word of the
// batch (RNNBase::forward_tokens): the same values, far fewer multiply-adds.
Tensor SequenceClassifier::forward(const Tensor& inputs, const Tensor& lengths) {
  RECUR_CHECK(inputs.defined() && inputs.dim() == 2 && inputs.dtype() == DType::Int64,
              "SequenceClassifier: inputs must be int64 [T, B], got "
                  << (inputs.defined() ? inputs.shape().str() : std::string("an undefined tensor")));
  RNNOutput r = rnn->forward_tokens(inputs, [&](const Tensor& ids) { return embed->forward(ids); }, {}, lengths);
  Tensor pooled = pool_steps(r.output, lengths, config.pool, config.bidirectional);
  return head->forward(dropout(pooled, config.dropout, is_training()));
}

Tensor SequenceClassifier::forward(const Tensor& inputs) {
  return forward(inputs, full({inputs.size(1)}, static_cast<double>(inputs.size(0)), DType::Int64));
}

}  // namespace recur::nn
