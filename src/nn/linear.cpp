// Linear and Flatten. Backward comes from the ops' autograd (recur::linear, recur::flatten).

#include "recur/nn/linear.hpp"

#include <cmath>
#include <sstream>

#include "recur/nn/init.hpp"
#include "recur/ops.hpp"

namespace recur::nn {

Linear::Linear(std::int64_t in_features, std::int64_t out_features, bool bias)
    : in_features(in_features), out_features(out_features) {
  RECUR_CHECK(in_features >= 1 && out_features >= 1, "Linear: in_features and out_features must be at least 1, got "
                                                         << in_features << " and " << out_features);
  weight = register_parameter("weight", empty({out_features, in_features}, DType::Float32, parameter_device()));
  if (bias) this->bias = register_parameter("bias", empty({out_features}, DType::Float32, parameter_device()));
  reset_parameters();
}

// PyTorch: kaiming_uniform_(weight, a = sqrt(5)) gives gain sqrt(2 / (1 + 5)) and bound
// sqrt(3) * gain / sqrt(fan_in) = 1 / sqrt(in_features); the bias uses the same bound.
void Linear::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    double bound = 1 / std::sqrt(static_cast<double>(in_features));
    init::uniform_(bias, -bound, bound);
  }
}

// y = x W^T + b;  dx = dy W,  dW = dy^T x,  db = sum of dy over all but the last dim.
Tensor Linear::forward(const Tensor& input) {
  RECUR_CHECK(input.defined() && input.dim() >= 1 && input.size(-1) == in_features,
              "Linear(in_features=" << in_features << ", out_features=" << out_features
                                    << "): expected an input whose last dimension is " << in_features << ", got "
                                    << (input.defined() ? input.shape().str() : std::string("an undefined tensor")));
  return linear(input, weight, bias);
}

std::string Linear::extra_repr() const {
  std::ostringstream os;
  os << "in_features=" << in_features << ", out_features=" << out_features
     << ", bias=" << (bias.defined() ? "true" : "false");
  return os.str();
}

Tensor Flatten::forward(const Tensor& input) { return flatten(input, start_dim, end_dim); }

std::string Flatten::extra_repr() const {
  std::ostringstream os;
  os << "start_dim=" << start_dim << ", end_dim=" << end_dim;
  return os.str();
}

}  // namespace recur::nn
