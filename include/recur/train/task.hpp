// What a training run trains: a Task reads and batches its data, builds its model, gives
// the loss of a batch, evaluates, and writes model files. train::Trainer (trainer.hpp)
// runs any task the same way: budget, evaluation cadence, checkpoints, metrics.jsonl,
// charts, progress, NaN handling and exact resume. The character language model
// (language_model_task.hpp) is the first task; adding one means implementing this interface and
// declaring the task's options (data and model groups) in options().
#pragma once

#include <cmath>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "recur/core/tensor.hpp"
#include "recur/nn/module.hpp"
#include "recur/train/checkpoint.hpp"
#include "recur/train/options.hpp"

namespace recur::train {

// One evaluation metric, as metrics.jsonl records it ("val_loss", "val_bpc").
struct Metric {
  std::string name;
  double value = 0;
};

// The trainer calls, in order: read_start (when resuming: the options come from it),
// apply_defaults (a new run), check_options, read_start (when fine-tuning), load_data,
// build_model, add_state, describe; then per step next_batch, loss, end_step; per
// evaluation evaluate, sample and save_model; at the end evaluate_test. A task is used by
// one Trainer at a time.
class Task {
 public:
  virtual ~Task() = default;

  // The task's name in task_names(), as --task and the run's options give it.
  virtual std::string name() const = 0;
  // The task's options (data, model), in the order the run's JSON stores them; the
  // trainer's own (optimizer, budget, reporting) follow them (trainer_options()).
  virtual std::vector<OptionSpec> options() const = 0;
  // The run's directory when --out is not given ("runs/<text name>").
  virtual std::string default_out(const OptionValues& o) const = 0;
  // The unit of an item of data, in rates: "chars" gives "chars/s" and "chars_per_sec".
  virtual std::string item_name() const = 0;
  // Sets the defaults that depend on other options (a word model's larger embedding) for
  // the options the command line did not give (`given`), on a new run only: a resumed run
  // has its options.
  virtual void apply_defaults(OptionValues&, const std::set<std::string>& /*given*/) const {}
  // Checks the options before any work; an Error names the flag.
  virtual void check_options(const OptionValues&) const {}

  // Reads the model file a run continues (resume: its last.safetensors) or starts from
  // (fine-tuning), once: the task keeps what it fixes (a vocabulary, an architecture) for
  // load_data and build_model. Returns the file's metadata.
  virtual std::map<std::string, std::string> read_start(const std::string& path) = 0;
  // Reads and splits the data; records in `o` what the start file fixed.
  virtual void load_data(OptionValues& o) = 0;
  // Builds the model (in training mode) after load_data, with the generator seeded; a
  // fine-tuning run (`load_start_weights`) starts from the start file's weights.
  virtual nn::Module& build_model(OptionValues& o, bool load_start_weights) = 0;
  // Lines describing the data and the model, for the run's first messages.
  virtual std::vector<std::string> describe() const = 0;
  // The run's name in chart titles (the text's file name).
  virtual std::string title(const OptionValues& o) const = 0;

  // The training batches: steps in one epoch, the position (the current epoch, and how many
  // of its steps were taken), and the next batch: false at an epoch's end, after which the
  // position is at step 0 of the next epoch.
  virtual std::int64_t steps_per_epoch() const = 0;
  virtual std::int64_t epoch() const = 0;
  virtual bool next_batch() = 0;
  // Items of data in one training step (for the rate).
  virtual double items_per_step() const = 0;
  // The mean loss of the current batch, with autograd; after the optimizer's step the
  // trainer calls end_step() (a task that carries state from step to step keeps it there).
  virtual Tensor loss() = 0;
  virtual void end_step() {}
  // Data-parallel training (recur/dist.hpp): this process takes part `part` of `parts` of
  // every training batch (the same part each step); loss() is then the mean over that part,
  // and part_weight() the part's share of the batch's items. Called once, before the first
  // batch, when there are several processes.
  virtual void set_part(int part, int parts) = 0;
  virtual double part_weight() const = 0;

