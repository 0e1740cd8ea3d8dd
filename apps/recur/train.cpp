// recur train [--task lm|classify] ...: trains the task's model (train::LanguageModelTask,
// train::ClassifyTask) with the library's training loop (train::Trainer). The flags come from
// the option registry: the chosen task's and the trainer's.

#include <algorithm>
#include <memory>
#include <string>

#include <recur/recur.hpp>

#include "commands.hpp"
#include "registry_flags.hpp"

namespace recur::cli {

void add_train_command(CLI::App& app, const std::string& task_name) {
  const auto& names = train::task_names();
  // An unknown name gets the default task, whose --task flag then rejects it with the list.
  std::shared_ptr<train::Task> task = train::make_task(
      std::find(names.begin(), names.end(), task_name) != names.end() ? task_name : "lm", RECUR_DEFAULT_TEXT);
  auto settings = std::make_shared<train::RunSettings>();
  CLI::App* cmd = app.add_subcommand(
      "train", task->name() == "lm"         ? "Train a language model on a UTF-8 text (--task classify: a text "
                                               "classifier, --task tag: a tagger; recur train --task classify --help "
                                               "shows its flags)"
               : task->name() == "classify" ? "Train a classifier on labelled texts, one label<TAB>text a line"
                                            : "Train a tagger on CoNLL sentences, one word and its tag a line");
  auto flags = std::make_shared<RegistryFlags>(*cmd, train::run_options(*task));
  cmd->add_option("--out", settings->out, "Directory for checkpoints, metrics.jsonl and loss.svg [runs/<text name>]");
  CLI::Option* resume = cmd->add_flag(
      "--resume", settings->resume,
      "Continue the run in --out exactly from its last.safetensors (flags may repeat the run's values)");
  cmd->add_flag("--overwrite", settings->overwrite, "Replace the run already in --out (its checkpoints and metrics)")
      ->excludes(resume);
  cmd->add_flag("--json", settings->json, "End with one JSON summary line on stdout");
  CLI::Option* tensorboard =
      cmd->add_option("--tensorboard", settings->tensorboard_dir,
                      "Also write TensorBoard event files at every evaluation, into DIR [the --out directory]")
          ->expected(0, 1)
          ->type_name("[DIR]");
  add_threads_option(*cmd);
  cmd->callback([task, settings, flags, tensorboard] {
    train::RunSettings run = *settings;
    run.tensorboard = tensorboard->count() > 0;
    run.given = flags->given();
    train::Trainer trainer(*task, flags->values(), run);
    trainer.run();
  });
}

}  // namespace recur::cli
