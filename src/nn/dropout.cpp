// Dropout: recur::dropout in training mode, the identity in evaluation mode.

#include "recur/nn/dropout.hpp"

#include <sstream>

#include "recur/ops.hpp"

namespace recur::nn {

Dropout::Dropout(double p, Generator* generator) : p(p), generator(generator) {
  RECUR_CHECK(p >= 0 && p < 1, "Dropout: probability p = " << p << " is outside [0, 1)");
}

Tensor Dropout::forward(const Tensor& input) {
  return dropout(input, p, is_training(), generator ? generator : &default_generator());
}

std::string Dropout::extra_repr() const {
  std::ostringstream os;
  os << "p=" << p;
  return os.str();
}

}  // namespace recur::nn
