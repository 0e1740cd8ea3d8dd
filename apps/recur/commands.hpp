// The `recur` subcommands. Each add_*_command registers its options on `app` and a callback
// that runs it; errors are thrown as recur::Error and main() prints them as one line.
#pragma once
#include <CLI/CLI.hpp>

namespace recur::cli {

void add_train_command(CLI::App& app);
void add_sample_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_info_command(CLI::App& app);

}  // namespace recur::cli
