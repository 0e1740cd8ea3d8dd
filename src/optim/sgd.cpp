#include "recur/optim/sgd.hpp"

#include "optim/group_params.hpp"
#include "recur/ops.hpp"

namespace recur::optim {

SGD::SGD(const std::vector<Tensor>& params, const SGDOptions& options) : SGD(std::vector<Group>{{params, options}}) {}

SGD::SGD(const std::vector<Group>& groups) : Optimizer(group_params(groups), 1) {
  for (const Group& g : groups) options_.push_back(g.options);
  for (int g = 0; g < num_groups(); ++g) check_options(g);
}

SGDOptions& SGD::options(int group) {
  check_group(group, "options");
  return options_[group];
}

void SGD::check_options(int group) const {
  const SGDOptions& o = options_[group];
  RECUR_CHECK(!std::isnan(o.lr), "SGD: group " << group << ": lr is required (SGDOptions::lr was not set)");
  check_non_negative("SGD", group, "lr", o.lr);
  check_non_negative("SGD", group, "momentum", o.momentum);
  RECUR_CHECK(std::isfinite(o.dampening), "SGD: group " << group << ": dampening must be finite, got " << o.dampening);
  check_non_negative("SGD", group, "weight_decay", o.weight_decay);
  RECUR_CHECK(!o.nesterov || (o.momentum > 0 && o.dampening == 0),
              "SGD: group " << group << ": Nesterov momentum requires momentum > 0 and zero dampening, got momentum "
                            << o.momentum << " and dampening " << o.dampening);
}

std::vector<const char*> SGD::buffer_names(int group) const {
  return {options_[group].momentum != 0 ? "momentum_buffer" : nullptr};
}

std::vector<Optimizer::OptionField> SGD::option_fields(int group) {
  SGDOptions& o = options_[group];
  return {{"lr", &o.lr},
          {"momentum", &o.momentum},
          {"dampening", &o.dampening},
          {"weight_decay", &o.weight_decay},
          {"nesterov", nullptr, &o.nesterov}};
}

void SGD::update(int group, const Tensor& param, const Tensor& grad, ParamState& state) {
  const SGDOptions& o = options_[group];
  Tensor& buffer = state.buffers[0];
  SgdUpdate u;
  u.lr = o.lr;
  u.momentum = o.momentum;
  u.dampening = o.dampening;
  u.weight_decay = o.weight_decay;
  u.nesterov = o.nesterov;
  // As PyTorch: the buffer is born as a copy of the (weight-decayed) gradient.
  u.first_step = o.momentum != 0 && !buffer.defined();
  if (u.first_step) buffer = empty(param.shape(), param.dtype(), param.device());
  sgd_update_(param, grad, buffer, u);
}

}  // namespace recur::optim
