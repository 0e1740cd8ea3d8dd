// recur train [TEXT]: char-rnn training. The text is cut into B contiguous streams; each
// step trains on the next T characters of every stream, carrying the hidden state from step
// to step (truncated BPTT, reset at each epoch start). Every evaluation measures the
// validation split, writes a checkpoint named after its loss, best.safetensors (the model
// with the lowest validation loss) and last.safetensors (the whole training state, for
// --resume), appends to metrics.jsonl and redraws loss.svg. init.safetensors keeps the
// initial weights.

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <recur/recur.hpp>

#include "commands.hpp"
#include "validators.hpp"
#include "progress.hpp"

namespace recur::cli {
namespace {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

struct TrainOptions {
  std::string text = RECUR_DEFAULT_TEXT;
  std::string out;  // default: runs/<text's stem>
  nn::CharModelConfig model{.cell = "lstm", .layers = 2, .hidden = 256, .embed = 64, .dropout = 0};
  std::int64_t max_vocab = 0;
  double val_fraction = 0.05, test_fraction = 0.05;
  std::int64_t batch_size = 32, seq_length = 64;
  std::string optimizer = "adam";
  double lr = 2e-3, momentum = 0.9, weight_decay = 0;
  double lr_decay = 1;              // char-rnn: lr *= lr_decay at the end of every epoch past...
  std::int64_t lr_decay_after = 10; // ...this many epochs
  std::string lr_schedule = "constant";
  std::int64_t warmup = 0;          // steps of linear warm-up
  double clip = 5, clip_value = 0;
  std::uint64_t seed = 1;
  std::string init_from;
  // The budget and reporting; a resumed run may change these.
  std::int64_t max_epochs = 0, max_steps = 0;
  std::string max_time = "15m";
  std::int64_t eval_every = 500, checkpoint_every = 0, print_every = 100;
  bool resume = false, overwrite = false, json = false;
  int threads = 0;
};

// The options that define a run (what --resume takes from the checkpoint), as JSON.
ordered_json run_json(const TrainOptions& o) {
  return {{"text", o.text},
          {"model", ordered_json::parse(train::config_to_json(o.model))},
          {"max_vocab", o.max_vocab},
          {"val_fraction", o.val_fraction},
          {"test_fraction", o.test_fraction},
          {"batch_size", o.batch_size},
          {"seq_length", o.seq_length},
          {"optimizer", o.optimizer},
          {"lr", o.lr},
          {"momentum", o.momentum},
          {"weight_decay", o.weight_decay},
          {"lr_decay", o.lr_decay},
          {"lr_decay_after", o.lr_decay_after},
          {"lr_schedule", o.lr_schedule},
          {"warmup", o.warmup},
          {"clip", o.clip},
          {"clip_value", o.clip_value},
          {"seed", o.seed},
          {"init_from", o.init_from},
          {"max_epochs", o.max_epochs},
          {"max_steps", o.max_steps},
          {"max_time", o.max_time},
          {"eval_every", o.eval_every},
          {"checkpoint_every", o.checkpoint_every},
          {"print_every", o.print_every}};
}

void restore_run(TrainOptions& o, const std::string& json, const std::string& source) {
  try {
    ordered_json j = ordered_json::parse(json);
    o.text = j.at("text");
    o.model = train::config_from_json(j.at("model").dump(), source);
    o.max_vocab = j.at("max_vocab");
    o.val_fraction = j.at("val_fraction"), o.test_fraction = j.at("test_fraction");
    o.batch_size = j.at("batch_size"), o.seq_length = j.at("seq_length");
    o.optimizer = j.at("optimizer");
    o.lr = j.at("lr"), o.momentum = j.at("momentum"), o.weight_decay = j.at("weight_decay");
    o.lr_decay = j.at("lr_decay"), o.lr_decay_after = j.at("lr_decay_after");
    o.lr_schedule = j.at("lr_schedule"), o.warmup = j.at("warmup");
    o.clip = j.at("clip"), o.clip_value = j.at("clip_value");
    o.seed = j.at("seed");
    o.init_from = j.at("init_from");
    o.max_epochs = j.at("max_epochs"), o.max_steps = j.at("max_steps"), o.max_time = j.at("max_time");
    o.eval_every = j.at("eval_every"), o.checkpoint_every = j.at("checkpoint_every");
    o.print_every = j.at("print_every");
  } catch (const nlohmann::json::exception& e) {
    RECUR_FAIL(source << ": the saved training options are unreadable (" << e.what() << ")");
  }
}

// j[key] when it is a number, else `fallback` (JSON has no NaN or infinity: they are null).
double number_or(const ordered_json& j, const char* key, double fallback) {
  return j.contains(key) && j[key].is_number() ? j[key].get<double>() : fallback;
}

constexpr const char* kRunKey = "recur.run";        // run_json
constexpr const char* kProgressKey = "recur.progress";  // step, epoch, losses: for recur info

// "90", "90s", "15m", "2h", "1.5h" -> seconds; "0" = no limit.
double parse_duration(const std::string& text) {
  std::size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
  }
  std::string unit = text.substr(std::min(used, text.size()));
  double scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
  RECUR_CHECK(used > 0 && scale > 0 && value >= 0 && std::isfinite(value),
              "--max-time: '" << text << "' is not a duration (seconds, or a number with s, m or h: 90s, 15m, 2h)");
  return value * scale;
}

std::unique_ptr<optim::Optimizer> make_optimizer(const TrainOptions& o, std::vector<Tensor> params) {
  if (o.optimizer == "adam")
    return std::make_unique<optim::Adam>(params, optim::AdamOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  if (o.optimizer == "adamw")
    return std::make_unique<optim::AdamW>(params, optim::AdamWOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  if (o.optimizer == "sgd")
    return std::make_unique<optim::SGD>(params, optim::SGDOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  if (o.optimizer == "momentum")
    return std::make_unique<optim::SGD>(
        params, optim::SGDOptions{.lr = o.lr, .momentum = o.momentum, .weight_decay = o.weight_decay});
  if (o.optimizer == "adagrad")
    return std::make_unique<optim::Adagrad>(params,
                                            optim::AdagradOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  if (o.optimizer == "rmsprop")
    return std::make_unique<optim::RMSprop>(params,
                                            optim::RMSpropOptions{.lr = o.lr, .weight_decay = o.weight_decay});
  RECUR_FAIL("unknown optimizer '" << o.optimizer << "'");
}

// The learning rate of step `step` (0-based) in epoch `epoch`: a pure function of the
// position, so a resumed run follows the same schedule without saving one.
//   warm-up:   lr * (step + 1) / warmup for the first `warmup` steps
//   schedule:  constant | cosine (to 0 at total_steps) | linear (to 0 at total_steps)
//   char-rnn:  times lr_decay ^ max(0, epoch - lr_decay_after + 1)
double learning_rate(const TrainOptions& o, std::int64_t step, std::int64_t epoch, std::int64_t total_steps) {
  double lr = o.lr;
  if (step < o.warmup) lr *= static_cast<double>(step + 1) / static_cast<double>(o.warmup);
  if (o.lr_schedule != "constant" && total_steps > o.warmup) {
    double progress = std::clamp(static_cast<double>(step - o.warmup) / static_cast<double>(total_steps - o.warmup),
                                 0.0, 1.0);
    if (step >= o.warmup) lr *= o.lr_schedule == "cosine" ? 0.5 * (1 + std::cos(M_PI * progress)) : 1 - progress;
  }
  if (o.lr_decay != 1 && epoch >= o.lr_decay_after)
    lr *= std::pow(o.lr_decay, static_cast<double>(epoch - o.lr_decay_after + 1));
  return lr;
}

// Mean cross-entropy (nats per character) of the model over `tokens`, in evaluation mode,
// batched as training is (B streams, state carried), with B and T shrunk for short texts.
double evaluate(nn::CharModel& model, std::span<const std::int32_t> tokens, std::int64_t batch_size,
                std::int64_t seq_length) {
  const std::int64_t available = static_cast<std::int64_t>(tokens.size()) - 1;
  if (available < 1) return NAN;
  const std::int64_t T = std::min(seq_length, available);
  const std::int64_t B = std::clamp<std::int64_t>(available / T, 1, batch_size);
  data::CharBatches batches(tokens, B, T);
  model.eval();
  NoGradGuard no_grad;
  nn::CharModel::State state;
  double total = 0;
  data::Batch batch;
  while (batches.next(batch)) {
    nn::CharModel::Output out = model.forward(batch.inputs, state);
    total += cross_entropy(reshape(out.logits, {B * T, model.config.vocab_size}), reshape(batch.targets, {B * T}),
                           Reduction::Sum)
                 .item();
    state = out.state;
  }
  model.train();
  return total / static_cast<double>(batches.steps_per_epoch() * B * T);
}

std::string format_loss(double nats) {
  if (!std::isfinite(nats)) return "none (no validation split)";  // training checks for nan
  char text[160];
  std::snprintf(text, sizeof text, "%.4f nats/char, %.4f bits/char, perplexity %.3f", nats, nats / std::log(2.0),
                std::exp(nats));
  return text;
}

// One line of metrics.jsonl and the chart's data.
struct Record {
  std::int64_t step = 0;
  double epoch = 0;  // fractional: steps / steps per epoch
  double train_loss = NAN, val_loss = NAN, lr = 0, chars_per_sec = 0, seconds = 0;
  ordered_json json() const {
    ordered_json j{{"step", step}, {"epoch", epoch}, {"train_loss", train_loss}};
    if (std::isfinite(val_loss)) j["val_loss"] = val_loss, j["val_bpc"] = val_loss / std::log(2.0);
    j["lr"] = lr, j["chars_per_sec"] = chars_per_sec, j["seconds"] = seconds;
    return j;
  }
};

// metrics.jsonl's records up to `last_step` (a resumed run drops what came after its
// checkpoint) and the file rewritten to hold just those.
std::vector<Record> reload_metrics(const std::string& path, std::int64_t last_step) {
  std::vector<Record> records;
  std::ifstream in(path);
  std::string line, kept;
  while (std::getline(in, line)) {
    ordered_json j = ordered_json::parse(line, nullptr, false);
    if (j.is_discarded() || !j.contains("step") || j["step"].get<std::int64_t>() > last_step) continue;
    Record r;
    r.step = j["step"], r.epoch = j.value("epoch", 0.0), r.lr = j.value("lr", 0.0);
    r.train_loss = j["train_loss"].is_number() ? j["train_loss"].get<double>() : NAN;
    r.val_loss = j.contains("val_loss") ? j["val_loss"].get<double>() : NAN;
    r.chars_per_sec = j.value("chars_per_sec", 0.0), r.seconds = j.value("seconds", 0.0);
    records.push_back(r);
    kept += line + "\n";
  }
  io::write_file_atomically(path, kept);
  return records;
}

void draw_chart(const std::string& path, const std::vector<Record>& records, const std::string& title) {
  std::vector<double> train_x, train_y, val_x, val_y;
  for (const Record& r : records) {
    if (std::isfinite(r.train_loss)) train_x.push_back(static_cast<double>(r.step)), train_y.push_back(r.train_loss);
    if (std::isfinite(r.val_loss)) val_x.push_back(static_cast<double>(r.step)), val_y.push_back(r.val_loss);
  }
  train::Plot plot(title);
  plot.set_x_label("step").set_y_label("loss (nats/char)");
  plot.add_line("train", train_x, train_y).add_line("validation", val_x, val_y);
  plot.save(path);
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

// Removes what recur train writes in `dir` (checkpoints, metrics.jsonl, loss.svg, and the
// temporary files of writes a kill interrupted), or only those temporaries.
void remove_run_files(const std::string& dir, bool temporaries_only) {
  std::error_code error;
  for (const fs::directory_entry& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    const bool temporary = name.find(".tmp-") != std::string::npos;
    const bool output = name.ends_with(".safetensors") || name == "metrics.jsonl" || name == "loss.svg";
    if (entry.is_regular_file() && (temporary || (!temporaries_only && output))) fs::remove(entry.path(), error);
  }
}

class Trainer {
 public:
  Trainer(TrainOptions options, const CLI::App& command) : o_(std::move(options)) {
    if (o_.out.empty()) o_.out = (fs::path("runs") / fs::path(o_.text).stem()).string();
    last_path_ = (fs::path(o_.out) / "last.safetensors").string();
    if (o_.resume) load_run_options(command);
    time_limit_ = parse_duration(o_.max_time);
    RECUR_CHECK(o_.max_vocab != 1, "--max-vocab must be 0 (every character) or at least 2 (one character and "
                                   << data::Vocab::kUnknownToken << "), got 1");
    RECUR_CHECK(o_.val_fraction + o_.test_fraction < 1, "--val-fraction " << o_.val_fraction << " and --test-fraction "
                                                            << o_.test_fraction << " leave no text to train on");
    check_writable_dir(o_.out);
    if (o_.threads > 0) set_num_threads(o_.threads);
    load_data();
    build();
  }

  void run();

 private:
  void load_run_options(const CLI::App& command);
  void load_data();
  void build();
  bool budget_left() const;
  void train_step(const data::Batch& batch);
  void evaluate_and_save();
  void save_last();
  void check_finite(double value, const std::string& what, std::int64_t step) const;
  void check_finite_weights() const;
  void start_afresh() const;
  std::map<std::string, std::string> metadata() const;
  double epochs() const {  // epochs trained, fractional
    return static_cast<double>(step_) / static_cast<double>(batches_->steps_per_epoch());
  }

  TrainOptions o_;
  std::string last_path_;
  // The model a run continues from (--resume: last.safetensors) or starts from (--init-from),
  // read once for the run's options, the vocabulary and the architecture.
  std::optional<train::LoadedCharModel> start_;
  double time_limit_ = 0;
  data::EncodedText text_;
  data::TextSplit split_;
  std::unique_ptr<data::CharBatches> batches_;
  std::shared_ptr<nn::CharModel> model_;
  std::unique_ptr<optim::Optimizer> optimizer_;
  TensorMap carried_;  // "h" and "c": the hidden state carried from step to step
  std::int64_t step_ = 0, total_steps_ = 0;
  std::int64_t saved_step_ = -1;  // the step of last.safetensors; -1 before the first
  double best_val_ = INFINITY, last_val_ = NAN;
  std::string best_path_;
  std::vector<Record> records_;
  // Since the last record: the sum of train losses, their count, the stopwatch.
  double loss_sum_ = 0;
  std::int64_t loss_count_ = 0;
  double smoothed_loss_ = NAN;
  train::Stopwatch run_clock_, record_clock_;
  std::int64_t record_steps_ = 0;  // steps of this session since the last record (for chars/s)
  double seconds_before_ = 0;  // time spent by the run before a resume
  double session_chars_ = 0, session_train_seconds_ = 0;  // for chars_per_sec, evaluations excluded
};

void Trainer::load_run_options(const CLI::App& command) {
  // A resumed run is the run it continues: its options come from the checkpoint, and a
  // flag that would change the model, the data or the optimisation is a mistake.
  for (const char* flag : {"--cell", "--peephole", "--layers", "--hidden", "--embed", "--dropout", "--max-vocab",
                           "--val-fraction", "--test-fraction", "--batch-size", "--seq-length", "--optimizer", "--lr",
                           "--momentum", "--weight-decay", "--lr-decay", "--lr-decay-after", "--lr-schedule",
                           "--warmup", "--clip", "--clip-value", "--seed", "--init-from", "TEXT"})
    RECUR_CHECK(command.count(flag) == 0, "--resume continues the run in " << o_.out << " as it was configured; "
                                                                           << flag << " cannot be given with it");
  RECUR_CHECK(fs::exists(last_path_), "--resume: there is no checkpoint " << last_path_ << " to resume from");
  start_ = train::load_char_model(last_path_);
  RECUR_CHECK(start_->metadata.count(kRunKey), last_path_ << ": not a training checkpoint (no " << kRunKey << ")");
  const TrainOptions given = o_;
  restore_run(o_, start_->metadata.at(kRunKey), last_path_);
  o_.out = given.out, o_.threads = given.threads, o_.json = given.json;
  // The budget and the reporting may change: a longer run, more frequent checkpoints.
  if (command.count("--max-epochs")) o_.max_epochs = given.max_epochs;
  if (command.count("--max-steps")) o_.max_steps = given.max_steps;
  if (command.count("--max-time")) o_.max_time = given.max_time;
  if (command.count("--eval-every")) o_.eval_every = given.eval_every;
  if (command.count("--checkpoint-every")) o_.checkpoint_every = given.checkpoint_every;
  if (command.count("--print-every")) o_.print_every = given.print_every;
}

void Trainer::load_data() {
  // The vocabulary comes with the model when there is one to continue from.
  if (!o_.resume && !o_.init_from.empty()) start_ = train::load_char_model(o_.init_from);
  if (start_) {
    text_.vocab = start_->vocab;
    text_.tokens = data::encode_text(io::read_file(o_.text), o_.text, start_->vocab);
  } else {
    text_ = data::read_encoded_text(o_.text, o_.max_vocab);
  }
  RECUR_CHECK(!text_.tokens.empty(), o_.text << " is empty: there is nothing to train on");
  const double train_fraction = 1 - o_.val_fraction - o_.test_fraction;
  split_ = data::split_tokens(text_.tokens, {train_fraction, o_.val_fraction, o_.test_fraction});
  try {
    batches_ = std::make_unique<data::CharBatches>(split_.train, o_.batch_size, o_.seq_length);
  } catch (const Error& e) {
    RECUR_FAIL(o_.text << ": the training split (" << split_.train.size() << " characters of "
                       << text_.tokens.size() << ") is too short for one batch of --batch-size " << o_.batch_size
                       << " x --seq-length " << o_.seq_length << " (needs " << o_.batch_size * o_.seq_length + 1
                       << "); use a longer text or smaller sizes");
  }
}

void Trainer::build() {
  manual_seed(o_.seed);
  if (start_) {
    // The architecture is the model's (the dropout is the run's). Fine-tuning starts from its
    // weights; a resumed run gets its own from the checkpoint below.
    const double dropout = o_.model.dropout;
    o_.model = start_->model->config;
    o_.model.dropout = dropout;
    model_ = std::make_shared<nn::CharModel>(o_.model);
    if (!o_.resume) model_->load_state_dict(start_->model->state_dict());
    start_.reset();
  } else {
    o_.model.vocab_size = text_.vocab.size();
    model_ = std::make_shared<nn::CharModel>(o_.model);
  }
  model_->train();
  optimizer_ = make_optimizer(o_, model_->parameters());
  const std::int64_t per_epoch = batches_->steps_per_epoch();
  total_steps_ = o_.max_steps;
  if (o_.max_epochs > 0) total_steps_ = total_steps_ > 0 ? std::min(total_steps_, o_.max_epochs * per_epoch)
                                                          : o_.max_epochs * per_epoch;
  RECUR_CHECK(o_.lr_schedule == "constant" || total_steps_ > 0,
              "--lr-schedule " << o_.lr_schedule << " needs a length: give --max-steps or --max-epochs");
  if (o_.resume) {
    train::TrainingState state{.model = model_.get(), .optimizer = optimizer_.get(),
                               .char_batches = batches_.get(), .carried = &carried_,
                               .generator = &default_generator()};
    std::map<std::string, std::string> meta = train::load_checkpoint(last_path_, state);
    step_ = saved_step_ = state.step;
    if (meta.count(kProgressKey)) {
      ordered_json p = ordered_json::parse(meta.at(kProgressKey));
      const double chars = number_or(p, "text_chars", -1);
      RECUR_CHECK(chars < 0 || chars == static_cast<double>(text_.tokens.size()),
                  "--resume: " << o_.text << " has " << text_.tokens.size() << " characters now but had " << chars
                               << " when the run started; resume needs the same text");
      best_val_ = number_or(p, "best_val_loss", INFINITY);
      best_path_ = p.value("best_checkpoint", std::string());
      last_val_ = number_or(p, "val_loss", NAN);
      seconds_before_ = number_or(p, "seconds", 0);
      loss_sum_ = number_or(p, "loss_sum", 0);
      loss_count_ = static_cast<std::int64_t>(number_or(p, "loss_count", 0));
      smoothed_loss_ = number_or(p, "smoothed_loss", NAN);
    }
    remove_run_files(o_.out, /*temporaries_only=*/true);  // left by a kill during a save
    records_ = reload_metrics((fs::path(o_.out) / "metrics.jsonl").string(), step_);
  } else {
    start_afresh();
    records_ = reload_metrics((fs::path(o_.out) / "metrics.jsonl").string(), -1);
  }
}

bool Trainer::budget_left() const {
  if (total_steps_ > 0 && step_ >= total_steps_) return false;
  if (time_limit_ > 0 && seconds_before_ + run_clock_.seconds() >= time_limit_) return false;
  return true;
}

std::map<std::string, std::string> Trainer::metadata() const {
  std::map<std::string, std::string> meta = train::model_metadata(model_->config, text_.vocab);
  meta[kRunKey] = run_json(o_).dump();
  ordered_json progress{{"step", step_},
                        {"text_chars", text_.tokens.size()},
                        {"epoch", epochs()},
                        {"val_loss", std::isfinite(last_val_) ? ordered_json(last_val_) : ordered_json()},
                        {"best_val_loss", std::isfinite(best_val_) ? ordered_json(best_val_) : ordered_json()},
                        {"best_checkpoint", best_path_},
                        {"seconds", seconds_before_ + run_clock_.seconds()},
                        {"loss_sum", loss_sum_},  // the record in progress, so a resumed run
                        {"loss_count", loss_count_},  // reports the same train losses
                        {"smoothed_loss", std::isfinite(smoothed_loss_) ? ordered_json(smoothed_loss_) : ordered_json()}};
  meta[kProgressKey] = progress.dump();
  return meta;
}

// A loss, a gradient norm or a weight that is not finite ends the run before anything is
// saved: the checkpoints on disk stay the last good ones.
void Trainer::check_finite(double value, const std::string& what, std::int64_t step) const {
  if (std::isfinite(value)) return;
  const char* shown = std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf";
  if (saved_step_ < 0)
    RECUR_FAIL(what << " became " << shown << " at step " << step
                    << "; training stopped before any checkpoint was written (try a lower --lr or a --clip)");
  RECUR_FAIL(what << " became " << shown << " at step " << step << "; training stopped, and the last good checkpoint "
                  << last_path_ << " (step " << saved_step_ << ") is intact (try a lower --lr or a --clip)");
}

void Trainer::check_finite_weights() const {
  for (const auto& [name, param] : model_->named_parameters())
    for (float value : param.to_vector<float>())
      if (!std::isfinite(value)) check_finite(value, "the weight " + name, step_);
}

// A fresh run must not silently replace another run's checkpoints: that takes --overwrite.
void Trainer::start_afresh() const {
  RECUR_CHECK(o_.overwrite || !fs::exists(last_path_),
              o_.out << " already holds a run (" << last_path_ << "); continue it with --resume, replace it with "
                     << "--overwrite, or choose another --out");
  if (o_.overwrite) remove_run_files(o_.out, /*temporaries_only=*/false);
}

void Trainer::save_last() {
  check_finite_weights();
  train::TrainingState state{.model = model_.get(), .optimizer = optimizer_.get(),
                             .char_batches = batches_.get(), .carried = &carried_,
                             .generator = &default_generator(), .step = step_};
  train::save_checkpoint(last_path_, state, metadata());
  saved_step_ = step_;
}

void Trainer::train_step(const data::Batch& batch) {
  const std::int64_t rows = o_.batch_size * o_.seq_length;
  optimizer_->set_lr(0, learning_rate(o_, step_, batches_->epoch(), total_steps_));
  nn::CharModel::Output out = model_->forward(batch.inputs, {carried_["h"], carried_["c"]});
  Tensor loss = cross_entropy(reshape(out.logits, {rows, model_->config.vocab_size}), reshape(batch.targets, {rows}));
  const double value = loss.item();
  check_finite(value, "the training loss", step_ + 1);
  optimizer_->zero_grad();
  loss.backward();
  std::vector<Tensor> params = model_->parameters();
  if (o_.clip_value > 0) optim::clip_grad_value_(params, o_.clip_value);
  if (o_.clip > 0) {
    check_finite(optim::clip_grad_norm_(params, o_.clip), "the gradient norm", step_ + 1);
  }
  optimizer_->step();
  carried_["h"] = out.state.h.detach();
  if (out.state.c.defined()) carried_["c"] = out.state.c.detach();
  else carried_.erase("c");
  ++step_, ++record_steps_;
  loss_sum_ += value, ++loss_count_;
  smoothed_loss_ = std::isfinite(smoothed_loss_) ? 0.98 * smoothed_loss_ + 0.02 * value : value;
}

void Trainer::evaluate_and_save() {
  Record r;
  r.step = step_, r.epoch = epochs();
  r.train_loss = loss_count_ > 0 ? loss_sum_ / static_cast<double>(loss_count_) : NAN;
  r.lr = optimizer_->lr(0);
  const double chars = static_cast<double>(record_steps_ * o_.batch_size * o_.seq_length);
  r.chars_per_sec = chars / record_clock_.seconds();
  session_chars_ += chars, session_train_seconds_ += record_clock_.seconds();
  // The record is complete: the checkpoints below start the next one, so a run resumed
  // from them does not count these losses twice.
  loss_sum_ = 0, loss_count_ = 0;
  check_finite_weights();
  r.val_loss = last_val_ = evaluate(*model_, split_.validation, o_.batch_size, o_.seq_length);
  if (split_.validation.size() >= 2) check_finite(r.val_loss, "the validation loss", step_);
  r.seconds = seconds_before_ + run_clock_.seconds();
  const fs::path dir(o_.out);
  char name[96];
  if (std::isfinite(r.val_loss)) {
    std::snprintf(name, sizeof name, "step%06lld_val%.4f.safetensors", static_cast<long long>(step_), r.val_loss);
  } else {
    std::snprintf(name, sizeof name, "step%06lld.safetensors", static_cast<long long>(step_));
  }
  const std::string checkpoint = (dir / name).string();
  // Without a validation split every checkpoint counts as the best so far.
  const bool best = !std::isfinite(r.val_loss) || r.val_loss < best_val_;
  if (best) best_val_ = std::isfinite(r.val_loss) ? r.val_loss : best_val_, best_path_ = checkpoint;
  train::save_char_model(checkpoint, *model_, text_.vocab, metadata());
  if (best) train::save_char_model((dir / "best.safetensors").string(), *model_, text_.vocab, metadata());
  // The record before last.safetensors: a run killed between the two resumes from the
  // previous checkpoint, drops this record and writes it again.
  records_.push_back(r);
  std::ofstream((dir / "metrics.jsonl").string(), std::ios::app) << r.json().dump() << "\n";
  draw_chart((dir / "loss.svg").string(), records_, "recur: " + fs::path(o_.text).filename().string());
  save_last();
  record_steps_ = 0;
  record_clock_.reset();  // the next record's chars/s leaves out the evaluation and the saving
}

void Trainer::run() {
  Progress progress;
  const std::int64_t per_epoch = batches_->steps_per_epoch();
  progress.message(fs::path(o_.text).filename().string() + ": " + std::to_string(text_.tokens.size()) +
                   " characters, vocabulary " + std::to_string(text_.vocab.size()) + ", split " +
                   std::to_string(split_.train.size()) + " / " + std::to_string(split_.validation.size()) + " / " +
                   std::to_string(split_.test.size()));
  progress.message(o_.model.cell + " " + std::to_string(o_.model.layers) + "x" + std::to_string(o_.model.hidden) +
                   ", " + std::to_string(model_->num_parameters()) + " parameters; " + std::to_string(per_epoch) +
                   " steps per epoch of " + std::to_string(o_.batch_size) + "x" + std::to_string(o_.seq_length) +
                   (o_.resume ? "; resuming at step " + std::to_string(step_) : std::string()));
  // The initial weights, for comparisons (bench/char_torch.py starts from them) and restarts.
  if (!o_.resume) train::save_char_model((fs::path(o_.out) / "init.safetensors").string(), *model_, text_.vocab);
  record_clock_.reset();  // chars/s counts training only, not the setup
  if (o_.resume && !budget_left())
    progress.message("the run's budget is already spent: give a larger --max-steps, --max-epochs or --max-time");
  data::Batch batch;
  train::Stopwatch since_update;
  while (budget_left()) {
    if (batches_->step() == 0) carried_.clear();  // each epoch starts from a zero state
    if (!batches_->next(batch)) continue;
    train_step(batch);
    const double elapsed = seconds_before_ + run_clock_.seconds();
    const bool due = progress.live() ? since_update.seconds() > 0.2 : o_.print_every > 0 && step_ % o_.print_every == 0;
    if (due) {
      const double rate = static_cast<double>(record_steps_ * o_.batch_size * o_.seq_length) / record_clock_.seconds();
      double eta = -1;
      if (total_steps_ > 0)
        eta = static_cast<double>(total_steps_ - step_) * record_clock_.seconds() / static_cast<double>(record_steps_);
      if (time_limit_ > 0) eta = eta < 0 ? time_limit_ - elapsed : std::min(eta, time_limit_ - elapsed);
      progress.update(format_status(batches_->epoch() + 1, step_, total_steps_, smoothed_loss_, rate, eta));
      since_update.reset();
    }
    if (o_.eval_every > 0 && step_ % o_.eval_every == 0) {
      evaluate_and_save();
      progress.message(format_eval(step_, epochs(),
                                   records_.back().train_loss, format_loss(last_val_)));
    } else if (o_.checkpoint_every > 0 && step_ % o_.checkpoint_every == 0) {
      save_last();
    }
  }
  if (records_.empty() || records_.back().step != step_) {
    evaluate_and_save();
    progress.message(format_eval(step_, epochs(),
                                 records_.back().train_loss, format_loss(last_val_)));
  }
  progress.message(std::isfinite(best_val_) ? "best validation loss " + format_loss(best_val_) + ": " + best_path_
                                            : "no validation split; the last model is " + best_path_);
  if (o_.json) {
    ordered_json summary{{"steps", step_},
                         {"epochs", epochs()},
                         {"chars_per_sec", session_train_seconds_ > 0 ? session_chars_ / session_train_seconds_ : 0.0},
                         {"train_loss", records_.back().train_loss},
                         {"val_loss", std::isfinite(last_val_) ? ordered_json(last_val_) : ordered_json()},
                         {"best_val_loss", std::isfinite(best_val_) ? ordered_json(best_val_) : ordered_json()},
                         {"best_checkpoint", best_path_},
                         {"last_checkpoint", last_path_},
                         {"seconds", seconds_before_ + run_clock_.seconds()}};
    std::printf("%s\n", summary.dump().c_str());
  }
}

}  // namespace

void add_train_command(CLI::App& app) {
  auto options = std::make_shared<TrainOptions>();
  TrainOptions& o = *options;
  CLI::App* cmd = app.add_subcommand("train", "Train a character-level language model on a UTF-8 text");
  cmd->add_option("TEXT", o.text, "UTF-8 text to train on (default: the bundled tinyshakespeare)");
  cmd->add_option("--out", o.out, "Directory for checkpoints, metrics.jsonl and loss.svg [runs/<text name>]");
  cmd->add_option("--cell", o.model.cell, "Recurrent cell")
      ->check(CLI::IsMember({"lstm", "gru", "rnn_tanh", "rnn_relu", "mgu"}))->capture_default_str();
  cmd->add_flag("--peephole", o.model.peephole, "LSTM peephole connections");
  cmd->add_option("--layers", o.model.layers, "Recurrent layers")->check(positive())->capture_default_str();
  cmd->add_option("--hidden", o.model.hidden, "Hidden units per layer")->check(positive())->capture_default_str();
  cmd->add_option("--embed", o.model.embed, "Embedding size (0: one-hot input)")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--dropout", o.model.dropout, "Dropout between recurrent layers")
      ->check(below_one())->capture_default_str();
  cmd->add_option("--max-vocab", o.max_vocab,
                  "At most N tokens: the N-1 most frequent characters and <unk> for the rest (0: all)")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--val-fraction", o.val_fraction, "Fraction of the text for validation")
      ->check(in_range(0, 1))->capture_default_str();
  cmd->add_option("--test-fraction", o.test_fraction, "Fraction of the text held out for testing")
      ->check(in_range(0, 1))->capture_default_str();
  cmd->add_option("--batch-size", o.batch_size, "Streams per batch (B)")->check(positive())->capture_default_str();
  cmd->add_option("--seq-length", o.seq_length, "Steps of truncated backpropagation (T)")
      ->check(positive())->capture_default_str();
  cmd->add_option("--optimizer", o.optimizer, "Optimizer")
      ->check(CLI::IsMember({"adam", "adamw", "sgd", "momentum", "adagrad", "rmsprop"}))->capture_default_str();
  cmd->add_option("--lr", o.lr, "Learning rate")->check(positive())->capture_default_str();
  cmd->add_option("--momentum", o.momentum, "Momentum of --optimizer momentum")
      ->check(in_range(0, 1))->capture_default_str();
  cmd->add_option("--weight-decay", o.weight_decay, "Weight decay")->check(non_negative())->capture_default_str();
  cmd->add_option("--lr-decay", o.lr_decay, "Multiply the learning rate by this after each epoch past --lr-decay-after")
      ->check(in_range(0, 1))->capture_default_str();
  cmd->add_option("--lr-decay-after", o.lr_decay_after, "Epochs before --lr-decay starts")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--lr-schedule", o.lr_schedule, "Learning-rate schedule over --max-steps/--max-epochs")
      ->check(CLI::IsMember({"constant", "cosine", "linear"}))->capture_default_str();
  cmd->add_option("--warmup", o.warmup, "Steps of linear learning-rate warm-up")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--clip", o.clip, "Clip the gradients' global norm to this (0: off)")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--clip-value", o.clip_value, "Clip each gradient element to [-v, v] (0: off)")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--max-epochs", o.max_epochs, "Stop after this many epochs (0: no limit)")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--max-steps", o.max_steps, "Stop after this many steps (0: no limit)")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--max-time", o.max_time, "Stop after this long: seconds, or 90s, 15m, 2h (0: no limit)")
      ->capture_default_str();
  cmd->add_option("--eval-every", o.eval_every, "Evaluate and checkpoint every N steps (0: at the end only)")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--checkpoint-every", o.checkpoint_every, "Also save last.safetensors every N steps (0: off)")
      ->check(non_negative())->capture_default_str();
  cmd->add_option("--print-every", o.print_every, "Progress line every N steps when stderr is not a terminal")
      ->check(non_negative())->capture_default_str();
  CLI::Option* resume =
      cmd->add_flag("--resume", o.resume, "Continue the run in --out exactly from its last.safetensors");
  cmd->add_flag("--overwrite", o.overwrite, "Replace the run already in --out (its checkpoints and metrics)")
      ->excludes(resume);
  cmd->add_option("--init-from", o.init_from, "Start from this model's weights (fine-tuning)");
  cmd->add_option("--seed", o.seed, "Seed of the initial weights and dropout masks")->capture_default_str();
  cmd->add_option("--threads", o.threads, "Threads (default: RECUR_NUM_THREADS or all cores)")
      ->check(positive());
  cmd->add_flag("--json", o.json, "End with one JSON summary line on stdout");
  cmd->callback([options, cmd] {
    Trainer trainer(*options, *cmd);
    trainer.run();
  });
}

}  // namespace recur::cli
