// Adam and AdamW: one options template, one update rule (recur::adam_update_).
#include "recur/optim/adam.hpp"

#include "optim/option_checks.hpp"
#include "recur/ops.hpp"

namespace recur::optim {
namespace {
enum Slot { kExpAvg, kExpAvgSq, kMaxExpAvgSq, kNumSlots };
}

template <bool Decoupled>
std::vector<OptionField> BasicAdamOptions<Decoupled>::fields() {
  return {{"lr", &lr},   {"beta1", &betas.first},           {"beta2", &betas.second},
          {"eps", &eps}, {"weight_decay", &weight_decay}, {"amsgrad", nullptr, &amsgrad}};
}

template <bool Decoupled>
std::vector<const char*> BasicAdamOptions<Decoupled>::buffers() const {
  return {"exp_avg", "exp_avg_sq", amsgrad ? "max_exp_avg_sq" : nullptr};
}

template <bool Decoupled>
void BasicAdamOptions<Decoupled>::check(int group) const {
  check_non_negative(kName, group, {{"lr", lr}, {"eps", eps}, {"weight_decay", weight_decay}});
  RECUR_CHECK(betas.first >= 0 && betas.first < 1,
              kName << ": group " << group << ": beta1 must be in [0, 1), got " << betas.first);
  RECUR_CHECK(betas.second >= 0 && betas.second < 1,
              kName << ": group " << group << ": beta2 must be in [0, 1), got " << betas.second);
}

template <bool Decoupled>
void BasicAdamOptions<Decoupled>::update(const Tensor& param, const Tensor& grad, ParamBuffers& buffers,
                                         std::int64_t step) const {
  for (int k = 0; k < kNumSlots; ++k)
    if ((k != kMaxExpAvgSq || amsgrad) && !buffers[k].defined()) buffers[k] = zeros_like(param);
  adam_update_(param, grad, buffers[kExpAvg], buffers[kExpAvgSq], buffers[kMaxExpAvgSq], *this, step);
}

template struct BasicAdamOptions<false>;
template struct BasicAdamOptions<true>;

}  // namespace recur::optim
