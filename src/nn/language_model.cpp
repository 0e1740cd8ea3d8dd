// LanguageModel (embed -> rnn -> head) and TokenSampler. The model's backward comes from the ops'
// autograd (embedding, rnn_layer, linear); the sampler runs rnn_step_ and linear_ in place.

#include "recur/nn/language_model.hpp"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>

#include "recur/autograd.hpp"
#include "recur/core/constant_weights.hpp"
#include "recur/ops.hpp"

namespace recur::nn {

void validate(const LanguageModelConfig& config) {
  parse_cell_name(config.cell);
  RECUR_CHECK(config.layers >= 1, "layers must be at least 1, got " << config.layers);
  RECUR_CHECK(config.hidden >= 1, "hidden size must be at least 1, got " << config.hidden);
  RECUR_CHECK(config.embed >= 0, "embedding size must be 0 (one-hot input) or more, got " << config.embed);
  RECUR_CHECK(config.vocab_size >= 1, "vocabulary size must be at least 1, got " << config.vocab_size);
  RECUR_CHECK(config.dropout >= 0 && config.dropout < 1, "dropout must be in [0, 1), got " << config.dropout);
  RECUR_CHECK(!config.peephole || parse_cell_name(config.cell) == RnnCell::Lstm,
              "peephole connections need the lstm cell, not " << config.cell);
  RECUR_CHECK(!config.tie_weights || config.embed == config.hidden,
              "tied weights need the embedding size to equal the hidden size, got embed "
                  << config.embed << " and hidden " << config.hidden);
  const std::vector<std::int64_t>& cutoffs = config.adaptive_softmax;
  RECUR_CHECK(!config.tie_weights || cutoffs.empty(), "tied weights need a Linear head, not an adaptive softmax");
  for (std::size_t i = 0; i < cutoffs.size(); ++i) {
    RECUR_CHECK(cutoffs[i] >= 1 && cutoffs[i] < config.vocab_size,
                "adaptive softmax cutoff " << cutoffs[i] << " must be in [1, vocabulary size " << config.vocab_size
                                           << ")");
    RECUR_CHECK(i == 0 || cutoffs[i] > cutoffs[i - 1], "adaptive softmax cutoffs must increase, got "
                                                           << cutoffs[i - 1] << " then " << cutoffs[i]);
  }
}

namespace {

LanguageModelConfig validated(const LanguageModelConfig& config) {
  validate(config);
  return config;
}

}  // namespace

LanguageModel::LanguageModel(const LanguageModelConfig& config)
    : config(validated(config)), cell(parse_cell_name(config.cell)) {
  if (config.embed > 0) embed = register_module("embed", std::make_shared<Embedding>(config.vocab_size, config.embed));
  rnn = register_module("rnn", make_rnn(cell, config.embed > 0 ? config.embed : config.vocab_size, config.hidden,
                                           {.num_layers = config.layers, .dropout = config.dropout,
                                            .peephole = config.peephole}));
  if (config.adaptive_softmax.empty())
    head = register_module("head", std::make_shared<Linear>(config.hidden, config.vocab_size));
  else
    adaptive_head = register_module("head", std::make_shared<AdaptiveLogSoftmaxWithLoss>(
                                                config.hidden, config.vocab_size, config.adaptive_softmax));
  if (config.tie_weights) embed->weight = embed->replace_parameter("weight", head->weight);
}

Device LanguageModel::device() const { return rnn->layer_weights(0, 0).w_ih.device(); }
DType LanguageModel::dtype() const { return rnn->layer_weights(0, 0).w_ih.dtype(); }

// features(t) = rnn(embed(x(t)) or onehot(x(t)), state(t-1)); logits(t) = head(features(t))
LanguageModel::Output LanguageModel::features(const Tensor& inputs, const State& state, const Tensor& lengths) {
  RECUR_CHECK(inputs.defined() && inputs.dim() == 2 && inputs.dtype() == DType::Int64,
              "LanguageModel: inputs must be int64 [T, B], got "
                  << (inputs.defined() ? inputs.shape().str() : std::string("an undefined tensor")));
  // one_hot is float32; the input must have the weights' dtype when the model is float64.
  const auto encode = [&](const Tensor& ids) {
    return embed ? embed->forward(ids) : to_dtype(one_hot(ids, config.vocab_size), dtype());
  };
  RNNOutput r = rnn->forward_tokens(inputs, encode, RNNState{state.h, state.c}, lengths);
  return {r.output, {r.h_n, r.c_n}};
}

LanguageModel::Output LanguageModel::forward(const Tensor& inputs, const State& state) {
  Output out = features(inputs, state);
  if (head) {
    out.logits = head->forward(out.logits);
  } else {
    const Shape shape = out.logits.shape();
    out.logits = reshape(adaptive_head->log_prob(reshape(out.logits, {-1, config.hidden})),
                         {shape[0], shape[1], config.vocab_size});
  }
  return out;
}

Tensor LanguageModel::loss(const Tensor& features, const Tensor& targets, Reduction reduction) {
  const Tensor rows = reshape(features, {-1, config.hidden});
  const Tensor flat_targets = reshape(targets, {-1});
  if (head) return linear_cross_entropy(rows, head->weight, head->bias, flat_targets, reduction);
  AdaptiveLogSoftmaxWithLoss::Output out = adaptive_head->forward(rows, flat_targets);
  if (reduction == Reduction::Mean) return out.loss;
  return reduction == Reduction::Sum ? neg(sum(out.output)) : neg(out.output);
}

Tensor LanguageModel::forward(const Tensor& inputs) { return forward(inputs, State{}).logits; }

namespace {

// Rows of the head's output computed at once where its log-probabilities are kept (trace):
// at most 4 M logits (16 MB in float32), so that a large vocabulary times thousands of
// positions fits in memory and a slice's logits are still in cache when read back.
std::int64_t head_slice_rows(std::int64_t vocab_size) {
  constexpr std::int64_t kSliceLogits = std::int64_t{1} << 22;
  return std::max<std::int64_t>(1, kSliceLogits / vocab_size);
}

}  // namespace

double LanguageModel::nll(std::span<const std::int32_t> tokens, std::int64_t chunk) {
  RECUR_CHECK(chunk >= 1, "LanguageModel::nll: chunk must be at least 1, got " << chunk);
  EvalModeGuard eval_mode(*this);
  NoGradGuard no_grad;
  ConstantWeightsGuard constant(parameters());  // every chunk's products by the same weights
  // The sum stays on the model's device, in float64 (each chunk's loss widened, then added:
  // the same operations a host sum would do), and is read once at the end.
  const Device device = this->device();
  Tensor total = zeros({}, DType::Float64, device);
  State state;
  const std::int64_t predicted = static_cast<std::int64_t>(tokens.size()) - 1;
  for (std::int64_t start = 0; start < predicted; start += chunk) {
    const std::int64_t length = std::min(chunk, predicted - start);
    std::vector<std::int64_t> inputs(tokens.begin() + start, tokens.begin() + start + length);
    std::vector<std::int64_t> targets(tokens.begin() + start + 1, tokens.begin() + start + length + 1);
    Output out = features(from_vector(inputs, {length, 1}, device), state);
    Tensor sum = loss(out.logits, from_vector(targets, {length}, device), Reduction::Sum);
    total = add(total, to_dtype(sum, DType::Float64));
    state = out.state;
  }
  return total.item();
}

std::vector<double> LanguageModel::sequence_logprobs(std::span<const std::vector<std::int32_t>> sequences,
                                                     std::int64_t start, std::int64_t batch,
                                                     std::vector<std::vector<double>>* per_token) {
  RECUR_CHECK(batch >= 1, "LanguageModel::sequence_logprobs: batch must be at least 1, got " << batch);
  RECUR_CHECK(start >= 0 && start < config.vocab_size, "LanguageModel::sequence_logprobs: start token "
                                                           << start << " is outside the vocabulary [0, "
                                                           << config.vocab_size << ")");
  EvalModeGuard eval_mode(*this);
  NoGradGuard no_grad;
  ConstantWeightsGuard constant(parameters());  // every batch's products by the same weights
  const auto count = static_cast<std::int64_t>(sequences.size());
  std::vector<double> logprobs(sequences.size(), 0.0);
  if (per_token) per_token->assign(sequences.size(), {});
  // Longest first, so a batch pads little; equal lengths keep their order.
  std::vector<std::int64_t> order(sequences.size());
  for (std::int64_t i = 0; i < count; ++i) order[i] = i;
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return sequences[a].size() > sequences[b].size(); });
  const Device device = this->device();
  for (std::int64_t first = 0; first < count; first += batch) {
    const std::int64_t rows = std::min(batch, count - first);
    const auto steps = static_cast<std::int64_t>(sequences[order[first]].size());
    if (steps == 0) break;  // the rest are empty too: log p = 0
    // Step t feeds token t - 1 (the start token at t = 0) and predicts token t; a sequence
    // that has ended is padded with the start token, and its lengths entry (at least one
    // step) lets the recurrence skip the padding, as the rows are longest first. The head
    // then sees the real positions only.
    std::vector<std::int64_t> inputs(static_cast<std::size_t>(steps * rows), start);
    std::vector<std::int64_t> lengths(static_cast<std::size_t>(rows));
    for (std::int64_t r = 0; r < rows; ++r)
      lengths[r] = std::max<std::int64_t>(1, static_cast<std::int64_t>(sequences[order[first + r]].size()));
    std::vector<std::int64_t> positions, targets;  // of the real tokens, in (step, row) order
    for (std::int64_t t = 0; t < steps; ++t)
      for (std::int64_t r = 0; r < rows; ++r) {
        const std::vector<std::int32_t>& s = sequences[order[first + r]];
        if (t >= static_cast<std::int64_t>(s.size())) continue;
        positions.push_back(t * rows + r);
        targets.push_back(s[t]);
        if (t + 1 < steps) inputs[(t + 1) * rows + r] = s[t];
      }
    const Tensor features_2d =
        reshape(features(from_vector(inputs, {steps, rows}, device), {}, from_vector(lengths, {rows}, device)).logits,
                {steps * rows, config.hidden});
    // The head on the real positions only (without storing the full softmax's logits).
    const auto real = static_cast<std::int64_t>(positions.size());
    const std::vector<double> nll =
        to_dtype(loss(index_select(features_2d, 0, from_vector(positions, {real}, device)),
                      from_vector(targets, {real}, device), Reduction::None),
                 DType::Float64)
            .to_vector<double>();
    // Back to the sequences: position k is (step, row) positions[k].
    for (std::int64_t k = 0; k < real; ++k) {
      const std::int64_t index = order[first + positions[k] % rows];
      logprobs[index] -= nll[k];
      if (per_token) (*per_token)[index].push_back(-nll[k]);
    }
  }
  return logprobs;
}

