// Sequence to sequence as a training task: source<TAB>target pairs, an nn::Seq2Seq, error rates.

#include "recur/train/seq2seq_task.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>
#include <optional>

#include "recur/autograd.hpp"
#include "recur/core/constant_weights.hpp"
#include "recur/data/loader.hpp"
#include "recur/dist.hpp"
#include "recur/ops.hpp"
#include "recur/rnn_cell.hpp"

namespace recur::train {

namespace fs = std::filesystem;

std::vector<std::int32_t> sequence_tokens(std::string_view text, const data::Vocab& vocab, const std::string& where,
                                          std::string_view what) {
  const std::vector<std::string> tokens = data::split_tokens(text, vocab.token_options(), where);
  RECUR_CHECK(!tokens.empty(), where << ": the " << what << " has no "
                                     << (vocab.mode() == data::TokenMode::Word ? "words" : "characters"));
  return data::encode_tokens(tokens, vocab);
}

std::string sequence_text(std::span<const std::int32_t> tokens, const data::Vocab& vocab) {
  std::string text;
  for (std::int32_t t : tokens) {
    if (vocab.mode() == data::TokenMode::Word && !text.empty()) text += ' ';
    text += vocab.token(t);
  }
  return text;
}

std::vector<Seq2SeqExample> encode_pairs(std::span<const data::TextPair> pairs, const Seq2SeqFacts& facts) {
  std::vector<Seq2SeqExample> examples;
  std::map<std::vector<std::int32_t>, std::size_t> by_source;
  for (const data::TextPair& p : pairs) {
    const std::string where = "line " + std::to_string(p.line);
    std::vector<std::int32_t> source = sequence_tokens(p.source, facts.source, where, "source");
    auto [it, added] = by_source.emplace(source, examples.size());
    if (added) examples.push_back({std::move(source), {}, p.line});
    examples[it->second].targets.push_back(sequence_tokens(p.target, facts.target, where, "target"));
  }
  return examples;
}

Seq2SeqBatch seq2seq_batch(std::span<const Seq2SeqExample> examples, std::span<const std::int64_t> picked,
                           const Seq2SeqFacts& facts) {
  RECUR_CHECK(!picked.empty(), "seq2seq_batch: no examples picked");
  std::vector<const std::vector<std::int32_t>*> sources, targets;
  for (std::int64_t i : picked) {
    RECUR_CHECK(i >= 0 && i < static_cast<std::int64_t>(examples.size()), "seq2seq_batch: example " << i
                                                                          << " is out of range");
    for (const std::vector<std::int32_t>& target : examples[i].targets)
      sources.push_back(&examples[i].source), targets.push_back(&target);
  }
  const auto B = static_cast<std::int64_t>(sources.size());
  std::int64_t S = 0, T = 0;
  for (std::int64_t b = 0; b < B; ++b) {
    S = std::max<std::int64_t>(S, static_cast<std::int64_t>(sources[b]->size()));
    T = std::max<std::int64_t>(T, static_cast<std::int64_t>(targets[b]->size()) + 1);
  }
  std::vector<std::int64_t> source(S * B, 0), lengths(B), in(T * B, 0), out(T * B, data::kIgnoreLabel);
  Seq2SeqBatch batch;
  for (std::int64_t b = 0; b < B; ++b) {
    const std::vector<std::int32_t>& s = *sources[b];
    const std::vector<std::int32_t>& t = *targets[b];
    lengths[b] = static_cast<std::int64_t>(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) source[i * B + b] = s[i];
    const auto L = static_cast<std::int64_t>(t.size());
    for (std::int64_t i = 0; i <= L; ++i) {
      in[i * B + b] = i == 0 ? facts.bos() : t[i - 1];
      out[i * B + b] = i == L ? facts.eos() : t[i];
    }
    batch.target_tokens += L + 1;
  }
  batch.source = from_vector(source, {S, B});
  batch.source_lengths = from_vector(lengths, {B});
  batch.target_in = from_vector(in, {T, B});
  batch.target_out = from_vector(out, {T, B});
  return batch;
}

std::vector<std::vector<nn::Hypothesis>> translate(nn::Seq2Seq& model, const Seq2SeqFacts& facts,
                                                   std::span<const std::vector<std::int32_t>> sources,
                                                   nn::BeamOptions options, std::int64_t batch_size) {
  std::vector<std::vector<nn::Hypothesis>> results(sources.size());
  if (sources.empty()) return results;
  options.bos = facts.bos(), options.eos = facts.eos();
  std::vector<std::int64_t> lengths;
  for (const std::vector<std::int32_t>& s : sources) lengths.push_back(static_cast<std::int64_t>(s.size()));
  const nn::EvalModeGuard eval_mode(model);
  NoGradGuard no_grad;
  ConstantWeightsGuard constant(model.parameters());  // the weights packed once for every batch
  std::optional<nn::Seq2SeqStepper> stepper;          // likewise what it derives from them
  for (const std::vector<std::int64_t>& picked :
       data::LengthBatches(lengths, batch_size, 0, /*shuffle=*/false).epoch_batches(0)) {
    const auto B = static_cast<std::int64_t>(picked.size());
    std::int64_t S = 0;
    for (std::int64_t i : picked) S = std::max(S, lengths[i]);
    std::vector<std::int64_t> tokens(S * B, 0), batch_lengths;
    for (std::int64_t b = 0; b < B; ++b) {
      batch_lengths.push_back(lengths[picked[b]]);
      for (std::int64_t t = 0; t < lengths[picked[b]]; ++t) tokens[t * B + b] = sources[picked[b]][t];
    }
    nn::BeamOptions o = options;
    if (o.max_length == 0) o.max_length = 2 * S + 10;
    nn::DecoderState state = model.encode(from_vector(tokens, {S, B}), from_vector(batch_lengths, {B}));
    if (stepper) stepper->restart(std::move(state));
    else stepper.emplace(model, std::move(state));
    std::vector<std::vector<nn::Hypothesis>> found = nn::beam_search(*stepper, B, o);
    for (std::int64_t b = 0; b < B; ++b) results[picked[b]] = std::move(found[b]);
  }
  return results;
}

std::vector<double> target_logprobs(nn::Seq2Seq& model, const Seq2SeqFacts& facts,
                                    std::span<const Seq2SeqExample> examples, std::int64_t batch_size,
                                    std::vector<std::vector<double>>* per_token) {
  std::vector<double> result(examples.size(), 0.0);
  if (per_token) per_token->assign(examples.size(), {});
  if (examples.empty()) return result;
  std::vector<std::int64_t> lengths;
  for (const Seq2SeqExample& e : examples) {
    RECUR_CHECK(e.targets.size() == 1, "target_logprobs: an example has " << e.targets.size()
                                                                          << " targets; scoring needs exactly one");
    lengths.push_back(static_cast<std::int64_t>(e.source.size()));
  }
  const nn::EvalModeGuard eval_mode(model);
  NoGradGuard no_grad;
  for (const std::vector<std::int64_t>& picked :
       data::LengthBatches(lengths, batch_size, 0, /*shuffle=*/false).epoch_batches(0)) {
    const Seq2SeqBatch batch = seq2seq_batch(examples, picked, facts);  // column b is picked[b]
    const Tensor log_probs = contiguous(to_dtype(
        log_softmax(model.forward(batch.source, batch.source_lengths, batch.target_in), 2), DType::Float64));
    const std::int64_t T = log_probs.size(0), B = log_probs.size(1), V = log_probs.size(2);
    const double* lp = log_probs.data<double>();
    const std::vector<std::int64_t> out = batch.target_out.to_vector<std::int64_t>();
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t t = 0; t < T && out[t * B + b] != data::kIgnoreLabel; ++t) {
        const double token = lp[(t * B + b) * V + out[t * B + b]];
        result[picked[b]] += token;
        if (per_token) (*per_token)[picked[b]].push_back(token);
      }
  }
  return result;
}

