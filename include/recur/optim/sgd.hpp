// SGD: stochastic gradient descent with optional momentum (heavy-ball or Nesterov),
// dampening and L2 weight decay, as torch.optim.SGD in PyTorch 1.13:
//   d = g + weight_decay p
//   b = d on a parameter's first step, then b = momentum b + (1 - dampening) d
//   d = d + momentum b (nesterov)  or  d = b  (when momentum != 0)
//   p = p - lr d
#pragma once

#include <limits>
#include <vector>

#include "recur/optim/optimizer.hpp"

namespace recur::optim {

struct SGDOptions {
  double lr = std::numeric_limits<double>::quiet_NaN();  // required, as in PyTorch
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;  // requires momentum > 0 and dampening == 0
};

// State per parameter: step, momentum_buffer (when momentum != 0, after the first step).
class SGD final : public Optimizer {
 public:
  struct Group {
    std::vector<Tensor> params;
    SGDOptions options;
  };
  // One group. Requires lr set and >= 0, momentum >= 0, weight_decay >= 0, and for
  // nesterov momentum > 0 with zero dampening.
  SGD(const std::vector<Tensor>& params, const SGDOptions& options);
  explicit SGD(const std::vector<Group>& groups);

  const char* name() const override { return "SGD"; }
  // A group's options; changes take effect at the next step().
  SGDOptions& options(int group);

 protected:
  void update(int group, const Tensor& param, const Tensor& grad, ParamState& state) override;
  std::vector<const char*> buffer_names(int group) const override;
  std::vector<OptionField> option_fields(int group) override;
  void check_options(int group) const override;

 private:
  std::vector<SGDOptions> options_;
};

}  // namespace recur::optim
