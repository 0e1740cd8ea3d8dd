// The training loop of every task: budget, evaluation cadence, checkpoints, metrics.jsonl,
// loss.svg, progress, NaN handling and exact resume.

#include "recur/train/trainer.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include <nlohmann/json.hpp>

#include "io/json_limits.hpp"
#include "recur/autograd.hpp"
#include "recur/core/constant_weights.hpp"
#include "recur/core/random.hpp"
#include "recur/dist.hpp"
#include "recur/io/file.hpp"
#include "recur/io/safetensors.hpp"
#include "recur/optim/adagrad.hpp"
#include "recur/optim/adam.hpp"
#include "recur/optim/clip.hpp"
#include "recur/optim/rmsprop.hpp"
#include "recur/optim/schedule.hpp"
#include "recur/optim/sgd.hpp"
#include "recur/train/check_finite.hpp"
#include "recur/train/metadata_keys.hpp"
#include "recur/train/model_file.hpp"
#include "recur/train/plot.hpp"
#include "recur/train/progress.hpp"
#include "recur/train/stopwatch.hpp"
#include "recur/train/tensorboard.hpp"

namespace recur::train {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

std::vector<OptionSpec> trainer_options() {
  using T = OptionType;
  using G = OptionGroup;
  using C = OptionCheck;
  return {
      {.key = "optimizer", .type = T::Text, .default_value = std::string("adam"), .help = "Optimizer",
       .group = G::Optimizer, .choices = {"adam", "adamw", "sgd", "momentum", "adagrad", "rmsprop"}},
      {.key = "lr", .type = T::Real, .default_value = 2e-3, .help = "Learning rate", .group = G::Optimizer,
       .check = C::Positive},
      {.key = "momentum", .type = T::Real, .default_value = 0.9, .help = "Momentum of --optimizer momentum",
       .group = G::Optimizer, .check = C::Fraction},
      {.key = "weight_decay", .type = T::Real, .default_value = 0.0, .help = "Weight decay", .group = G::Optimizer,
       .check = C::NonNegative},
      {.key = "lr_decay", .type = T::Real, .default_value = 1.0,
       .help = "Multiply the learning rate by this after each epoch past --lr-decay-after (or see --lr-decay-stalled)",
       .group = G::Optimizer, .check = C::Fraction},
      {.key = "lr_decay_after", .type = T::Int, .default_value = std::int64_t{10},
       .help = "Epochs before --lr-decay starts", .group = G::Optimizer, .check = C::NonNegative},
      {.key = "lr_decay_stalled", .type = T::Int, .default_value = std::int64_t{0},
       .help = "Instead of by epochs, multiply the learning rate by --lr-decay after N evaluations in a row "
               "without a better validation figure (0: off; --task seq2seq: 4, with --lr-decay 0.5)",
       .group = G::Optimizer, .check = C::NonNegative},
      {.key = "lr_schedule", .type = T::Text, .default_value = std::string("constant"),
       .help = "Learning-rate schedule over --max-steps/--max-epochs", .group = G::Optimizer,
       .choices = {"constant", "cosine", "linear"}},
      {.key = "warmup", .type = T::Int, .default_value = std::int64_t{0}, .help = "Steps of linear learning-rate warm-up",
       .group = G::Optimizer, .check = C::NonNegative},
      {.key = "clip", .type = T::Real, .default_value = 5.0, .help = "Clip the gradients' global norm to this (0: off)",
       .group = G::Optimizer, .check = C::NonNegative},
      {.key = "clip_value", .type = T::Real, .default_value = 0.0,
       .help = "Clip each gradient element to [-v, v] (0: off)", .group = G::Optimizer, .check = C::NonNegative},
      {.key = "seed", .type = T::Seed, .default_value = std::uint64_t{1},
       .help = "Seed of the initial weights and dropout masks", .group = G::Model},
      {.key = "init_from", .type = T::Text, .default_value = std::string(),
       .help = "Start from this model's weights (fine-tuning)", .group = G::Model},
      {.key = "max_epochs", .type = T::Int, .default_value = std::int64_t{0},
       .help = "Stop after this many epochs (0: no limit)", .group = G::Budget, .resumable = true,
       .check = C::NonNegative},
      {.key = "max_steps", .type = T::Int, .default_value = std::int64_t{0},
       .help = "Stop after this many steps (0: no limit)", .group = G::Budget, .resumable = true,
       .check = C::NonNegative},
      {.key = "max_time", .type = T::Text, .default_value = std::string("15m"),
       .help = "Stop after this long: seconds, or 90s, 15m, 2h (0: no limit)", .group = G::Budget,
       .resumable = true},
      {.key = "eval_every", .type = T::Int, .default_value = std::int64_t{500},
       .help = "Evaluate and checkpoint every N steps (0: at the end only)", .group = G::Reporting,
       .resumable = true, .check = C::NonNegative},
      {.key = "checkpoint_every", .type = T::Int, .default_value = std::int64_t{0},
       .help = "Also save last.safetensors every N steps (0: off)", .group = G::Reporting, .resumable = true,
       .check = C::NonNegative},
      {.key = "sample_length", .type = T::Int, .default_value = std::int64_t{200},
       .help = "Length of the sample of the model's output kept in samples.jsonl at each evaluation (0: none)",
       .group = G::Reporting, .resumable = true, .check = C::NonNegative},
      {.key = "print_every", .type = T::Int, .default_value = std::int64_t{100},
       .help = "Progress line every N steps when stderr is not a terminal", .group = G::Reporting,
       .resumable = true, .check = C::NonNegative},
  };
}

std::vector<OptionSpec> run_options(const Task& task) {
  std::vector<OptionSpec> all = {{.key = "task", .type = OptionType::Text, .default_value = task.name(),
                                  .help = "What to train: a language model, a classifier of labelled texts, or a tagger of words",
                                  .group = OptionGroup::Data, .choices = task_names()}};
  for (OptionSpec& spec : task.options()) all.push_back(std::move(spec));
  for (OptionSpec& spec : trainer_options()) all.push_back(std::move(spec));
  return all;
}

namespace {

// j[key] when it is a number, else `fallback` (JSON has no NaN or infinity: they are null).
double number_or(const ordered_json& j, const std::string& key, double fallback) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

ordered_json finite_or_null(double value) { return std::isfinite(value) ? ordered_json(value) : ordered_json(); }

std::unique_ptr<optim::Optimizer> make_optimizer(const OptionValues& o, std::vector<Tensor> params) {
  const std::string& kind = o.text("optimizer");
  const double lr = o.real("lr"), decay = o.real("weight_decay");
  if (kind == "adam") return std::make_unique<optim::Adam>(params, optim::AdamOptions{.lr = lr, .weight_decay = decay});
  if (kind == "adamw")
    return std::make_unique<optim::AdamW>(params, optim::AdamWOptions{.lr = lr, .weight_decay = decay});
  if (kind == "sgd") return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = lr, .weight_decay = decay});
  if (kind == "momentum")
    return std::make_unique<optim::SGD>(
        params, optim::SGDOptions{.lr = lr, .momentum = o.real("momentum"), .weight_decay = decay});
  if (kind == "adagrad")
    return std::make_unique<optim::Adagrad>(params, optim::AdagradOptions{.lr = lr, .weight_decay = decay});
  if (kind == "rmsprop")
    return std::make_unique<optim::RMSprop>(params, optim::RMSpropOptions{.lr = lr, .weight_decay = decay});
  RECUR_FAIL("unknown optimizer '" << kind << "'");
}

