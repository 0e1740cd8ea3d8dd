// Optimizer: the base of recur's optimizers (SGD, Adagrad, RMSprop, Adam, AdamW).
//
// An optimizer holds parameter groups, each a list of parameters with its own options (its
// own learning rate, weight decay, ...), and per-parameter state (a step count and the
// running buffers of the algorithm). step() updates every parameter whose grad() is
// defined; parameters without a gradient (frozen, or not reached by backward) are skipped
// and their state does not advance, as in PyTorch. Updates follow PyTorch 1.13's
// single-tensor formulas, each done in one fused pass per parameter (recur::adam_update_
// and the other "optimizer updates" ops).
//
// Parameters are leaf tensors (float32 or float64), usually nn::Module::parameters().
// The optimizer holds handles to them (copying a Tensor aliases), so updates are seen by
// the module. An optimizer is neither copyable nor movable: schedulers refer to it.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "recur/core/tensor.hpp"
#include "recur/optim/options.hpp"

namespace recur::optim {

class Optimizer {
 public:
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // "SGD", "Adam", ...: names the optimizer in error messages.
  virtual const char* name() const = 0;

  // One update of every parameter whose gradient is defined, under NoGradGuard.
  // Requires: each such gradient has its parameter's shape, dtype and device.
  // State made before the parameter was moved or converted (nn::Module::to after some
  // steps) is moved or converted with it first, so an optimizer may be built before or
  // after the move.
  void step();

  // Clears the gradients before the next backward pass. set_to_none (the default) drops
  // them (grad() becomes undefined), so the next backward writes fresh gradients without
  // an extra pass, and a parameter that backward does not reach is skipped by step().
  // set_to_none = false fills existing gradients with zeros instead: PyTorch 1.13's
  // default, under which a parameter not reached by backward is still updated with a zero
  // gradient (weight decay and momentum still move it).
  void zero_grad(bool set_to_none = true);

  int num_groups() const { return static_cast<int>(group_begin_.size()) - 1; }
  // The parameters of `group`, in the order given at construction.
  std::vector<Tensor> params(int group) const;
  // All parameters, group after group: the numbering the state_dict uses.
  const std::vector<Tensor>& parameters() const { return params_; }

  // The learning rate of a group, as schedulers read and write it. set_lr requires a
  // finite lr >= 0.
  double lr(int group) const;
  void set_lr(int group, double lr);

  // The full state, copied (later steps do not change the returned tensors), as
  //   param_groups.<g>.params      int64 [n]  the parameters' indices in parameters()
  //   param_groups.<g>.<option>    float64 [] for numbers (lr, momentum, eps, ...),
  //                                int64 [] 0/1 for flags (nesterov, amsgrad, ...)
  //   state.<i>.step               int64 []   updates parameter i has had
  //   state.<i>.<buffer>           the parameter's shape and dtype (momentum_buffer,
  //                                sum, square_avg, grad_avg, exp_avg, exp_avg_sq, ...)
  // A parameter with no state yet (never stepped) has no state.<i> entries.
  TensorMap state_dict() const;

  // Restores a state_dict of an optimizer of the same kind over parameters of the same
  // shapes in the same groups, so that training continues bit-identically. Group options
  // (learning rates included) are taken from `state`. Validates everything before changing
  // anything: a wrong number of groups or of parameters in a group, a missing or unexpected
  // key, a wrong shape or dtype, or an invalid option is an Error listing every problem.
  void load_state_dict(const TensorMap& state);

 protected:
  struct ParamState {
    std::int64_t step = 0;        // updates so far, counted before each update (from 1)
    std::vector<Tensor> buffers;  // one slot per buffer_names() entry; undefined until made
  };

  // Throws unless 0 <= group < num_groups(): "Adam.options: group 3 out of range; the
  // optimizer has 2 groups", `method` naming the call.
  void check_group(int group, const char* method) const;

  // Validates the parameters (defined, float32/float64 leaves, none given twice) and
  // numbers them group after group. `num_buffers` is the number of buffer slots.
  Optimizer(const std::vector<std::vector<Tensor>>& groups, int num_buffers);

  // Updates `param` (of `group`) from `grad`; state.step was already incremented.
  // Creates any buffer it uses that is still undefined.
  virtual void update(int group, const Tensor& param, const Tensor& grad, ParamState& state) = 0;
  // The buffer of each slot for a parameter of `group`, or nullptr for a slot the group's
  // options do not use (for example max_exp_avg_sq without amsgrad).
  virtual std::vector<const char*> buffer_names(int group) const = 0;
  // The options of `group`, "lr" among them, pointing into the derived class's storage.
  virtual std::vector<OptionField> option_fields(int group) = 0;
  // Throws Error (naming the optimizer and group) if the options of `group` are invalid.
  virtual void check_options(int group) const = 0;

  int group_size(int group) const { return group_begin_[group + 1] - group_begin_[group]; }
  int group_begin(int group) const { return group_begin_[group]; }
  ParamState& state(int index) { return state_[index]; }

 private:
  std::vector<Tensor> params_;    // all parameters, group after group
  std::vector<int> group_begin_;  // group g is params_[group_begin_[g], group_begin_[g + 1])
  std::vector<ParamState> state_;  // per parameter, same numbering
  int num_buffers_ = 0;
};

// The optimizer of one algorithm, described by its options struct (see options.hpp).
template <class Options>
class BasicOptimizer final : public Optimizer {
 public:
  struct Group {
    std::vector<Tensor> params;
    Options options;
  };
  // One group. Requires valid options (Options::check; SGD's lr has no default).
  explicit BasicOptimizer(const std::vector<Tensor>& params, const Options& options = {})
      : BasicOptimizer(std::vector<Group>{{params, options}}) {}
  explicit BasicOptimizer(const std::vector<Group>& groups)
      : Optimizer(group_params(groups), static_cast<int>(Options().buffers().size())) {
    for (const Group& g : groups) options_.push_back(g.options);
    for (int g = 0; g < num_groups(); ++g) check_options(g);
    if constexpr (requires(const Options& o, const Tensor& p, ParamBuffers& b) { o.init(p, b); }) {
      for (int g = 0; g < num_groups(); ++g)
        for (int i = group_begin(g); i < group_begin(g) + group_size(g); ++i)
          options_[g].init(parameters()[i], state(i).buffers);
    }
  }

  const char* name() const override { return Options::kName; }
  // A group's options; changes take effect at the next step().
  Options& options(int group) {
    check_group(group, "options");
    return options_[group];
  }

 protected:
  void update(int group, const Tensor& param, const Tensor& grad, ParamState& state) override {
    options_[group].update(param, grad, state.buffers, state.step);
  }
  std::vector<const char*> buffer_names(int group) const override { return options_[group].buffers(); }
  std::vector<OptionField> option_fields(int group) override { return options_[group].fields(); }
  void check_options(int group) const override { options_[group].check(group); }

 private:
  static std::vector<std::vector<Tensor>> group_params(const std::vector<Group>& groups) {
    std::vector<std::vector<Tensor>> out;
    for (const Group& g : groups) out.push_back(g.params);
    return out;
  }

  std::vector<Options> options_;
};

}  // namespace recur::optim