std::vector<std::vector<float>> attention_matrix(nn::Seq2Seq& model, const Seq2SeqFacts& facts,
                                                 std::span<const std::int32_t> source,
                                                 std::span<const std::int32_t> target) {
  RECUR_CHECK(model.attention, "attention_matrix: the model has no attention");
  RECUR_CHECK(!source.empty(), "attention_matrix: the source is empty");
  const auto S = static_cast<std::int64_t>(source.size());
  const nn::EvalModeGuard eval_mode(model);
  NoGradGuard no_grad;
  nn::DecoderState state = model.encode(from_vector(std::vector<std::int64_t>(source.begin(), source.end()), {S, 1}),
                                        from_vector(std::vector<std::int64_t>{S}, {1}));
  std::vector<std::vector<float>> rows;
  for (std::size_t t = 0; t <= target.size(); ++t) {
    const std::int64_t previous = t == 0 ? facts.bos() : target[t - 1];
    Tensor weights;
    model.decode_step(state, from_vector(std::vector<std::int64_t>{previous}, {1}), &weights);
    rows.push_back(to_dtype(to(weights, Device::cpu()), DType::Float32).to_vector<float>());
  }
  return rows;
}

Seq2SeqScores evaluate_seq2seq(nn::Seq2Seq& model, const Seq2SeqFacts& facts, std::span<const Seq2SeqExample> examples,
                               const nn::BeamOptions& options) {
  RECUR_CHECK(!examples.empty(), "evaluate_seq2seq: no examples");
  Seq2SeqScores scores;
  std::vector<Seq2SeqExample> pairs;  // one target each, for forced decoding
  double logprob = 0, tokens = 0;
  for (const Seq2SeqExample& e : examples)
    for (const std::vector<std::int32_t>& target : e.targets) {
      pairs.push_back({e.source, {target}, e.line});
      tokens += static_cast<double>(target.size() + 1);  // and <eos>
    }
  for (double lp : target_logprobs(model, facts, pairs)) logprob += lp;
  scores.loss = -logprob / tokens;
  std::vector<std::vector<std::int32_t>> sources;
  for (const Seq2SeqExample& e : examples) sources.push_back(e.source);
  const std::vector<std::vector<nn::Hypothesis>> found = translate(model, facts, sources, options);
  ErrorRateCounter errors;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const std::vector<std::int32_t> best = found[i].empty() ? std::vector<std::int32_t>() : found[i][0].tokens;
    errors.add(best, examples[i].targets);
    scores.bleu.add(best, examples[i].targets);
  }
  scores.rates = errors.rates;
  return scores;
}

