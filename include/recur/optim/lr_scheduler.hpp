// Learning-rate schedules: each sets the lr of every group of an Optimizer, once per
// step(), which the training loop calls once per epoch or once per iteration, as it
// chooses (after optimizer.step(), as in PyTorch). The schedule counts its own steps.
//
// As in PyTorch, a schedule applies its epoch-0 learning rate when constructed, and the
// base learning rate of each group is the group's lr at that moment. Schedules PyTorch
// also has (ConstantLR, StepLR, MultiStepLR, ExponentialLR, ReduceLROnPlateau) reproduce
// its lr sequences exactly; the multiplicative ones update the current lr (PyTorch's
// "chainable" form), so they compose with other changes to the lr. InvLR and PolyLR are
// Caffe's, CosineWithWarmup the usual transformer schedule; these three are closed forms
// of the base lr and the step count.
#pragma once

#include <cstdint>
#include <vector>

#include "recur/core/tensor.hpp"
#include "recur/optim/optimizer.hpp"

namespace recur::optim {

class LRScheduler {
 public:
  virtual ~LRScheduler() = default;
  LRScheduler(const LRScheduler&) = delete;
  LRScheduler& operator=(const LRScheduler&) = delete;

  virtual const char* name() const = 0;

  // Advances one epoch or iteration and sets the optimizer's learning rates.
  virtual void step();
  // ReduceLROnPlateau's step, with the monitored metric; the other schedules throw.
  virtual void step(double metric);

  // The learning rate of each group as last set by this schedule.
  const std::vector<double>& get_last_lr() const { return last_lrs_; }
  const std::vector<double>& base_lrs() const { return base_lrs_; }
  // Steps taken since construction (0 right after it).
  std::int64_t last_epoch() const { return last_epoch_; }

  // The schedule's progress: last_epoch (int64 []), base_lrs and last_lrs (float64
  // [groups]), plus what a schedule adds (ReduceLROnPlateau: best, num_bad_epochs,
  // cooldown_counter). Hyper-parameters are not saved: construct the schedule with the
  // same arguments, then load. The lrs themselves live in the optimizer's state_dict.
  virtual TensorMap state_dict() const;
  // Requires a state_dict of a schedule of the same kind over as many groups; a missing,
  // unexpected or wrongly shaped entry is an Error listing every problem.
  virtual void load_state_dict(const TensorMap& state);

 protected:
  // Records the optimizer and its current lrs as the base lrs.
  explicit LRScheduler(Optimizer& optimizer);
  // The lr of `group` for epoch last_epoch_ (already advanced), given its current lr.
  virtual double compute_lr(int group, double current_lr) const = 0;
  // Sets every group's lr from compute_lr for the current last_epoch_.
  void apply_lrs();

  Optimizer& optimizer_;
  std::vector<double> base_lrs_;
  std::vector<double> last_lrs_;
  std::int64_t last_epoch_ = 0;
};

// PyTorch's ConstantLR: lr = base_lr factor for epochs below total_iters, then base_lr
// (with total_iters 0, base_lr factor throughout, as in PyTorch). The defaults (factor 1,
// total_iters 0) keep the lr constant: Caffe's "fixed" policy. PyTorch's defaults are
// factor 1/3, total_iters 5. Requires 0 < factor <= 1 and total_iters >= 0.
class ConstantLR final : public LRScheduler {
 public:
  explicit ConstantLR(Optimizer& optimizer, double factor = 1, std::int64_t total_iters = 0);
  const char* name() const override { return "ConstantLR"; }

 protected:
  double compute_lr(int group, double current_lr) const override;

 private:
  double factor_;
  std::int64_t total_iters_;
};

// lr = base_lr gamma^(epoch / step_size) (integer division). Requires step_size >= 1.
class StepLR final : public LRScheduler {
 public:
  StepLR(Optimizer& optimizer, std::int64_t step_size, double gamma = 0.1);
  const char* name() const override { return "StepLR"; }

 protected:
  double compute_lr(int group, double current_lr) const override;

 private:
  std::int64_t step_size_;
  double gamma_;
};

// lr = base_lr gamma^(number of milestones <= epoch); a milestone given twice counts twice.
// Requires milestones >= 0.
class MultiStepLR final : public LRScheduler {
 public:
  MultiStepLR(Optimizer& optimizer, std::vector<std::int64_t> milestones, double gamma = 0.1);
  const char* name() const override { return "MultiStepLR"; }

