// The character language model as a training task (task.hpp): char-rnn. The text is cut
// into B contiguous streams; each step trains on the next T characters of every stream,
// carrying the hidden state from step to step (truncated BPTT, reset at each epoch start).
// Evaluation measures the validation split the same way, in nats per character.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "recur/data/text.hpp"
#include "recur/nn/char_model.hpp"
#include "recur/train/model_file.hpp"
#include "recur/train/task.hpp"

namespace recur::train {

// Mean cross-entropy (nats per character) of `model` over `tokens`, in evaluation mode,
// batched as training is (B streams, state carried), with B and T shrunk for short texts;
// NaN for fewer than 2 tokens. The model is back in training mode afterwards.
double stream_loss(nn::CharModel& model, std::span<const std::int32_t> tokens, std::int64_t batch_size,
                   std::int64_t seq_length);

class CharTask final : public Task {
 public:
  // `default_text`: the TEXT of a run that names none (the bundled corpus).
  explicit CharTask(std::string default_text = "");
  ~CharTask() override;

  std::vector<OptionSpec> options() const override;
  std::string default_out(const OptionValues& o) const override;
  std::string item_name() const override { return "chars"; }
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
  std::vector<Metric> evaluate() override;
  bool has_validation() const override { return split_.validation.size() >= 2; }
  std::string describe_metric(double nats) const override;
  std::string loss_label() const override { return "loss (nats/char)"; }
  std::string sample(std::int64_t length, std::uint64_t seed) override;
  void add_state(TrainingState& state) override;
  std::map<std::string, std::int64_t> data_facts() const override;
  void check_resumed_data(const std::map<std::string, std::int64_t>& stored) const override;
  std::map<std::string, std::string> model_metadata() const override;
  void save_model(const std::string& path, const std::map<std::string, std::string>& extra) const override;

 private:
  class Position;
  std::string default_text_, text_path_;
  std::int64_t batch_size_ = 0, seq_length_ = 0;
  std::optional<LoadedCharModel> start_;
  data::EncodedText text_;
  data::TextSplit split_;
  std::unique_ptr<data::CharBatches> batches_;
  std::unique_ptr<Position> position_;
  std::shared_ptr<nn::CharModel> model_;
  data::Batch batch_;
  TensorMap carried_;  // "h" and "c": the hidden state carried from step to step
  nn::CharModel::State pending_;  // the state the current batch's forward left
};

}  // namespace recur::train
