// What conv2d and the pooling ops share: NCHW inputs (3-D ones seen as a batch of one),
// dense operands for the kernels, and the sliding-window output size.
#pragma once

#include "ops/op_helpers.hpp"

namespace recur::ops {

// A dense tensor's data seen with another shape of the same element count.
Tensor reshaped(const Tensor& dense_tensor, const Shape& shape);

// Requires a 3-D (C, H, W) or 4-D (N, C, H, W) input and returns it as 4-D (metadata only
// when x is contiguous).
Tensor dense_batch(const char* op, const Tensor& x);

// floor((in + 2*padding - dilation*(kernel - 1) - 1) / stride) + 1, rounding toward minus
// infinity, so too small an input gives a result below 1.
std::int64_t window_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                                std::int64_t dilation);

// The shape an op returns: (N, C, h, w), or (C, h, w) when the input was 3-D.
Shape image_shape(bool batched, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w);

}  // namespace recur::ops
