// Text classification as a training task: labelled texts, a SequenceClassifier, macro-F1.

#include "recur/train/classify_task.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "recur/autograd.hpp"
#include "recur/data/loader.hpp"
#include "recur/dist.hpp"
#include "recur/ops.hpp"
#include "recur/rnn_cell.hpp"

namespace recur::train {

namespace fs = std::filesystem;

namespace {

// A seeded split of `texts` into train / validation / test that keeps each label's share in
// every part: each label's examples are shuffled (shuffled_order, counters from
// 2^62 + label index * 2^32, apart from the batches' counters), and round(n * fraction) of
// them go to validation, as many again by test_fraction to test, the rest (at least one) to
// training; each part keeps the file's order.
struct TextSplit {
  std::vector<data::LabeledText> train, validation, test;
};

TextSplit stratified_split(const std::vector<data::LabeledText>& texts, double val_fraction, double test_fraction,
                           std::uint64_t seed) {
  std::map<std::string, std::vector<std::size_t>> by_label;  // ordered: the split is a pure function of the data
  for (std::size_t i = 0; i < texts.size(); ++i) by_label[texts[i].label].push_back(i);
  std::vector<int> part(texts.size(), 0);  // 0 train, 1 validation, 2 test
  std::uint64_t label_index = 0;
  for (const auto& [label, members] : by_label) {
    const auto n = static_cast<std::int64_t>(members.size());
    std::int64_t val = std::llround(static_cast<double>(n) * val_fraction);
    std::int64_t test = std::llround(static_cast<double>(n) * test_fraction);
    val = std::min(val, n - 1), test = std::min(test, n - 1 - val);
    const std::vector<std::int64_t> order = data::shuffled_order(n, seed, (1ULL << 62) + (label_index++ << 32));
    for (std::int64_t k = 0; k < val + test; ++k) part[members[order[k]]] = k < val ? 1 : 2;
  }
  TextSplit split;
  for (std::size_t i = 0; i < texts.size(); ++i)
    (part[i] == 0 ? split.train : part[i] == 1 ? split.validation : split.test).push_back(texts[i]);
  return split;
}

std::string percent(double fraction) {
  char text[32];
  std::snprintf(text, sizeof text, "%.1f%%", 100 * fraction);
  return text;
}

}  // namespace

std::vector<std::int32_t> classifier_tokens(std::string_view text, const ClassifierFacts& facts,
                                            std::string_view source) {
  std::vector<std::string> tokens = data::split_tokens(text, facts.vocab.token_options(), source);
  RECUR_CHECK(!tokens.empty(), source << ": the text has no "
                                      << (facts.vocab.mode() == data::TokenMode::Word ? "words" : "characters"));
  if (facts.max_length > 0 && static_cast<std::int64_t>(tokens.size()) > facts.max_length)
    tokens.resize(static_cast<std::size_t>(facts.max_length));
  return data::encode_tokens(tokens, facts.vocab);
}

std::vector<double> classifier_log_probs(nn::SequenceClassifier& model, std::span<const data::Sequence> examples,
                                         std::int64_t batch_size) {
  const std::int64_t C = model.config.num_labels;
  std::vector<double> result(examples.size() * static_cast<std::size_t>(C));
  if (examples.empty()) return result;
  std::vector<std::int64_t> lengths;
  for (const data::Sequence& e : examples) lengths.push_back(static_cast<std::int64_t>(e.tokens.size()));
  const nn::EvalModeGuard eval_mode(model);
  NoGradGuard no_grad;
  // Longest first, so each batch pads little.
  for (const std::vector<std::int64_t>& picked :
       data::LengthBatches(lengths, batch_size, 0, /*shuffle=*/false).epoch_batches(0)) {
    data::PaddedBatch batch = data::pad_batch(examples, picked, /*per_token=*/false);
    const Tensor log_probs = contiguous(to_dtype(log_softmax(model.forward(batch.inputs, batch.lengths), 1),
                                                 DType::Float64));
    const double* row = log_probs.data<double>();
    for (std::size_t b = 0; b < picked.size(); ++b, row += C)
      std::copy(row, row + C, result.begin() + picked[b] * C);
  }
  return result;
}

std::vector<data::Sequence> encode_labeled_texts(std::span<const data::LabeledText> texts,
                                                 const ClassifierFacts& facts, const std::string& path) {
  std::vector<data::Sequence> examples;
  examples.reserve(texts.size());
  for (const data::LabeledText& t : texts) {
    const std::string where = path + " line " + std::to_string(t.line);
    const std::int64_t label = facts.labels.find(t.label);
    if (label < 0) {
      std::string known;
      for (const std::string& name : facts.labels.names()) known += (known.empty() ? "" : ", ") + name;
      RECUR_FAIL(where << ": the label \"" << t.label << "\" is not among those learnt from the training texts: "
                       << known);
    }
    examples.push_back({classifier_tokens(t.text, facts, where), {static_cast<std::int32_t>(label)}});
  }
  return examples;
}

ClassificationReport evaluate_classifier(nn::SequenceClassifier& model, std::span<const data::Sequence> examples,
                                         double& loss, int part, int parts) {
  RECUR_CHECK(!examples.empty(), "evaluate_classifier: no examples");
  const std::vector<double> log_probs = dist::gather_shares(
      static_cast<std::int64_t>(examples.size()), part, parts,
      [&](std::int64_t begin, std::int64_t end) { return classifier_log_probs(model, examples.subspan(begin, end - begin)); });
  const std::int64_t C = model.config.num_labels;
  std::vector<std::int32_t> truth, predicted;
  loss = 0;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const double* row = log_probs.data() + i * C;
    truth.push_back(examples[i].labels[0]);
    predicted.push_back(static_cast<std::int32_t>(std::max_element(row, row + C) - row));
    loss -= row[truth.back()];
  }
  loss /= static_cast<double>(examples.size());
  return classification_report(truth, predicted, C);
}

