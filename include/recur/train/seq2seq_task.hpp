// Sequence to sequence as a training task (task.hpp): `source<TAB>target` lines
// (data::read_text_pairs), an nn::Seq2Seq trained with teacher forcing. Batches hold sources of
// similar length (data::LengthBatches); each evaluation reports the loss per target token and
// the greedy token and sequence error rates, where lines that share a source are one example
// with several correct targets (the grapheme-to-phoneme convention); the best model is the one
// with the lowest validation sequence error rate.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "recur/data/sequences.hpp"
#include "recur/nn/decoding.hpp"
#include "recur/nn/seq2seq.hpp"
#include "recur/train/metrics.hpp"
#include "recur/train/model_file.hpp"
#include "recur/train/task.hpp"

namespace recur::train {

// One source and every target given for it (in file order).
struct Seq2SeqExample {
  std::vector<std::int32_t> source;
  std::vector<std::vector<std::int32_t>> targets;
  std::int64_t line = 0;  // of its first line
};

// One side of a pair as `vocab` reads it: its words or characters, encoded (unknown tokens as
// <unk>). A side without a token is an Error "WHERE: the WHAT has no words" (or characters).
std::vector<std::int32_t> sequence_tokens(std::string_view text, const data::Vocab& vocab, const std::string& where,
                                          std::string_view what);

// Tokens as text: word tokens joined by single spaces, characters run together.
std::string sequence_text(std::span<const std::int32_t> tokens, const data::Vocab& vocab);

// The pairs encoded with the facts' vocabularies (unknown tokens as <unk>), lines with the
// same source gathered into one example in order of first appearance.
std::vector<Seq2SeqExample> encode_pairs(std::span<const data::TextPair> pairs, const Seq2SeqFacts& facts);

// A batch for teacher forcing: sources (S, B) padded with 0 and their lengths (B); targets
// in (T, B) = <bos> then the target, and out (T, B) = the target then <eos>, padded with
// data::kIgnoreLabel (T = the longest target + 1). An example with several targets gives one
// column per target.
struct Seq2SeqBatch {
  Tensor source, source_lengths, target_in, target_out;
  std::int64_t target_tokens = 0;  // the non-ignored entries of target_out
};
Seq2SeqBatch seq2seq_batch(std::span<const Seq2SeqExample> examples, std::span<const std::int64_t> picked,
                           const Seq2SeqFacts& facts);

// The model's outputs for `sources` (each non-empty), in their order, decoded in batches of
// up to batch_size sources of similar length with options.bos / eos set from the facts and,
// when options.max_length is 0, 2 x the batch's longest source + 10 tokens at most.
std::vector<std::vector<nn::Hypothesis>> translate(nn::Seq2Seq& model, const Seq2SeqFacts& facts,
                                                   std::span<const std::vector<std::int32_t>> sources,
                                                   nn::BeamOptions options, std::int64_t batch_size = 64);

// Forced decoding: the log-probability of each example's one target given its source (the
// target's tokens and the ending <eos>), in the examples' order, from `model` in evaluation
// mode in batches of up to batch_size examples of similar source length; with per_token, each
// token's log-probability too. Requires exactly one target per example (checked).
std::vector<double> target_logprobs(nn::Seq2Seq& model, const Seq2SeqFacts& facts,
                                    std::span<const Seq2SeqExample> examples, std::int64_t batch_size = 64,
                                    std::vector<std::vector<double>>* per_token = nullptr);

// Where the model looks while writing `target` for `source` (forced decoding, in evaluation
// mode): row t holds the attention weights over the source's tokens at the step that
// predicts target token t, the last row the step that predicts <eos>. Requires a model with
// attention and a non-empty source (checked).
std::vector<std::vector<float>> attention_matrix(nn::Seq2Seq& model, const Seq2SeqFacts& facts,
                                                 std::span<const std::int32_t> source,
                                                 std::span<const std::int32_t> target);

struct Seq2SeqScores {
  double loss = 0;  // mean negative log-probability per target token (<eos> included)
  ErrorRates rates;
  BleuCounter bleu;
};
// `model` on `examples` (at least one): the teacher-forced loss over every target, and the
// error rates (and BLEU) of its best hypothesis (translate with `options`) against the
// example's targets. Training's evaluations and recur eval decode with max_length 0.
Seq2SeqScores evaluate_seq2seq(nn::Seq2Seq& model, const Seq2SeqFacts& facts, std::span<const Seq2SeqExample> examples,
                               const nn::BeamOptions& options);

class Seq2SeqTask final : public Task {
 public:
  Seq2SeqTask();
  ~Seq2SeqTask() override;

  std::string name() const override { return "seq2seq"; }
  std::vector<OptionSpec> options() const override;
  std::string default_out(const OptionValues& o) const override;
  std::string item_name() const override { return "examples"; }
  void apply_defaults(OptionValues& o, const std::set<std::string>& given) const override;
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
  std::string best_metric() const override { return "val_sequence_error_rate"; }
  bool has_validation() const override { return !validation_.empty(); }
  bool has_test() const override { return !test_.empty(); }
  std::vector<Metric> evaluate_test() override;
  std::string describe_metric(double sequence_error_rate) const override;
  std::string describe_evaluation(const std::vector<Metric>& metrics) const override;
  std::vector<std::string> chart_metrics() const override {
    return {"val_token_error_rate", "val_sequence_error_rate"};
  }
  std::string sample(std::int64_t length, std::uint64_t seed) override;
  void add_state(TrainingState& state) override;
  std::map<std::string, std::int64_t> data_facts() const override;
  void check_resumed_data(const std::map<std::string, std::int64_t>& stored) const override;
  std::map<std::string, std::string> model_metadata() const override;
  void save_model(const std::string& path, const std::map<std::string, std::string>& extra) const override;

 private:
  std::vector<Metric> metrics(std::span<const Seq2SeqExample> examples, const std::string& prefix);

  std::string data_path_;
  std::int64_t batch_size_ = 0;
  double label_smoothing_ = 0;
  std::optional<LoadedSeq2Seq> start_;
  Seq2SeqFacts facts_;
  std::vector<Seq2SeqExample> train_, validation_, test_;
  std::unique_ptr<data::LengthBatches> batches_;
  std::unique_ptr<PositionOf<data::LengthBatches>> position_;
  std::shared_ptr<nn::Seq2Seq> model_;
  Seq2SeqBatch batch_;
  int part_ = 0, parts_ = 1;  // data-parallel runs: this process's part of each batch
  double part_weight_ = 1;     // and its share of the batch's loss (batch_part)
};

}  // namespace recur::train
