// Parameter initialisation, with PyTorch's formulas (torch.nn.init, PyTorch 1.13).
//
// Every function fills `tensor` in place without recording autograd history, so it works
// on parameters that require grad, and returns the same tensor handle. Random ones draw
// from `gen` (default: recur::default_generator(), which recur::manual_seed seeds). The
// tensor must be floating. Call them qualified, as nn::init::uniform_(w, ...): recur::
// has in-place ops of the same names with other parameters.
//
// Fans, for a weight of shape (out, in, k...): fan_in = in * prod(k), fan_out = out *
// prod(k): (out, in) for Linear, (out_channels, in_channels / groups, kh, kw) for Conv2d.
#pragma once

#include <cstdint>

#include "recur/core/random.hpp"
#include "recur/core/tensor.hpp"

namespace recur::nn::init {

// The nonlinearity that follows the layer, for calculate_gain. Conv and linear layers
// without an activation use Linear (gain 1).
enum class Nonlinearity { Linear, Sigmoid, Tanh, ReLU, LeakyReLU, SELU };
enum class FanMode { FanIn, FanOut };

// The recommended gain (PyTorch's calculate_gain): Linear and Sigmoid 1, Tanh 5/3,
// ReLU sqrt(2), LeakyReLU sqrt(2 / (1 + negative_slope^2)), SELU 3/4.
double calculate_gain(Nonlinearity nonlinearity, double negative_slope = 0.01);

struct Fans {
  std::int64_t fan_in = 0;
  std::int64_t fan_out = 0;
};
// Requires tensor.dim() >= 2.
Fans calculate_fan_in_and_fan_out(const Tensor& tensor);

// U(low, high); requires low <= high.
Tensor uniform_(const Tensor& tensor, double low = 0, double high = 1, Generator& gen = default_generator());
// N(mean, std^2); requires std >= 0.
Tensor normal_(const Tensor& tensor, double mean = 0, double std = 1, Generator& gen = default_generator());
Tensor constant_(const Tensor& tensor, double value);
Tensor zeros_(const Tensor& tensor);
Tensor ones_(const Tensor& tensor);

// Glorot & Bengio (2010): std = gain * sqrt(2 / (fan_in + fan_out)); the uniform version
// draws from U(-sqrt(3) std, sqrt(3) std). Requires dim() >= 2.
Tensor xavier_uniform_(const Tensor& tensor, double gain = 1, Generator& gen = default_generator());
Tensor xavier_normal_(const Tensor& tensor, double gain = 1, Generator& gen = default_generator());

// He et al. (2015): std = calculate_gain(nonlinearity, a) / sqrt(fan), fan chosen by mode;
// the uniform version draws from U(-sqrt(3) std, sqrt(3) std). `a` is the negative slope
// of the leaky ReLU that follows (0 for ReLU). PyTorch's defaults: a = 0, FanIn,
// LeakyReLU. nn::Linear uses kaiming_uniform_(w, sqrt(5)), i.e. U(-1/sqrt(in), 1/sqrt(in)).
// Requires dim() >= 2 and a non-zero fan.
Tensor kaiming_uniform_(const Tensor& tensor, double a = 0, FanMode mode = FanMode::FanIn,
                        Nonlinearity nonlinearity = Nonlinearity::LeakyReLU, Generator& gen = default_generator());
Tensor kaiming_normal_(const Tensor& tensor, double a = 0, FanMode mode = FanMode::FanIn,
                       Nonlinearity nonlinearity = Nonlinearity::LeakyReLU, Generator& gen = default_generator());

// Saxe et al. (2013): a (semi-)orthogonal matrix times gain. The tensor is viewed as
// (rows = size(0), cols = numel / rows); a rows x cols matrix of N(0, 1) draws (in float64) is
// factorised A = QR (of its transpose when rows < cols) by Householder reflections in
// double, Q's columns take the signs of R's diagonal (so Q is unique, as in PyTorch), and
// the result has orthonormal rows (rows <= cols) or columns (rows >= cols).
// Requires dim() >= 2.
Tensor orthogonal_(const Tensor& tensor, double gain = 1, Generator& gen = default_generator());

}  // namespace recur::nn::init