// One line of metrics.jsonl, and what the chart draws of it.
struct Record {
  std::int64_t step = 0;
  double train_loss = NAN, metric = NAN;  // metric: the task's best_metric()
  ordered_json json;
};

// The JSON lines of `path` (metrics.jsonl, samples.jsonl) up to `last_step` (a resumed run
// drops what came after its checkpoint), and the file, if that dropped any, rewritten to
// hold just those.
std::vector<ordered_json> reload_records(const std::string& path, std::int64_t last_step) {
  std::vector<ordered_json> records;
  if (!fs::exists(path)) return records;
  std::ifstream in(path);
  std::string line, kept;
  bool dropped = false;
  while (std::getline(in, line)) {
    ordered_json j = io::parse_untrusted_json<ordered_json>(line);
    if (j.is_discarded() || !j.contains("step") || !j["step"].is_number_integer() ||
        j["step"].get<std::int64_t>() > last_step) {
      dropped = true;
      continue;
    }
    records.push_back(std::move(j));
    kept += line + "\n";
  }
  if (dropped) io::write_file_atomically(path, kept);
  return records;
}

std::vector<Record> reload_metrics(const std::string& path, std::int64_t last_step, const std::string& metric) {
  std::vector<Record> records;
  for (ordered_json& j : reload_records(path, last_step))
    records.push_back({j["step"], number_or(j, "train_loss", NAN), number_or(j, metric, NAN), std::move(j)});
  return records;
}

