#include "recur/optim/lr_scheduler.hpp"
#include "recur/optim/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numbers>
#include <set>
#include <sstream>

#include "recur/ops.hpp"

namespace recur::optim {
namespace {

std::vector<double> lrs_of(const Optimizer& optimizer) {
  std::vector<double> lrs;
  for (int g = 0; g < optimizer.num_groups(); ++g) lrs.push_back(optimizer.lr(g));
  return lrs;
}

// Reads the entries a schedule's state_dict has, collecting problems instead of throwing
// at the first, so one error can list them all.
struct StateReader {
  const TensorMap& state;
  std::vector<std::string> problems;
  std::set<std::string> used;

  const Tensor* get(const std::string& key, bool scalar, std::int64_t length = 0) {
    auto it = state.find(key);
    if (it == state.end()) {
      problems.push_back("missing key " + key);
      return nullptr;
    }
    used.insert(key);
    const Tensor& t = it->second;
    bool ok = scalar ? t.dim() == 0 : (t.dim() == 1 && t.size(0) == length);
    if (!ok) {
      std::ostringstream os;
      os << key << " has shape " << t.shape() << ", expected ";
      if (scalar) os << "[] (a scalar)";
      else os << "[" << length << "] (one entry per parameter group)";
      problems.push_back(os.str());
      return nullptr;
    }
    return &t;
  }

  // Throws, naming the schedule, if anything was missing, misshapen or unexpected.
  void finish(const char* name) {
    for (const auto& entry : state)
      if (!used.count(entry.first)) problems.push_back("unexpected key " + entry.first);
    if (problems.empty()) return;
    std::ostringstream os;
    os << name << ".load_state_dict: the state does not fit this schedule (" << problems.size() << " problem"
       << (problems.size() == 1 ? "" : "s") << "):";
    for (const std::string& p : problems) os << "\n  " << p;
    RECUR_FAIL(os.str());
  }
};

}  // namespace

// ---- LRScheduler

LRScheduler::LRScheduler(Optimizer& optimizer)
    : optimizer_(optimizer), base_lrs_(lrs_of(optimizer)), last_lrs_(base_lrs_) {}

void LRScheduler::apply_lrs() {
  for (int g = 0; g < optimizer_.num_groups(); ++g) optimizer_.set_lr(g, compute_lr(g, optimizer_.lr(g)));
  last_lrs_ = lrs_of(optimizer_);
}

void LRScheduler::step() {
  ++last_epoch_;
  apply_lrs();
}

void LRScheduler::step(double) {
  RECUR_FAIL(name() << ".step: this schedule takes no metric; call step() (only ReduceLROnPlateau takes one)");
}

TensorMap LRScheduler::state_dict() const {
  return {{"last_epoch", scalar_tensor(static_cast<double>(last_epoch_), DType::Int64)},
          {"base_lrs", from_vector(base_lrs_)},
          {"last_lrs", from_vector(last_lrs_)}};
}

void LRScheduler::load_state_dict(const TensorMap& state) {
  StateReader reader{state, {}, {}};
  const std::int64_t groups = static_cast<std::int64_t>(base_lrs_.size());
  const Tensor* epoch = reader.get("last_epoch", true);
  const Tensor* base = reader.get("base_lrs", false, groups);
  const Tensor* last = reader.get("last_lrs", false, groups);
  reader.finish(name());
  last_epoch_ = static_cast<std::int64_t>(epoch->item());
  base_lrs_ = base->to_vector<double>();
  last_lrs_ = last->to_vector<double>();
}

// ---- the epoch-driven schedules

ConstantLR::ConstantLR(Optimizer& optimizer, double factor, std::int64_t total_iters)
    : LRScheduler(optimizer), factor_(factor), total_iters_(total_iters) {
  RECUR_CHECK(factor > 0 && factor <= 1, "ConstantLR: factor must be in (0, 1], got " << factor);
  RECUR_CHECK(total_iters >= 0, "ConstantLR: total_iters must be >= 0, got " << total_iters);
  apply_lrs();
}

// PyTorch's chainable form: scale down at epoch 0, scale back up at total_iters.
double ConstantLR::compute_lr(int, double current_lr) const {
  if (last_epoch_ == 0) return current_lr * factor_;
  if (last_epoch_ == total_iters_) return current_lr * (1.0 / factor_);
  return current_lr;
}

StepLR::StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma)
    : LRScheduler(optimizer), step_size_(step_size), gamma_(gamma) {
  RECUR_CHECK(step_size >= 1, "StepLR: step_size must be >= 1, got " << step_size);
  apply_lrs();
}

