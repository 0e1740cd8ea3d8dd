#include "recur/optim/rmsprop.hpp"

#include "optim/group_params.hpp"
#include "recur/ops.hpp"

namespace recur::optim {
namespace {
enum Slot { kSquareAvg, kMomentumBuffer, kGradAvg, kNumSlots };
}

RMSprop::RMSprop(const std::vector<Tensor>& params, const RMSpropOptions& options)
    : RMSprop(std::vector<Group>{{params, options}}) {}

RMSprop::RMSprop(const std::vector<Group>& groups) : Optimizer(group_params(groups), kNumSlots) {
  for (const Group& g : groups) options_.push_back(g.options);
  for (int g = 0; g < num_groups(); ++g) check_options(g);
}

RMSpropOptions& RMSprop::options(int group) {
  check_group(group, "options");
  return options_[group];
}

void RMSprop::check_options(int group) const {
  const RMSpropOptions& o = options_[group];
  check_non_negative("RMSprop", group, "lr", o.lr);
  check_non_negative("RMSprop", group, "alpha", o.alpha);
  check_non_negative("RMSprop", group, "eps", o.eps);
  check_non_negative("RMSprop", group, "weight_decay", o.weight_decay);
  check_non_negative("RMSprop", group, "momentum", o.momentum);
}

std::vector<const char*> RMSprop::buffer_names(int group) const {
  const RMSpropOptions& o = options_[group];
  return {"square_avg", o.momentum > 0 ? "momentum_buffer" : nullptr, o.centered ? "grad_avg" : nullptr};
}

std::vector<Optimizer::OptionField> RMSprop::option_fields(int group) {
  RMSpropOptions& o = options_[group];
  return {{"lr", &o.lr},
          {"alpha", &o.alpha},
          {"eps", &o.eps},
          {"weight_decay", &o.weight_decay},
          {"momentum", &o.momentum},
          {"centered", nullptr, &o.centered}};
}

void RMSprop::update(int group, const Tensor& param, const Tensor& grad, ParamState& state) {
  const RMSpropOptions& o = options_[group];
  std::vector<Tensor>& b = state.buffers;
  if (!b[kSquareAvg].defined()) b[kSquareAvg] = zeros_like(param);
  if (o.momentum > 0 && !b[kMomentumBuffer].defined()) b[kMomentumBuffer] = zeros_like(param);
  if (o.centered && !b[kGradAvg].defined()) b[kGradAvg] = zeros_like(param);
  RmspropUpdate u;
  u.lr = o.lr;
  u.alpha = o.alpha;
  u.eps = o.eps;
  u.weight_decay = o.weight_decay;
  u.momentum = o.momentum;
  u.centered = o.centered;
  rmsprop_update_(param, grad, b[kSquareAvg], b[kGradAvg], b[kMomentumBuffer], u);
}

}  // namespace recur::optim