Seq2SeqTask::Seq2SeqTask() = default;
Seq2SeqTask::~Seq2SeqTask() = default;

std::vector<OptionSpec> Seq2SeqTask::options() const {
  using T = OptionType;
  using G = OptionGroup;
  using C = OptionCheck;
  return {
      {.key = "data", .type = T::Text, .default_value = std::string(),
       .help = "Pairs to train on: one source<TAB>target a line (UTF-8)", .group = G::Data, .positional = true},
      {.key = "src_tokens", .type = T::Text, .default_value = std::string("char"),
       .help = "Read the sources as words (split at whitespace) or characters", .group = G::Data,
       .choices = {"char", "word"}},
      {.key = "tgt_tokens", .type = T::Text, .default_value = std::string("char"),
       .help = "Read the targets as words (split at whitespace) or characters", .group = G::Data,
       .choices = {"char", "word"}},
      {.key = "val", .type = T::Text, .default_value = std::string(),
       .help = "Validation pairs (then DATA is all training pairs and the fractions are ignored)", .group = G::Data},
      {.key = "test", .type = T::Text, .default_value = std::string(),
       .help = "Test pairs, measured with the best model at the end (DATA is then all training pairs)",
       .group = G::Data},
      {.key = "val_fraction", .type = T::Real, .default_value = 0.05,
       .help = "Fraction of the distinct sources for validation", .group = G::Data, .check = C::Fraction},
      {.key = "test_fraction", .type = T::Real, .default_value = 0.05,
       .help = "Fraction of the distinct sources held out for testing", .group = G::Data, .check = C::Fraction},
      {.key = "batch_size", .type = T::Int, .default_value = std::int64_t{32}, .help = "Sources per batch",
       .group = G::Data, .check = C::Positive},
      {.key = "label_smoothing", .type = T::Real, .default_value = 0.0,
       .help = "Mix the targets with the uniform distribution by this much (Szegedy et al.)", .group = G::Data,
       .check = C::BelowOne},
      {.key = "cell", .type = T::Text, .default_value = std::string("lstm"), .help = "Recurrent cell",
       .group = G::Model, .choices = rnn_cell_key_list(), .section = "model"},
      {.key = "enc_layers", .type = T::Int, .default_value = std::int64_t{2}, .help = "Encoder layers",
       .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "dec_layers", .type = T::Int, .default_value = std::int64_t{2}, .help = "Decoder layers",
       .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "hidden", .type = T::Int, .default_value = std::int64_t{256},
       .help = "Hidden units of the decoder, and of the encoder's two directions together", .group = G::Model,
       .check = C::Positive, .section = "model"},
      {.key = "embed", .type = T::Int, .default_value = std::int64_t{128}, .help = "Embedding size",
       .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "bidirectional", .type = T::Flag, .default_value = true,
       .help = "The encoder reads each source in both directions (--bidirectional=false: forwards only)",
       .group = G::Model, .section = "model"},
      {.key = "attention", .type = T::Text, .default_value = std::string("bahdanau"),
       .help = "How the decoder looks at the source", .group = G::Model,
       .choices = {"bahdanau", "dot", "general", "none"}, .section = "model"},
      {.key = "dropout", .type = T::Real, .default_value = 0.2,
       .help = "Dropout between recurrent layers and on the attentional vector", .group = G::Model,
       .check = C::BelowOne, .section = "model"},
      {.key = "src_vocab_size", .type = T::Int, .default_value = std::int64_t{0},
       .help = "Source tokens (from the data)", .group = G::Model, .section = "model", .command_line = false},
      {.key = "tgt_vocab_size", .type = T::Int, .default_value = std::int64_t{0},
       .help = "Target tokens with <bos> and <eos> (from the data)", .group = G::Model, .section = "model",
       .command_line = false},
  };
}

