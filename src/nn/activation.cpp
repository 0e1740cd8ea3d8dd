// Activation modules: each forward is one op, whose autograd provides the backward.

#include "recur/nn/activation.hpp"

#include <sstream>

#include "recur/ops.hpp"

namespace recur::nn {

Tensor Sigmoid::forward(const Tensor& input) { return sigmoid(input); }
Tensor Tanh::forward(const Tensor& input) { return tanh(input); }
Tensor ReLU::forward(const Tensor& input) { return relu(input); }
Tensor LeakyReLU::forward(const Tensor& input) { return leaky_relu(input, negative_slope); }
Tensor Softmax::forward(const Tensor& input) { return softmax(input, dim); }
Tensor LogSoftmax::forward(const Tensor& input) { return log_softmax(input, dim); }
Tensor Step::forward(const Tensor& input) { return step(input); }

std::string LeakyReLU::extra_repr() const {
  std::ostringstream os;
  os << "negative_slope=" << negative_slope;
  return os.str();
}

std::string Softmax::extra_repr() const { return "dim=" + std::to_string(dim); }
std::string LogSoftmax::extra_repr() const { return "dim=" + std::to_string(dim); }

}  // namespace recur::nn
