#include "optim/option_checks.hpp"
#include "recur/ops.hpp"
#include "recur/optim/rmsprop.hpp"

namespace recur::optim {
namespace {
enum Slot { kSquareAvg, kMomentumBuffer, kGradAvg };
}

std::vector<OptionField> RMSpropOptions::fields() {
  return {{"lr", &lr}, {"alpha", &alpha}, {"eps", &eps}, {"weight_decay", &weight_decay}, {"momentum", &momentum},
          {"centered", nullptr, &centered}};
}

std::vector<const char*> RMSpropOptions::buffers() const {
  return {"square_avg", momentum > 0 ? "momentum_buffer" : nullptr, centered ? "grad_avg" : nullptr};
}

void RMSpropOptions::check(int group) const {
  check_non_negative(kName, group,
                     {{"lr", lr}, {"alpha", alpha}, {"eps", eps}, {"weight_decay", weight_decay}, {"momentum", momentum}});
}

void RMSpropOptions::update(const Tensor& param, const Tensor& grad, ParamBuffers& b, std::int64_t) const {
  if (!b[kSquareAvg].defined()) b[kSquareAvg] = zeros_like(param);
  if (momentum > 0 && !b[kMomentumBuffer].defined()) b[kMomentumBuffer] = zeros_like(param);
  if (centered && !b[kGradAvg].defined()) b[kGradAvg] = zeros_like(param);
  rmsprop_update_(param, grad, b[kSquareAvg], b[kGradAvg], b[kMomentumBuffer], *this);
}

}  // namespace recur::optim