ClassifyTask::ClassifyTask() = default;
ClassifyTask::~ClassifyTask() = default;

std::vector<OptionSpec> ClassifyTask::options() const {
  using T = OptionType;
  using G = OptionGroup;
  using C = OptionCheck;
  return {
      {.key = "data", .type = T::Text, .default_value = std::string(),
       .help = "Labelled texts to train on: one label<TAB>text a line (UTF-8)", .group = G::Data, .positional = true},
      {.key = "tokens", .type = T::Text, .default_value = std::string("word"),
       .help = "Read the texts as words (see --split-punctuation) or characters", .group = G::Data,
       .choices = {"char", "word"}},
      {.key = "lowercase", .type = T::Flag, .default_value = false, .help = "Fold the texts to lower case",
       .group = G::Data},
      {.key = "split_punctuation", .type = T::Flag, .default_value = true,
       .help = "Split words where punctuation meets letters or digits too (\"deal!!\" -> \"deal\", \"!!\"; "
               "--split-punctuation=false: at whitespace only)",
       .group = G::Data},
      {.key = "min_count", .type = T::Int, .default_value = std::int64_t{2},
       .help = "Words seen fewer times in the training texts become <unk>", .group = G::Data, .check = C::Positive},
      {.key = "max_vocab", .type = T::Int, .default_value = std::int64_t{30000},
       .help = "At most N tokens, <unk> standing for the rest (0: all)", .group = G::Data, .check = C::NonNegative},
      {.key = "max_length", .type = T::Int, .default_value = std::int64_t{400},
       .help = "Read the first N tokens of each text (0: all of it)", .group = G::Data, .check = C::NonNegative},
      {.key = "val", .type = T::Text, .default_value = std::string(),
       .help = "Validation texts (then DATA is all training texts and the fractions are ignored)", .group = G::Data},
      {.key = "test", .type = T::Text, .default_value = std::string(),
       .help = "Test texts, measured with the best model at the end (DATA is then all training texts)",
       .group = G::Data},
      {.key = "val_fraction", .type = T::Real, .default_value = 0.1,
       .help = "Fraction of each label's texts for validation", .group = G::Data, .check = C::Fraction},
      {.key = "test_fraction", .type = T::Real, .default_value = 0.1,
       .help = "Fraction of each label's texts held out for testing", .group = G::Data, .check = C::Fraction},
      {.key = "batch_size", .type = T::Int, .default_value = std::int64_t{32}, .help = "Texts per batch",
       .group = G::Data, .check = C::Positive},
      {.key = "class_weights", .type = T::Text, .default_value = std::string("none"),
       .help = "balanced: weigh each label's loss by N / (labels x its count), for skewed labels", .group = G::Data,
       .choices = {"none", "balanced"}},
      {.key = "cell", .type = T::Text, .default_value = std::string("lstm"), .help = "Recurrent cell",
       .group = G::Model, .choices = rnn_cell_key_list(), .section = "model"},
      {.key = "layers", .type = T::Int, .default_value = std::int64_t{1}, .help = "Recurrent layers",
       .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "hidden", .type = T::Int, .default_value = std::int64_t{128},
       .help = "Hidden units per layer and direction", .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "embed", .type = T::Int, .default_value = std::int64_t{128}, .help = "Embedding size",
       .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "bidirectional", .type = T::Flag, .default_value = true,
       .help = "Read each text in both directions (--bidirectional=false: forwards only)", .group = G::Model,
       .section = "model"},
      {.key = "pool", .type = T::Text, .default_value = std::string("max"),
       .help = "How the outputs become one vector: the last step's, or the mean or max over the steps",
       .group = G::Model, .choices = {"last", "mean", "max"}, .section = "model"},
      {.key = "dropout", .type = T::Real, .default_value = 0.3,
       .help = "Dropout between recurrent layers and before the output layer", .group = G::Model,
       .check = C::BelowOne, .section = "model"},
      {.key = "vocab_size", .type = T::Int, .default_value = std::int64_t{0},
       .help = "Tokens in the vocabulary (from the texts)", .group = G::Model, .section = "model",
       .command_line = false},
      {.key = "num_labels", .type = T::Int, .default_value = std::int64_t{0},
       .help = "Labels (from the texts)", .group = G::Model, .section = "model", .command_line = false},
  };
}

