// Text classification as a training task (task.hpp): one label per text, the texts read
// from `label<TAB>text` files (data::read_labeled_texts), a SequenceClassifier over their
// word or character tokens. Batches hold texts of similar length (data::LengthBatches);
// evaluation reports loss, accuracy and macro-F1, and the best model is the one with the best
// validation macro-F1. At the end, per-class scores and the confusion matrix of the best
// model on the test texts (else the validation texts).
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "recur/data/sequences.hpp"
#include "recur/nn/sequence_classifier.hpp"
#include "recur/train/metrics.hpp"
#include "recur/train/model_file.hpp"
#include "recur/train/task.hpp"

namespace recur::train {

// A text as a classifier reads it: split_tokens in vocab's mode and case, the first
// max_length tokens kept (0: all), encoded (unknown tokens as <unk>). An example with no
// tokens is an Error naming `source`.
std::vector<std::int32_t> classifier_tokens(std::string_view text, const ClassifierFacts& facts,
                                            std::string_view source);

// The examples of labelled `texts` read from `path`: classifier_tokens and the label's index;
// a label the facts lack is an Error naming the file and line.
std::vector<data::Sequence> encode_labeled_texts(std::span<const data::LabeledText> texts,
                                                 const ClassifierFacts& facts, const std::string& path);

// The log-probabilities of every example's labels, [N * C] row-major in the examples' order,
// from `model` in evaluation mode, in batches of at most batch_size examples of similar
// length (the result does not depend on the batching). The model's training mode is kept.
std::vector<double> classifier_log_probs(nn::SequenceClassifier& model, std::span<const data::Sequence> examples,
                                         std::int64_t batch_size = 64);

// The report of `model` on labelled `examples` (one label each; at least one example), its
// prediction being the most probable label, and their mean cross-entropy in `loss`. In a
// data-parallel run, process `part` of `parts` scores its share of the examples
// (dist::gather_shares) and every process gets the whole report.
ClassificationReport evaluate_classifier(nn::SequenceClassifier& model, std::span<const data::Sequence> examples,
                                         double& loss, int part = 0, int parts = 1);

class ClassifyTask final : public Task {
 public:
  ClassifyTask();
  ~ClassifyTask() override;

  std::string name() const override { return "classify"; }
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
  std::string best_metric() const override { return "val_macro_f1"; }
  bool higher_is_better() const override { return true; }
  bool has_validation() const override { return !validation_.empty(); }
  bool has_test() const override { return !test_.empty(); }
  std::vector<Metric> evaluate_test() override;
  std::string describe_metric(double macro_f1) const override;
  std::string describe_evaluation(const std::vector<Metric>& metrics) const override;
  std::vector<std::string> chart_metrics() const override { return {"val_accuracy", "val_macro_f1"}; }
  std::vector<std::string> final_report() override;
  std::string sample(std::int64_t length, std::uint64_t seed) override;
  void add_state(TrainingState& state) override;
  std::map<std::string, std::int64_t> data_facts() const override;
  void check_resumed_data(const std::map<std::string, std::int64_t>& stored) const override;
  std::map<std::string, std::string> model_metadata() const override;
  void save_model(const std::string& path, const std::map<std::string, std::string>& extra) const override;

 private:
  std::vector<Metric> metrics(std::span<const data::Sequence> examples, const std::string& prefix);

  std::string data_path_;
  std::int64_t batch_size_ = 0, truncated_ = 0;  // truncated_: training texts cut at --max-length
  std::optional<LoadedClassifier> start_;
  ClassifierFacts facts_;
  std::vector<data::Sequence> train_, validation_, test_;
  std::vector<std::string> validation_texts_;  // for sample()
  std::vector<double> class_weights_;          // per label; empty: unweighted
  std::unique_ptr<data::LengthBatches> batches_;
  std::unique_ptr<PositionOf<data::LengthBatches>> position_;
  std::shared_ptr<nn::SequenceClassifier> model_;
  data::PaddedBatch batch_;
  int part_ = 0, parts_ = 1;  // data-parallel runs: this process's part of each batch
  double part_weight_ = 1;     // and its share of the batch's loss (batch_part)
};

}  // namespace recur::train
