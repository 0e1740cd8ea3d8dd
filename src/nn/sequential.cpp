// Sequential: forward chains its submodules' forward(const Tensor&) in order.

#include "recur/nn/sequential.hpp"

namespace recur::nn {

Sequential::Sequential(const std::vector<std::shared_ptr<Module>>& modules) {
  for (const std::shared_ptr<Module>& module : modules) push_back(module);
}

void Sequential::push_back(std::shared_ptr<Module> module) { push_back(std::to_string(size()), std::move(module)); }

void Sequential::push_back(const std::string& name, std::shared_ptr<Module> module) {
  register_module(name, std::move(module));
}

std::shared_ptr<Module> Sequential::operator[](std::size_t index) const {
  RECUR_CHECK(index < size(), "Sequential[" << index << "]: index out of range for " << size() << " modules");
  return named_children()[index].module;
}

void Sequential::throw_wrong_type(std::size_t index) const {
  RECUR_FAIL("Sequential.at(" << index << "): module " << index << " (\"" << named_children()[index].name << "\") is a "
                              << named_children()[index].module->type_name() << ", not the type requested");
}

Tensor Sequential::forward(const Tensor& input) {
  Tensor x = input;
  for (const NamedModule& child : named_children()) x = child.module->forward(x);
  return x;
}

}  // namespace recur::nn
