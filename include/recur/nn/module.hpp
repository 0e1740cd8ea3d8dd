// nn::Module: the base of every layer and model. It owns named parameters (tensors the
// optimizer updates), named buffers (state that is saved but not trained, such as
// BatchNorm's running mean) and named submodules, and gives them dotted names
// ("features.0.weight") for state dicts and checkpoints, as PyTorch does.
//
// Modules are held by std::shared_ptr, as in PyTorch's C++ frontend:
//
//   struct Net : nn::Module {
//     std::shared_ptr<nn::Linear> fc1, fc2;
//     Net() {
//       fc1 = register_module("fc1", std::make_shared<nn::Linear>(784, 300));
//       fc2 = register_module("fc2", std::make_shared<nn::Linear>(300, 10));
//     }
//     Tensor forward(const Tensor& x) override { return fc2->forward(relu(fc1->forward(x))); }
//   };
//   auto net = std::make_shared<Net>();   // parameters: fc1.weight, fc1.bias, fc2.weight, fc2.bias
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "recur/core/tensor.hpp"

namespace recur::nn {

class Module;

struct NamedTensor {
  std::string name;
  Tensor tensor;
};

struct NamedModule {
  std::string name;
  std::shared_ptr<Module> module;
};

class Module : public std::enable_shared_from_this<Module> {
 public:
  Module() = default;
  virtual ~Module() = default;
  // A module is shared, never copied: copying would alias its parameters silently.
  Module(const Module&) = delete;
  Module& operator=(const Module&) = delete;

  // The class name without namespaces ("Linear", "Net"), used in printouts and errors.
  // The default demangles the dynamic type; override it to choose another name.
  virtual std::string type_name() const;

  // The single-tensor forward that Sequential chains. The default throws an Error naming
  // the module's type: a module with another signature (an RNN taking a state, say)
  // declares its own forward and is called directly.
  virtual Tensor forward(const Tensor& input);
  Tensor operator()(const Tensor& input) { return forward(input); }

  // --- registration. A name is non-empty, contains no '.', and is not already used by a
  // parameter, buffer or submodule of this module (all checked).

  // Registers `tensor` (a floating leaf tensor) as a parameter and sets its requires_grad.
  // Returns the same tensor handle.
  Tensor register_parameter(const std::string& name, const Tensor& tensor, bool requires_grad = true);
  // Replaces the parameter registered as `name` (which must exist) by `tensor` (a floating
  // leaf, of the same shape), keeping its position: how weights are tied (a layer's member,
  // e.g. Linear::weight, must then be set to the returned handle too). Returns `tensor`.
  Tensor replace_parameter(const std::string& name, const Tensor& tensor);
  // Registers state that is saved and loaded and converted by to(DType) but not trained.
  Tensor register_buffer(const std::string& name, const Tensor& tensor);
  // Registers a submodule (not null); returns it with its own type, for the caller to keep.
  template <class M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> module) {
    add_module(name, module);
    return module;
  }
  // Replaces the submodule registered as `name` (which must exist) by `module`, keeping
  // its position: how a pretrained body gets a new head. Returns the new module.
  template <class M>
  std::shared_ptr<M> replace_module(const std::string& name, std::shared_ptr<M> module) {
    swap_module(name, module);
    return module;
  }

  // --- traversal. Order is registration order: this module's parameters (or buffers),
  // then each submodule's, depth first. Names are dotted paths from this module.
  std::vector<Tensor> parameters(bool recurse = true) const;
  std::vector<NamedTensor> named_parameters(bool recurse = true) const;
  std::vector<Tensor> buffers(bool recurse = true) const;
  std::vector<NamedTensor> named_buffers(bool recurse = true) const;
  std::vector<std::shared_ptr<Module>> children() const;  // direct submodules only
  const std::vector<NamedModule>& named_children() const { return children_; }
  // Every module of the tree, depth first, starting with this one (named ""), as PyTorch.
  // Requires this module to be held by a std::shared_ptr (checked).
  std::vector<NamedModule> named_modules();
  std::vector<std::shared_ptr<Module>> modules();
  // Calls fn on every submodule, depth first, and then on this module (PyTorch's apply):
  //   net->apply([](nn::Module& m) { if (auto* fc = dynamic_cast<nn::Linear*>(&m)) ... });
  void apply(const std::function<void(Module&)>& fn);