// loss.svg, two panels over the steps: the train and validation losses against the left
// axis and the task's chart_metrics() (a classifier's accuracy and macro-F1, a decoder's
// error rates) against the right one; below, the learning rate and the gradient norm. A
// figure a record lacks (grad_norm before it was recorded, null) is skipped.
void draw_chart(const std::string& path, const std::vector<Record>& records, const std::string& title,
                const Task& task) {
  std::vector<double> steps;
  for (const Record& r : records) steps.push_back(static_cast<double>(r.step));
  auto series = [&](const std::string& key) {
    std::vector<double> values;
    for (const Record& r : records) values.push_back(number_or(r.json, key, NAN));
    return values;
  };
  Plot losses;
  losses.set_y_label(task.loss_label());
  losses.add_line("train", steps, series("train_loss")).add_line("validation", steps, series("val_loss"));
  const std::vector<std::string> right = task.chart_metrics();
  if (!right.empty()) losses.set_y_label("fraction (0 to 1)", Axis::Right);
  for (const std::string& key : right) losses.add_line(key, steps, series(key), Axis::Right);
  // Colours apart from the losses' and the metrics' above.
  const int colour = 2 + static_cast<int>(right.size());
  Plot optimizer;
  optimizer.set_size(800, 260).set_x_label("step").set_y_label("learning rate");
  optimizer.set_y_label("gradient norm (before clipping)", Axis::Right);
  optimizer.add_line("lr", steps, series("lr"), Axis::Left, {.colour = colour});
  optimizer.add_line("grad_norm", steps, series("grad_norm"), Axis::Right, {.colour = colour + 1});
  Figure(title).add_panel(losses).add_panel(optimizer).save(path);
}

// Fails early, before any work, when `dir` cannot be created or written.
void check_writable_dir(const std::string& dir) {
  std::error_code error;
  RECUR_CHECK(!fs::exists(dir, error) || fs::is_directory(dir, error),
              "--out " << dir << " is a file, not a directory");
  fs::create_directories(dir, error);
  RECUR_CHECK(!error && fs::is_directory(dir), "cannot create the output directory " << dir << ": "
                                                   << (error ? error.message() : "a file is in the way"));
  const std::string probe = (fs::path(dir) / ".recur-write-test").string();
  try {
    io::write_file_atomically(probe, "");
  } catch (const Error&) {
    RECUR_FAIL("the output directory " << dir << " is not writable");
  }
  fs::remove(probe, error);
}

// Removes what a run writes in `dir` (checkpoints, metrics.jsonl, samples.jsonl, loss.svg,
// TensorBoard's event files, and the temporary files of writes a kill interrupted), or only
// those temporaries.
void remove_run_files(const std::string& dir, bool temporaries_only) {
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    const bool temporary = name.find(".tmp-") != std::string::npos;
    const bool output = name.ends_with(".safetensors") || name == "metrics.jsonl" || name == "samples.jsonl" ||
                        name == "loss.svg" || name.starts_with("events.out.tfevents.");
    if (entry.is_regular_file() && (temporary || (!temporaries_only && output))) fs::remove(entry.path(), error);
  }
}

}  // namespace

struct Trainer::Impl {
  Impl(Task& task, OptionValues options, RunSettings settings);
  void run();

  void restore_options(const std::map<std::string, std::string>& meta);
  void build();
  bool budget_left() const;
  void train_step();
  void evaluate_and_save();
  void write_tensorboard(const ordered_json& record, const std::string& sample);
  std::vector<Metric> measure_test();
  void save_last();
  void check_finite(double value, const std::string& what, std::int64_t step) const;
  void check_finite_weights() const;
  void start_afresh() const;
  std::map<std::string, std::string> metadata() const;
  double epochs() const { return static_cast<double>(step_) / static_cast<double>(task_.steps_per_epoch()); }
  std::string rate_key() const { return task_.item_name() + "_per_sec"; }
  std::string metric_name() const { return task_.best_metric(); }

