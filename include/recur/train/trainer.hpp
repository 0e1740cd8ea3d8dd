// The training loop, written once for every task (task.hpp). Every evaluation measures the
// validation data, writes a model file named after the step and its first metric,
// best.safetensors (the best model so far) and last.safetensors (the whole training state,
// for --resume), appends to metrics.jsonl (and TensorBoard's event files, when asked) and
// redraws loss.svg; init.safetensors keeps the initial weights. A loss, gradient norm or
// weight that is not finite stops the run before anything is saved. A run killed at any
// moment and resumed continues bit-identically.
//
//   train::LanguageModelTask task;
//   train::OptionValues options(train::run_options(task));   // set from a command line
//   train::Trainer trainer(task, options, {.out = "runs/x"});
//   trainer.run();
#pragma once

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "recur/train/options.hpp"
#include "recur/train/task.hpp"

namespace recur::train {

// The trainer's own options (optimizer, budget, reporting), in recur.run's order.
std::vector<OptionSpec> trainer_options();
// A task's options followed by the trainer's: every option of a run.
std::vector<OptionSpec> run_options(const Task& task);

// How this invocation runs; none of it is stored with the run.
struct RunSettings {
  std::string out;            // the run's directory; "" = task.default_out()
  bool resume = false;        // continue the run in `out` from its last.safetensors
  bool overwrite = false;     // replace a run already in `out`
  bool json = false;          // end with one JSON summary line on stdout
  // TensorBoard event files (train/tensorboard.hpp) at every evaluation, in tensorboard_dir
  // ("" = `out`): metrics.jsonl's figures, histograms of each parameter and its gradient, and
  // a language model's sample.
  bool tensorboard = false;
  std::string tensorboard_dir;
  std::set<std::string> given;  // the options the command line gave (resume checks these)
};

class Trainer {
 public:
  // Reads the data, builds the model and optimizer, and on resume restores the checkpoint.
  // Requires `options` over run_options(task). Errors (a bad option, unreadable data, a
  // resume whose given options differ from the run's, an existing run without
  // settings.overwrite) are thrown before anything in the directory changes.
  Trainer(Task& task, OptionValues options, RunSettings settings);
  ~Trainer();
  Trainer(const Trainer&) = delete;
  Trainer& operator=(const Trainer&) = delete;

  // Trains until the budget (max_steps, max_epochs, max_time) is spent, then evaluates and
  // saves once more if the last step was not evaluated. Progress goes to stderr.
  void run();

  const OptionValues& options() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace recur::train