// The task's defaults where they differ from the trainer's: at a constant rate the
// validation error stops falling within a few epochs of CMUdict while the training loss
// stays level; halving the rate whenever it stalls lets it fall further.
const OptionDefault kSeq2SeqDefaults[] = {{"lr_decay", 0.5}, {"lr_decay_stalled", std::int64_t{4}}};

void Seq2SeqTask::apply_defaults(OptionValues& o, const std::set<std::string>& given) const {
  set_defaults(o, kSeq2SeqDefaults, given);
}

std::string Seq2SeqTask::default_out(const OptionValues& o) const {
  return (fs::path("runs") / fs::path(o.text("data")).stem()).string();
}

std::string Seq2SeqTask::title(const OptionValues& o) const { return fs::path(o.text("data")).filename().string(); }

void Seq2SeqTask::check_options(const OptionValues& o) const {
  RECUR_CHECK(!o.text("data").empty(), "--task seq2seq needs DATA: a file of source<TAB>target lines");
  RECUR_CHECK(!o.flag("bidirectional") || o.integer("hidden") % 2 == 0,
              "--hidden " << o.integer("hidden")
                          << ": a bidirectional encoder gives each direction half of it, so it must be even");
  if (!o.text("val").empty() || !o.text("test").empty()) return;
  RECUR_CHECK(o.real("val_fraction") + o.real("test_fraction") < 1,
              "--val-fraction " << o.real("val_fraction") << " and --test-fraction " << o.real("test_fraction")
                                << " leave no pairs to train on");
}

std::map<std::string, std::string> Seq2SeqTask::read_start(const std::string& path) {
  start_ = load_seq2seq(path);
  return start_->metadata;
}

