// The `recur` subcommands. Each add_*_command registers its options on `app` and a callback
// that runs it; errors are thrown as recur::Error and main() prints them as one line.
#pragma once
#include <memory>
#include <string>

#include <CLI/CLI.hpp>
#include <recur/recur.hpp>

#include "validators.hpp"

namespace recur::cli {

// `task_name`: the --task the command line gives ("lm" without one), whose flags the
// command declares.
void add_train_command(CLI::App& app, const std::string& task_name);
void add_sample_command(CLI::App& app);
void add_eval_command(CLI::App& app);
void add_score_command(CLI::App& app);
void add_info_command(CLI::App& app);

// --threads, the same for every command: applied once the command's options are parsed,
// before it runs.
inline void add_threads_option(CLI::App& cmd) {
  auto threads = std::make_shared<int>(0);
  cmd.add_option("--threads", *threads, "Threads (default: RECUR_NUM_THREADS or all cores)")->check(positive());
  cmd.parse_complete_callback([threads] {
    if (*threads > 0) set_num_threads(*threads);
  });
}

}  // namespace recur::cli