  Task& task_;
  OptionValues o_;
  RunSettings s_;
  // Data-parallel runs (recur/dist.hpp): every process trains on its part of each batch and
  // evaluates; rank 0 alone writes files and prints.
  const bool main_ = dist::is_main();
  std::unique_ptr<dist::DataParallel> data_parallel_;
  std::unique_ptr<TensorBoardWriter> tensorboard_;  // rank 0's, when asked for
  std::string last_path_;
  double time_limit_ = 0;
  nn::Module* model_ = nullptr;
  std::unique_ptr<optim::Optimizer> optimizer_;
  optim::StepSchedule schedule_;
  TrainingState state_;  // the task's parts of a checkpoint (position, carried state)
  std::int64_t step_ = 0, total_steps_ = 0;
  std::int64_t saved_step_ = -1;  // the step of last.safetensors; -1 before the first
  // Whether `value` of the task's metric beats the best so far (none yet: NaN).
  bool improves(double value) const {
    return !std::isfinite(best_) || (task_.higher_is_better() ? value > best_ : value < best_);
  }

  double best_ = NAN, last_ = NAN;  // the task's metric: best so far (NaN: none yet), last
  // --lr-decay-stalled: evaluations since the last better one (or the last decay), and the
  // factor the decays so far put on the scheduled learning rate.
  std::int64_t stalled_evaluations_ = 0;
  double stalled_lr_factor_ = 1;
  std::vector<Metric> last_metrics_;  // the last evaluation's
  std::string best_path_;
  std::vector<Record> records_;
  // Since the last record: the sum of train losses, their count, the stopwatch.
  double loss_sum_ = 0, grad_norm_sum_ = 0;
  std::int64_t loss_count_ = 0;
  double smoothed_loss_ = NAN;
  Stopwatch run_clock_, record_clock_;
  std::int64_t record_steps_ = 0;  // steps of this session since the last record (for the rate)
  double seconds_before_ = 0;      // time spent by the run before a resume
  double session_items_ = 0, session_train_seconds_ = 0;  // for the rate, evaluations excluded
};

Trainer::Impl::Impl(Task& task, OptionValues options, RunSettings settings)
    : task_(task), o_(std::move(options)), s_(std::move(settings)) {
  if (s_.out.empty()) s_.out = task_.default_out(o_);
  last_path_ = (fs::path(s_.out) / "last.safetensors").string();
  // The model a run continues from (--resume: last.safetensors) or starts from
  // (--init-from), read once for the run's options, the data's vocabulary and the model.
  if (s_.resume) {
    RECUR_CHECK(fs::exists(last_path_), "--resume: there is no checkpoint " << last_path_ << " to resume from");
    const std::string task = model_task(io::read_safetensors_metadata(last_path_), last_path_);
    RECUR_CHECK(task == task_.name(),
                "--resume: " << s_.out << " holds a run of --task " << task << "; resume it with --task " << task);
    restore_options(task_.read_start(last_path_));
  }
  time_limit_ = parse_duration(o_.text("max_time"));
  if (!s_.resume) task_.apply_defaults(o_, s_.given);
  task_.check_options(o_);
  if (main_) check_writable_dir(s_.out);
  if (!s_.resume && !o_.text("init_from").empty()) task_.read_start(o_.text("init_from"));
  task_.load_data(o_);
  build();
}

// A resumed run is the run it continues: its options come from the checkpoint; the
// command line may repeat them, and change only the budget and the reporting.
void Trainer::Impl::restore_options(const std::map<std::string, std::string>& meta) {
  auto run = meta.find(kRunKey);
  RECUR_CHECK(run != meta.end(), last_path_ << ": not a training checkpoint (no " << kRunKey << ")");
  OptionValues stored(o_.specs());
  stored.from_json(run->second, last_path_);
  o_ = resumed_options(stored, o_, s_.given, s_.out);
}

