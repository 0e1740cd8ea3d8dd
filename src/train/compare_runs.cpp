// `recur plot`'s library half: run directories read back and drawn on one chart.
#include "recur/train/compare_runs.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <set>

#include <nlohmann/json.hpp>

#include "io/json_limits.hpp"
#include "recur/core/error.hpp"
#include "recur/io/file.hpp"
#include "recur/io/safetensors.hpp"
#include "recur/train/metadata_keys.hpp"
#include "recur/train/model_file.hpp"

namespace recur::train {

namespace fs = std::filesystem;

std::vector<MetricsRecord> read_metrics_log(const std::string& path) {
  const std::string text = io::read_file(path);
  std::vector<MetricsRecord> records;
  std::size_t line_number = 0;
  for (std::size_t start = 0; start < text.size();) {
    const std::size_t end = std::min(text.find('\n', start), text.size());
    const std::string_view line = std::string_view(text).substr(start, end - start);
    start = end + 1, ++line_number;
    if (line.find_first_not_of(" \t\r") == std::string_view::npos) continue;
    const nlohmann::json j = io::parse_untrusted_json(line);
    RECUR_CHECK(!j.is_discarded(), path << " line " << line_number << " is not JSON: " << io::excerpt(line));
    RECUR_CHECK(j.is_object(), path << " line " << line_number << " is not a JSON object: " << io::excerpt(line));
    MetricsRecord& record = records.emplace_back();
    for (const auto& [key, value] : j.items())
      if (value.is_number()) record[key] = value.get<double>();
  }
  return records;
}

std::string checkpoint_metric(const std::map<std::string, std::string>& metadata) {
  const auto found = metadata.find(kProgressKey);
  if (found == metadata.end()) return "";
  const nlohmann::json progress = io::parse_untrusted_json(found->second);
  if (!progress.is_object()) return "";
  for (const auto& [key, value] : progress.items())
    if (progress.contains("best_" + key)) return key;
  return "";
}

RunMetrics read_run(const std::string& dir) {
  RunMetrics run;
  run.dir = dir, run.name = short_run_names({dir}).front(), run.metric = "val_loss";
  const fs::path metrics = fs::path(dir) / "metrics.jsonl";
  RECUR_CHECK(fs::is_regular_file(metrics),
              dir << " has no metrics.jsonl (is it the --out directory of a recur train run?)");
  run.records = read_metrics_log(metrics.string());
  const std::string last = (fs::path(dir) / "last.safetensors").string();
  if (fs::exists(last)) {
    const std::map<std::string, std::string> meta = io::read_safetensors_metadata(last);
    run.task = model_task(meta, last);
    if (std::string metric = checkpoint_metric(meta); !metric.empty()) run.metric = metric;
  }
  return run;
}

std::vector<std::string> short_run_names(const std::vector<std::string>& dirs) {
  // Each directory's components, the last first ("runs/h128/" -> "h128", "runs").
  std::vector<std::vector<std::string>> parts;
  std::size_t most = 0;
  for (const std::string& dir : dirs) {
    std::vector<std::string>& reversed = parts.emplace_back();
    for (const fs::path& part : fs::path(dir).lexically_normal())
      if (!part.empty()) reversed.insert(reversed.begin(), part.string());
    most = std::max(most, reversed.size());
  }
  auto name = [&](std::size_t i, std::size_t count) {
    std::string joined;
    for (std::size_t k = std::min(count, parts[i].size()); k-- > 0;)
      joined += parts[i][k] + (k > 0 && parts[i][k] != "/" ? "/" : "");
    return joined;
  };
  for (std::size_t count = 1;; ++count) {
    std::vector<std::string> names;
    for (std::size_t i = 0; i < dirs.size(); ++i) names.push_back(name(i, count));
    std::vector<std::string> sorted = names;
    std::sort(sorted.begin(), sorted.end());
    const auto repeated = std::adjacent_find(sorted.begin(), sorted.end());
    if (repeated == sorted.end()) return names;
    RECUR_CHECK(count < most, "the run directory " << dirs[static_cast<std::size_t>(
                                  std::find(names.begin(), names.end(), *repeated) - names.begin())]
                                                   << " is given twice");
  }
}

namespace {

// The keys of a run's records, for an error message: "epoch, lr, step, val_loss".
std::string keys_of(const RunMetrics& run) {
  std::set<std::string> keys;
  for (const MetricsRecord& record : run.records)
    for (const auto& [key, value] : record) keys.insert(key);
  std::string list;
  for (const std::string& key : keys) list += (list.empty() ? "" : ", ") + key;
  return list.empty() ? "no records" : list;
}

bool has_key(const RunMetrics& run, const std::string& key) {
  return std::any_of(run.records.begin(), run.records.end(),
                     [&](const MetricsRecord& record) { return record.count(key) > 0; });
}

// The values of `key` in the run's records, NaN where a record lacks it.
std::vector<double> values_of(const RunMetrics& run, const std::string& key) {
  std::vector<double> values;
  for (const MetricsRecord& record : run.records) {
    const auto found = record.find(key);
    values.push_back(found == record.end() ? NAN : found->second);
  }
  return values;
}

}  // namespace

Plot compare_runs(const std::vector<RunMetrics>& runs, const ComparisonOptions& options) {
  RECUR_CHECK(!runs.empty(), "compare_runs: no runs to compare");
  const RunMetrics& first = runs.front();
  for (const RunMetrics& run : runs) {
    RECUR_CHECK(run.task.empty() || first.task.empty() || run.task == first.task,
                first.dir << " is a run of --task " << first.task << " and " << run.dir << " of --task " << run.task
                          << "; compare runs of one task");
    RECUR_CHECK(!options.metric.empty() || run.metric == first.metric,
                first.dir << " picks its best model by " << first.metric << " and " << run.dir << " by "
                          << run.metric << "; choose the figure to compare with --metric");
  }
  const std::string metric = options.metric.empty() ? first.metric : options.metric;
  std::vector<std::string> needed = {metric, options.x};
  if (options.train_loss) needed.push_back("train_loss");
  for (const RunMetrics& run : runs)
    for (const std::string& key : needed)
      RECUR_CHECK(has_key(run, key), "the run " << run.dir << " has no " << key << " in its metrics.jsonl; it has "
                                                << keys_of(run));
  Plot plot(metric + " by " + options.x);
  plot.set_x_label(options.x).set_y_label(metric).set_log_y(options.log_y);
  for (std::size_t i = 0; i < runs.size(); ++i) {
    const std::vector<double> xs = values_of(runs[i], options.x);
    const int colour = static_cast<int>(i);
    plot.add_line(runs[i].name, xs, values_of(runs[i], metric), Axis::Left, {.colour = colour});
    if (options.train_loss)
      plot.add_line(runs[i].name + " train_loss", xs, values_of(runs[i], "train_loss"), Axis::Left,
                    {.dashed = true, .colour = colour});
  }
  return plot;
}

}  // namespace recur::train
