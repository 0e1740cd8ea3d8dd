// Sequence tagging as a training task (task.hpp): one tag per word, sentences read from
// CoNLL files (data::read_conll), a SequenceTagger over the words and, optionally, their
// characters. Evaluation reports the loss per token, token accuracy, accuracy on words
// outside the vocabulary (with the default --min-count 1: words unseen in training) and,
// for BIO tags, entity precision / recall / F1; the best model is the one with the best
// validation accuracy (entity F1 for BIO tags).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "recur/data/sequences.hpp"
#include "recur/nn/sequence_tagger.hpp"
#include "recur/train/metrics.hpp"
#include "recur/train/model_file.hpp"
#include "recur/train/task.hpp"

namespace recur::train {

// Sentences in a tagger's terms: each word's index in the vocabulary and its tag, and, for
// character features, each word's spelling (an index into `spelled`, every distinct word's
// characters in the character vocabulary).
struct TaggedCorpus {
  std::vector<data::Sequence> sentences;          // tokens: word indices; labels: tag indices
  std::vector<std::vector<std::int32_t>> words;   // per sentence, per token: its spelling's index
  std::vector<std::vector<std::int32_t>> spelled; // per spelling: its characters
  std::unordered_map<std::string, std::int32_t, data::StringHash, std::equal_to<>> spelling_index;

  // Appends a sentence of `words` (tags: indices, or empty for prediction) read by `facts`
  // (case folded as its vocabulary is; characters outside the character vocabulary <unk>).
  void add(std::span<const std::string> words, std::vector<std::int32_t> tags, const TaggerFacts& facts);
  // Appends tagged sentences. A tag the facts lack (a rare tag of a test set that training
  // never saw) is kept as data::kIgnoreLabel: no prediction matches it, and it is counted in
  // unseen_tags.
  void add_tagged(std::span<const data::TaggedSentence> tagged, const TaggerFacts& facts);
  std::int64_t unseen_tags = 0;
};

// The inputs of a batch of `picked` sentences: padded words, lengths, per-token targets
// (kIgnoreLabel past each end) and, with character features, the batch's spellings.
struct TaggerBatch {
  data::PaddedBatch padded;
  nn::WordSpellings spellings;
};
TaggerBatch tagger_batch(const TaggedCorpus& corpus, std::span<const std::int64_t> picked, bool char_features);

// Each token's tag log-probabilities, [tokens of all sentences * C] row-major, sentences in
// order, from `model` in evaluation mode, in length-sorted batches of at most batch_size
// sentences (the result does not depend on the batching). The training mode is kept. Only
// the sentences [first, last) when given (last -1: to the end).
std::vector<double> tagger_log_probs(nn::SequenceTagger& model, const TaggedCorpus& corpus,
                                     std::int64_t batch_size = 64, std::int64_t first = 0, std::int64_t last = -1);
// Each token's most likely tag (the first of equals), in the same order, batched likewise:
// what tagger_log_probs would give the argmax of, without keeping C numbers a token.
std::vector<std::int32_t> tagger_tags(nn::SequenceTagger& model, const TaggedCorpus& corpus, std::int64_t batch_size = 64);

// What a tagger scores on tagged sentences. Tokens whose tag the tagger does not know count
// as errors in the accuracies and are left out of the loss.
struct TaggingReport {
  std::int64_t sentences = 0, tokens = 0, oov_tokens = 0;
  double loss = 0, accuracy = 0, oov_accuracy = 0;  // loss: mean nats per token
  bool bio = false;                                 // entity scores only for BIO tag sets
  EntityScores entities;
};
// In a data-parallel run, process `part` of `parts` scores its share of the sentences
// (dist::gather_shares) and every process gets the whole report.
TaggingReport evaluate_tagger(nn::SequenceTagger& model, const TaggerFacts& facts, const TaggedCorpus& corpus,
                              int part = 0, int parts = 1);

class TagTask final : public Task {
 public:
  TagTask();
  ~TagTask() override;

  std::string name() const override { return "tag"; }
  std::vector<OptionSpec> options() const override;
  std::string default_out(const OptionValues& o) const override;
  std::string item_name() const override { return "sentences"; }
  void check_options(const OptionValues& o) const override;
  std::map<std::string, std::string> read_start(const std::string& path) override;
  void load_data(OptionValues& o) override;
  nn::Module& build_model(OptionValues& o, bool load_start_weights) override;
  std::vector<std::string> describe() const override;
  std::string title(const OptionValues& o) const override;
  std::int64_t steps_per_epoch() const override;
  std::int64_t epoch() const override;
  bool next_batch() override;
  double items_per_step() const override;
  Tensor loss() override;
  void set_part(int part, int parts) override { part_ = part, parts_ = parts; }
  double part_weight() const override { return part_weight_; }
  std::vector<Metric> evaluate() override;
  std::string best_metric() const override { return facts_bio_ ? "val_entity_f1" : "val_accuracy"; }
  bool higher_is_better() const override { return true; }
  bool has_validation() const override { return !validation_.sentences.empty(); }
  bool has_test() const override { return !test_.sentences.empty(); }
  std::vector<Metric> evaluate_test() override;
  std::string describe_metric(double value) const override;
  std::string describe_evaluation(const std::vector<Metric>& metrics) const override;
  std::vector<std::string> chart_metrics() const override {
    if (facts_bio_) return {"val_accuracy", "val_oov_accuracy", "val_entity_f1"};
    return {"val_accuracy", "val_oov_accuracy"};
  }
  std::string sample(std::int64_t length, std::uint64_t seed) override;
  void add_state(TrainingState& state) override;
  std::map<std::string, std::int64_t> data_facts() const override;
  void check_resumed_data(const std::map<std::string, std::int64_t>& stored) const override;
  std::map<std::string, std::string> model_metadata() const override;
  void save_model(const std::string& path, const std::map<std::string, std::string>& extra) const override;

 private:
  std::vector<Metric> metrics(const TaggedCorpus& corpus, const std::string& prefix);

  std::string data_path_;
  std::int64_t batch_size_ = 0;
  std::uint64_t seed_ = 0;
  std::optional<LoadedTagger> start_;
  TaggerFacts facts_;
  bool facts_bio_ = false;
  TaggedCorpus train_, validation_, test_;
  std::vector<std::int64_t> word_counts_;  // per word index: its count in the training sentences
  std::vector<std::vector<std::string>> sample_words_;  // the first validation sentences, for sample()
  std::unique_ptr<data::LengthBatches> batches_;
  std::unique_ptr<PositionOf<data::LengthBatches>> position_;
  std::shared_ptr<nn::SequenceTagger> model_;
  TaggerBatch batch_;
  int part_ = 0, parts_ = 1;  // data-parallel runs: this process's part of each batch
  double part_weight_ = 1;     // and its share of the batch's tokens (batch_part)
};

}  // namespace recur::train