// Characters are few: every one seen is kept; and they have no words to split.
const OptionDefault kCharDefaults[] = {{"min_count", std::int64_t{1}}, {"split_punctuation", false}};

void ClassifyTask::apply_defaults(OptionValues& o, const std::set<std::string>& given) const {
  if (o.text("tokens") == "char") set_defaults(o, kCharDefaults, given);
}

std::string ClassifyTask::default_out(const OptionValues& o) const {
  return (fs::path("runs") / fs::path(o.text("data")).stem()).string();
}

std::string ClassifyTask::title(const OptionValues& o) const { return fs::path(o.text("data")).filename().string(); }

void ClassifyTask::check_options(const OptionValues& o) const {
  RECUR_CHECK(!o.text("data").empty(), "--task classify needs DATA: a file of label<TAB>text lines");
  const bool words = o.text("tokens") == "word";
  const std::int64_t max_vocab = o.integer("max_vocab"), least = words ? 3 : 2;
  RECUR_CHECK(max_vocab == 0 || max_vocab >= least,
              "--max-vocab must be 0 (every token) or at least "
                  << least << (words ? " (one word, <unk> and <eos>)" : " (one character and <unk>)") << ", got "
                  << max_vocab);
  RECUR_CHECK(words || o.integer("min_count") == 1, "--min-count applies to word models (--tokens word)");
  RECUR_CHECK(words || !o.flag("split_punctuation"), "--split-punctuation applies to word models (--tokens word)");
  nn::parse_pool(o.text("pool"));
  if (!o.text("val").empty() || !o.text("test").empty()) return;
  RECUR_CHECK(o.real("val_fraction") + o.real("test_fraction") < 1,
              "--val-fraction " << o.real("val_fraction") << " and --test-fraction " << o.real("test_fraction")
                                << " leave no texts to train on");
}

std::map<std::string, std::string> ClassifyTask::read_start(const std::string& path) {
  start_ = load_classifier(path);
  return start_->metadata;
}

