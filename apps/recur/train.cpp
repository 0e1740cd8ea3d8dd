// recur train [TEXT]: trains a character-level language model (train::LanguageModelTask) with the
// library's training loop (train::Trainer). The flags come from the option registry.

#include <memory>
#include <string>

#include <recur/recur.hpp>

#include "commands.hpp"
#include "registry_flags.hpp"

namespace recur::cli {

void add_train_command(CLI::App& app) {
  auto task = std::make_shared<train::LanguageModelTask>(RECUR_DEFAULT_TEXT);
  auto settings = std::make_shared<train::RunSettings>();
  CLI::App* cmd = app.add_subcommand("train", "Train a character-level language model on a UTF-8 text");
  auto flags = std::make_shared<RegistryFlags>(*cmd, train::run_options(*task));
  cmd->add_option("--out", settings->out, "Directory for checkpoints, metrics.jsonl and loss.svg [runs/<text name>]");
  CLI::Option* resume = cmd->add_flag(
      "--resume", settings->resume,
      "Continue the run in --out exactly from its last.safetensors (flags may repeat the run's values)");
  cmd->add_flag("--overwrite", settings->overwrite, "Replace the run already in --out (its checkpoints and metrics)")
      ->excludes(resume);
  cmd->add_flag("--json", settings->json, "End with one JSON summary line on stdout");
  add_threads_option(*cmd);
  cmd->callback([task, settings, flags] {
    train::RunSettings run = *settings;
    run.given = flags->given();
    train::Trainer trainer(*task, flags->values(), run);
    trainer.run();
  });
}

}  // namespace recur::cli