  // --- modes. train()/eval() set the mode of this module and every submodule; layers that
  // behave differently in training (Dropout, BatchNorm) read is_training(). New modules
  // start in training mode.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }

  // Drops the gradient of every parameter (the next backward starts from zero).
  void zero_grad();
  // Sets requires_grad of every parameter: false freezes the module (its parameters get no
  // gradient and an optimizer leaves them alone), true unfreezes it.
  void requires_grad_(bool requires_grad = true);

  // Total number of elements over all parameters; only those requiring grad when
  // trainable_only.
  std::int64_t num_parameters(bool trainable_only = false) const;

  // Converts every floating parameter and buffer to `dtype` (a floating type) in place:
  // the tensor handles the module and its owner hold stay valid and see the new values,
  // requires_grad is kept and gradients are dropped. Integer buffers are left alone, as
  // in PyTorch. Use to(DType::Float64) to gradcheck a layer.
  void to(DType dtype);
  // Moves every parameter and buffer (of any dtype) to `device` in place, likewise keeping
  // the tensor handles (an optimizer built before still updates the moved parameters, and
  // its state follows them at its next step), requires_grad and
  // any gradient, which moves with its parameter. An Error if recur was built without the
  // device's backend.
  void to(Device device);

  // --- state. state_dict() maps every parameter's and buffer's dotted name to a tensor
  // detached from autograd that shares its storage (as PyTorch: writing into it writes
  // into the module; save it, do not modify it).
  TensorMap state_dict() const;
  // Copies `state` into the existing parameters and buffers, without autograd and without
  // replacing the tensors (optimizers keep pointing at the right ones); an entry on another
  // device is copied across (a CPU file loads into a module on the GPU).
  // Refused with an Error that lists every offender, by name with shape and dtype, and
  // leaving the module untouched, when an entry has the wrong shape or dtype, and (only
  // when strict) when a name is missing from `state` or `state` has a name the module
  // does not. Non-strict loading skips missing and unexpected names.
  void load_state_dict(const TensorMap& state, bool strict = true);

  // --- printout, like PyTorch's repr:
  //   Sequential(
  //     (0): Linear(in_features=784, out_features=300, bias=true)
  //     (1): ReLU()
  //   )
  std::string str() const;
  // The one-line description inside the parentheses ("in_features=784, ..."); empty by
  // default. Layers override it with their hyperparameters.
  virtual std::string extra_repr() const { return ""; }

 private:
  void add_module(const std::string& name, std::shared_ptr<Module> module);
  void swap_module(const std::string& name, std::shared_ptr<Module> module);
  void check_new_name(const char* what, const std::string& name) const;
  void collect_named(bool want_parameters, bool recurse, const std::string& prefix,
                     std::vector<NamedTensor>& out) const;
  void collect_modules(const std::string& prefix, std::vector<NamedModule>& out);

  std::vector<NamedTensor> parameters_;
  std::vector<NamedTensor> buffers_;
  std::vector<NamedModule> children_;
  bool training_ = true;
};

std::ostream& operator<<(std::ostream& os, const Module& module);

// Evaluation mode for a scope: the module (and its submodules) in eval() while the guard
// lives, then back in the mode it had, on every exit (an error included).
class EvalModeGuard {
 public:
  explicit EvalModeGuard(Module& module) : module_(module), was_training_(module.is_training()) { module.eval(); }
  ~EvalModeGuard() { module_.train(was_training_); }
  EvalModeGuard(const EvalModeGuard&) = delete;
  EvalModeGuard& operator=(const EvalModeGuard&) = delete;

 private:
  Module& module_;
  const bool was_training_;
};

// The device on which layers create their parameters and buffers: the CPU, unless a
// ParameterDevice lives on this thread. Initialisation then runs on that device too (the
// same numbers: random fills do not depend on the device):
//   { nn::ParameterDevice on(Device::cuda()); net = std::make_shared<Net>(); }
// (module->to(device) after construction gives the same result through one copy.)
Device parameter_device();
class ParameterDevice {
 public:
  // An Error if recur was built without the device's backend.
  explicit ParameterDevice(Device device);
  ~ParameterDevice();
  ParameterDevice(const ParameterDevice&) = delete;
  ParameterDevice& operator=(const ParameterDevice&) = delete;

 private:
  Device previous_;
};

}  // namespace recur::nn
