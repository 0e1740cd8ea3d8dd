// Sequence tagging as a training task: CoNLL sentences, a SequenceTagger, token accuracy.

#include "recur/train/tag_task.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <unordered_map>

#include "recur/autograd.hpp"
#include "recur/core/constant_weights.hpp"
#include "recur/core/random.hpp"
#include "recur/data/loader.hpp"
#include "recur/dist.hpp"
#include "recur/ops.hpp"
#include "recur/rnn_cell.hpp"

namespace recur::train {

namespace fs = std::filesystem;

// A word seen once in training stands for <unk> with this probability at each use, so that
// the <unk> embedding (what every word unseen in training gets) is trained on the kind of
// words that are rare (Lample et al. 2016 do the same for their taggers).
constexpr double kSingletonUnknownRate = 0.5;

namespace {

std::string fold(const std::string& word, bool lowercase) {
  if (!lowercase) return word;
  std::u32string chars = data::decode_utf8(word);
  for (char32_t& c : chars) c = data::lower_case(c);
  return data::encode_utf8(chars);
}

// ", 12 held-out words with tags training lacks (counted as errors)", or "".
std::string unseen_tags_note(std::int64_t count) {
  if (count == 0) return "";
  return " (" + std::to_string(count) + " held-out words with tags training lacks: counted as errors)";
}

}  // namespace

void TaggedCorpus::add(std::span<const std::string> words, std::vector<std::int32_t> tags, const TaggerFacts& facts) {
  std::vector<std::string> folded;
  for (const std::string& w : words) folded.push_back(fold(w, facts.vocab.lowercase()));
  sentences.push_back({data::encode_tokens(folded, facts.vocab), std::move(tags)});
  std::vector<std::int32_t>& spellings = this->words.emplace_back();
  if (facts.char_vocab.size() == 0) return;
  for (const std::string& w : words) {
    auto [it, added] = spelling_index.try_emplace(w, static_cast<std::int32_t>(spelled.size()));
    if (added) spelled.push_back(facts.char_vocab.encode(data::decode_utf8(w)));  // unknown characters: <unk>
    spellings.push_back(it->second);
  }
}

void TaggedCorpus::add_tagged(std::span<const data::TaggedSentence> tagged, const TaggerFacts& facts) {
  for (const data::TaggedSentence& s : tagged) {
    std::vector<std::int32_t> tags;
    for (const std::string& name : s.tags) {
      const std::int64_t tag = facts.labels.find(name);
      tags.push_back(static_cast<std::int32_t>(tag >= 0 ? tag : data::kIgnoreLabel));
      unseen_tags += tag < 0;
    }
    add(s.words, std::move(tags), facts);
  }
}

namespace {

// The distinct spellings among `spellings` (indices of corpus.spelled), longest first (the
// character LSTM's steps then leave the finished words out), else in order of appearance,
// spelled out; the index gives each entry's row, shaped (N).
nn::WordSpellings spell(const TaggedCorpus& corpus, std::span<const std::int32_t> spellings) {
  std::unordered_map<std::int32_t, std::int64_t> row;
  std::vector<std::int32_t> distinct;
  for (std::int32_t spelling : spellings)
    if (row.try_emplace(spelling, 0).second) distinct.push_back(spelling);
  std::stable_sort(distinct.begin(), distinct.end(), [&](std::int32_t x, std::int32_t y) {
    return corpus.spelled[x].size() > corpus.spelled[y].size();
  });
  const auto W = static_cast<std::int64_t>(distinct.size());
  for (std::int64_t w = 0; w < W; ++w) row[distinct[w]] = w;
  std::vector<std::int64_t> index;
  for (std::int32_t spelling : spellings) index.push_back(row[spelling]);
  const std::int64_t longest = W ? std::max<std::int64_t>(1, corpus.spelled[distinct[0]].size()) : 1;
  std::vector<std::int64_t> chars(static_cast<std::size_t>(longest * W), 0), lengths;
  for (std::int64_t w = 0; w < W; ++w) {
    const std::vector<std::int32_t>& c = corpus.spelled[distinct[w]];
    for (std::size_t l = 0; l < c.size(); ++l) chars[l * W + w] = c[l];
    lengths.push_back(std::max<std::int64_t>(1, static_cast<std::int64_t>(c.size())));
  }
  return {from_vector(chars, {longest, W}), from_vector(lengths, {W}),
          from_vector(index, {static_cast<std::int64_t>(index.size())})};
}

}  // namespace

TaggerBatch tagger_batch(const TaggedCorpus& corpus, std::span<const std::int64_t> picked, bool char_features) {
  TaggerBatch batch{data::pad_batch(corpus.sentences, picked, /*per_token=*/true), {}};
  if (!char_features) return batch;
  const std::int64_t T = batch.padded.inputs.size(0), B = static_cast<std::int64_t>(picked.size());
  // Each position's spelling, time-major; padding takes the first sentence's first.
  std::vector<std::int32_t> spellings(static_cast<std::size_t>(T * B), corpus.words[picked[0]].at(0));
  for (std::int64_t b = 0; b < B; ++b) {
    const std::vector<std::int32_t>& words = corpus.words[picked[b]];
    for (std::size_t t = 0; t < words.size(); ++t) spellings[t * B + b] = words[t];
  }
  batch.spellings = spell(corpus, spellings);
  batch.spellings.index = reshape(batch.spellings.index, {T, B});
  return batch;
}

namespace {

// Where batch column b's sentence goes: its tokens' places [first, first + length) among the
// tokens of the range's sentences, one sentence after the other.
struct Placement {
  std::int64_t first, length;
};

std::int64_t sentence_length(const TaggedCorpus& corpus, std::int64_t i) {
  return static_cast<std::int64_t>(corpus.sentences[static_cast<std::size_t>(i)].tokens.size());
}

std::int64_t token_count(const TaggedCorpus& corpus, std::int64_t first, std::int64_t last) {
  std::int64_t n = 0;
  for (std::int64_t i = first; i < last; ++i) n += sentence_length(corpus, i);
  return n;
}

// The word layer's input projections that run_tagger keeps at once, in values: 16 MB of
// float32, some 4,000 distinct words for the default tagger: on Brown's test set as fast as
// larger tables, which share more words but fall out of the caches (docs/BENCHMARKS.md).
constexpr std::int64_t kProjectionTableValues = std::int64_t{1} << 22;

// Runs `model` in evaluation mode over the sentences [first, last) in length-sorted batches of
// at most batch_size, handing `use` each batch's logits (T, B, C) and its columns' placements.
// Consecutive batches share one table of the word layer's input projections
// (SequenceTagger::project_words): each distinct (word, spelling) pair among them is spelled
// and projected once, where batch by batch a text's common words would be again and again.
void run_tagger(nn::SequenceTagger& model, const TaggedCorpus& corpus, std::int64_t batch_size, std::int64_t first,
                std::int64_t last,
                const std::function<void(const Tensor& logits, const std::vector<Placement>& columns)>& use) {
  std::vector<std::int64_t> lengths, starts{0};
  for (std::int64_t i = first; i < last; ++i) {
    lengths.push_back(sentence_length(corpus, i));
    starts.push_back(starts.back() + lengths.back());
  }
  if (lengths.empty()) return;
  const nn::EvalModeGuard eval_mode(model);
  NoGradGuard no_grad;
  ConstantWeightsGuard constant(model.parameters());
  const nn::SequenceTaggerConfig& config = model.config;
  const std::int64_t table_width =
      (config.bidirectional ? 2 : 1) * rnn_gate_count(nn::parse_cell_name(config.cell)) * config.hidden;
  const std::int64_t max_pairs = std::max<std::int64_t>(1, kProjectionTableValues / table_width);
  const bool chars = model.has_char_features();
  const auto spellings_count = static_cast<std::int64_t>(corpus.spelled.size());
  const auto key = [&](std::int64_t sentence, std::size_t t) {  // a (word, spelling) pair, or a word
    const std::int64_t word = corpus.sentences[sentence].tokens[t];
    return chars ? word * spellings_count + corpus.words[sentence][t] : word;
  };
  const std::vector<std::vector<std::int64_t>> batches =
      data::LengthBatches(lengths, batch_size, 0, /*shuffle=*/false).epoch_batches(0);
  for (std::size_t group = 0; group < batches.size();) {
    // The group: batches while their distinct pairs fit the table (at least one batch).
    std::unordered_map<std::int64_t, std::int64_t> row_of;  // key -> row of the table
    std::vector<std::int64_t> pair_words;
    std::vector<std::int32_t> pair_spellings;
    std::size_t end = group;
    for (; end < batches.size(); ++end) {
      std::int64_t tokens = 0;  // at most this many new pairs
      for (std::int64_t s : batches[end]) tokens += lengths[s];
      if (end > group && static_cast<std::int64_t>(pair_words.size()) + tokens > max_pairs) break;
      for (std::int64_t s : batches[end])
        for (std::size_t t = 0; t < static_cast<std::size_t>(lengths[s]); ++t)
          if (row_of.try_emplace(key(first + s, t), static_cast<std::int64_t>(pair_words.size())).second) {
            pair_words.push_back(corpus.sentences[first + s].tokens[t]);
            if (chars) pair_spellings.push_back(corpus.words[first + s][t]);
          }
    }
    const Tensor table = model.project_words(from_vector(pair_words, {static_cast<std::int64_t>(pair_words.size())}),
                                             chars ? spell(corpus, pair_spellings) : nn::WordSpellings{});
    for (; group < end; ++group) {
      std::vector<std::int64_t> sentences;
      std::vector<Placement> columns;
      for (std::int64_t s : batches[group]) sentences.push_back(first + s), columns.push_back({starts[s], lengths[s]});
      const data::PaddedBatch padded = data::pad_batch(corpus.sentences, sentences, /*per_token=*/true);
      const std::int64_t T = padded.inputs.size(0), B = static_cast<std::int64_t>(sentences.size());
      std::vector<std::int64_t> rows(static_cast<std::size_t>(T * B), 0);  // padding reads row 0
      for (std::int64_t b = 0; b < B; ++b)
        for (std::int64_t t = 0; t < columns[b].length; ++t) rows[t * B + b] = row_of.at(key(sentences[b], t));
      use(model.forward_projected(table, from_vector(rows, {T, B}), padded.lengths), columns);
    }
  }
}

}  // namespace

std::vector<double> tagger_log_probs(nn::SequenceTagger& model, const TaggedCorpus& corpus, std::int64_t batch_size,
                                     std::int64_t first_sentence, std::int64_t last_sentence) {
  const std::int64_t C = model.config.num_labels;
  if (last_sentence < 0) last_sentence = static_cast<std::int64_t>(corpus.sentences.size());
  std::vector<double> result(static_cast<std::size_t>(token_count(corpus, first_sentence, last_sentence) * C));
  run_tagger(model, corpus, batch_size, first_sentence, last_sentence,
             [&](const Tensor& logits, const std::vector<Placement>& columns) {
               const Tensor log_probs = contiguous(to_dtype(log_softmax(logits, 2), DType::Float64));
               const double* lp = log_probs.data<double>();
               const auto B = static_cast<std::int64_t>(columns.size());
               for (std::int64_t b = 0; b < B; ++b)
                 for (std::int64_t t = 0; t < columns[b].length; ++t)
                   std::copy_n(lp + (t * B + b) * C, C, result.begin() + (columns[b].first + t) * C);
             });
  return result;
}

std::vector<std::int32_t> tagger_tags(nn::SequenceTagger& model, const TaggedCorpus& corpus, std::int64_t batch_size) {
  const auto sentences = static_cast<std::int64_t>(corpus.sentences.size());
  std::vector<std::int32_t> result(static_cast<std::size_t>(token_count(corpus, 0, sentences)));
  run_tagger(model, corpus, batch_size, 0, sentences, [&](const Tensor& logits, const std::vector<Placement>& columns) {
    const std::vector<std::int64_t> best = argmax(logits, 2).to_vector<std::int64_t>();  // (T, B)
    const auto B = static_cast<std::int64_t>(columns.size());
    for (std::int64_t b = 0; b < B; ++b)
      for (std::int64_t t = 0; t < columns[b].length; ++t)
        result[columns[b].first + t] = static_cast<std::int32_t>(best[t * B + b]);
  });
  return result;
}

TaggingReport evaluate_tagger(nn::SequenceTagger& model, const TaggerFacts& facts, const TaggedCorpus& corpus,
                              int part, int parts) {
  const std::vector<double> log_probs = dist::gather_shares(
      static_cast<std::int64_t>(corpus.sentences.size()), part, parts,
      [&](std::int64_t begin, std::int64_t end) { return tagger_log_probs(model, corpus, 64, begin, end); });
  const std::int64_t C = facts.labels.size();
  TaggingReport r;
  r.sentences = static_cast<std::int64_t>(corpus.sentences.size());
  r.bio = is_bio_tagset(facts.labels.names());
  EntityCounter entities;
  std::int64_t correct = 0, oov_correct = 0;
  const double* row = log_probs.data();
  for (const data::Sequence& s : corpus.sentences) {
    std::vector<std::int32_t> predicted;
    for (std::size_t t = 0; t < s.tokens.size(); ++t, row += C) {
      predicted.push_back(static_cast<std::int32_t>(std::max_element(row, row + C) - row));
      const bool hit = predicted.back() == s.labels[t];
      if (s.labels[t] >= 0) r.loss -= row[s.labels[t]];
      correct += hit;
      if (s.tokens[t] == facts.vocab.unknown_index()) ++r.oov_tokens, oov_correct += hit;
    }
    r.tokens += static_cast<std::int64_t>(s.tokens.size());
    if (r.bio) entities.add(s.labels, predicted, facts.labels.names());
  }
  const auto share = [](std::int64_t a, std::int64_t b) { return b > 0 ? static_cast<double>(a) / b : 0.0; };
  const std::int64_t known = r.tokens - corpus.unseen_tags;
  r.loss = known > 0 ? r.loss / static_cast<double>(known) : NAN;
  r.accuracy = share(correct, r.tokens);
  r.oov_accuracy = share(oov_correct, r.oov_tokens);
  r.entities = entities.finish();
  return r;
}

TagTask::TagTask() = default;
TagTask::~TagTask() = default;

std::vector<OptionSpec> TagTask::options() const {
  using T = OptionType;
  using G = OptionGroup;
  using C = OptionCheck;
  return {
      {.key = "data", .type = T::Text, .default_value = std::string(),
       .help = "Tagged sentences to train on: CoNLL style, one word and its tag a line, a blank line after each "
               "sentence",
       .group = G::Data, .positional = true},
      {.key = "lowercase", .type = T::Flag, .default_value = false,
       .help = "Fold words to lower case (character features still see the case)", .group = G::Data},
      {.key = "min_count", .type = T::Int, .default_value = std::int64_t{1},
       .help = "Words seen fewer times in training become <unk>", .group = G::Data, .check = C::Positive},
      {.key = "max_vocab", .type = T::Int, .default_value = std::int64_t{0},
       .help = "At most N words, <unk> standing for the rest (0: all)", .group = G::Data, .check = C::NonNegative},
      {.key = "val", .type = T::Text, .default_value = std::string(),
       .help = "Validation sentences (then DATA is all training sentences and the fractions are ignored)",
       .group = G::Data},
      {.key = "test", .type = T::Text, .default_value = std::string(),
       .help = "Test sentences, measured with the best model at the end (DATA is then all training sentences)",
       .group = G::Data},
      {.key = "val_fraction", .type = T::Real, .default_value = 0.1, .help = "Fraction of the sentences for validation",
       .group = G::Data, .check = C::Fraction},
      {.key = "test_fraction", .type = T::Real, .default_value = 0.1,
       .help = "Fraction of the sentences held out for testing", .group = G::Data, .check = C::Fraction},
      {.key = "batch_size", .type = T::Int, .default_value = std::int64_t{32}, .help = "Sentences per batch",
       .group = G::Data, .check = C::Positive},
      {.key = "cell", .type = T::Text, .default_value = std::string("lstm"), .help = "Recurrent cell",
       .group = G::Model, .choices = rnn_cell_key_list(), .section = "model"},
      {.key = "layers", .type = T::Int, .default_value = std::int64_t{1}, .help = "Recurrent layers",
       .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "hidden", .type = T::Int, .default_value = std::int64_t{128},
       .help = "Hidden units per layer and direction", .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "embed", .type = T::Int, .default_value = std::int64_t{100}, .help = "Word embedding size",
       .group = G::Model, .check = C::Positive, .section = "model"},
      {.key = "bidirectional", .type = T::Flag, .default_value = true,
       .help = "Read each sentence in both directions (--bidirectional=false: forwards only)", .group = G::Model,
       .section = "model"},
      {.key = "char_embed", .type = T::Int, .default_value = std::int64_t{25},
       .help = "Character features: the characters' embedding size (0: no character features)", .group = G::Model,
       .check = C::NonNegative, .section = "model"},
      {.key = "char_hidden", .type = T::Int, .default_value = std::int64_t{25},
       .help = "Character features: the hidden size of the bidirectional LSTM over each word's characters",
       .group = G::Model, .check = C::NonNegative, .section = "model"},
      {.key = "dropout", .type = T::Real, .default_value = 0.25,
       .help = "Dropout on the recurrent layers' inputs, between them and on their outputs", .group = G::Model,
       .check = C::BelowOne, .section = "model"},
      {.key = "vocab_size", .type = T::Int, .default_value = std::int64_t{0}, .help = "Words in the vocabulary",
       .group = G::Model, .section = "model", .command_line = false},
      {.key = "num_labels", .type = T::Int, .default_value = std::int64_t{0}, .help = "Tags", .group = G::Model,
       .section = "model", .command_line = false},
      {.key = "char_vocab_size", .type = T::Int, .default_value = std::int64_t{0},
       .help = "Characters of the character features", .group = G::Model, .section = "model",
       .command_line = false},
  };
}

std::string TagTask::default_out(const OptionValues& o) const {
  return (fs::path("runs") / fs::path(o.text("data")).stem()).string();
}

std::string TagTask::title(const OptionValues& o) const { return fs::path(o.text("data")).filename().string(); }

void TagTask::check_options(const OptionValues& o) const {
  RECUR_CHECK(!o.text("data").empty(), "--task tag needs DATA: a CoNLL file of tagged sentences");
  RECUR_CHECK(o.integer("max_vocab") == 0 || o.integer("max_vocab") >= 3,
              "--max-vocab must be 0 (every word) or at least 3 (one word, <unk> and <eos>), got "
                  << o.integer("max_vocab"));
  RECUR_CHECK((o.integer("char_embed") > 0) == (o.integer("char_hidden") > 0),
              "--char-embed and --char-hidden are both 0 (no character features) or both positive, got "
                  << o.integer("char_embed") << " and " << o.integer("char_hidden"));
  if (!o.text("val").empty() || !o.text("test").empty()) return;
  RECUR_CHECK(o.real("val_fraction") + o.real("test_fraction") < 1,
              "--val-fraction " << o.real("val_fraction") << " and --test-fraction " << o.real("test_fraction")
                                << " leave no sentences to train on");
}

std::map<std::string, std::string> TagTask::read_start(const std::string& path) {
  start_ = load_tagger(path);
  return start_->metadata;
}

void TagTask::load_data(OptionValues& o) {
  data_path_ = o.text("data");
  batch_size_ = o.integer("batch_size");
  seed_ = o.seed("seed");
  std::vector<data::TaggedSentence> train = data::read_conll(data_path_), validation, test;
  if (!o.text("val").empty() || !o.text("test").empty()) {
    if (!o.text("val").empty()) validation = data::read_conll(o.text("val"));
    if (!o.text("test").empty()) test = data::read_conll(o.text("test"));
  } else {
    // A seeded random split of the sentences, each part in file order.
    const auto n = static_cast<std::int64_t>(train.size());
    const std::int64_t n_val = std::min<std::int64_t>(n - 1, std::llround(static_cast<double>(n) * o.real("val_fraction")));
    const std::int64_t n_test =
        std::min<std::int64_t>(n - 1 - n_val, std::llround(static_cast<double>(n) * o.real("test_fraction")));
    std::vector<int> part(train.size(), 0);
    const std::vector<std::int64_t> order = data::shuffled_order(n, seed_, 1ULL << 62);
    for (std::int64_t k = 0; k < n_val + n_test; ++k) part[order[k]] = k < n_val ? 1 : 2;
    std::vector<data::TaggedSentence> kept;
    for (std::size_t i = 0; i < train.size(); ++i)
      (part[i] == 0 ? kept : part[i] == 1 ? validation : test).push_back(std::move(train[i]));
    train = std::move(kept);
  }

  if (start_) {
    facts_ = *start_;
    o.set("lowercase", facts_.vocab.lowercase());
  } else {
    std::vector<std::string> tags;
    std::vector<std::vector<std::string>> words, chars;
    for (const data::TaggedSentence& s : train) {
      tags.insert(tags.end(), s.tags.begin(), s.tags.end());
      std::vector<std::string>& folded = words.emplace_back();
      for (const std::string& w : s.words) {
        folded.push_back(fold(w, o.flag("lowercase")));
        if (o.integer("char_embed") > 0) chars.push_back(data::split_tokens(w, {.mode = data::TokenMode::Char}, data_path_));
      }
    }
    facts_.labels = data::Labels::build(tags);
    RECUR_CHECK(facts_.labels.size() >= 2, data_path_ << ": every training word has the tag \"" << tags[0]
                                                      << "\"; a tagger needs at least two tags");
    facts_.vocab = data::build_vocab(words, {.mode = data::TokenMode::Word, .lowercase = o.flag("lowercase"),
                                             .min_count = o.integer("min_count"), .max_size = o.integer("max_vocab")});
    if (!chars.empty()) facts_.char_vocab = data::build_vocab(chars, {.mode = data::TokenMode::Char});
  }
  facts_bio_ = is_bio_tagset(facts_.labels.names());
  for (std::size_t i = 0; i < std::min<std::size_t>(validation.size(), 2); ++i)
    sample_words_.push_back(validation[i].words);
  train_.add_tagged(train, facts_);
  RECUR_CHECK(train_.unseen_tags == 0, data_path_ << ": " << train_.unseen_tags
                                                 << " training words have tags the model it starts from lacks; "
                                                    "fine-tuning keeps the model's "
                                                 << facts_.labels.size() << " tags");
  validation_.add_tagged(validation, facts_);
  test_.add_tagged(test, facts_);

  facts_.label_counts.assign(static_cast<std::size_t>(facts_.labels.size()), 0);
  word_counts_.assign(static_cast<std::size_t>(facts_.vocab.size()), 0);
  std::vector<std::int64_t> lengths;
  for (const data::Sequence& s : train_.sentences) {
    for (std::int32_t tag : s.labels) ++facts_.label_counts[tag];
    for (std::int32_t word : s.tokens) ++word_counts_[word];
    lengths.push_back(static_cast<std::int64_t>(s.tokens.size()));
  }
  batches_ = std::make_unique<data::LengthBatches>(lengths, batch_size_, seed_);
  position_ = std::make_unique<PositionOf<data::LengthBatches>>(*batches_);
}

nn::Module& TagTask::build_model(OptionValues& o, bool load_start_weights) {
  const bool chars = facts_.char_vocab.size() > 0;
  nn::SequenceTaggerConfig config{.cell = o.text("cell"),
                                  .layers = o.integer("layers"),
                                  .hidden = o.integer("hidden"),
                                  .embed = o.integer("embed"),
                                  .vocab_size = facts_.vocab.size(),
                                  .num_labels = facts_.labels.size(),
                                  .bidirectional = o.flag("bidirectional"),
                                  .dropout = o.real("dropout"),
                                  .char_vocab_size = facts_.char_vocab.size(),
                                  .char_embed = chars ? o.integer("char_embed") : 0,
                                  .char_hidden = chars ? o.integer("char_hidden") : 0};
  if (start_) {
    config = start_->model->config;  // the architecture is the start model's, the dropout the run's
    config.dropout = o.real("dropout");
  }
  model_ = std::make_shared<nn::SequenceTagger>(config);
  if (start_ && load_start_weights) model_->load_state_dict(start_->model->state_dict());
  start_.reset();
  o.set("cell", config.cell), o.set("layers", config.layers), o.set("hidden", config.hidden);
  o.set("embed", config.embed), o.set("bidirectional", config.bidirectional);
  o.set("char_embed", config.char_embed), o.set("char_hidden", config.char_hidden);
  o.set("vocab_size", config.vocab_size), o.set("num_labels", config.num_labels);
  o.set("char_vocab_size", config.char_vocab_size);
  model_->train();
  return *model_;
}

std::vector<std::string> TagTask::describe() const {
  std::int64_t tokens = 0;
  for (const data::Sequence& s : train_.sentences) tokens += static_cast<std::int64_t>(s.tokens.size());
  const nn::SequenceTaggerConfig& c = model_->config;
  std::string chars = c.char_embed > 0 ? ", character features " + std::to_string(c.char_embed) + " -> 2x" +
                                             std::to_string(c.char_hidden) + " over " +
                                             std::to_string(c.char_vocab_size) + " characters"
                                       : std::string(", no character features");
  return {fs::path(data_path_).filename().string() + ": " + std::to_string(train_.sentences.size()) +
              " training sentences (" + std::to_string(tokens) + " words), " +
              std::to_string(validation_.sentences.size()) + " validation, " + std::to_string(test_.sentences.size()) +
              " test; " + std::to_string(facts_.labels.size()) + " tags" + (facts_bio_ ? " (BIO)" : "") +
              unseen_tags_note(validation_.unseen_tags + test_.unseen_tags) +
              ", vocabulary " + std::to_string(facts_.vocab.size()) + " words",
          std::string(c.bidirectional ? "bidirectional " : "") + c.cell + " " + std::to_string(c.layers) + "x" +
              std::to_string(c.hidden) + chars + ", " + std::to_string(model_->num_parameters()) + " parameters; " +
              std::to_string(batches_->steps_per_epoch()) + " steps per epoch of up to " + std::to_string(batch_size_) +
              " sentences"};
}

std::int64_t TagTask::steps_per_epoch() const { return batches_->steps_per_epoch(); }
std::int64_t TagTask::epoch() const { return batches_->epoch(); }

// The next batch, with each word seen once in training replaced by <unk> with probability
// kSingletonUnknownRate: Philox draws keyed by the seed at counters from 3 * 2^62 + epoch *
// 2^40 + step * 2^20, so a resumed run draws the same.
bool TagTask::next_batch() {
  const auto counter = (3ULL << 62) + (static_cast<std::uint64_t>(batches_->epoch()) << 40) +
                       (static_cast<std::uint64_t>(batches_->step()) << 20);
  std::vector<std::int64_t> picked;
  if (!batches_->next(picked)) return false;
  batch_ = tagger_batch(train_, picked, model_->has_char_features());
  std::int64_t* words = batch_.padded.inputs.data<std::int64_t>();
  const std::int64_t* targets = batch_.padded.targets.data<std::int64_t>();
  std::array<std::uint32_t, 4> draws{};
  std::uint64_t draw = 0;
  for (std::int64_t i = 0; i < batch_.padded.inputs.numel(); ++i) {
    if (targets[i] == data::kIgnoreLabel || word_counts_[words[i]] != 1) continue;
    if (draw % 4 == 0) draws = philox4x32(seed_, counter + draw / 4);
    if (draws[draw++ % 4] < kSingletonUnknownRate * 4294967296.0) words[i] = facts_.vocab.unknown_index();
  }
  if (parts_ > 1) {
    // This process's sentences (the loss is a mean over tokens), with the words as the draws
    // above left them over the whole batch: the same whatever the number of processes.
    const BatchPart mine = batch_part(picked, part_, parts_, [&](std::int64_t i) {
      return static_cast<double>(train_.sentences[static_cast<std::size_t>(i)].tokens.size());
    });
    part_weight_ = mine.weight;
    TaggerBatch part = tagger_batch(train_, mine.picked, model_->has_char_features());
    const std::int64_t B = batch_.padded.inputs.size(1), T = part.padded.inputs.size(0), P = part.padded.inputs.size(1);
    std::int64_t* part_words = part.padded.inputs.data<std::int64_t>();
    for (std::int64_t t = 0; t < T; ++t)
      for (std::int64_t j = 0; j < P; ++j) part_words[t * P + j] = words[t * B + mine.first + j];
    batch_ = std::move(part);
  }
  return true;
}

double TagTask::items_per_step() const {
  return static_cast<double>(train_.sentences.size()) / static_cast<double>(batches_->steps_per_epoch());
}

// The mean cross-entropy over the batch's real tokens (padding's targets are ignored).
Tensor TagTask::loss() {
  const Tensor logits = model_->forward(batch_.padded.inputs, batch_.padded.lengths, batch_.spellings);
  const std::int64_t rows = logits.size(0) * logits.size(1);
  return cross_entropy(reshape(logits, {rows, logits.size(2)}), reshape(batch_.padded.targets, {rows}));
}

std::vector<Metric> TagTask::metrics(const TaggedCorpus& corpus, const std::string& prefix) {
  std::vector<Metric> m;
  if (corpus.sentences.empty()) {
    m = {{prefix + "loss", NAN}, {prefix + "accuracy", NAN}, {prefix + "oov_accuracy", NAN}};
    if (facts_bio_) m.push_back({prefix + "entity_f1", NAN});
    return m;
  }
  const TaggingReport r = evaluate_tagger(*model_, facts_, corpus, dist::rank(), dist::size());
  m = {{prefix + "loss", r.loss}, {prefix + "accuracy", r.accuracy}, {prefix + "oov_accuracy", r.oov_accuracy}};
  if (r.bio)
    m.insert(m.end(), {{prefix + "entity_precision", r.entities.precision},
                       {prefix + "entity_recall", r.entities.recall},
                       {prefix + "entity_f1", r.entities.f1}});
  return m;
}

std::vector<Metric> TagTask::evaluate() { return metrics(validation_, "val_"); }
std::vector<Metric> TagTask::evaluate_test() { return metrics(test_, "test_"); }

std::string TagTask::describe_metric(double value) const {
  if (!std::isfinite(value)) return "none (no validation sentences)";
  char text[64];
  std::snprintf(text, sizeof text, facts_bio_ ? "entity F1 %.4f" : "accuracy %.4f", value);
  return text;
}

std::string TagTask::describe_evaluation(const std::vector<Metric>& m) const {
  if (m.size() < 3 || !std::isfinite(m[0].value)) return describe_metric(NAN);
  char text[160];
  std::snprintf(text, sizeof text, "loss %.4f, accuracy %.4f, unseen words %.4f", m[0].value, m[1].value,
                m[2].value);
  std::string line = text;
  if (facts_bio_) line += ", " + describe_metric(m.back().value);
  return line;
}

// The first validation sentences as word/TAG, about `length` characters.
std::string TagTask::sample(std::int64_t length, std::uint64_t /*seed*/) {
  TaggedCorpus shown;
  for (const std::vector<std::string>& words : sample_words_)
    shown.add(words, std::vector<std::int32_t>(words.size(), 0), facts_);  // the tags are not read
  const std::vector<double> log_probs = tagger_log_probs(*model_, shown);
  const std::int64_t C = facts_.labels.size();
  std::string text;
  const double* row = log_probs.data();
  for (const std::vector<std::string>& words : sample_words_) {
    for (std::size_t t = 0; t < words.size(); ++t, row += C)
      if (static_cast<std::int64_t>(text.size()) < length)
        text += words[t] + "/" + facts_.labels.name(std::max_element(row, row + C) - row) + " ";
    text += "\n";
  }
  return text;
}

void TagTask::add_state(TrainingState& state) { state.position = position_.get(); }

std::map<std::string, std::int64_t> TagTask::data_facts() const {
  return {{"train_sentences", static_cast<std::int64_t>(train_.sentences.size())}};
}

void TagTask::check_resumed_data(const std::map<std::string, std::int64_t>& stored) const {
  auto it = stored.find("train_sentences");
  const std::int64_t n = it == stored.end() ? -1 : it->second;
  RECUR_CHECK(n < 0 || n == static_cast<std::int64_t>(train_.sentences.size()),
              "--resume: " << data_path_ << " gives " << train_.sentences.size() << " training sentences now but gave "
                           << n << " when the run started; resume needs the same data");
}

std::map<std::string, std::string> TagTask::model_metadata() const { return tagger_metadata(facts_, model_->config); }

void TagTask::save_model(const std::string& path, const std::map<std::string, std::string>& extra) const {
  save_tagger(path, *model_, facts_, extra);
}

}  // namespace recur::train
