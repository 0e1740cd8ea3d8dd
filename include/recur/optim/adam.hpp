// Adam and AdamW, as torch.optim.Adam and torch.optim.AdamW in PyTorch 1.13:
//   Adam:  g = g + weight_decay p          AdamW: p = (1 - lr weight_decay) p
//   m = beta1 m + (1 - beta1) g
//   v = beta2 v + (1 - beta2) g g
//   vmax = max(vmax, v), used in place of v below (amsgrad)
//   p = p - lr / (1 - beta1^t) m / (sqrt(v) / sqrt(1 - beta2^t) + eps),  t = the parameter's step
#pragma once

#include <utility>
#include <vector>

#include "recur/optim/optimizer.hpp"

namespace recur::optim {

struct AdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 0;  // L2 penalty, added to the gradient
  bool amsgrad = false;
};

// The same options with AdamW's default decoupled weight decay.
struct AdamWOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = {0.9, 0.999};
  double eps = 1e-8;
  double weight_decay = 1e-2;  // decoupled: p *= 1 - lr weight_decay before the update
  bool amsgrad = false;
};

// State per parameter: step, exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad).
class Adam final : public Optimizer {
 public:
  struct Group {
    std::vector<Tensor> params;
    AdamOptions options;
  };
  // Requires lr, eps, weight_decay >= 0 and both betas in [0, 1).
  explicit Adam(const std::vector<Tensor>& params, const AdamOptions& options = {});
  explicit Adam(const std::vector<Group>& groups);

  const char* name() const override { return "Adam"; }
  AdamOptions& options(int group);

 protected:
  void update(int group, const Tensor& param, const Tensor& grad, ParamState& state) override;
  std::vector<const char*> buffer_names(int group) const override;
  std::vector<OptionField> option_fields(int group) override;
  void check_options(int group) const override;

 private:
  std::vector<AdamOptions> options_;
};

class AdamW final : public Optimizer {
 public:
  struct Group {
    std::vector<Tensor> params;
    AdamWOptions options;
  };
  // Requires lr, eps, weight_decay >= 0 and both betas in [0, 1).
  explicit AdamW(const std::vector<Tensor>& params, const AdamWOptions& options = {});
  explicit AdamW(const std::vector<Group>& groups);

  const char* name() const override { return "AdamW"; }
  AdamWOptions& options(int group);

 protected:
  void update(int group, const Tensor& param, const Tensor& grad, ParamState& state) override;
  std::vector<const char*> buffer_names(int group) const override;
  std::vector<OptionField> option_fields(int group) override;
  void check_options(int group) const override;

 private:
  std::vector<AdamWOptions> options_;
};

}  // namespace recur::optim
