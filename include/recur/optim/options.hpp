// The options of recur's optimizers: one struct per algorithm, which both the optimizer
// (recur::optim::SGD is BasicOptimizer<SGDOptions>, see optimizer.hpp) and the fused update
// op (recur::sgd_update_ and the others in ops.hpp) take. Plain data and a description of
// itself for the optimizer; it knows tensors, not optimizers or kernels.
//
// Adding an optimizer: one options struct here with the members below, defined in
// src/optim/<name>.cpp; one fused op and its backend kernel; a `using` in a header; a test.
//   kName       "SGD", "Adam", ...: names the optimizer in error messages
//   fields()    the options as the state_dict stores them, "lr" among them
//   buffers()   the state buffers, one slot each, nullptr for a slot these options do not use
//   check(g)    throws Error (naming the optimizer and group g) unless the options are valid
//   update()    one update of a parameter; creates any buffer it uses that is undefined
//   init()      (optional) makes a parameter's state at construction
// Formulas: the headers of the optimizers (sgd.hpp, adam.hpp, ...).
#pragma once

#include <cstdint>
#include <limits>
#include <utility>
#include <vector>

#include "recur/core/tensor.hpp"

namespace recur::optim {

// One named option: a number (saved as float64) or a flag (saved as int64 0/1).
struct OptionField {
  const char* name;
  double* number = nullptr;
  bool* flag = nullptr;
};

// The state of one parameter: `step` updates so far (incremented before each update, so
// update() sees 1 first) and one tensor per buffers() slot, undefined until made.
using ParamBuffers = std::vector<Tensor>;

struct SGDOptions {
  double lr = std::numeric_limits<double>::quiet_NaN();  // required, as in PyTorch
  double momentum = 0;
  double dampening = 0;
  double weight_decay = 0;
  bool nesterov = false;  // requires momentum > 0 and dampening == 0

  static constexpr const char* kName = "SGD";
  std::vector<OptionField> fields();
  std::vector<const char*> buffers() const;  // momentum_buffer (momentum != 0)
  void check(int group) const;
  void update(const Tensor& param, const Tensor& grad, ParamBuffers& buffers, std::int64_t step) const;
};

struct AdagradOptions {
  double lr = 0.01;
  double lr_decay = 0;
  double weight_decay = 0;
  double initial_accumulator_value = 0;
  double eps = 1e-10;
  bool eps_inside_sqrt = false;  // sqrt(sum + eps) (min-char-rnn) instead of sqrt(sum) + eps (PyTorch)

  static constexpr const char* kName = "Adagrad";
  std::vector<OptionField> fields();
  std::vector<const char*> buffers() const;  // sum
  void check(int group) const;
  void update(const Tensor& param, const Tensor& grad, ParamBuffers& buffers, std::int64_t step) const;
  void init(const Tensor& param, ParamBuffers& buffers) const;  // the sum, as PyTorch makes it
};

struct RMSpropOptions {
  double lr = 0.01;
  double alpha = 0.99;
  double eps = 1e-8;
  double weight_decay = 0;
  double momentum = 0;
  bool centered = false;

  static constexpr const char* kName = "RMSprop";
  std::vector<OptionField> fields();
  std::vector<const char*> buffers() const;  // square_avg, momentum_buffer (momentum > 0), grad_avg (centered)
  void check(int group) const;
  void update(const Tensor& param, const Tensor& grad, ParamBuffers& buffers, std::int64_t step) const;
};

// Adam (Decoupled = false: weight decay is an L2 penalty added to the gradient) and AdamW
// (Decoupled = true: p *= 1 - lr weight_decay before the update, weight_decay 1e-2 by default).
template <bool Decoupled>
struct BasicAdamOptions {
  double lr = 1e-3;
  std::pair<double, double> betas = std::make_pair(0.9, 0.999);  // GCC 12 crashes on `= {0.9, 0.999}` here
  double eps = 1e-8;
  double weight_decay = Decoupled ? 1e-2 : 0;
  bool amsgrad = false;

  static constexpr bool kDecoupledWeightDecay = Decoupled;
  static constexpr const char* kName = Decoupled ? "AdamW" : "Adam";
  std::vector<OptionField> fields();
  std::vector<const char*> buffers() const;  // exp_avg, exp_avg_sq, max_exp_avg_sq (amsgrad)
  void check(int group) const;
  void update(const Tensor& param, const Tensor& grad, ParamBuffers& buffers, std::int64_t step) const;
};
using AdamOptions = BasicAdamOptions<false>;
using AdamWOptions = BasicAdamOptions<true>;

}  // namespace recur::optim