// Without --val / --test, the distinct sources are shuffled (counters from 2^62, apart from
// the batches') and round(n * fraction) go to validation, as many again by test_fraction to
// test: all targets of a source land in the same part.
void Seq2SeqTask::load_data(OptionValues& o) {
  data_path_ = o.text("data");
  batch_size_ = o.integer("batch_size");
  label_smoothing_ = o.real("label_smoothing");
  if (start_) {
    o.set("src_tokens", std::string(data::token_mode_name(start_->source.mode())));
    o.set("tgt_tokens", std::string(data::token_mode_name(start_->target.mode())));
  }
  const data::TokenMode src_mode = data::parse_token_mode(o.text("src_tokens"));
  const data::TokenMode tgt_mode = data::parse_token_mode(o.text("tgt_tokens"));
  std::vector<data::TextPair> train = data::read_text_pairs(data_path_, src_mode, tgt_mode), validation, test;
  if (!o.text("val").empty() || !o.text("test").empty()) {
    if (!o.text("val").empty()) validation = data::read_text_pairs(o.text("val"), src_mode, tgt_mode);
    if (!o.text("test").empty()) test = data::read_text_pairs(o.text("test"), src_mode, tgt_mode);
  } else {
    std::map<std::string, std::int64_t> source_index;
    for (const data::TextPair& p : train) source_index.emplace(p.source, 0);
    const auto n = static_cast<std::int64_t>(source_index.size());
    std::int64_t val = std::llround(static_cast<double>(n) * o.real("val_fraction"));
    std::int64_t held = std::llround(static_cast<double>(n) * o.real("test_fraction"));
    val = std::min(val, n - 1), held = std::min(held, n - 1 - val);
    const std::vector<std::int64_t> order = data::shuffled_order(n, o.seed("seed"), 1ULL << 62);
    std::vector<int> part(static_cast<std::size_t>(n), 0);  // 0 train, 1 validation, 2 test
    for (std::int64_t k = 0; k < val + held; ++k) part[order[k]] = k < val ? 1 : 2;
    std::int64_t next = 0;
    for (auto& [source, index] : source_index) index = next++;  // sorted: a pure function of the data
    std::vector<data::TextPair> all = std::move(train);
    train.clear();
    for (data::TextPair& p : all) {
      const int where = part[source_index.at(p.source)];
      (where == 0 ? train : where == 1 ? validation : test).push_back(std::move(p));
    }
  }
  if (start_) {
    facts_.source = start_->source, facts_.target = start_->target;
  } else {
    std::vector<std::vector<std::string>> sources, targets;
    for (const data::TextPair& p : train) {
      sources.push_back(data::split_tokens(p.source, {.mode = src_mode}, data_path_));
      targets.push_back(data::split_tokens(p.target, {.mode = tgt_mode}, data_path_));
    }
    facts_.source = data::build_vocab(sources, {.mode = src_mode});
    facts_.target = data::build_vocab(targets, {.mode = tgt_mode});
  }
  train_ = encode_pairs(train, facts_);
  validation_ = encode_pairs(validation, facts_);
  test_ = encode_pairs(test, facts_);
  std::vector<std::int64_t> lengths;
  for (const Seq2SeqExample& e : train_) lengths.push_back(static_cast<std::int64_t>(e.source.size()));
  batches_ = std::make_unique<data::LengthBatches>(lengths, batch_size_, o.seed("seed"));
  position_ = std::make_unique<PositionOf<data::LengthBatches>>(*batches_);
}

nn::Module& Seq2SeqTask::build_model(OptionValues& o, bool load_start_weights) {
  const std::string attention = o.text("attention");
  nn::Seq2SeqConfig config{
      .cell = o.text("cell"),
      .src_vocab = facts_.source.size(),
      .tgt_vocab = facts_.target.size() + 2,
      .embed = o.integer("embed"),
      .hidden = o.integer("hidden"),
      .enc_layers = o.integer("enc_layers"),
      .dec_layers = o.integer("dec_layers"),
      .bidirectional = o.flag("bidirectional"),
      .attention = attention == "none" ? std::nullopt : std::optional(nn::parse_attention(attention)),
      .dropout = o.real("dropout")};
  if (start_) {
    config = start_->model->config;  // the architecture is the start model's, the dropout the run's
    config.dropout = o.real("dropout");
  }
  model_ = std::make_shared<nn::Seq2Seq>(config);
  if (start_ && load_start_weights) model_->load_state_dict(start_->model->state_dict());
  start_.reset();
  o.set("cell", config.cell), o.set("enc_layers", config.enc_layers), o.set("dec_layers", config.dec_layers);
  o.set("hidden", config.hidden), o.set("embed", config.embed), o.set("bidirectional", config.bidirectional);
  o.set("attention", std::string(config.attention ? nn::attention_name(*config.attention) : "none"));
  o.set("src_vocab_size", config.src_vocab), o.set("tgt_vocab_size", config.tgt_vocab);
  model_->train();
  return *model_;
}