double StepLR::compute_lr(int, double current_lr) const {
  if (last_epoch_ == 0 || last_epoch_ % step_size_ != 0) return current_lr;
  return current_lr * gamma_;
}

MultiStepLR::MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma)
    : LRScheduler(optimizer), milestones_(std::move(milestones)), gamma_(gamma) {
  for (std::int64_t m : milestones_) RECUR_CHECK(m >= 0, "MultiStepLR: milestones must be >= 0, got " << m);
  std::sort(milestones_.begin(), milestones_.end());
  apply_lrs();
}

double MultiStepLR::compute_lr(int, double current_lr) const {
  auto hits = std::count(milestones_.begin(), milestones_.end(), last_epoch_);
  if (hits == 0) return current_lr;
  return current_lr * std::pow(gamma_, static_cast<double>(hits));
}

ExponentialLR::ExponentialLR(Optimizer& optimizer, double gamma) : LRScheduler(optimizer), gamma_(gamma) {
  apply_lrs();
}

double ExponentialLR::compute_lr(int, double current_lr) const {
  return last_epoch_ == 0 ? current_lr : current_lr * gamma_;
}

InvLR::InvLR(Optimizer& optimizer, double gamma, double power) : LRScheduler(optimizer), gamma_(gamma), power_(power) {
  RECUR_CHECK(gamma >= 0 && power >= 0, "InvLR: gamma and power must be >= 0, got gamma " << gamma << " and power "
                                                                                         << power);
  apply_lrs();
}

double InvLR::compute_lr(int group, double) const {
  return base_lrs_[group] * std::pow(1 + gamma_ * static_cast<double>(last_epoch_), -power_);
}

PolyLR::PolyLR(Optimizer& optimizer, std::int64_t max_iter, double power)
    : LRScheduler(optimizer), max_iter_(max_iter), power_(power) {
  RECUR_CHECK(max_iter >= 1, "PolyLR: max_iter must be >= 1, got " << max_iter);
  RECUR_CHECK(power >= 0, "PolyLR: power must be >= 0, got " << power);
  apply_lrs();
}

double PolyLR::compute_lr(int group, double) const {
  const double iter = static_cast<double>(std::min(last_epoch_, max_iter_));
  return base_lrs_[group] * std::pow(1 - iter / static_cast<double>(max_iter_), power_);
}

CosineWithWarmup::CosineWithWarmup(Optimizer& optimizer, std::int64_t warmup_steps, std::int64_t total_steps,
                                   double min_lr, double start_factor)
    : LRScheduler(optimizer),
      warmup_steps_(warmup_steps),
      total_steps_(total_steps),
      min_lr_(min_lr),
      start_factor_(start_factor) {
  RECUR_CHECK(total_steps >= 1 && warmup_steps >= 0 && warmup_steps <= total_steps,
              "CosineWithWarmup: requires 0 <= warmup_steps <= total_steps and total_steps >= 1, got warmup_steps "
                  << warmup_steps << " and total_steps " << total_steps);
  RECUR_CHECK(min_lr >= 0, "CosineWithWarmup: min_lr must be >= 0, got " << min_lr);
  RECUR_CHECK(start_factor >= 0 && start_factor <= 1,
              "CosineWithWarmup: start_factor must be in [0, 1], got " << start_factor);
  apply_lrs();
}

double CosineWithWarmup::compute_lr(int group, double) const {
  const double base = base_lrs_[group], t = static_cast<double>(last_epoch_);
  if (last_epoch_ < warmup_steps_)
    return base * (start_factor_ + (1 - start_factor_) * t / static_cast<double>(warmup_steps_));
  if (last_epoch_ >= total_steps_) return min_lr_;
  const double progress =
      (t - static_cast<double>(warmup_steps_)) / static_cast<double>(total_steps_ - warmup_steps_);
  // (x * 0.5) * y and x * (0.5 * y) round alike (halving is exact), so the shared factor
  // leaves the lrs as they were.
  return min_lr_ + (base - min_lr_) * cosine_factor(progress);
}