void Trainer::Impl::build() {
  manual_seed(o_.seed("seed"));
  model_ = &task_.build_model(o_, /*load_start_weights=*/!s_.resume);
  model_->train();
  optimizer_ = make_optimizer(o_, model_->parameters());
  const std::int64_t per_epoch = task_.steps_per_epoch();
  const std::int64_t max_epochs = o_.integer("max_epochs");
  total_steps_ = o_.integer("max_steps");
  if (max_epochs > 0) total_steps_ = total_steps_ > 0 ? std::min(total_steps_, max_epochs * per_epoch)
                                                      : max_epochs * per_epoch;
  RECUR_CHECK(o_.text("lr_schedule") == "constant" || total_steps_ > 0,
              "--lr-schedule " << o_.text("lr_schedule") << " needs a length: give --max-steps or --max-epochs");
  schedule_ = {.lr = o_.real("lr"),
               .warmup = o_.integer("warmup"),
               .decay = optim::decay_from_name(o_.text("lr_schedule")),
               .total_steps = total_steps_,
               .epoch_decay = o_.integer("lr_decay_stalled") > 0 ? 1.0 : o_.real("lr_decay"),
               .decay_after = o_.integer("lr_decay_after")};
  state_.model = model_;
  state_.optimizer = optimizer_.get();
  state_.generator = &default_generator();
  task_.add_state(state_);
  if (dist::size() > 1) {
    task_.set_part(dist::rank(), dist::size());
    data_parallel_ = std::make_unique<dist::DataParallel>(model_->parameters());
  }
  const std::string metrics_path = (fs::path(s_.out) / "metrics.jsonl").string();
  const std::string samples_path = (fs::path(s_.out) / "samples.jsonl").string();
  if (s_.resume) {
    std::map<std::string, std::string> meta = load_checkpoint(last_path_, state_);
    step_ = saved_step_ = state_.step;
    if (meta.count(kProgressKey)) {
      ordered_json p = io::parse_untrusted_json<ordered_json>(meta.at(kProgressKey));
      RECUR_CHECK(p.is_object(), last_path_ << ": metadata " << kProgressKey << " is not a JSON object");
      std::map<std::string, std::int64_t> facts = task_.data_facts();
      for (auto& [key, value] : facts) value = static_cast<std::int64_t>(number_or(p, key, -1));
      task_.check_resumed_data(facts);
      const std::string metric = task_.best_metric();
      best_ = number_or(p, "best_" + metric, NAN);
      best_path_ = p.value("best_checkpoint", std::string());
      last_ = number_or(p, metric, NAN);
      seconds_before_ = number_or(p, "seconds", 0);
      loss_sum_ = number_or(p, "loss_sum", 0);
      loss_count_ = static_cast<std::int64_t>(number_or(p, "loss_count", 0));
      grad_norm_sum_ = number_or(p, "grad_norm_sum", 0);
      stalled_evaluations_ = static_cast<std::int64_t>(number_or(p, "stalled_evaluations", 0));
      stalled_lr_factor_ = number_or(p, "stalled_lr_factor", 1);
      smoothed_loss_ = number_or(p, "smoothed_loss", NAN);
    }
    if (main_) {
      remove_run_files(s_.out, /*temporaries_only=*/true);  // left by a kill during a save
      records_ = reload_metrics(metrics_path, step_, metric_name());
      reload_records(samples_path, step_);
    }
  } else {
    start_afresh();
    if (main_) {
      records_ = reload_metrics(metrics_path, -1, metric_name());
      reload_records(samples_path, -1);
    }
  }
  if (s_.tensorboard && main_)
    tensorboard_ = std::make_unique<TensorBoardWriter>(s_.tensorboard_dir.empty() ? s_.out : s_.tensorboard_dir,
                                                       s_.resume ? step_ : -1);
  // The replicas start equal (they are built from one seed, or read from one file: this
  // guards against a file that changed between the processes' reads).
  if (data_parallel_) data_parallel_->broadcast_parameters();
}

bool Trainer::Impl::budget_left() const {
  if (total_steps_ > 0 && step_ >= total_steps_) return false;
  if (time_limit_ <= 0) return true;
  const bool left = seconds_before_ + run_clock_.seconds() < time_limit_;
  // The processes of a data-parallel run stop at the same step: rank 0's clock decides.
  return dist::size() == 1 ? left : dist::sum_over_processes(main_ && left ? 1.0 : 0.0) > 0;
}

std::map<std::string, std::string> Trainer::Impl::metadata() const {
  std::map<std::string, std::string> meta;
  meta[kRunKey] = o_.to_json();
  ordered_json progress{{"step", step_}};
  for (const auto& [key, value] : task_.data_facts()) progress[key] = value;
  const std::string metric = metric_name();
  progress["epoch"] = epochs();
  progress[metric] = finite_or_null(last_);
  progress["best_" + metric] = finite_or_null(best_);
  progress["best_checkpoint"] = best_path_;
  progress["seconds"] = seconds_before_ + run_clock_.seconds();
  // The record in progress, so a resumed run reports the same train losses.
  progress["loss_sum"] = loss_sum_;
  progress["loss_count"] = loss_count_;
  progress["grad_norm_sum"] = finite_or_null(grad_norm_sum_);
  progress["stalled_evaluations"] = stalled_evaluations_;
  progress["stalled_lr_factor"] = stalled_lr_factor_;
  progress["smoothed_loss"] = finite_or_null(smoothed_loss_);
  meta[kProgressKey] = progress.dump();
  return meta;
}

