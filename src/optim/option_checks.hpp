// What the optimizers' options share: checks of option values with messages naming the
// optimizer and the group.
#pragma once

#include <cmath>
#include <initializer_list>
#include <utility>

#include "recur/core/error.hpp"

namespace recur::optim {

// Throws unless value is finite and >= 0.
inline void check_non_negative(const char* optimizer, int group, const char* option, double value) {
  RECUR_CHECK(std::isfinite(value) && value >= 0,
              optimizer << ": group " << group << ": " << option << " must be finite and >= 0, got " << value);
}

// Throws unless every (option, value) is finite and >= 0, checked in order.
inline void check_non_negative(const char* optimizer, int group,
                               std::initializer_list<std::pair<const char*, double>> options) {
  for (const auto& [option, value] : options) check_non_negative(optimizer, group, option, value);
}

}  // namespace recur::optim
