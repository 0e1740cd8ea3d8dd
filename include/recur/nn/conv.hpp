// Conv2d, MaxPool2d, AvgPool2d: the layers of PyTorch's torch/nn/modules/conv.py and
// pooling.py, with PyTorch's parameter names, shapes, defaults and initialisation.
#pragma once

#include <cstdint>
#include <string>

#include "recur/nn/module.hpp"
#include "recur/ops.hpp"

namespace recur::nn {

// 2-D convolution over NCHW images (recur::conv2d: im2col + one GEMM). Parameters "weight"
// (out_channels, in_channels, kh, kw) and, with bias, "bias" (out_channels), both
// U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels * kh * kw, as PyTorch's
// kaiming_uniform_(a = sqrt(5)). Requires every size >= 1 (padding >= 0); forward checks
// the input's channels and that the kernel fits, naming the shapes when it does not.
class Conv2d : public Module {
 public:
  Conv2d(std::int64_t in_channels, std::int64_t out_channels, Size2 kernel_size, Size2 stride = 1, Size2 padding = 0,
         Size2 dilation = 1, bool bias = true);
  // (N, in_channels, H, W) -> (N, out_channels, out_h, out_w).
  Tensor forward(const Tensor& input) override;
  void reset_parameters();
  std::string extra_repr() const override;  // "1, 20, kernel_size=(5, 5), stride=(1, 1)"

  const std::int64_t in_channels, out_channels;
  const Size2 kernel_size, stride, padding, dilation;
  Tensor weight;
  Tensor bias;  // undefined without bias
};

// Max pooling (recur::max_pool2d). stride defaults to kernel_size, as in PyTorch.
class MaxPool2d : public Module {
 public:
  explicit MaxPool2d(Size2 kernel_size) : MaxPool2d(kernel_size, kernel_size) {}
  MaxPool2d(Size2 kernel_size, Size2 stride, Size2 padding = 0)
      : kernel_size(kernel_size), stride(stride), padding(padding) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  const Size2 kernel_size, stride, padding;
};

// Average pooling (recur::avg_pool2d). stride defaults to kernel_size.
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(Size2 kernel_size) : AvgPool2d(kernel_size, kernel_size) {}
  AvgPool2d(Size2 kernel_size, Size2 stride, Size2 padding = 0, bool count_include_pad = true)
      : kernel_size(kernel_size), stride(stride), padding(padding), count_include_pad(count_include_pad) {}
  Tensor forward(const Tensor& input) override;
  std::string extra_repr() const override;

  const Size2 kernel_size, stride, padding;
  const bool count_include_pad;
};

}  // namespace recur::nn