// ---- ReduceLROnPlateau

ReduceLROnPlateau::ReduceLROnPlateau(Optimizer& optimizer, const PlateauOptions& options)
    : LRScheduler(optimizer), options_(options) {
  const PlateauOptions& o = options_;
  RECUR_CHECK(o.factor >= 0 && o.factor < 1, "ReduceLROnPlateau: factor must be in [0, 1), got " << o.factor);
  RECUR_CHECK(o.patience >= 0, "ReduceLROnPlateau: patience must be >= 0, got " << o.patience);
  RECUR_CHECK(o.cooldown >= 0, "ReduceLROnPlateau: cooldown must be >= 0, got " << o.cooldown);
  RECUR_CHECK(o.threshold >= 0, "ReduceLROnPlateau: threshold must be >= 0, got " << o.threshold);
  RECUR_CHECK(o.min_lr >= 0, "ReduceLROnPlateau: min_lr must be >= 0, got " << o.min_lr);
  RECUR_CHECK(o.eps >= 0, "ReduceLROnPlateau: eps must be >= 0, got " << o.eps);
  best_ = o.mode == PlateauOptions::Mode::Min ? std::numeric_limits<double>::infinity()
                                              : -std::numeric_limits<double>::infinity();
}

void ReduceLROnPlateau::step() {
  RECUR_FAIL("ReduceLROnPlateau.step: needs the monitored metric; call step(metric)");
}

bool ReduceLROnPlateau::is_better(double metric) const {
  const bool rel = options_.threshold_mode == PlateauOptions::ThresholdMode::Rel;
  if (options_.mode == PlateauOptions::Mode::Min)
    return rel ? metric < best_ * (1 - options_.threshold) : metric < best_ - options_.threshold;
  return rel ? metric > best_ * (options_.threshold + 1) : metric > best_ + options_.threshold;
}

void ReduceLROnPlateau::step(double metric) {
  ++last_epoch_;
  if (is_better(metric)) {
    best_ = metric;
    num_bad_epochs_ = 0;
  } else {
    ++num_bad_epochs_;
  }
  if (cooldown_counter_ > 0) {
    --cooldown_counter_;
    num_bad_epochs_ = 0;  // bad epochs in cooldown do not count
  }
  if (num_bad_epochs_ > options_.patience) {
    for (int g = 0; g < optimizer_.num_groups(); ++g) {
      const double old_lr = optimizer_.lr(g);
      const double new_lr = std::max(old_lr * options_.factor, options_.min_lr);
      if (old_lr - new_lr > options_.eps) optimizer_.set_lr(g, new_lr);
    }
    cooldown_counter_ = options_.cooldown;
    num_bad_epochs_ = 0;
  }
  last_lrs_ = lrs_of(optimizer_);
}

TensorMap ReduceLROnPlateau::state_dict() const {
  TensorMap state = LRScheduler::state_dict();
  state["best"] = scalar_tensor(best_, DType::Float64);
  state["num_bad_epochs"] = scalar_tensor(static_cast<double>(num_bad_epochs_), DType::Int64);
  state["cooldown_counter"] = scalar_tensor(static_cast<double>(cooldown_counter_), DType::Int64);
  return state;
}

void ReduceLROnPlateau::load_state_dict(const TensorMap& state) {
  StateReader reader{state, {}, {}};
  const std::int64_t groups = static_cast<std::int64_t>(base_lrs_.size());
  const Tensor* epoch = reader.get("last_epoch", true);
  const Tensor* base = reader.get("base_lrs", false, groups);
  const Tensor* last = reader.get("last_lrs", false, groups);
  const Tensor* best = reader.get("best", true);
  const Tensor* bad = reader.get("num_bad_epochs", true);
  const Tensor* cooldown = reader.get("cooldown_counter", true);
  reader.finish(name());
  last_epoch_ = static_cast<std::int64_t>(epoch->item());
  base_lrs_ = base->to_vector<double>();
  last_lrs_ = last->to_vector<double>();
  best_ = best->item();
  num_bad_epochs_ = static_cast<std::int64_t>(bad->item());
  cooldown_counter_ = static_cast<std::int64_t>(cooldown->item());
}

}  // namespace recur::optim