void ClassifyTask::load_data(OptionValues& o) {
  data_path_ = o.text("data");
  batch_size_ = o.integer("batch_size");
  // A fine-tuned or resumed model keeps its own way of reading text and its labels.
  if (start_) {
    o.set("tokens", std::string(data::token_mode_name(start_->vocab.mode())));
    o.set("lowercase", start_->vocab.lowercase());
    o.set("split_punctuation", start_->vocab.split_punctuation());
    o.set("max_length", start_->max_length);
  }
  const data::TokenMode mode = data::parse_token_mode(o.text("tokens"));
  std::vector<data::LabeledText> texts = data::read_labeled_texts(data_path_, mode);
  TextSplit split;
  std::string val_path = data_path_, test_path = data_path_;
  if (!o.text("val").empty() || !o.text("test").empty()) {
    split.train = std::move(texts);
    if (!o.text("val").empty()) split.validation = data::read_labeled_texts(val_path = o.text("val"), mode);
    if (!o.text("test").empty()) split.test = data::read_labeled_texts(test_path = o.text("test"), mode);
  } else {
    split = stratified_split(texts, o.real("val_fraction"), o.real("test_fraction"), o.seed("seed"));
  }

  std::vector<std::string> seen;
  for (const data::LabeledText& t : split.train) seen.push_back(t.label);
  facts_.labels = data::Labels::build(seen);
  RECUR_CHECK(facts_.labels.size() >= 2, data_path_ << ": every training text has the label \"" << seen[0]
                                                    << "\"; a classifier needs at least two labels");
  if (start_) {
    RECUR_CHECK(facts_.labels.names() == start_->labels.names(),
                data_path_ << ": its labels differ from those of the model it starts from");
    facts_.vocab = start_->vocab;
  } else {
    facts_.max_length = o.integer("max_length");
    const data::TokenOptions how{.mode = mode,
                                 .lowercase = o.flag("lowercase"),
                                 .split_punctuation = o.flag("split_punctuation"),
                                 .min_count = o.integer("min_count"),
                                 .max_size = o.integer("max_vocab")};
    std::vector<std::vector<std::string>> tokens;
    for (const data::LabeledText& t : split.train) {
      tokens.push_back(data::split_tokens(t.text, how, data_path_));
      if (facts_.max_length > 0 && static_cast<std::int64_t>(tokens.back().size()) > facts_.max_length)
        tokens.back().resize(static_cast<std::size_t>(facts_.max_length));
    }
    facts_.vocab = data::build_vocab(tokens, how);
  }
  facts_.max_length = o.integer("max_length");
  train_ = encode_labeled_texts(split.train, facts_, data_path_);
  validation_ = encode_labeled_texts(split.validation, facts_, val_path);
  test_ = encode_labeled_texts(split.test, facts_, test_path);
  for (const data::LabeledText& t : split.validation) validation_texts_.push_back(t.text);

  facts_.label_counts.assign(static_cast<std::size_t>(facts_.labels.size()), 0);
  std::vector<std::int64_t> lengths;
  truncated_ = 0;
  for (std::size_t i = 0; i < train_.size(); ++i) {
    ++facts_.label_counts[train_[i].labels[0]];
    lengths.push_back(static_cast<std::int64_t>(train_[i].tokens.size()));
    if (facts_.max_length > 0 && lengths.back() == facts_.max_length) ++truncated_;
  }
  class_weights_.clear();
  if (o.text("class_weights") == "balanced")
    for (std::int64_t count : facts_.label_counts)
      class_weights_.push_back(static_cast<double>(train_.size()) /
                               static_cast<double>(facts_.labels.size() * count));
  batches_ = std::make_unique<data::LengthBatches>(lengths, batch_size_, o.seed("seed"));
  position_ = std::make_unique<PositionOf<data::LengthBatches>>(*batches_);
}

nn::Module& ClassifyTask::build_model(OptionValues& o, bool load_start_weights) {
  nn::SequenceClassifierConfig config{.cell = o.text("cell"),
                                      .layers = o.integer("layers"),
                                      .hidden = o.integer("hidden"),
                                      .embed = o.integer("embed"),
                                      .vocab_size = facts_.vocab.size(),
                                      .num_labels = facts_.labels.size(),
                                      .bidirectional = o.flag("bidirectional"),
                                      .pool = nn::parse_pool(o.text("pool")),
                                      .dropout = o.real("dropout")};
  if (start_) {
    // The architecture is the start model's (the dropout is the run's).
    config = start_->model->config;
    config.dropout = o.real("dropout");
  }
  model_ = std::make_shared<nn::SequenceClassifier>(config);
  if (start_ && load_start_weights) model_->load_state_dict(start_->model->state_dict());
  start_.reset();
  o.set("cell", config.cell), o.set("layers", config.layers), o.set("hidden", config.hidden);
  o.set("embed", config.embed), o.set("bidirectional", config.bidirectional);
  o.set("pool", std::string(nn::pool_name(config.pool)));
  o.set("vocab_size", config.vocab_size), o.set("num_labels", config.num_labels);
  model_->train();
  return *model_;
}

