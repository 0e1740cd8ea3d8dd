// Sequential: modules applied one after another (PyTorch's nn.Sequential).
#pragma once

#include <cstddef>
#include <initializer_list>
#include <memory>
#include <string>
#include <vector>

#include "recur/nn/module.hpp"

namespace recur::nn {

// Holds its modules as submodules named by position, "0", "1", ... (or by the name given to
// push_back), so the parameters of a Sequential MLP are "0.weight", "0.bias", "2.weight", ...
// forward(x) feeds x through each module's forward(const Tensor&) in order; an empty
// Sequential returns x.
//
//   auto mlp = std::make_shared<nn::Sequential>(std::make_shared<nn::Linear>(784, 300),
//                                               std::make_shared<nn::ReLU>(),
//                                               std::make_shared<nn::Linear>(300, 10));
class Sequential : public Module {
 public:
  Sequential() = default;
  explicit Sequential(const std::vector<std::shared_ptr<Module>>& modules);
  Sequential(std::initializer_list<std::shared_ptr<Module>> modules)
      : Sequential(std::vector<std::shared_ptr<Module>>(modules)) {}
  template <class... Modules>
  explicit Sequential(std::shared_ptr<Modules>... modules) {
    (push_back(std::move(modules)), ...);
  }

  void push_back(std::shared_ptr<Module> module);  // named by its position
  void push_back(const std::string& name, std::shared_ptr<Module> module);

  std::size_t size() const { return named_children().size(); }
  bool empty() const { return named_children().empty(); }
  // The module at `index` (checked).
  std::shared_ptr<Module> operator[](std::size_t index) const;
  // The module at `index` as its own type; throws if it is of another type.
  template <class M>
  std::shared_ptr<M> at(std::size_t index) const {
    std::shared_ptr<M> typed = std::dynamic_pointer_cast<M>((*this)[index]);
    if (!typed) throw_wrong_type(index);
    return typed;
  }

  Tensor forward(const Tensor& input) override;

 private:
  [[noreturn]] void throw_wrong_type(std::size_t index) const;
};

}  // namespace recur::nn