// A loss, a gradient norm or a weight that is not finite ends the run before anything is
// saved: the checkpoints on disk stay the last good ones.
void Trainer::Impl::check_finite(double value, const std::string& what, std::int64_t step) const {
  if (std::isfinite(value)) return;
  const char* shown = non_finite_name(value);
  if (saved_step_ < 0)
    RECUR_FAIL(what << " became " << shown << " at step " << step
                    << "; training stopped before any checkpoint was written (try a lower --lr or a --clip)");
  RECUR_FAIL(what << " became " << shown << " at step " << step << "; training stopped, and the last good checkpoint "
                  << last_path_ << " (step " << saved_step_ << ") is intact (try a lower --lr or a --clip)");
}

void Trainer::Impl::check_finite_weights() const {
  for (const auto& [name, param] : model_->named_parameters())
    for (float value : param.to_vector<float>())
      if (!std::isfinite(value)) check_finite(value, "the weight " + name, step_);
}

// A fresh run must not silently replace another run's checkpoints: that takes --overwrite.
void Trainer::Impl::start_afresh() const {
  RECUR_CHECK(s_.overwrite || !fs::exists(last_path_),
              s_.out << " already holds a run (" << last_path_ << "); continue it with --resume, replace it with "
                     << "--overwrite, or choose another --out");
  if (s_.overwrite && main_) remove_run_files(s_.out, /*temporaries_only=*/false);
}

void Trainer::Impl::save_last() {
  check_finite_weights();
  state_.step = step_;
  // With the task's model metadata (configuration, vocabulary), last.safetensors is also a
  // model file.
  std::map<std::string, std::string> meta = task_.model_metadata();
  for (auto& [key, value] : metadata()) meta[key] = value;
  if (main_) save_checkpoint(last_path_, state_, meta);
  saved_step_ = step_;
}

void Trainer::Impl::train_step() {
  optimizer_->set_lr(0, optim::step_lr(schedule_, step_, task_.epoch()) * stalled_lr_factor_);
  std::vector<Tensor> params = model_->parameters();
  double value = 0;
  {
    // The weights change only in the optimizer's step, after the backward pass.
    ConstantWeightsGuard constant(params);
    Tensor loss = task_.loss();
    // The batch's mean loss: each process's part weighs by its share of the batch.
    value = dist::sum_over_processes(loss.item() * task_.part_weight());
    check_finite(value, "the training loss", step_ + 1);
    optimizer_->zero_grad();
    if (data_parallel_) data_parallel_->prepare_for_backward(task_.part_weight());
    loss.backward();
    if (data_parallel_) data_parallel_->finish_gradients();
  }
  // The gradients' L2 norm before clipping, for the metrics: the first clipping returns it.
  const double clip_value = o_.real("clip_value"), clip = o_.real("clip");
  double norm = clip_value > 0 ? optim::clip_grad_value_(params, clip_value) : NAN;
  if (clip > 0) {
    const double clipped_from = optim::clip_grad_norm_(params, clip);
    check_finite(clipped_from, "the gradient norm", step_ + 1);
    if (clip_value == 0) norm = clipped_from;
  }
  if (clip_value == 0 && clip == 0) norm = optim::grad_norm(params);
  grad_norm_sum_ += norm;
  optimizer_->step();
  task_.end_step();
  ++step_, ++record_steps_;
  loss_sum_ += value, ++loss_count_;
  smoothed_loss_ = std::isfinite(smoothed_loss_) ? 0.98 * smoothed_loss_ + 0.02 * value : value;
}

