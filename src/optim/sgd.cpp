#include "optim/option_checks.hpp"
#include "recur/ops.hpp"
#include "recur/optim/sgd.hpp"

namespace recur::optim {

std::vector<OptionField> SGDOptions::fields() {
  return {{"lr", &lr}, {"momentum", &momentum}, {"dampening", &dampening}, {"weight_decay", &weight_decay},
          {"nesterov", nullptr, &nesterov}};
}

std::vector<const char*> SGDOptions::buffers() const { return {momentum != 0 ? "momentum_buffer" : nullptr}; }

void SGDOptions::check(int group) const {
  RECUR_CHECK(!std::isnan(lr), "SGD: group " << group << ": lr is required (SGDOptions::lr was not set)");
  check_non_negative("SGD", group, "lr", lr);
  check_non_negative("SGD", group, "momentum", momentum);
  RECUR_CHECK(std::isfinite(dampening), "SGD: group " << group << ": dampening must be finite, got " << dampening);
  check_non_negative("SGD", group, "weight_decay", weight_decay);
  RECUR_CHECK(!nesterov || (momentum > 0 && dampening == 0),
              "SGD: group " << group << ": Nesterov momentum requires momentum > 0 and zero dampening, got momentum "
                            << momentum << " and dampening " << dampening);
}

void SGDOptions::update(const Tensor& param, const Tensor& grad, ParamBuffers& buffers, std::int64_t) const {
  Tensor& buffer = buffers[0];
  // As PyTorch: the buffer is born as a copy of the (weight-decayed) gradient.
  const bool first_step = momentum != 0 && !buffer.defined();
  if (first_step) buffer = empty(param.shape(), param.dtype(), param.device());
  sgd_update_(param, grad, buffer, *this, first_step);
}

}  // namespace recur::optim