// Layer by layer: layer l steps through all T + 1 inputs (rnn_step_ on one row), keeping
// each step's h (and c), whose rows are then layer l + 1's inputs; the head reads the top
// layer's rows a slice at a time.
LanguageModel::Trace LanguageModel::trace(std::span<const std::int32_t> tokens, std::int64_t start,
                                          std::int64_t top_k) {
  RECUR_CHECK(top_k >= 1, "LanguageModel::trace: top_k must be at least 1, got " << top_k);
  RECUR_CHECK(start >= 0 && start < config.vocab_size, "LanguageModel::trace: start token "
                                                           << start << " is outside the vocabulary [0, "
                                                           << config.vocab_size << ")");
  for (std::size_t t = 0; t < tokens.size(); ++t)
    RECUR_CHECK(tokens[t] >= 0 && tokens[t] < config.vocab_size,
                "LanguageModel::trace: token " << tokens[t] << " at position " << t
                                               << " is outside the vocabulary [0, " << config.vocab_size << ")");
  EvalModeGuard eval_mode(*this);
  NoGradGuard no_grad;
  const auto T = static_cast<std::int64_t>(tokens.size());
  const std::int64_t steps = T + 1, H = config.hidden, V = config.vocab_size;
  const Device device = this->device();
  const DType dtype = this->dtype();
  const bool has_cell_state = rnn_cell_info(cell).cell_state;

  Trace out;
  out.steps = T;
  out.layers = config.layers;
  out.hidden = H;
  out.top_k = std::min(top_k, V);
  std::vector<std::int64_t> inputs{start};
  inputs.insert(inputs.end(), tokens.begin(), tokens.end());
  const Tensor ids = from_vector(inputs, {steps}, device);
  Tensor layer_input = embed ? embed->forward(ids) : to_dtype(one_hot(ids, V), dtype);  // [steps, I]
  Tensor workspace;
  for (std::int64_t layer = 0; layer < config.layers; ++layer) {
    const Tensor h = zeros({1, H}, dtype, device), hs = zeros({steps, H}, dtype, device);
    const Tensor c = has_cell_state ? zeros({1, H}, dtype, device) : Tensor();
    const Tensor cs = has_cell_state ? zeros({steps, H}, dtype, device) : Tensor();
    for (std::int64_t t = 0; t < steps; ++t) {
      rnn_step_(cell, narrow(layer_input, 0, t, 1), rnn->layer_weights(layer, 0), h, c, workspace);
      copy_(narrow(hs, 0, t, 1), h);
      if (has_cell_state) copy_(narrow(cs, 0, t, 1), c);
    }
    // The state after `start` is not the text's.
    out.h.push_back(to_dtype(narrow(hs, 0, 1, T), DType::Float32).contiguous().to_vector<float>());
    if (has_cell_state) out.c.push_back(to_dtype(narrow(cs, 0, 1, T), DType::Float32).contiguous().to_vector<float>());
    layer_input = hs;
  }

  // Row r of the head's output predicts tokens[r] (r < T) and, for r >= 1, is the
  // prediction after tokens[r - 1]. A slice at a time.
  const std::int64_t k = out.top_k;
  out.logprobs.resize(static_cast<std::size_t>(T));
  out.next_tokens.resize(static_cast<std::size_t>(T * k));
  out.next_logprobs.resize(static_cast<std::size_t>(T * k));
  std::vector<std::int32_t> order(static_cast<std::size_t>(V));
  const std::int64_t slice = head_slice_rows(V);
  for (std::int64_t first = 0; first < steps; first += slice) {
    const std::int64_t rows = std::min(slice, steps - first);
    const Tensor features = narrow(layer_input, 0, first, rows);
    const Tensor log_probs = head ? log_softmax(head->forward(features), 1) : adaptive_head->log_prob(features);
    const std::vector<float> values = to_dtype(log_probs, DType::Float32).contiguous().to_vector<float>();
    for (std::int64_t r = 0; r < rows; ++r) {
      const std::int64_t row = first + r;
      const float* p = values.data() + r * V;
      if (row < T) out.logprobs[row] = p[tokens[row]];
      if (row == 0) continue;
      for (std::int64_t i = 0; i < V; ++i) order[i] = static_cast<std::int32_t>(i);
      std::partial_sort(order.begin(), order.begin() + k, order.end(),
                        [&](std::int32_t a, std::int32_t b) { return p[a] > p[b] || (p[a] == p[b] && a < b); });
      for (std::int64_t i = 0; i < k; ++i) {
        out.next_tokens[(row - 1) * k + i] = order[i];
        out.next_logprobs[(row - 1) * k + i] = p[order[i]];
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- sampling

TokenSampler::TokenSampler(const LanguageModel& model, std::int64_t batch)
    : model_(model),
      batch_(batch),
      vocab_size_(model.config.vocab_size),
      input_size_(model.config.embed > 0 ? model.config.embed : model.config.vocab_size) {
  RECUR_CHECK(batch >= 1, "TokenSampler: batch must be at least 1, got " << batch);
  RECUR_CHECK(model.dtype() == DType::Float32, "TokenSampler: the model must be float32, got " << model.dtype());
  const Device device = model.device();
  input_ = zeros({batch, input_size_}, DType::Float32, device);
  for (std::int64_t layer = 0; layer < model.config.layers; ++layer) {
    h_.push_back(zeros({batch, model.config.hidden}, DType::Float32, device));
    c_.push_back(rnn_cell_info(model.cell).cell_state ? zeros({batch, model.config.hidden}, DType::Float32, device)
                                                      : Tensor());
  }
  logits_ = zeros({batch, vocab_size_}, DType::Float32, device);
  if (!device.is_cpu()) {  // host staging for the tokens fed and the logits drawn from
    tokens_host_ = zeros({batch}, DType::Int64);
    tokens_ = zeros({batch}, DType::Int64, device);
    logits_host_ = zeros({batch, vocab_size_});
  }
  weights_.resize(static_cast<std::size_t>(vocab_size_));
  order_.resize(static_cast<std::size_t>(vocab_size_));
}

void TokenSampler::reset() {
  for (std::int64_t layer = 0; layer < model_.config.layers; ++layer) {
    zero_(h_[layer]);
    if (c_[layer].defined()) zero_(c_[layer]);
  }
  fed_ = false;
}

void TokenSampler::feed(std::span<const std::int64_t> tokens) {
  RECUR_CHECK(static_cast<std::int64_t>(tokens.size()) == batch_,
              "TokenSampler::feed: expected " << batch_ << " tokens, got " << tokens.size());
  NoGradGuard no_grad;
  for (std::int64_t b = 0; b < batch_; ++b)
    RECUR_CHECK(tokens[b] >= 0 && tokens[b] < vocab_size_,
                "TokenSampler::feed: token " << tokens[b] << " is outside the vocabulary [0, " << vocab_size_ << ")");
  if (input_.device().is_cpu()) feed_on_host(tokens);
  else feed_on_device(tokens);
  const Tensor* layer_input = &input_;
  for (std::int64_t layer = 0; layer < model_.config.layers; ++layer) {
    rnn_step_(model_.cell, *layer_input, model_.rnn->layer_weights(layer, 0), h_[layer], c_[layer], workspace_);
    layer_input = &h_[layer];
  }
  if (model_.head) linear_(logits_, *layer_input, model_.head->weight, model_.head->bias);
  else copy_(logits_, model_.adaptive_head->log_prob(*layer_input));
  fed_ = true;
}

// The input rows written in place in host memory: no allocation, no kernel.
void TokenSampler::feed_on_host(std::span<const std::int64_t> tokens) {
  float* x = input_.data<float>();
  const float* table = model_.embed ? model_.embed->weight.data<float>() : nullptr;
  for (std::int64_t b = 0; b < batch_; ++b) {
    const std::int64_t token = tokens[b];
    float* row = x + b * input_size_;
    if (table) {
      std::memcpy(row, table + token * input_size_, sizeof(float) * input_size_);
    } else {
      std::fill(row, row + input_size_, 0.0f);
      row[token] = 1;
    }
  }
}

// On another device the tokens are uploaded (one copy) and the rows looked up there.
void TokenSampler::feed_on_device(std::span<const std::int64_t> tokens) {
  std::copy(tokens.begin(), tokens.end(), tokens_host_.data<std::int64_t>());
  copy_(tokens_, tokens_host_);
  copy_(input_, model_.embed ? embedding(model_.embed->weight, tokens_) : one_hot(tokens_, vocab_size_));
}

void TokenSampler::draw(std::span<std::int64_t> out, const SamplingOptions& options, Generator& generator) {
  RECUR_CHECK(fed_, "TokenSampler::draw: feed() a token first");
  RECUR_CHECK(static_cast<std::int64_t>(out.size()) == batch_,
              "TokenSampler::draw: expected room for " << batch_ << " tokens, got " << out.size());
  RECUR_CHECK(options.argmax || options.temperature > 0,
              "temperature must be greater than 0, got " << options.temperature);
  // The one host read of sampling: the logits, once per draw (in place on the CPU).
  if (logits_host_.defined()) copy_(logits_host_, logits_);
  const float* all = (logits_host_.defined() ? logits_host_ : logits_).data<float>();
  for (std::int64_t b = 0; b < batch_; ++b) {
    const float* row = all + b * vocab_size_;
    if (options.argmax) {
      out[b] = std::max_element(row, row + vocab_size_) - row;  // first of equal maxima
      continue;
    }
    // p(i) = exp((l_i - l_max) / T) / sum over the candidates, drawn by inverting the CDF.
    // The largest weighs exactly 1 and the others underflow to 0 at worst, so no temperature,
    // however small, overflows (dividing l_i by T first would make inf - inf = NaN).
    const std::int64_t k =
        options.top_k > 0 && options.top_k < vocab_size_ ? options.top_k : vocab_size_;
    for (std::int64_t i = 0; i < vocab_size_; ++i) order_[i] = static_cast<std::int32_t>(i);
    if (k < vocab_size_)
      std::partial_sort(order_.begin(), order_.begin() + k, order_.end(), [&](std::int32_t a, std::int32_t c) {
        return row[a] > row[c] || (row[a] == row[c] && a < c);
      });
    float top = -INFINITY;
    for (std::int64_t j = 0; j < k; ++j) top = std::max(top, row[order_[j]]);
    double total = 0;
    std::int64_t pick = order_[0];  // the last candidate of positive weight, should rounding
    for (std::int64_t j = 0; j < k; ++j) {  // leave the target at or above the last sum
      float& weight = weights_[order_[j]];
      weight = static_cast<float>(std::exp((row[order_[j]] - top) / options.temperature));
      total += weight;
      if (weight > 0) pick = order_[j];
    }
    const double target = generator.next_uniform() * total;
    double cumulative = 0;
    for (std::int64_t j = 0; j < k; ++j) {
      cumulative += weights_[order_[j]];
      if (target < cumulative) {
        pick = order_[j];
        break;
      }
    }
    out[b] = pick;
  }
}

}  // namespace recur::nn
