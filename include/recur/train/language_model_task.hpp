// The recurrent language model as a training task (task.hpp): char-rnn, and word-level
// models as PyTorch's word-language-model example trains them. The text's tokens are cut
// into B contiguous streams; each step trains on the next T tokens of every stream,
// carrying the hidden state from step to step (truncated BPTT, reset at each epoch start).
// Evaluation measures the validation part the same way, in nats per token; at the end the
// trainer measures the best model on the test part.
#pragma once

#include <memory>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <vector>

#include "recur/data/text.hpp"
#include "recur/dist.hpp"
#include "recur/nn/language_model.hpp"
#include "recur/train/model_file.hpp"
#include "recur/train/task.hpp"

namespace recur::train {

// Mean cross-entropy (nats per character) of `model` over `tokens`, in evaluation mode,
// batched as training is (B streams, state carried), with B and T shrunk for short texts;
// NaN for fewer than 2 tokens. The model is back in training mode afterwards. With
// `parts` > 1 (a data-parallel run), process `part` measures its share of the B streams and
// every process returns the sum over all (it must call this with the same arguments).
double stream_loss(nn::LanguageModel& model, std::span<const std::int32_t> tokens, std::int64_t batch_size,
                   std::int64_t seq_length, int part = 0, int parts = 1);

class LanguageModelTask final : public Task {
 public:
  // `default_text`: the TEXT of a run that names none (the bundled corpus).
  explicit LanguageModelTask(std::string default_text = "");
  ~LanguageModelTask() override;

  std::string name() const override { return "lm"; }
  std::vector<OptionSpec> options() const override;
  std::string default_out(const OptionValues& o) const override;
  std::string item_name() const override { return words() ? "tokens" : "chars"; }
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
  void end_step() override;
  void set_part(int part, int parts) override;
  double part_weight() const override;
  std::vector<Metric> evaluate() override;
  bool has_validation() const override { return split_.validation.size() >= 2; }
  bool has_test() const override { return split_.test.size() >= 2; }
  std::vector<Metric> evaluate_test() override;
  std::string describe_metric(double nats) const override;
  std::string loss_label() const override { return words() ? "loss (nats/token)" : "loss (nats/char)"; }
  std::string sample(std::int64_t length, std::uint64_t seed) override;
  void add_state(TrainingState& state) override;
  std::map<std::string, std::int64_t> data_facts() const override;
  void check_resumed_data(const std::map<std::string, std::int64_t>& stored) const override;
  std::map<std::string, std::string> model_metadata() const override;
  void save_model(const std::string& path, const std::map<std::string, std::string>& extra) const override;

 private:
  bool words() const { return text_.vocab.mode() == data::TokenMode::Word; }
  static bool explicit_split(const OptionValues& o);  // --val or --test given
  std::vector<std::int32_t> read_part(const std::string& path, const char* flag) const;
  std::vector<Metric> metrics(std::span<const std::int32_t> tokens, const std::string& prefix);

  std::string default_text_, text_path_;
  std::int64_t batch_size_ = 0, seq_length_ = 0;
  std::optional<LoadedLanguageModel> start_;
  data::EncodedText text_;  // the training text (all of it with --val / --test)
  std::vector<std::int32_t> validation_tokens_, test_tokens_;  // from --val and --test
  data::TextSplit split_;
  std::unique_ptr<data::CharBatches> batches_;
  std::unique_ptr<PositionOf<data::CharBatches>> position_;
  std::shared_ptr<nn::LanguageModel> model_;
  data::Batch batch_;
  TensorMap carried_;  // "h" and "c": the hidden state carried from step to step, all B streams
  dist::Range streams_;  // the streams this process trains on (all of them in one process)
  nn::LanguageModel::State pending_;  // the state the current batch's forward left
};

}  // namespace recur::train