std::vector<std::string> Seq2SeqTask::describe() const {
  std::int64_t pairs = 0;
  for (const Seq2SeqExample& e : train_) pairs += static_cast<std::int64_t>(e.targets.size());
  const nn::Seq2SeqConfig& c = model_->config;
  return {fs::path(data_path_).filename().string() + ": " + std::to_string(pairs) + " training pairs of " +
              std::to_string(train_.size()) + " sources, " + std::to_string(validation_.size()) + " validation and " +
              std::to_string(test_.size()) + " test sources; vocabularies " + std::to_string(facts_.source.size()) +
              " source and " + std::to_string(facts_.target.size()) + " target tokens",
          std::string(c.bidirectional ? "bidirectional " : "") + c.cell + " encoder " + std::to_string(c.enc_layers) +
              "x" + std::to_string(c.hidden) + ", decoder " + std::to_string(c.dec_layers) + "x" +
              std::to_string(c.hidden) + ", " + (c.attention ? nn::attention_name(*c.attention) : "no") +
              " attention, " + std::to_string(model_->num_parameters()) + " parameters; " +
              std::to_string(batches_->steps_per_epoch()) + " steps per epoch of up to " +
              std::to_string(batch_size_) + " sources"};
}

std::int64_t Seq2SeqTask::steps_per_epoch() const { return batches_->steps_per_epoch(); }
std::int64_t Seq2SeqTask::epoch() const { return batches_->epoch(); }

bool Seq2SeqTask::next_batch() {
  std::vector<std::int64_t> picked;
  if (!batches_->next(picked)) return false;
  // The loss is a mean over the batch's target tokens: each target's and its <eos>.
  const BatchPart mine = batch_part(picked, part_, parts_, [&](std::int64_t i) {
    double tokens = 0;
    for (const std::vector<std::int32_t>& target : train_[i].targets) tokens += static_cast<double>(target.size() + 1);
    return tokens;
  });
  part_weight_ = mine.weight;
  batch_ = seq2seq_batch(train_, mine.picked, facts_);
  return true;
}

double Seq2SeqTask::items_per_step() const {
  return static_cast<double>(train_.size()) / static_cast<double>(batches_->steps_per_epoch());
}

// The mean over the batch's target tokens of (1 - e) nll + e * (-mean_v log p_v): label
// smoothing e as torch.nn.CrossEntropyLoss(label_smoothing=e) computes it.
Tensor Seq2SeqTask::loss() {
  const Tensor logits = model_->forward(batch_.source, batch_.source_lengths, batch_.target_in);
  const std::int64_t V = logits.size(2);
  const Tensor flat = reshape(logits, {-1, V}), targets = reshape(batch_.target_out, {-1});
  const Tensor nll = cross_entropy(flat, targets);
  if (label_smoothing_ == 0) return nll;
  std::vector<float> real;
  for (std::int64_t t : targets.to_vector<std::int64_t>()) real.push_back(t == data::kIgnoreLabel ? 0.0f : 1.0f);
  const Tensor mask = from_vector(real, {static_cast<std::int64_t>(real.size())}, flat.device());
  const Tensor uniform_nll = neg(mean(log_softmax(flat, 1), {1}));
  const Tensor smooth = mul(sum(mul(uniform_nll, mask)), 1.0 / static_cast<double>(batch_.target_tokens));
  return add(mul(nll, 1 - label_smoothing_), mul(smooth, label_smoothing_));
}

