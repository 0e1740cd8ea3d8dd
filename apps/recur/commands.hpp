// The `recur` subcommands. Each add_*_command registers its options on `app` and a callback
// that runs it; errors are thrown as recur::Error and main() prints them as one line.
#pragma once
#include <iostream>
#include <iterator>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

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
void add_inspect_command(CLI::App& app);
void add_plot_command(CLI::App& app);

void add_predict_command(CLI::App& app);

// The text of an input FILE argument: standard input for "-"; and its name in messages.
inline std::string read_input(const std::string& path) {
  return path == "-" ? std::string(std::istreambuf_iterator<char>(std::cin), {}) : io::read_file(path);
}
inline std::string input_name(const std::string& path) { return path == "-" ? "<stdin>" : path; }

// The lines of `text`: split at '\n'; a last line without one counts, an empty tail does not.
inline std::vector<std::string_view> lines_of(std::string_view text) {
  std::vector<std::string_view> lines;
  while (!text.empty()) {
    const std::size_t end = text.find('\n');
    lines.push_back(text.substr(0, end));
    text = end == std::string_view::npos ? std::string_view() : text.substr(end + 1);
  }
  return lines;
}

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
