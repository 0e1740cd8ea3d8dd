// Adagrad, as torch.optim.Adagrad in PyTorch 1.13:
//   g = g + weight_decay p
//   sum = sum + g g                    (sum starts at initial_accumulator_value)
//   p = p - clr g / (sqrt(sum) + eps),  clr = lr / (1 + (step - 1) lr_decay)
//
// min-char-rnn's AdaGrad (mem += dparam²; param += -lr dparam / sqrt(mem + 1e-8)) is the
// same rule with eps inside the square root: Adagrad(params, {.lr = 0.1, .eps = 1e-8,
// .eps_inside_sqrt = true}) reproduces it exactly.
#pragma once

#include <vector>

#include "recur/optim/optimizer.hpp"

namespace recur::optim {

struct AdagradOptions {
  double lr = 0.01;
  double lr_decay = 0;
  double weight_decay = 0;
  double initial_accumulator_value = 0;
  double eps = 1e-10;
  bool eps_inside_sqrt = false;  // sqrt(sum + eps) (min-char-rnn) instead of sqrt(sum) + eps (PyTorch)
};

// State per parameter: step, sum (made at construction, as PyTorch does).
class Adagrad final : public Optimizer {
 public:
  struct Group {
    std::vector<Tensor> params;
    AdagradOptions options;
  };
  // Requires every option >= 0.
  explicit Adagrad(const std::vector<Tensor>& params, const AdagradOptions& options = {});
  explicit Adagrad(const std::vector<Group>& groups);

  const char* name() const override { return "Adagrad"; }
  AdagradOptions& options(int group);

 protected:
  void update(int group, const Tensor& param, const Tensor& grad, ParamState& state) override;
  std::vector<const char*> buffer_names(int group) const override;
  std::vector<OptionField> option_fields(int group) override;
  void check_options(int group) const override;

 private:
  std::vector<AdagradOptions> options_;
};

}  // namespace recur::optim