std::vector<Metric> Seq2SeqTask::metrics(std::span<const Seq2SeqExample> examples, const std::string& prefix) {
  if (examples.empty())
    return {{prefix + "loss", NAN}, {prefix + "token_error_rate", NAN}, {prefix + "sequence_error_rate", NAN}};
  if (dist::size() == 1) {
    const Seq2SeqScores s = evaluate_seq2seq(*model_, facts_, examples, {.beam = 1, .max_length = 0});
    return {{prefix + "loss", s.loss},
            {prefix + "token_error_rate", s.rates.token_error_rate()},
            {prefix + "sequence_error_rate", s.rates.sequence_error_rate()}};
  }
  // A data-parallel run: each process evaluates its share of the pairs, and the loss's and
  // the error rates' sums are added up.
  const dist::Range mine = dist::share(static_cast<std::int64_t>(examples.size()), dist::rank(), dist::size());
  double nats = 0, tokens = 0;
  ErrorRates rates;
  if (mine.end > mine.begin) {
    const std::span<const Seq2SeqExample> part = examples.subspan(mine.begin, mine.end - mine.begin);
    const Seq2SeqScores s = evaluate_seq2seq(*model_, facts_, part, {.beam = 1, .max_length = 0});
    for (const Seq2SeqExample& e : part)
      for (const std::vector<std::int32_t>& target : e.targets) tokens += static_cast<double>(target.size() + 1);
    nats = s.loss * tokens, rates = s.rates;
  }
  auto add_up = [](std::int64_t& count) { count = std::llround(dist::sum_over_processes(static_cast<double>(count))); };
  add_up(rates.examples), add_up(rates.wrong_sequences), add_up(rates.token_errors), add_up(rates.reference_tokens);
  return {{prefix + "loss", dist::sum_over_processes(nats) / dist::sum_over_processes(tokens)},
          {prefix + "token_error_rate", rates.token_error_rate()},
          {prefix + "sequence_error_rate", rates.sequence_error_rate()}};
}

std::vector<Metric> Seq2SeqTask::evaluate() { return metrics(validation_, "val_"); }
std::vector<Metric> Seq2SeqTask::evaluate_test() { return metrics(test_, "test_"); }

std::string Seq2SeqTask::describe_metric(double sequence_error_rate) const {
  if (!std::isfinite(sequence_error_rate)) return "none (no validation pairs)";
  char text[64];
  std::snprintf(text, sizeof text, "sequence error rate %.4f", sequence_error_rate);
  return text;
}

std::string Seq2SeqTask::describe_evaluation(const std::vector<Metric>& m) const {
  if (m.size() < 3 || !std::isfinite(m[2].value)) return describe_metric(NAN);
  char text[128];
  std::snprintf(text, sizeof text, "loss %.4f, token error rate %.4f, sequence error rate %.4f", m[0].value,
                m[1].value, m[2].value);
  return text;
}

// The first few validation sources, each as "source -> greedy output (target)".
std::string Seq2SeqTask::sample(std::int64_t /*length*/, std::uint64_t /*seed*/) {
  const std::size_t n = std::min<std::size_t>(validation_.size(), 4);
  std::vector<std::vector<std::int32_t>> sources;
  for (std::size_t i = 0; i < n; ++i) sources.push_back(validation_[i].source);
  const std::vector<std::vector<nn::Hypothesis>> found =
      translate(*model_, facts_, sources, {.beam = 1, .max_length = 0});
  std::string text;
  for (std::size_t i = 0; i < n; ++i)
    text += sequence_text(validation_[i].source, facts_.source) + " -> " +
            sequence_text(found[i].empty() ? std::vector<std::int32_t>() : found[i][0].tokens, facts_.target) + " (" +
            sequence_text(validation_[i].targets[0], facts_.target) + ")\n";
  return text;
}

void Seq2SeqTask::add_state(TrainingState& state) { state.position = position_.get(); }

std::map<std::string, std::int64_t> Seq2SeqTask::data_facts() const {
  return {{"train_examples", static_cast<std::int64_t>(train_.size())}};
}

void Seq2SeqTask::check_resumed_data(const std::map<std::string, std::int64_t>& stored) const {
  auto it = stored.find("train_examples");
  const std::int64_t n = it == stored.end() ? -1 : it->second;
  RECUR_CHECK(n < 0 || n == static_cast<std::int64_t>(train_.size()),
              "--resume: " << data_path_ << " gives " << train_.size() << " training sources now but gave " << n
                           << " when the run started; resume needs the same data");
}

std::map<std::string, std::string> Seq2SeqTask::model_metadata() const {
  return seq2seq_metadata(facts_, model_->config);
}

void Seq2SeqTask::save_model(const std::string& path, const std::map<std::string, std::string>& extra) const {
  save_seq2seq(path, *model_, facts_, extra);
}

}  // namespace recur::train