void Trainer::Impl::evaluate_and_save() {
  Record r;
  r.step = step_;
  r.train_loss = loss_count_ > 0 ? loss_sum_ / static_cast<double>(loss_count_) : NAN;
  const double grad_norm = loss_count_ > 0 ? grad_norm_sum_ / static_cast<double>(loss_count_) : NAN;
  const double lr = optimizer_->lr(0);
  const double items = static_cast<double>(record_steps_) * task_.items_per_step();
  const double rate = items / record_clock_.seconds();
  session_items_ += items, session_train_seconds_ += record_clock_.seconds();
  // The record is complete: the checkpoints below start the next one, so a run resumed
  // from them does not count these losses twice.
  loss_sum_ = 0, grad_norm_sum_ = 0, loss_count_ = 0;
  check_finite_weights();
  std::vector<Metric> metrics;
  {
    ConstantWeightsGuard constant(model_->parameters());
    metrics = last_metrics_ = task_.evaluate();
  }
  auto chosen = std::find_if(metrics.begin(), metrics.end(), [&](const Metric& m) { return m.name == metric_name(); });
  RECUR_CHECK(chosen != metrics.end(), "the task's evaluation lacks its metric " << metric_name());
  r.metric = last_ = chosen->value;
  if (task_.has_validation()) check_finite(last_, "the validation loss", step_);
  const double seconds = seconds_before_ + run_clock_.seconds();
  r.json = {{"step", step_}, {"epoch", epochs()}, {"train_loss", finite_or_null(r.train_loss)}};
  if (std::isfinite(r.metric))
    for (const Metric& m : metrics) r.json[m.name] = m.value;
  r.json["lr"] = lr, r.json["grad_norm"] = finite_or_null(grad_norm), r.json[rate_key()] = rate;
  r.json["seconds"] = seconds;
  const fs::path dir(s_.out);
  char name[96];
  if (std::isfinite(r.metric)) {
    std::snprintf(name, sizeof name, "step%06lld_val%.4f.safetensors", static_cast<long long>(step_), r.metric);
  } else {
    std::snprintf(name, sizeof name, "step%06lld.safetensors", static_cast<long long>(step_));
  }
  const std::string checkpoint = (dir / name).string();
  // Without validation data every checkpoint counts as the best so far.
  const bool best = !std::isfinite(r.metric) || improves(r.metric);
  if (best) best_ = std::isfinite(r.metric) ? r.metric : best_, best_path_ = checkpoint;
  if (const std::int64_t patience = o_.integer("lr_decay_stalled"); patience > 0 && std::isfinite(r.metric)) {
    stalled_evaluations_ = best ? 0 : stalled_evaluations_ + 1;
    if (stalled_evaluations_ >= patience) stalled_lr_factor_ *= o_.real("lr_decay"), stalled_evaluations_ = 0;
  }
  records_.push_back(r);
  if (main_) {
    task_.save_model(checkpoint, metadata());
    if (best) task_.save_model((dir / "best.safetensors").string(), metadata());
    // The record before last.safetensors: a run killed between the two resumes from the
    // previous checkpoint, drops this record and writes it again.
    io::append_file((dir / "metrics.jsonl").string(), r.json.dump() + "\n");
    // The sample's generator is seeded by the run's seed and the step: the training's own
    // stream of numbers stays as it is.
    std::string sample;
    if (const std::int64_t length = o_.integer("sample_length"); length > 0)
      sample = task_.sample(length, o_.seed("seed") + step_);
    if (!sample.empty())
      io::append_file((dir / "samples.jsonl").string(), ordered_json{{"step", step_}, {"text", sample}}.dump() + "\n");
    draw_chart((dir / "loss.svg").string(), records_, "recur: " + task_.title(o_), task_);
    if (tensorboard_) write_tensorboard(r.json, sample);
  }
  save_last();
  record_steps_ = 0;
  record_clock_.reset();  // the next record's rate leaves out the evaluation and the saving
}

// The record's figures as scalars, each parameter's values and gradient as histograms (the
// gradient of the last step), and the sample as text.
void Trainer::Impl::write_tensorboard(const ordered_json& record, const std::string& sample) {
  for (const auto& [key, value] : record.items())
    if (key != "step" && value.is_number()) tensorboard_->add_scalar(key, value.get<double>(), step_);
  for (const auto& [name, parameter] : model_->named_parameters()) {
    tensorboard_->add_histogram("weights/" + name, parameter, step_);
    if (parameter.grad().defined()) tensorboard_->add_histogram("gradients/" + name, parameter.grad(), step_);
  }
  // A code block keeps the sample's lines (TensorBoard renders text as Markdown).
  if (!sample.empty()) tensorboard_->add_text("sample", "```\n" + sample + "\n```", step_);
  tensorboard_->flush();
}