 protected:
  double compute_lr(int group, double current_lr) const override;

 private:
  std::vector<std::int64_t> milestones_;  // sorted
  double gamma_;
};

// lr = base_lr gamma^epoch.
class ExponentialLR final : public LRScheduler {
 public:
  ExponentialLR(Optimizer& optimizer, double gamma);
  const char* name() const override { return "ExponentialLR"; }

 protected:
  double compute_lr(int group, double current_lr) const override;

 private:
  double gamma_;
};

// Caffe's "inv": lr = base_lr (1 + gamma iter)^(-power). Requires gamma >= 0, power >= 0.
class InvLR final : public LRScheduler {
 public:
  InvLR(Optimizer& optimizer, double gamma, double power);
  const char* name() const override { return "InvLR"; }

 protected:
  double compute_lr(int group, double current_lr) const override;

 private:
  double gamma_, power_;
};

// Caffe's "poly": lr = base_lr (1 - iter / max_iter)^power, and 0 from max_iter on
// (PyTorch's PolynomialLR, in closed form). Requires max_iter >= 1, power >= 0.
class PolyLR final : public LRScheduler {
 public:
  PolyLR(Optimizer& optimizer, std::int64_t max_iter, double power = 1);
  const char* name() const override { return "PolyLR"; }

 protected:
  double compute_lr(int group, double current_lr) const override;

 private:
  std::int64_t max_iter_;
  double power_;
};

// Linear warm-up, then cosine decay:
//   t < warmup_steps:           lr = base_lr (start_factor + (1 - start_factor) t / warmup_steps)
//   warmup_steps <= t < total:  lr = min_lr + (base_lr - min_lr) (1 + cos(pi p)) / 2,
//                               p = (t - warmup_steps) / (total_steps - warmup_steps)
//   t >= total_steps:           lr = min_lr
// With start_factor 0 and min_lr 0 this is transformers' get_cosine_schedule_with_warmup.
// Requires 0 <= warmup_steps <= total_steps, total_steps >= 1, min_lr >= 0,
// 0 <= start_factor <= 1.
class CosineWithWarmup final : public LRScheduler {
 public:
  CosineWithWarmup(Optimizer& optimizer, std::int64_t warmup_steps, std::int64_t total_steps, double min_lr = 0,
                   double start_factor = 0);
  const char* name() const override { return "CosineWithWarmup"; }

 protected:
  double compute_lr(int group, double current_lr) const override;

 private:
  std::int64_t warmup_steps_, total_steps_;
  double min_lr_, start_factor_;
};

// PyTorch's ReduceLROnPlateau: step(metric) once per epoch with the monitored value; when
// it has not improved for more than `patience` epochs, every group's lr becomes
// max(lr factor, min_lr) (a change smaller than eps is skipped), then `cooldown` epochs
// pass before bad epochs count again. Improvement means, for mode Min,
// metric < best (1 - threshold) (Rel) or metric < best - threshold (Abs); for Max,
// metric > best (1 + threshold) or metric > best + threshold.
struct PlateauOptions {
  enum class Mode { Min, Max };
  enum class ThresholdMode { Rel, Abs };
  Mode mode = Mode::Min;
  double factor = 0.1;  // requires 0 <= factor < 1
  std::int64_t patience = 10;
  double threshold = 1e-4;
  ThresholdMode threshold_mode = ThresholdMode::Rel;
  std::int64_t cooldown = 0;
  double min_lr = 0;
  double eps = 1e-8;
};

class ReduceLROnPlateau final : public LRScheduler {
 public:
  explicit ReduceLROnPlateau(Optimizer& optimizer, const PlateauOptions& options = {});
  const char* name() const override { return "ReduceLROnPlateau"; }

  void step() override;  // throws: this schedule needs the metric
  void step(double metric) override;

  double best() const { return best_; }
  std::int64_t num_bad_epochs() const { return num_bad_epochs_; }

  TensorMap state_dict() const override;
  void load_state_dict(const TensorMap& state) override;

 protected:
  double compute_lr(int, double current_lr) const override { return current_lr; }

 private:
  bool is_better(double metric) const;

  PlateauOptions options_;
  double best_;
  std::int64_t num_bad_epochs_ = 0;
  std::int64_t cooldown_counter_ = 0;
};

}  // namespace recur::optim