std::vector<std::string> ClassifyTask::describe() const {
  std::string data = fs::path(data_path_).filename().string() + ": " + std::to_string(train_.size()) +
                     " training texts (";
  for (std::int64_t c = 0; c < facts_.labels.size(); ++c)
    data += (c ? ", " : "") + facts_.labels.name(c) + " " + std::to_string(facts_.label_counts[c]);
  std::int64_t tokens = 0, unknown = 0;
  for (const data::Sequence& e : train_) {
    tokens += static_cast<std::int64_t>(e.tokens.size());
    unknown += std::count(e.tokens.begin(), e.tokens.end(), facts_.vocab.unknown_index());
  }
  const bool words = facts_.vocab.mode() == data::TokenMode::Word;
  data += "), " + std::to_string(validation_.size()) + " validation, " + std::to_string(test_.size()) + " test; " +
          std::to_string(tokens / std::max<std::int64_t>(1, static_cast<std::int64_t>(train_.size()))) + " " +
          (words ? "words" : "characters") + " a text on average";
  if (facts_.max_length > 0) data += " (" + std::to_string(truncated_) + " cut at " + std::to_string(facts_.max_length) + ")";
  data += ", vocabulary " + std::to_string(facts_.vocab.size()) + " (" +
          percent(static_cast<double>(unknown) / static_cast<double>(std::max<std::int64_t>(tokens, 1))) + " <unk>)";
  const nn::SequenceClassifierConfig& c = model_->config;
  return {data, std::string(c.bidirectional ? "bidirectional " : "") + c.cell + " " + std::to_string(c.layers) + "x" +
                    std::to_string(c.hidden) + ", " + nn::pool_name(c.pool) + " pooling, " +
                    std::to_string(model_->num_parameters()) + " parameters; " +
                    std::to_string(batches_->steps_per_epoch()) + " steps per epoch of up to " +
                    std::to_string(batch_size_) + " texts"};
}

std::int64_t ClassifyTask::steps_per_epoch() const { return batches_->steps_per_epoch(); }
std::int64_t ClassifyTask::epoch() const { return batches_->epoch(); }

bool ClassifyTask::next_batch() {
  std::vector<std::int64_t> picked;
  if (!batches_->next(picked)) return false;
  // The loss is a mean over the batch's texts, each weighing its class weight.
  const BatchPart mine = batch_part(picked, part_, parts_, [&](std::int64_t i) {
    return class_weights_.empty() ? 1.0 : class_weights_[static_cast<std::size_t>(train_[i].labels.front())];
  });
  part_weight_ = mine.weight;
  batch_ = data::pad_batch(train_, mine.picked, /*per_token=*/false);
  return true;
}

// The batches of an epoch hold every training text once.
double ClassifyTask::items_per_step() const {
  return static_cast<double>(train_.size()) / static_cast<double>(batches_->steps_per_epoch());
}

// Unweighted: the mean cross-entropy. Balanced: sum_i w[y_i] nll_i / sum_i w[y_i], as
// torch.nn.CrossEntropyLoss(weight=w) computes it.
Tensor ClassifyTask::loss() {
  const Tensor logits = model_->forward(batch_.inputs, batch_.lengths);
  if (class_weights_.empty()) return cross_entropy(logits, batch_.targets);
  const std::vector<std::int64_t> targets = batch_.targets.to_vector<std::int64_t>();
  std::vector<float> weights;
  double total = 0;
  for (std::int64_t t : targets) weights.push_back(static_cast<float>(class_weights_[t])), total += class_weights_[t];
  const Tensor nll = cross_entropy(logits, batch_.targets, Reduction::None);
  return mul(sum(mul(nll, from_vector(weights, {static_cast<std::int64_t>(weights.size())}, nll.device()))),
             1.0 / total);
}

