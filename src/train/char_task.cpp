// The character language model as a training task.

#include "recur/train/char_task.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>

#include "recur/autograd.hpp"
#include "recur/io/file.hpp"
#include "recur/ops.hpp"
#include "recur/rnn_cell.hpp"

namespace recur::train {

namespace fs = std::filesystem;

// CharBatches' place, for the checkpoint's train/loader.
class CharTask::Position final : public DataPosition {
 public:
  explicit Position(data::CharBatches& batches) : batches_(batches) {}
  std::int64_t epoch() const override { return batches_.epoch(); }
  std::int64_t step() const override { return batches_.step(); }
  void set_position(std::int64_t epoch, std::int64_t step) override { batches_.set_position(epoch, step); }

 private:
  data::CharBatches& batches_;
};

double stream_loss(nn::CharModel& model, std::span<const std::int32_t> tokens, std::int64_t batch_size,
                   std::int64_t seq_length) {
  const std::int64_t available = static_cast<std::int64_t>(tokens.size()) - 1;
  if (available < 1) return NAN;
  const std::int64_t T = std::min(seq_length, available);
  const std::int64_t B = std::clamp<std::int64_t>(available / T, 1, batch_size);
  data::CharBatches batches(tokens, B, T);
  model.eval();
  NoGradGuard no_grad;
  nn::CharModel::State state;
  double total = 0;
  data::Batch batch;
  while (batches.next(batch)) {
    nn::CharModel::Output out = model.forward(batch.inputs, state);
    total += cross_entropy(reshape(out.logits, {B * T, model.config.vocab_size}), reshape(batch.targets, {B * T}),
                           Reduction::Sum)
                 .item();
    state = out.state;
  }
  model.train();
  return total / static_cast<double>(batches.steps_per_epoch() * B * T);
}

CharTask::CharTask(std::string default_text) : default_text_(std::move(default_text)) {}
CharTask::~CharTask() = default;

std::vector<OptionSpec> CharTask::options() const {
  using T = OptionType;
  using G = OptionGroup;
  using C = OptionCheck;
  return {
      {.key = "text", .type = T::Text, .default_value = default_text_,
       .help = "UTF-8 text to train on (default: the bundled tinyshakespeare)", .group = G::Data,
       .positional = true},
      {.key = "cell", .type = T::Text, .default_value = std::string("lstm"), .help = "Recurrent cell",
       .group = G::Model, .choices = rnn_cell_key_list(), .section = "model"},
      {.key = "layers", .type = T::Int, .default_value = std::int64_t{2}, .help = "Recurrent layers",
       .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "hidden", .type = T::Int, .default_value = std::int64_t{256}, .help = "Hidden units per layer",
       .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "embed", .type = T::Int, .default_value = std::int64_t{64}, .help = "Embedding size (0: one-hot input)",
       .group = G::Model, .check = C::NonNegative, .section = "model"},
      {.key = "vocab_size", .type = T::Int, .default_value = std::int64_t{0},
       .help = "Tokens in the vocabulary (from the text)", .group = G::Model, .section = "model",
       .command_line = false},
      {.key = "dropout", .type = T::Real, .default_value = 0.0, .help = "Dropout between recurrent layers",
       .group = G::Model, .check = C::BelowOne, .section = "model"},
      {.key = "peephole", .type = T::Flag, .default_value = false, .help = "LSTM peephole connections",
       .group = G::Model, .section = "model"},
      {.key = "max_vocab", .type = T::Int, .default_value = std::int64_t{0},
       .help = "At most N tokens: the N-1 most frequent characters and <unk> for the rest (0: all)",
       .group = G::Data, .check = C::NonNegative},
      {.key = "val_fraction", .type = T::Real, .default_value = 0.05, .help = "Fraction of the text for validation",
       .group = G::Data, .check = C::Fraction},
      {.key = "test_fraction", .type = T::Real, .default_value = 0.05,
       .help = "Fraction of the text held out for testing", .group = G::Data, .check = C::Fraction},
      {.key = "batch_size", .type = T::Int, .default_value = std::int64_t{32}, .help = "Streams per batch (B)",
       .group = G::Data, .check = C::Positive},
      {.key = "seq_length", .type = T::Int, .default_value = std::int64_t{64},
       .help = "Steps of truncated backpropagation (T)", .group = G::Data, .check = C::Positive},
  };
}

std::string CharTask::default_out(const OptionValues& o) const {
  return (fs::path("runs") / fs::path(o.text("text")).stem()).string();
}

std::string CharTask::title(const OptionValues& o) const { return fs::path(o.text("text")).filename().string(); }

void CharTask::check_options(const OptionValues& o) const {
  RECUR_CHECK(o.integer("max_vocab") != 1, "--max-vocab must be 0 (every character) or at least 2 (one character and "
                                               << data::Vocab::kUnknownToken << "), got 1");
  RECUR_CHECK(o.real("val_fraction") + o.real("test_fraction") < 1,
              "--val-fraction " << o.real("val_fraction") << " and --test-fraction " << o.real("test_fraction")
                                << " leave no text to train on");
}

std::map<std::string, std::string> CharTask::read_start(const std::string& path) {
  start_ = load_char_model(path);
  return start_->metadata;
}

void CharTask::load_data(OptionValues& o) {
  text_path_ = o.text("text");
  batch_size_ = o.integer("batch_size"), seq_length_ = o.integer("seq_length");
  // The vocabulary comes with the model when there is one to continue from.
  if (start_) {
    text_.vocab = start_->vocab;
    text_.tokens = data::encode_text(io::read_file(text_path_), text_path_, start_->vocab);
  } else {
    text_ = data::read_encoded_text(text_path_, o.integer("max_vocab"));
  }
  RECUR_CHECK(!text_.tokens.empty(), text_path_ << " is empty: there is nothing to train on");
  const double val = o.real("val_fraction"), test = o.real("test_fraction");
  split_ = data::split_tokens(text_.tokens, {1 - val - test, val, test});
  try {
    batches_ = std::make_unique<data::CharBatches>(split_.train, batch_size_, seq_length_);
  } catch (const Error& e) {
    RECUR_FAIL(text_path_ << ": the training split (" << split_.train.size() << " characters of "
                          << text_.tokens.size() << ") is too short for one batch of --batch-size " << batch_size_
                          << " x --seq-length " << seq_length_ << " (needs " << batch_size_ * seq_length_ + 1
                          << "); use a longer text or smaller sizes");
  }
  position_ = std::make_unique<Position>(*batches_);
}

nn::Module& CharTask::build_model(OptionValues& o, bool load_start_weights) {
  nn::CharModelConfig config{.cell = o.text("cell"),
                             .layers = o.integer("layers"),
                             .hidden = o.integer("hidden"),
                             .embed = o.integer("embed"),
                             .vocab_size = text_.vocab.size(),
                             .dropout = o.real("dropout"),
                             .peephole = o.flag("peephole")};
  if (start_) {
    // The architecture is the start model's (the dropout is the run's). Fine-tuning starts
    // from its weights; a resumed run gets its own from the checkpoint.
    config = start_->model->config;
    config.dropout = o.real("dropout");
  }
  model_ = std::make_shared<nn::CharModel>(config);
  if (start_ && load_start_weights) model_->load_state_dict(start_->model->state_dict());
  start_.reset();
  o.set("cell", config.cell), o.set("layers", config.layers), o.set("hidden", config.hidden);
  o.set("embed", config.embed), o.set("vocab_size", config.vocab_size), o.set("peephole", config.peephole);
  model_->train();
  return *model_;
}

std::vector<std::string> CharTask::describe() const {
  const nn::CharModelConfig& c = model_->config;
  return {fs::path(text_path_).filename().string() + ": " + std::to_string(text_.tokens.size()) +
              " characters, vocabulary " + std::to_string(text_.vocab.size()) + ", split " +
              std::to_string(split_.train.size()) + " / " + std::to_string(split_.validation.size()) + " / " +
              std::to_string(split_.test.size()),
          c.cell + " " + std::to_string(c.layers) + "x" + std::to_string(c.hidden) + ", " +
              std::to_string(model_->num_parameters()) + " parameters; " +
              std::to_string(batches_->steps_per_epoch()) + " steps per epoch of " + std::to_string(batch_size_) +
              "x" + std::to_string(seq_length_)};
}

std::int64_t CharTask::steps_per_epoch() const { return batches_->steps_per_epoch(); }
std::int64_t CharTask::epoch() const { return batches_->epoch(); }

bool CharTask::next_batch() {
  if (batches_->step() == 0) carried_.clear();  // each epoch starts from a zero state
  return batches_->next(batch_);
}

double CharTask::items_per_step() const { return static_cast<double>(batch_size_ * seq_length_); }

Tensor CharTask::loss() {
  const std::int64_t rows = batch_size_ * seq_length_;
  nn::CharModel::Output out = model_->forward(batch_.inputs, {carried_["h"], carried_["c"]});
  pending_ = out.state;
  return cross_entropy(reshape(out.logits, {rows, model_->config.vocab_size}), reshape(batch_.targets, {rows}));
}

void CharTask::end_step() {
  carried_["h"] = pending_.h.detach();
  if (pending_.c.defined()) carried_["c"] = pending_.c.detach();
  else carried_.erase("c");
  pending_ = {};
}

std::vector<Metric> CharTask::evaluate() {
  const double nats = stream_loss(*model_, split_.validation, batch_size_, seq_length_);
  return {{"val_loss", nats}, {"val_bpc", nats / std::log(2.0)}};
}

// `length` characters drawn at temperature 1 from a zero state, starting as after a line
// break, as `recur sample` does.
std::string CharTask::sample(std::int64_t length, std::uint64_t seed) {
  model_->eval();
  NoGradGuard no_grad;
  nn::CharSampler sampler(*model_, 1);
  Generator generator(seed);
  std::vector<std::int64_t> token{start_token(text_.vocab)};
  std::string text;
  for (std::int64_t i = 0; i < length; ++i) {
    sampler.feed(token);
    sampler.draw(token, {}, generator);
    text += printable_token(text_.vocab, token[0]);
  }
  model_->train();
  return text;
}

std::string CharTask::describe_metric(double nats) const {
  if (!std::isfinite(nats)) return "none (no validation split)";  // training checks for nan
  char text[160];
  std::snprintf(text, sizeof text, "%.4f nats/char, %.4f bits/char, perplexity %.3f", nats, nats / std::log(2.0),
                std::exp(nats));
  return text;
}

void CharTask::add_state(TrainingState& state) {
  state.position = position_.get();
  state.carried = &carried_;
}

std::map<std::string, std::int64_t> CharTask::data_facts() const {
  return {{"text_chars", static_cast<std::int64_t>(text_.tokens.size())}};
}

void CharTask::check_resumed_data(const std::map<std::string, std::int64_t>& stored) const {
  auto it = stored.find("text_chars");
  const std::int64_t chars = it == stored.end() ? -1 : it->second;
  RECUR_CHECK(chars < 0 || chars == static_cast<std::int64_t>(text_.tokens.size()),
              "--resume: " << text_path_ << " has " << text_.tokens.size() << " characters now but had " << chars
                           << " when the run started; resume needs the same text");
}

std::map<std::string, std::string> CharTask::model_metadata() const {
  return train::model_metadata(model_->config, text_.vocab);
}

void CharTask::save_model(const std::string& path, const std::map<std::string, std::string>& extra) const {
  save_char_model(path, *model_, text_.vocab, extra);
}

}  // namespace recur::train