void Trainer::Impl::run() {
  Progress progress(/*silent=*/!main_);
  std::vector<std::string> lines = task_.describe();
  if (s_.resume && !lines.empty()) lines.back() += "; resuming at step " + std::to_string(step_);
  for (const std::string& line : lines) progress.message(line);
  // The initial weights, for comparisons (bench/char_torch.py starts from them) and restarts.
  if (!s_.resume && main_) task_.save_model((fs::path(s_.out) / "init.safetensors").string(), {});
  record_clock_.reset();  // the rate counts training only, not the setup
  if (s_.resume && !budget_left())
    progress.message("the run's budget is already spent: give a larger --max-steps, --max-epochs or --max-time");
  const std::int64_t print_every = o_.integer("print_every"), eval_every = o_.integer("eval_every");
  const std::int64_t checkpoint_every = o_.integer("checkpoint_every");
  auto report_evaluation = [&] {
    progress.message(format_eval(step_, epochs(), records_.back().train_loss, task_.describe_evaluation(last_metrics_)));
  };
  Stopwatch since_update;
  while (budget_left()) {
    if (!task_.next_batch()) continue;
    train_step();
    const double elapsed = seconds_before_ + run_clock_.seconds();
    const bool due = progress.live() ? since_update.seconds() > 0.2 : print_every > 0 && step_ % print_every == 0;
    if (due) {
      const double rate = static_cast<double>(record_steps_) * task_.items_per_step() / record_clock_.seconds();
      double eta = -1;
      if (total_steps_ > 0)
        eta = static_cast<double>(total_steps_ - step_) * record_clock_.seconds() / static_cast<double>(record_steps_);
      if (time_limit_ > 0) eta = eta < 0 ? time_limit_ - elapsed : std::min(eta, time_limit_ - elapsed);
      progress.update(format_status(task_.epoch() + 1, step_, total_steps_, smoothed_loss_, rate, eta,
                                    task_.item_name()));
      since_update.reset();
    }
    if (eval_every > 0 && step_ % eval_every == 0) {
      evaluate_and_save();
      report_evaluation();
    } else if (checkpoint_every > 0 && step_ % checkpoint_every == 0) {
      save_last();
    }
  }
  // The run ends with an evaluation unless its last step had one; rank 0 holds the records
  // (a resumed run's come from its metrics.jsonl) and decides for every process.
  const bool evaluated = !records_.empty() && records_.back().step == step_;
  if (dist::size() == 1 ? !evaluated : dist::sum_over_processes(main_ && !evaluated ? 1.0 : 0.0) > 0) {
    evaluate_and_save();
    report_evaluation();
  }
  progress.message(std::isfinite(best_) ? "best validation " + task_.describe_metric(best_) + ": " + best_path_
                                        : "no validation split; the last model is " + best_path_);
  // Every process measures the best model (a language model shares the test streams out),
  // once rank 0 has written it.
  dist::barrier();
  const std::vector<Metric> test = measure_test();
  // The test figure of the kind that picked the best model ("val_loss" -> "test_loss").
  const std::string test_name = "test_" + metric_name().substr(metric_name().starts_with("val_") ? 4 : 0);
  for (const Metric& m : test)
    if (m.name == test_name) progress.message("test of " + best_path_ + ": " + task_.describe_metric(m.value));
  if (main_)
    for (const std::string& line : task_.final_report()) progress.message(line);
  if (s_.json && main_) {
    const std::string metric = metric_name();
    ordered_json summary{{"steps", step_},
                         {"epochs", epochs()},
                         {rate_key(), session_train_seconds_ > 0 ? session_items_ / session_train_seconds_ : 0.0},
                         {"train_loss", records_.back().train_loss},
                         {metric, finite_or_null(last_)},
                         {"best_" + metric, finite_or_null(best_)},
                         {"best_checkpoint", best_path_},
                         {"last_checkpoint", last_path_},
                         {"seconds", seconds_before_ + run_clock_.seconds()}};
    for (const Metric& m : test) summary[m.name] = finite_or_null(m.value);
    std::printf("%s\n", summary.dump().c_str());
  }
}

// Once training is over, the best model (best_path_) replaces the model's weights (the run
// no longer needs them: last.safetensors is saved) for the final report; its test figures,
// when there is test data.
std::vector<Metric> Trainer::Impl::measure_test() {
  if (best_path_.empty()) return {};
  TensorMap weights;
  for (auto& [name, tensor] : io::load_safetensors(best_path_).tensors)
    if (name.find('/') == std::string::npos) weights[name] = tensor;
  model_->load_state_dict(weights);
  return task_.has_test() ? task_.evaluate_test() : std::vector<Metric>{};
}

Trainer::Trainer(Task& task, OptionValues options, RunSettings settings)
    : impl_(std::make_unique<Impl>(task, std::move(options), std::move(settings))) {}
Trainer::~Trainer() = default;
void Trainer::run() { impl_->run(); }
const OptionValues& Trainer::options() const { return impl_->o_; }

}  // namespace recur::train