std::vector<Metric> ClassifyTask::metrics(std::span<const data::Sequence> examples, const std::string& prefix) {
  if (examples.empty()) return {{prefix + "loss", NAN}, {prefix + "accuracy", NAN}, {prefix + "macro_f1", NAN}};
  double loss = 0;
  const ClassificationReport r = evaluate_classifier(*model_, examples, loss, dist::rank(), dist::size());
  return {{prefix + "loss", loss}, {prefix + "accuracy", r.accuracy}, {prefix + "macro_f1", r.macro_f1}};
}

std::vector<Metric> ClassifyTask::evaluate() { return metrics(validation_, "val_"); }
std::vector<Metric> ClassifyTask::evaluate_test() { return metrics(test_, "test_"); }

std::string ClassifyTask::describe_metric(double macro_f1) const {
  if (!std::isfinite(macro_f1)) return "none (no validation texts)";
  char text[64];
  std::snprintf(text, sizeof text, "macro-F1 %.4f", macro_f1);
  return text;
}

std::string ClassifyTask::describe_evaluation(const std::vector<Metric>& m) const {
  if (m.size() < 3 || !std::isfinite(m[2].value)) return describe_metric(NAN);
  char text[128];
  std::snprintf(text, sizeof text, "loss %.4f, accuracy %.4f, macro-F1 %.4f", m[0].value, m[1].value, m[2].value);
  return text;
}

std::vector<std::string> ClassifyTask::final_report() {
  const bool on_test = !test_.empty();
  if (!on_test && validation_.empty()) return {};
  double loss = 0;
  std::vector<std::string> lines{std::string("the best model on the ") + (on_test ? "test" : "validation") +
                                 " texts:"};
  for (std::string& line : format_report(evaluate_classifier(*model_, on_test ? test_ : validation_, loss), facts_.labels.names()))
    lines.push_back(std::move(line));
  return lines;
}

// The first few validation texts, each as "true -> predicted (probability): text", the
// text cut to `length` characters.
std::string ClassifyTask::sample(std::int64_t length, std::uint64_t /*seed*/) {
  const std::size_t n = std::min<std::size_t>(validation_.size(), 4);
  const std::vector<double> log_probs = classifier_log_probs(*model_, std::span(validation_).first(n));
  const std::int64_t C = facts_.labels.size();
  std::string text;
  for (std::size_t i = 0; i < n; ++i) {
    const double* row = log_probs.data() + i * C;
    const auto best = std::max_element(row, row + C) - row;
    char head[64];
    std::snprintf(head, sizeof head, " (%.3f): ", std::exp(row[best]));
    const std::u32string chars = data::decode_utf8(validation_texts_[i]);
    const std::string shown =
        data::encode_utf8(std::u32string_view(chars).substr(0, static_cast<std::size_t>(std::max<std::int64_t>(length, 0))));
    text += facts_.labels.name(validation_[i].labels[0]) + " -> " + facts_.labels.name(best) + head + shown + "\n";
  }
  return text;
}

void ClassifyTask::add_state(TrainingState& state) { state.position = position_.get(); }

std::map<std::string, std::int64_t> ClassifyTask::data_facts() const {
  return {{"train_examples", static_cast<std::int64_t>(train_.size())}};
}

void ClassifyTask::check_resumed_data(const std::map<std::string, std::int64_t>& stored) const {
  auto it = stored.find("train_examples");
  const std::int64_t n = it == stored.end() ? -1 : it->second;
  RECUR_CHECK(n < 0 || n == static_cast<std::int64_t>(train_.size()),
              "--resume: " << data_path_ << " gives " << train_.size() << " training texts now but gave " << n
                           << " when the run started; resume needs the same data");
}

std::map<std::string, std::string> ClassifyTask::model_metadata() const {
  return classifier_metadata(facts_, model_->config);
}

void ClassifyTask::save_model(const std::string& path, const std::map<std::string, std::string>& extra) const {
  save_classifier(path, *model_, facts_, extra);
}

}  // namespace recur::train
