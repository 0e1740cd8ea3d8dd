// RMSprop, as torch.optim.RMSprop in PyTorch 1.13:
//   g = g + weight_decay p
//   v = alpha v + (1 - alpha) g g
//   r = sqrt(v - a a) + eps with a = alpha a + (1 - alpha) g (centered),  else r = sqrt(v) + eps
//   b = momentum b + g / r;  p = p - lr b  (momentum > 0),  else p = p - lr g / r
#pragma once

#include <vector>

#include "recur/optim/optimizer.hpp"

namespace recur::optim {

struct RMSpropOptions {
  double lr = 0.01;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;
};

// State per parameter: step, square_avg, momentum_buffer (momentum > 0), grad_avg (centered).
class RMSprop final : public Optimizer {
 public:
  struct Group {
    std::vector<Tensor> params;
    RMSpropOptions options;
  };
  // Requires every option >= 0.
  explicit RMSprop(const std::vector<Tensor>& params, const RMSpropOptions& options = {});
  explicit RMSprop(const std::vector<Group>& groups);

  const char* name() const override { return "RMSprop"; }
  RMSpropOptions& options(int group);

 protected:
  void update(int group, const Tensor& param, const Tensor& grad, ParamState& state) override;
  std::vector<const char*> buffer_names(int group) const override;
  std::vector<OptionField> option_fields(int group) override;
  void check_options(int group) const override;

 private:
  std::vector<RMSpropOptions> options_;
};

}  // namespace recur::optim
