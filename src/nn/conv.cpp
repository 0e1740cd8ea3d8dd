// Conv2d, MaxPool2d, AvgPool2d. Forward and backward are the ops' (src/ops/conv.cpp,
// src/ops/pool.cpp); these modules hold the parameters and the sizes.

#include "recur/nn/conv.hpp"

#include <cmath>
#include <sstream>

#include "recur/nn/init.hpp"

namespace recur::nn {

Conv2d::Conv2d(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size, Size2 stride, Size2 padding,
               Size2 dilation, bool bias)
    : in_channels(in_channels),
      out_channels(out_channels),
      kernel_size(kernel_size),
      stride(stride),
      padding(padding),
      dilation(dilation) {
  RECUR_CHECK(in_channels >= 1 && out_channels >= 1 && kernel_size.h >= 1 && kernel_size.w >= 1,
              "Conv2d: in_channels, out_channels and kernel_size must be at least 1, got "
                  << in_channels << ", " << out_channels << ", " << kernel_size);
  weight = register_parameter("weight", empty({out_channels, in_channels, kernel_size.h, kernel_size.w}, DType::Float32, parameter_device()));
  if (bias) this->bias = register_parameter("bias", empty({out_channels}, DType::Float32, parameter_device()));
  reset_parameters();
}

// PyTorch: kaiming_uniform_(weight, a = sqrt(5)) = U(±1/sqrt(fan_in)); the bias the same.
void Conv2d::reset_parameters() {
  init::kaiming_uniform_(weight, std::sqrt(5.0));
  if (bias.defined()) {
    const double bound = 1 / std::sqrt(static_cast<double>(in_channels * kernel_size.h * kernel_size.w));
    init::uniform_(bias, -bound, bound);
  }
}

Tensor Conv2d::forward(const Tensor& input) { return conv2d(input, weight, bias, stride, padding, dilation); }

std::string Conv2d::extra_repr() const {
  std::ostringstream os;
  os << in_channels << ", " << out_channels << ", kernel_size=" << kernel_size << ", stride=" << stride;
  if (padding != Size2(0)) os << ", padding=" << padding;
  if (dilation != Size2(1)) os << ", dilation=" << dilation;
  if (!bias.defined()) os << ", bias=false";
  return os.str();
}

Tensor MaxPool2d::forward(const Tensor& input) { return max_pool2d(input, kernel_size, stride, padding); }

std::string MaxPool2d::extra_repr() const {
  std::ostringstream os;
  os << "kernel_size=" << kernel_size << ", stride=" << stride << ", padding=" << padding;
  return os.str();
}

Tensor AvgPool2d::forward(const Tensor& input) {
  return avg_pool2d(input, kernel_size, stride, padding, count_include_pad);
}

std::string AvgPool2d::extra_repr() const {
  std::ostringstream os;
  os << "kernel_size=" << kernel_size << ", stride=" << stride << ", padding=" << padding
     << ", count_include_pad=" << (count_include_pad ? "true" : "false");
  return os.str();
}

}  // namespace recur::nn
