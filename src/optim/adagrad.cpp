#include "optim/option_checks.hpp"
#include "recur/ops.hpp"
#include "recur/optim/adagrad.hpp"

namespace recur::optim {

std::vector<OptionField> AdagradOptions::fields() {
  return {{"lr", &lr}, {"lr_decay", &lr_decay}, {"weight_decay", &weight_decay},
          {"initial_accumulator_value", &initial_accumulator_value}, {"eps", &eps},
          {"eps_inside_sqrt", nullptr, &eps_inside_sqrt}};
}

std::vector<const char*> AdagradOptions::buffers() const { return {"sum"}; }

void AdagradOptions::check(int group) const {
  check_non_negative(kName, group,
                     {{"lr", lr}, {"lr_decay", lr_decay}, {"weight_decay", weight_decay},
                      {"initial_accumulator_value", initial_accumulator_value}, {"eps", eps}});
}

// PyTorch makes the sums at construction, so they are in the state_dict before any step.
void AdagradOptions::init(const Tensor& param, ParamBuffers& buffers) const {
  buffers[0] = full(param.shape(), initial_accumulator_value, param.dtype(), param.device());
}

void AdagradOptions::update(const Tensor& param, const Tensor& grad, ParamBuffers& buffers, std::int64_t step) const {
  if (!buffers[0].defined()) init(param, buffers);
  adagrad_update_(param, grad, buffers[0], *this, step);
}

}  // namespace recur::optim
