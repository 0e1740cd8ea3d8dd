#include "recur/optim/schedule.hpp"

#include <algorithm>
#include <cmath>
#include <numbers>

#include "recur/core/error.hpp"

namespace recur::optim {

Decay decay_from_name(const std::string& name) {
  if (name == "constant") return Decay::Constant;
  if (name == "cosine") return Decay::Cosine;
  if (name == "linear") return Decay::Linear;
  RECUR_FAIL("unknown learning-rate schedule '" << name << "' (constant, cosine or linear)");
}

double cosine_factor(double progress) { return 0.5 * (1 + std::cos(std::numbers::pi * progress)); }

double step_lr(const StepSchedule& s, std::int64_t step, std::int64_t epoch) {
  double lr = s.lr;
  if (step < s.warmup) lr *= static_cast<double>(step + 1) / static_cast<double>(s.warmup);
  if (s.decay != Decay::Constant && s.total_steps > s.warmup && step >= s.warmup) {
    const double progress = std::clamp(
        static_cast<double>(step - s.warmup) / static_cast<double>(s.total_steps - s.warmup), 0.0, 1.0);
    lr *= s.decay == Decay::Cosine ? cosine_factor(progress) : 1 - progress;
  }
  if (s.epoch_decay != 1 && epoch >= s.decay_after)
    lr *= std::pow(s.epoch_decay, static_cast<double>(epoch - s.decay_after + 1));
  return lr;
}

}  // namespace recur::optim
