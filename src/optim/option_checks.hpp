// What the optimizers' constructors share: the parameter lists of their groups, and
// checks of option values with messages naming the optimizer and the group.
#pragma once

#include <cmath>
#include <vector>

#include "recur/core/tensor.hpp"

namespace recur::optim {

// The params of each group, for Optimizer's constructor (Group is an optimizer's Group).
template <class Group>
std::vector<std::vector<Tensor>> group_params(const std::vector<Group>& groups) {
  std::vector<std::vector<Tensor>> out;
  for (const Group& g : groups) out.push_back(g.params);
  return out;
}

// Throws unless value is finite and >= 0.
inline void check_non_negative(const char* optimizer, int group, const char* option, double value) {
  RECUR_CHECK(std::isfinite(value) && value >= 0,
              optimizer << ": group " << group << ": " << option << " must be finite and >= 0, got " << value);
}

}  // namespace recur::optim
