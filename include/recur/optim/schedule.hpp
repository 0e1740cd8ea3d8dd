// Learning-rate schedules as pure functions of the position in training, for loops that
// set the lr themselves each step (recur train): a resumed run recomputes the lr from its
// step and epoch, so there is no schedule state to save. The stateful LRScheduler classes
// (lr_scheduler.hpp) suit loops that call step() instead.
#pragma once

#include <cstdint>
#include <string>

namespace recur::optim {

enum class Decay { Constant, Cosine, Linear };

// 0.5 (1 + cos(pi progress)): 1 at progress 0, 0 at 1. The cosine both step_lr and
// CosineWithWarmup follow.
double cosine_factor(double progress);

// "constant", "cosine", "linear"; anything else is an Error naming it.
Decay decay_from_name(const std::string& name);

struct StepSchedule {
  double lr = 1e-3;
  std::int64_t warmup = 0;       // steps of linear warm-up
  Decay decay = Decay::Constant;
  std::int64_t total_steps = 0;  // where cosine and linear reach 0; ignored when <= warmup
  double epoch_decay = 1;        // char-rnn's: times epoch_decay^(epoch - decay_after + 1)...
  std::int64_t decay_after = 10; // ...from epoch decay_after (0-based) on
};

// The learning rate of step `step` (0-based) in epoch `epoch` (0-based):
//   lr * (step + 1) / warmup for the first `warmup` steps;
//   then times 0.5 (1 + cos(pi p)) (cosine) or 1 - p (linear), p = (step - warmup) /
//   (total_steps - warmup) clamped to [0, 1];
//   and times epoch_decay^max(0, epoch - decay_after + 1).
// Requires step >= 0, epoch >= 0.
double step_lr(const StepSchedule& schedule, std::int64_t step, std::int64_t epoch);

}  // namespace recur::optim