  // Evaluates the model on the validation data. The metric named best_metric() is among
  // them and picks the best model (lower is better); it is NaN when there is no validation
  // data (has_validation() false), and otherwise a non-finite value stops the run.
  virtual std::vector<Metric> evaluate() = 0;
  virtual std::string best_metric() const { return "val_loss"; }
  virtual bool higher_is_better() const { return false; }  // of best_metric (true: an accuracy)
  virtual bool has_validation() const = 0;
  // The test data: when there is some, the run ends by loading the best model into the
  // model and measuring it there (metrics named "test_..."), for the summary.
  virtual bool has_test() const { return false; }
  virtual std::vector<Metric> evaluate_test() { return {}; }
  // The best metric's value in words, for progress lines; the chart's y-axis label.
  virtual std::string describe_metric(double value) const = 0;
  virtual std::string loss_label() const { return "loss"; }
  // An evaluation's metrics in words, for the progress line after each one.
  virtual std::string describe_evaluation(const std::vector<Metric>& metrics) const {
    for (const Metric& m : metrics)
      if (m.name == best_metric()) return describe_metric(m.value);
    return describe_metric(NAN);
  }
  // The metrics of evaluate()'s that loss.svg draws on the right axis beside the losses
  // (none: no right axis). Each is a fraction from 0 to 1: an accuracy, an F1, an error rate.
  virtual std::vector<std::string> chart_metrics() const { return {}; }
  // Lines printed once training is over and the best model is loaded (after the test
  // figures): a classifier's per-class scores and confusion matrix.
  virtual std::vector<std::string> final_report() { return {}; }
  // The task's prediction output for a look at the model during training, about `length`
  // items of it: a language model's generated text (a classifier's labels for a few
  // validation examples, a decoder's outputs). The trainer keeps one with each evaluation
  // in samples.jsonl. Repeatable for a `seed`; touches no training state (its generator,
  // carried state, batches) and leaves the model in training mode. Empty: the task has none.
  virtual std::string sample(std::int64_t /*length*/, std::uint64_t /*seed*/) { return {}; }
  // Adds what a checkpoint must hold besides the model, optimizer and generator: the
  // batching's position, state carried between steps.
  virtual void add_state(TrainingState& state) = 0;
  // Facts a resumed run checks against its data (its size), stored with the progress.
  // check_resumed_data gets the stored values back (-1 where the checkpoint lacks one)
  // and throws when the data changed.
  virtual std::map<std::string, std::int64_t> data_facts() const { return {}; }
  virtual void check_resumed_data(const std::map<std::string, std::int64_t>&) const {}
  // The metadata that makes a file of the model's tensors a model file of this task (its
  // configuration, its vocabulary); checkpoints carry it too.
  virtual std::map<std::string, std::string> model_metadata() const = 0;
  // Writes a model file (weights, model_metadata(), plus `extra`) atomically.
  virtual void save_model(const std::string& path, const std::map<std::string, std::string>& extra) const = 0;
};

// For tasks whose batches are lists of examples: the examples of `picked` that process `part`
// of `parts` takes (a contiguous share) and their share of the batch's loss denominator, where
// example i counts `weight_of(i)` (1 for a mean over examples, its target tokens for a mean
// over tokens). A process whose share is empty (a last batch smaller than the processes)
// takes the first example with weight 0: its step then counts for nothing, and every process
// still takes one.
struct BatchPart {
  std::vector<std::int64_t> picked;
  double weight = 1;
  std::int64_t first = 0;  // where picked starts in the batch's list
};
BatchPart batch_part(const std::vector<std::int64_t>& picked, int part, int parts,
                     const std::function<double(std::int64_t)>& weight_of);

// The tasks there are, by name: "lm" (LanguageModelTask), "classify" (ClassifyTask), "tag"
// (TagTask), "seq2seq" (Seq2SeqTask).
const std::vector<std::string>& task_names();
// A new task of `name` (one of task_names(); else an Error listing them); `default_text` is
// a language model's TEXT when a run names none.
std::unique_ptr<Task> make_task(const std::string& name, const std::string& default_text = "");

}  // namespace recur::train
