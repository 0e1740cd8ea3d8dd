#include "recur/optim/adagrad.hpp"

#include "optim/group_params.hpp"
#include "recur/ops.hpp"

namespace recur::optim {

Adagrad::Adagrad(const std::vector<Tensor>& params, const AdagradOptions& options)
    : Adagrad(std::vector<Group>{{params, options}}) {}

Adagrad::Adagrad(const std::vector<Group>& groups) : Optimizer(group_params(groups), 1) {
  for (const Group& g : groups) options_.push_back(g.options);
  for (int g = 0; g < num_groups(); ++g) check_options(g);
  // PyTorch makes the sums at construction, so they are in the state_dict before any step.
  for (int g = 0; g < num_groups(); ++g)
    for (int i = group_begin(g); i < group_begin(g) + group_size(g); ++i)
      state(i).buffers[0] = full(parameters()[i].shape(), options_[g].initial_accumulator_value,
                                 parameters()[i].dtype(), parameters()[i].device());
}

AdagradOptions& Adagrad::options(int group) {
  check_group(group, "options");
  return options_[group];
}

void Adagrad::check_options(int group) const {
  const AdagradOptions& o = options_[group];
  check_non_negative("Adagrad", group, "lr", o.lr);
  check_non_negative("Adagrad", group, "lr_decay", o.lr_decay);
  check_non_negative("Adagrad", group, "weight_decay", o.weight_decay);
  check_non_negative("Adagrad", group, "initial_accumulator_value", o.initial_accumulator_value);
  check_non_negative("Adagrad", group, "eps", o.eps);
}

std::vector<const char*> Adagrad::buffer_names(int) const { return {"sum"}; }

std::vector<Optimizer::OptionField> Adagrad::option_fields(int group) {
  AdagradOptions& o = options_[group];
  return {{"lr", &o.lr},
          {"lr_decay", &o.lr_decay},
          {"weight_decay", &o.weight_decay},
          {"initial_accumulator_value", &o.initial_accumulator_value},
          {"eps", &o.eps},
          {"eps_inside_sqrt", nullptr, &o.eps_inside_sqrt}};
}

void Adagrad::update(int group, const Tensor& param, const Tensor& grad, ParamState& state) {
  const AdagradOptions& o = options_[group];
  Tensor& sum = state.buffers[0];
  if (!sum.defined()) sum = full(param.shape(), o.initial_accumulator_value, param.dtype(), param.device());
  AdagradUpdate u;
  u.lr = o.lr;
  u.lr_decay = o.lr_decay;
  u.weight_decay = o.weight_decay;
  u.eps = o.eps;
  u.eps_inside_sqrt = o.eps_inside_sqrt;
  u.step = state.step;
  adagrad_update_(param, grad, sum, u);
}

}  // namespace recur::optim
