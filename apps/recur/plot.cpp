// recur plot RUN_DIR...: the validation curves of several training runs on one SVG chart.

#include <memory>
#include <string>
#include <vector>

#include <recur/recur.hpp>

#include "commands.hpp"

namespace recur::cli {
namespace {

struct PlotOptions {
  std::vector<std::string> dirs;
  std::string out = "plot.svg";
  train::ComparisonOptions comparison;
};

void run_plot(const PlotOptions& o) {
  const std::vector<std::string> names = train::short_run_names(o.dirs);
  std::vector<train::RunMetrics> runs;
  for (std::size_t i = 0; i < o.dirs.size(); ++i) {
    runs.push_back(train::read_run(o.dirs[i]));
    runs.back().name = names[i];
  }
  train::compare_runs(runs, o.comparison).save(o.out);
}

}  // namespace

void add_plot_command(CLI::App& app) {
  auto options = std::make_shared<PlotOptions>();
  PlotOptions& o = *options;
  CLI::App* cmd = app.add_subcommand("plot", "Draw the validation curves of several training runs on one SVG chart");
  cmd->add_option("RUN_DIR", o.dirs, "Run directories (recur train's --out), one line each")
      ->required()
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll);
  cmd->add_option("--out", o.out, "The SVG file to write (replaced atomically)")->capture_default_str();
  cmd->add_option("--metric", o.comparison.metric,
                  "The figure of metrics.jsonl to draw (default: the one that picks the runs' best models, "
                  "from their last.safetensors; val_loss without one)");
  cmd->add_option("--x", o.comparison.x, "The x axis")
      ->check(CLI::IsMember({"step", "epoch", "seconds"}))
      ->capture_default_str();
  cmd->add_flag("--log-y", o.comparison.log_y, "A logarithmic y axis");
  cmd->add_flag("--train", o.comparison.train_loss, "Also each run's training loss, dashed in the run's colour");
  cmd->callback([options] { run_plot(*options); });
}

}  // namespace recur::cli
