// Adam and AdamW: one update rule (recur::adam_update_), two option sets.
#include "recur/optim/adam.hpp"

#include "optim/group_params.hpp"
#include "recur/ops.hpp"

namespace recur::optim {
namespace {

enum Slot { kExpAvg, kExpAvgSq, kMaxExpAvgSq, kNumSlots };

// Adam's and AdamW's options have the same fields; these take them one by one.
void check_adam_options(const char* name, int group, double lr, std::pair<double, double> betas, double eps,
                        double weight_decay) {
  check_non_negative(name, group, "lr", lr);
  check_non_negative(name, group, "eps", eps);
  check_non_negative(name, group, "weight_decay", weight_decay);
  RECUR_CHECK(betas.first >= 0 && betas.first < 1,
              name << ": group " << group << ": beta1 must be in [0, 1), got " << betas.first);
  RECUR_CHECK(betas.second >= 0 && betas.second < 1,
              name << ": group " << group << ": beta2 must be in [0, 1), got " << betas.second);
}

std::vector<const char*> adam_buffer_names(bool amsgrad) {
  return {"exp_avg", "exp_avg_sq", amsgrad ? "max_exp_avg_sq" : nullptr};
}

void adam_like_update(const Tensor& param, const Tensor& grad, std::vector<Tensor>& buffers, std::int64_t step,
                      double lr, std::pair<double, double> betas, double eps, double weight_decay, bool amsgrad,
                      bool decoupled) {
  for (int k = 0; k < kNumSlots; ++k)
    if ((k != kMaxExpAvgSq || amsgrad) && !buffers[k].defined()) buffers[k] = zeros_like(param);
  AdamUpdate u;
  u.lr = lr;
  u.beta1 = betas.first;
  u.beta2 = betas.second;
  u.eps = eps;
  u.weight_decay = weight_decay;
  u.decoupled_weight_decay = decoupled;
  u.amsgrad = amsgrad;
  u.step = step;
  adam_update_(param, grad, buffers[kExpAvg], buffers[kExpAvgSq], buffers[kMaxExpAvgSq], u);
}

}  // namespace

// ---- Adam

Adam::Adam(const std::vector<Tensor>& params, const AdamOptions& options) : Adam(std::vector<Group>{{params, options}}) {}

Adam::Adam(const std::vector<Group>& groups) : Optimizer(group_params(groups), kNumSlots) {
  for (const Group& g : groups) options_.push_back(g.options);
  for (int g = 0; g < num_groups(); ++g) check_options(g);
}

AdamOptions& Adam::options(int group) {
  check_group(group, "options");
  return options_[group];
}

void Adam::check_options(int group) const {
  const AdamOptions& o = options_[group];
  check_adam_options("Adam", group, o.lr, o.betas, o.eps, o.weight_decay);
}

std::vector<const char*> Adam::buffer_names(int group) const { return adam_buffer_names(options_[group].amsgrad); }

std::vector<Optimizer::OptionField> Adam::option_fields(int group) {
  AdamOptions& o = options_[group];
  return {{"lr", &o.lr},         {"beta1", &o.betas.first},         {"beta2", &o.betas.second},
          {"eps", &o.eps},       {"weight_decay", &o.weight_decay}, {"amsgrad", nullptr, &o.amsgrad}};
}

void Adam::update(int group, const Tensor& param, const Tensor& grad, ParamState& state) {
  const AdamOptions& o = options_[group];
  adam_like_update(param, grad, state.buffers, state.step, o.lr, o.betas, o.eps, o.weight_decay, o.amsgrad, false);
}

// ---- AdamW

AdamW::AdamW(const std::vector<Tensor>& params, const AdamWOptions& options)
    : AdamW(std::vector<Group>{{params, options}}) {}

AdamW::AdamW(const std::vector<Group>& groups) : Optimizer(group_params(groups), kNumSlots) {
  for (const Group& g : groups) options_.push_back(g.options);
  for (int g = 0; g < num_groups(); ++g) check_options(g);
}

AdamWOptions& AdamW::options(int group) {
  check_group(group, "options");
  return options_[group];
}

void AdamW::check_options(int group) const {
  const AdamWOptions& o = options_[group];
  check_adam_options("AdamW", group, o.lr, o.betas, o.eps, o.weight_decay);
}

std::vector<const char*> AdamW::buffer_names(int group) const { return adam_buffer_names(options_[group].amsgrad); }

std::vector<Optimizer::OptionField> AdamW::option_fields(int group) {
  AdamWOptions& o = options_[group];
  return {{"lr", &o.lr},         {"beta1", &o.betas.first},         {"beta2", &o.betas.second},
          {"eps", &o.eps},       {"weight_decay", &o.weight_decay}, {"amsgrad", nullptr, &o.amsgrad}};
}

void AdamW::update(int group, const Tensor& param, const Tensor& grad, ParamState& state) {
  const AdamWOptions& o = options_[group];
  adam_like_update(param, grad, state.buffers, state.step, o.lr, o.betas, o.eps, o.weight_decay, o.amsgrad, true);
}

}  // namespace recur::optim
