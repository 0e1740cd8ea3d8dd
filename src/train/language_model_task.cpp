// The recurrent language model (characters or words) as a training task.

#include "recur/train/language_model_task.hpp"

#include <algorithm>
#include <utility>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "recur/autograd.hpp"
#include "recur/io/file.hpp"
#include "recur/ops.hpp"
#include "recur/rnn_cell.hpp"

namespace recur::train {

namespace fs = std::filesystem;

namespace {

// --adaptive-softmax's value: "2000,10000" -> {2000, 10000}; "" -> {}. Anything but
// increasing positive integers is an Error naming the flag.
std::vector<std::int64_t> parse_cutoffs(const std::string& text) {
  std::vector<std::int64_t> cutoffs;
  std::size_t start = 0;
  while (!text.empty() && start <= text.size()) {
    const std::size_t comma = std::min(text.find(',', start), text.size());
    const std::string item = text.substr(start, comma - start);
    std::size_t used = 0;
    std::int64_t value = -1;
    try {
      value = std::stoll(item, &used);
    } catch (const std::exception&) {
    }
    RECUR_CHECK(!item.empty() && used == item.size() && value >= 1,
                "--adaptive-softmax: \"" << item << "\" in \"" << text << "\" is not a positive integer");
    RECUR_CHECK(cutoffs.empty() || value > cutoffs.back(),
                "--adaptive-softmax: the cutoffs must increase, got " << cutoffs.back() << " then " << value);
    cutoffs.push_back(value);
    start = comma + 1;
  }
  return cutoffs;
}

std::string format_cutoffs(const std::vector<std::int64_t>& cutoffs) {
  std::string text;
  for (std::int64_t c : cutoffs) {
    if (!text.empty()) text += ',';
    text += std::to_string(c);
  }
  return text;
}

}  // namespace

double stream_loss(nn::LanguageModel& model, std::span<const std::int32_t> tokens, std::int64_t batch_size,
                   std::int64_t seq_length, int part, int parts) {
  const std::int64_t available = static_cast<std::int64_t>(tokens.size()) - 1;
  if (available < 1) return NAN;
  const std::int64_t T = std::min(seq_length, available);
  const std::int64_t B = std::clamp<std::int64_t>(available / T, 1, batch_size);
  data::CharBatches batches(tokens, B, T);
  model.eval();
  NoGradGuard no_grad;
  nn::LanguageModel::State state;
  double total = 0;
  data::Batch batch;
  const dist::Range mine = dist::share(B, part, parts);
  auto streams = [&](const Tensor& t) { return parts > 1 ? contiguous(narrow(t, 1, mine.begin, mine.end - mine.begin)) : t; };
  while (mine.end > mine.begin && batches.next(batch)) {
    nn::LanguageModel::Output out = model.features(streams(batch.inputs), state);
    total += model.loss(out.logits, streams(batch.targets), Reduction::Sum).item();
    state = out.state;
  }
  model.train();
  if (parts > 1) total = dist::sum_over_processes(total);
  return total / static_cast<double>(batches.steps_per_epoch() * B * T);
}

LanguageModelTask::LanguageModelTask(std::string default_text) : default_text_(std::move(default_text)) {}
LanguageModelTask::~LanguageModelTask() = default;

std::vector<OptionSpec> LanguageModelTask::options() const {
  using T = OptionType;
  using G = OptionGroup;
  using C = OptionCheck;
  return {
      {.key = "text", .type = T::Text, .default_value = default_text_,
       .help = "UTF-8 text to train on (default: the bundled tinyshakespeare)", .group = G::Data,
       .positional = true},
      {.key = "tokens", .type = T::Text, .default_value = std::string("char"),
       .help = "Model characters, or words (split at whitespace, <eos> ending each line)", .group = G::Data,
       .choices = {"char", "word"}},
      {.key = "lowercase", .type = T::Flag, .default_value = false, .help = "Fold the text to lower case",
       .group = G::Data},
      {.key = "split_punctuation", .type = T::Flag, .default_value = false,
       .help = "Word models: split words where punctuation meets letters or digits (\"end.\" -> \"end\", \".\")",
       .group = G::Data},
      {.key = "cell", .type = T::Text, .default_value = std::string("lstm"), .help = "Recurrent cell",
       .group = G::Model, .choices = rnn_cell_key_list(), .section = "model"},
      {.key = "layers", .type = T::Int, .default_value = std::int64_t{2}, .help = "Recurrent layers",
       .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "hidden", .type = T::Int, .default_value = std::int64_t{256}, .help = "Hidden units per layer",
       .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "embed", .type = T::Int, .default_value = std::int64_t{64},
       .help = "Embedding size (0: one-hot input; word models: 256)", .group = G::Model, .check = C::NonNegative,
       .section = "model"},
      {.key = "vocab_size", .type = T::Int, .default_value = std::int64_t{0},
       .help = "Tokens in the vocabulary (from the text)", .group = G::Model, .section = "model",
       .command_line = false},
      {.key = "dropout", .type = T::Real, .default_value = 0.0,
       .help = "Dropout between recurrent layers (word models: 0.3)", .group = G::Model, .check = C::BelowOne,
       .section = "model"},
      {.key = "peephole", .type = T::Flag, .default_value = false, .help = "LSTM peephole connections",
       .group = G::Model, .section = "model"},
      {.key = "tie_weights", .type = T::Flag, .default_value = false,
       .help = "The output layer shares the embedding's matrix (needs --embed equal to --hidden)",
       .group = G::Model, .section = "model"},
      {.key = "adaptive_softmax", .type = T::Text, .default_value = std::string(),
       .help = "Adaptive softmax output layer with these cutoffs, e.g. 2000,10000 (word models; the vocabulary is "
               "frequency-ordered)",
       .group = G::Model, .section = "model"},
      {.key = "min_count", .type = T::Int, .default_value = std::int64_t{1},
       .help = "Word models: words seen fewer times in the training text become <unk>", .group = G::Data,
       .check = C::Positive},
      {.key = "max_vocab", .type = T::Int, .default_value = std::int64_t{0},
       .help = "At most N tokens, <unk> standing for the rest (0: all)", .group = G::Data, .check = C::NonNegative},
      {.key = "val", .type = T::Text, .default_value = std::string(),
       .help = "Validation text (then TEXT is all training text and the fractions are ignored)", .group = G::Data},
      {.key = "test", .type = T::Text, .default_value = std::string(),
       .help = "Test text, measured with the best model at the end (TEXT is then all training text)",
       .group = G::Data},
      {.key = "val_fraction", .type = T::Real, .default_value = 0.05, .help = "Fraction of the text for validation",
       .group = G::Data, .check = C::Fraction},
      {.key = "test_fraction", .type = T::Real, .default_value = 0.05,
       .help = "Fraction of the text held out for testing", .group = G::Data, .check = C::Fraction},
      {.key = "batch_size", .type = T::Int, .default_value = std::int64_t{32}, .help = "Streams per batch (B)",
       .group = G::Data, .check = C::Positive},
      {.key = "seq_length", .type = T::Int, .default_value = std::int64_t{64},
       .help = "Steps of truncated backpropagation (T; word models: 35)", .group = G::Data, .check = C::Positive},
  };
}

// A word model's defaults where they differ from a char model's: words carry more
// information than characters (a larger embedding), a sentence is tens of tokens (shorter
// unrolls), and a vocabulary of thousands of words overfits a small corpus without dropout.
const OptionDefault kWordDefaults[] = {
    {"embed", std::int64_t{256}}, {"dropout", 0.3}, {"seq_length", std::int64_t{35}}};

void LanguageModelTask::apply_defaults(OptionValues& o, const std::set<std::string>& given) const {
  if (o.text("tokens") == "word") set_defaults(o, kWordDefaults, given);
}

std::string LanguageModelTask::default_out(const OptionValues& o) const {
  return (fs::path("runs") / fs::path(o.text("text")).stem()).string();
}

std::string LanguageModelTask::title(const OptionValues& o) const { return fs::path(o.text("text")).filename().string(); }

void LanguageModelTask::check_options(const OptionValues& o) const {
  const bool words = o.text("tokens") == "word";
  const std::int64_t max_vocab = o.integer("max_vocab"), least = words ? 3 : 2;
  RECUR_CHECK(max_vocab == 0 || max_vocab >= least,
              "--max-vocab must be 0 (every token) or at least "
                  << least << (words ? " (one word, <unk> and <eos>)" : " (one character and <unk>)") << ", got "
                  << max_vocab);
  RECUR_CHECK(o.integer("min_count") >= 1, "--min-count must be at least 1, got " << o.integer("min_count"));
  RECUR_CHECK(words || o.integer("min_count") == 1, "--min-count applies to word models (--tokens word)");
  RECUR_CHECK(words || !o.flag("split_punctuation"), "--split-punctuation applies to word models (--tokens word)");
  RECUR_CHECK(!o.flag("tie_weights") || o.integer("embed") == o.integer("hidden"),
              "--tie-weights needs --embed equal to --hidden, got --embed " << o.integer("embed") << " and --hidden "
                                                                            << o.integer("hidden"));
  const std::vector<std::int64_t> cutoffs = parse_cutoffs(o.text("adaptive_softmax"));
  RECUR_CHECK(!o.flag("tie_weights") || cutoffs.empty(), "--tie-weights needs a Linear output layer, not --adaptive-softmax");
  if (explicit_split(o)) return;  // the fractions are not used
  RECUR_CHECK(o.real("val_fraction") + o.real("test_fraction") < 1,
              "--val-fraction " << o.real("val_fraction") << " and --test-fraction " << o.real("test_fraction")
                                << " leave no text to train on");
}

bool LanguageModelTask::explicit_split(const OptionValues& o) {
  return !o.text("val").empty() || !o.text("test").empty();
}

std::map<std::string, std::string> LanguageModelTask::read_start(const std::string& path) {
  start_ = load_language_model(path);
  return start_->metadata;
}

// The tokens of a --val or --test file in the training vocabulary; an empty one is an error.
std::vector<std::int32_t> LanguageModelTask::read_part(const std::string& path, const char* flag) const {
  std::vector<std::int32_t> tokens = data::encode_text(io::read_file(path), path, text_.vocab);
  RECUR_CHECK(!tokens.empty(), flag << " " << path << (words() ? " has no words" : " is empty")
                                    << ": there is nothing to measure");
  return tokens;
}

void LanguageModelTask::load_data(OptionValues& o) {
  text_path_ = o.text("text");
  batch_size_ = o.integer("batch_size"), seq_length_ = o.integer("seq_length");
  streams_ = {0, batch_size_};
  // The vocabulary comes with the model when there is one to continue from.
  if (start_) {
    text_.vocab = start_->vocab;
    text_.tokens = data::encode_text(io::read_file(text_path_), text_path_, start_->vocab);
  } else {
    text_ = data::read_encoded_text(text_path_, {.mode = data::parse_token_mode(o.text("tokens")),
                                                 .lowercase = o.flag("lowercase"),
                                                 .split_punctuation = o.flag("split_punctuation"),
                                                 .min_count = o.integer("min_count"),
                                                 .max_size = o.integer("max_vocab")});
  }
  // A fine-tuned or resumed model keeps its own way of reading text.
  o.set("tokens", std::string(data::token_mode_name(text_.vocab.mode())));
  o.set("lowercase", text_.vocab.lowercase());
  o.set("split_punctuation", text_.vocab.split_punctuation());
  RECUR_CHECK(!text_.tokens.empty(),
              text_path_ << (words() ? " has no words" : " is empty") << ": there is nothing to train on");
  if (explicit_split(o)) {
    if (!o.text("val").empty()) validation_tokens_ = read_part(o.text("val"), "--val");
    if (!o.text("test").empty()) test_tokens_ = read_part(o.text("test"), "--test");
    split_ = {text_.tokens, validation_tokens_, test_tokens_};
  } else {
    const double val = o.real("val_fraction"), test = o.real("test_fraction");
    split_ = data::split_tokens(text_.tokens, {1 - val - test, val, test});
  }
  try {
    batches_ = std::make_unique<data::CharBatches>(split_.train, batch_size_, seq_length_);
  } catch (const Error& e) {
    RECUR_FAIL(text_path_ << ": the training part (" << split_.train.size() << " tokens of " << text_.tokens.size()
                          << ") is too short for one batch of --batch-size " << batch_size_ << " x --seq-length "
                          << seq_length_ << " (needs " << batch_size_ * seq_length_ + 1
                          << "); use a longer text or smaller sizes");
  }
  position_ = std::make_unique<PositionOf<data::CharBatches>>(*batches_);
}

nn::Module& LanguageModelTask::build_model(OptionValues& o, bool load_start_weights) {
  nn::LanguageModelConfig config{.cell = o.text("cell"),
                             .layers = o.integer("layers"),
                             .hidden = o.integer("hidden"),
                             .embed = o.integer("embed"),
                             .vocab_size = text_.vocab.size(),
                             .dropout = o.real("dropout"),
                             .peephole = o.flag("peephole"),
                             .tie_weights = o.flag("tie_weights"),
                             .adaptive_softmax = parse_cutoffs(o.text("adaptive_softmax"))};
  if (start_) {
    // The architecture is the start model's (the dropout is the run's). Fine-tuning starts
    // from its weights; a resumed run gets its own from the checkpoint.
    config = start_->model->config;
    config.dropout = o.real("dropout");
  }
  for (std::int64_t cutoff : config.adaptive_softmax)
    RECUR_CHECK(cutoff < config.vocab_size, "--adaptive-softmax: cutoff " << cutoff
                                                << " is not below the vocabulary size " << config.vocab_size);
  model_ = std::make_shared<nn::LanguageModel>(config);
  if (start_ && load_start_weights) model_->load_state_dict(start_->model->state_dict());
  start_.reset();
  o.set("cell", config.cell), o.set("layers", config.layers), o.set("hidden", config.hidden);
  o.set("embed", config.embed), o.set("vocab_size", config.vocab_size), o.set("peephole", config.peephole);
  o.set("tie_weights", config.tie_weights);
  o.set("adaptive_softmax", format_cutoffs(config.adaptive_softmax));
  model_->train();
  return *model_;
}

std::vector<std::string> LanguageModelTask::describe() const {
  const nn::LanguageModelConfig& c = model_->config;
  std::string data = fs::path(text_path_).filename().string() + ": " + std::to_string(text_.tokens.size()) +
                     (words() ? " tokens" : " characters") + ", vocabulary " + std::to_string(text_.vocab.size());
  if (words()) {
    const auto unknown = std::count(text_.tokens.begin(), text_.tokens.end(), text_.vocab.unknown_index());
    data += " (" + std::to_string(unknown) + " <unk> in the text)";
  }
  data += ", " + std::string(validation_tokens_.empty() && test_tokens_.empty() ? "split " : "train / val / test ") +
          std::to_string(split_.train.size()) + " / " + std::to_string(split_.validation.size()) + " / " +
          std::to_string(split_.test.size());
  return {data, c.cell + " " + std::to_string(c.layers) + "x" + std::to_string(c.hidden) + ", " +
                    std::to_string(model_->num_parameters()) + " parameters; " +
                    std::to_string(batches_->steps_per_epoch()) + " steps per epoch of " +
                    std::to_string(batch_size_) + "x" + std::to_string(seq_length_)};
}

std::int64_t LanguageModelTask::steps_per_epoch() const { return batches_->steps_per_epoch(); }
std::int64_t LanguageModelTask::epoch() const { return batches_->epoch(); }

bool LanguageModelTask::next_batch() {
  if (batches_->step() == 0) carried_.clear();  // each epoch starts from a zero state
  return batches_->next(batch_);
}

double LanguageModelTask::items_per_step() const { return static_cast<double>(batch_size_ * seq_length_); }

// This process's streams: its columns of the (T, B) batch and of the (layers, B, H) state.
Tensor LanguageModelTask::loss() {
  const std::int64_t count = streams_.end - streams_.begin;
  auto mine = [&](const Tensor& t) {
    return t.defined() && count != batch_size_ ? contiguous(narrow(t, 1, streams_.begin, count)) : t;
  };
  nn::LanguageModel::Output out = model_->features(mine(batch_.inputs), {mine(carried_["h"]), mine(carried_["c"])});
  pending_ = out.state;
  return model_->loss(out.logits, mine(batch_.targets));
}

// Every process keeps the state of all B streams, so that a checkpoint holds all of it and a
// run resumes with any number of processes.
void LanguageModelTask::end_step() {
  auto all_streams = [&](const Tensor& mine) {
    return streams_.end - streams_.begin != batch_size_ ? dist::all_gather(mine, 1) : mine;
  };
  carried_["h"] = all_streams(pending_.h.detach());
  if (pending_.c.defined()) carried_["c"] = all_streams(pending_.c.detach());
  else carried_.erase("c");
  pending_ = {};
}

void LanguageModelTask::set_part(int part, int parts) {
  RECUR_CHECK(parts <= batch_size_, "--batch-size " << batch_size_ << " cannot be split between " << parts
                                                    << " processes: give each at least one stream");
  streams_ = dist::share(batch_size_, part, parts);
}

double LanguageModelTask::part_weight() const {
  return static_cast<double>(streams_.end - streams_.begin) / static_cast<double>(batch_size_);
}

// Char models report bits per character, word models perplexity per token.
std::vector<Metric> LanguageModelTask::metrics(std::span<const std::int32_t> tokens, const std::string& prefix) {
  const double nats = stream_loss(*model_, tokens, batch_size_, seq_length_, dist::rank(), dist::size());
  if (words()) return {{prefix + "loss", nats}, {prefix + "perplexity", std::exp(nats)}};
  return {{prefix + "loss", nats}, {prefix + "bpc", nats / std::log(2.0)}, {prefix + "perplexity", std::exp(nats)}};
}

std::vector<Metric> LanguageModelTask::evaluate() {
  std::vector<Metric> m = metrics(split_.validation, "val_");
  if (!words()) m.pop_back();  // char runs' metrics.jsonl keeps its columns: val_loss, val_bpc
  return m;
}

std::vector<Metric> LanguageModelTask::evaluate_test() { return metrics(split_.test, "test_"); }

// `length` tokens drawn at temperature 1 from a zero state, starting as after a line
// break, as `recur sample` does.
std::string LanguageModelTask::sample(std::int64_t length, std::uint64_t seed) {
  model_->eval();
  NoGradGuard no_grad;
  nn::TokenSampler sampler(*model_, 1);
  Generator generator(seed);
  std::vector<std::int64_t> token{start_token(text_.vocab)};
  std::string text;
  for (std::int64_t i = 0; i < length; ++i) {
    sampler.feed(token);
    sampler.draw(token, {}, generator);
    append_sampled(text, text_.vocab, token[0]);
  }
  model_->train();
  return text;
}

std::string LanguageModelTask::describe_metric(double nats) const {
  if (!std::isfinite(nats)) return "none (no validation text)";  // training checks for nan
  char text[160];
  if (words()) std::snprintf(text, sizeof text, "%.4f nats/token, perplexity %.2f", nats, std::exp(nats));
  else std::snprintf(text, sizeof text, "%.4f nats/char, %.4f bits/char, perplexity %.3f", nats, nats / std::log(2.0),
                     std::exp(nats));
  return text;
}

void LanguageModelTask::add_state(TrainingState& state) {
  state.position = position_.get();
  state.carried = &carried_;
}

std::map<std::string, std::int64_t> LanguageModelTask::data_facts() const {
  return {{"text_chars", static_cast<std::int64_t>(text_.tokens.size())}};  // tokens, the name kept for old runs
}

void LanguageModelTask::check_resumed_data(const std::map<std::string, std::int64_t>& stored) const {
  auto it = stored.find("text_chars");
  const std::int64_t chars = it == stored.end() ? -1 : it->second;
  RECUR_CHECK(chars < 0 || chars == static_cast<std::int64_t>(text_.tokens.size()),
              "--resume: " << text_path_ << " has " << text_.tokens.size() << " tokens now but had " << chars
                           << " when the run started; resume needs the same text");
}

std::map<std::string, std::string> LanguageModelTask::model_metadata() const {
  return train::model_metadata(model_->config, text_.vocab);
}

void LanguageModelTask::save_model(const std::string& path, const std::map<std::string, std::string>& extra) const {
  save_language_model(path, *model_, text_.vocab, extra);
}

}  // namespace recur::train
