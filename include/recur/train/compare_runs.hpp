// Comparing training runs (`recur plot`): each run directory's metrics.jsonl read back, and
// one chart with a line per run of one of their figures against the step, epoch or time.
//
//   std::vector<train::RunMetrics> runs;
//   for (const std::string& dir : {"runs/h128", "runs/h256"}) runs.push_back(train::read_run(dir));
//   train::compare_runs(runs, {.log_y = true}).save("plot.svg");
#pragma once

#include <map>
#include <string>
#include <vector>

#include "recur/train/plot.hpp"

namespace recur::train {

// One line of metrics.jsonl: its numeric figures by key. Null values (a figure a run could
// not measure) and values that are not numbers are left out.
using MetricsRecord = std::map<std::string, double>;

// Every record of the metrics.jsonl at `path`, in the file's order; blank lines are skipped.
// Throws recur::Error naming the file when it cannot be read, and the line when one is not
// a JSON object (or nests too deep: the file is read as untrusted input).
std::vector<MetricsRecord> read_metrics_log(const std::string& path);

// A training run as `recur plot` draws it.
struct RunMetrics {
  std::string dir;     // as given
  std::string name;    // in the legend; read_run sets the directory's last component
  std::string task;    // --task of the run, from its last.safetensors; "" without one
  std::string metric;  // the figure that picked its best model ("val_loss" when not known)
  std::vector<MetricsRecord> records;
};

// Reads the run in directory `dir`: its metrics.jsonl (required: an Error names the
// directory without one) and, when there is one, the metadata of its last.safetensors for
// the task and the metric that picked the best model (checkpoint_metric). A run without
// last.safetensors has task "" and metric "val_loss", which every task records.
RunMetrics read_run(const std::string& dir);

// The metric that picked a run's best model, from a checkpoint's metadata: the trainer's
// recur.progress holds that metric under its name and as "best_<name>". "" when the
// metadata has no progress or the progress no such pair.
std::string checkpoint_metric(const std::map<std::string, std::string>& metadata);

// Names that tell the directories apart: for each, the fewest trailing path components that
// make all the names distinct ("runs/h128", "runs/h256" -> "h128", "h256"; "a/run", "b/run"
// -> "a/run", "b/run"). Requires no directory given twice (checked: an Error names it).
std::vector<std::string> short_run_names(const std::vector<std::string>& dirs);

struct ComparisonOptions {
  std::string metric;           // the y values; "": the metric the runs share
  std::string x = "step";       // the x values: a key of every record ("step", "epoch", "seconds")
  bool log_y = false;           // a logarithmic y axis
  bool train_loss = false;      // also each run's train_loss, dashed in the run's colour
};

// One line per run of the metric against options.x, in the palette's colours by run and
// named by RunMetrics::name. Records without the x or y value are skipped. Requires at least
// one run. Throws an Error when the runs are of different tasks, or (without options.metric)
// pick their best models by different metrics, or when a run has no record of the metric or
// of x (naming the run and listing the keys its records have).
Plot compare_runs(const std::vector<RunMetrics>& runs, const ComparisonOptions& options);

}  // namespace recur::train
