// conv2d: 2-D convolution of NCHW images, im2col + GEMM in the backend's conv2d kernels.
#include "ops/window.hpp"

namespace recur {
namespace ops {
namespace {

// ---- conv2d: Y[n, o] = b[o] + sum_{c,i,j} W[o, c, i, j] X[n, c, oh*s - p + i*d, ow*s - p + j*d]
// With col = im2col(X[n]) (one row per tap (c, i, j), one column per output position):
//   Y[n] = W col + b,   dW = sum_n dY[n] col^T,   db = sum over n and positions of dY,
//   dX[n] = col2im(W^T dY[n])  (each entry of W^T dY[n] added back where col took it from).
struct Conv2dBackward final : Node {
  const char* name() const override { return "conv2d"; }
  TensorList apply(TensorList&& g) override {
    Tensor x = input.get("conv2d"), w = weight.get("conv2d");
    Tensor dy = dense(g[0]);
    Tensor dx, dw, db;
    backend::View dx_view, dw_view, db_view, x_view;
    if (x.defined()) x_view = view_of(x);
    if (next_edges[0].node) dx = empty(input_shape, w.dtype(), w.device()), dx_view = view_of(dx);
    if (next_edges[1].node) dw = empty(w.shape(), w.dtype(), w.device()), dw_view = view_of(dw);
    if (next_edges[2].node) db = empty({w.size(0)}, w.dtype(), w.device()), db_view = view_of(db);
    backend_of(w).conv2d_backward(dx_view, dw_view, db_view, view_of(dy), x_view, view_of(w), window);
    return {dx, dw, db};
  }
  void release_saved() override { input.reset(), weight.reset(); }
  SavedTensor input, weight;  // dense; input as 4-D, saved only when the weight needs a gradient
  Shape input_shape;          // as the caller gave it (3-D or 4-D)
  backend::Window2d window;
};

// Everything a size error shows, so that the message alone explains it.
struct ConvSetting {
  const Shape& input;
  Size2 kernel, stride, padding, dilation;
};

std::ostream& operator<<(std::ostream& os, const ConvSetting& s) {
  return os << "input of shape " << s.input << ", kernel " << s.kernel << ", stride " << s.stride << ", padding "
            << s.padding << ", dilation " << s.dilation;
}

}  // namespace
}  // namespace ops

using namespace ops;

Tensor conv2d(const Tensor& input, const Tensor& weight, const Tensor& bias, Size2 stride, Size2 padding,
              Size2 dilation) {
  const char* op = "conv2d";
  check_floating(op, input), check_floating(op, weight);
  check_compatible(op, input, weight);
  RECUR_CHECK(input.dim() == 3 || input.dim() == 4,
              "conv2d: expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape " << input.shape());
  RECUR_CHECK(weight.dim() == 4, "conv2d: weight must be 4-D (out_channels, in_channels, kernel_h, kernel_w), "
                                 "got shape " << weight.shape());
  const Size2 kernel(weight.size(2), weight.size(3));
  const ConvSetting setting{input.shape(), kernel, stride, padding, dilation};
  RECUR_CHECK(stride.h >= 1 && stride.w >= 1, "conv2d: stride must be at least 1 (" << setting << ")");
  RECUR_CHECK(dilation.h >= 1 && dilation.w >= 1, "conv2d: dilation must be at least 1 (" << setting << ")");
  RECUR_CHECK(padding.h >= 0 && padding.w >= 0, "conv2d: padding must not be negative (" << setting << ")");
  RECUR_CHECK(kernel.h >= 1 && kernel.w >= 1, "conv2d: weight of shape " << weight.shape() << " has an empty kernel");
  const bool batched = input.dim() == 4;
  const std::int64_t channels = input.size(-3), in_h = input.size(-2), in_w = input.size(-1);
  const std::int64_t out_channels = weight.size(0);
  RECUR_CHECK(channels == weight.size(1), "conv2d: input of shape " << input.shape() << " has " << channels
                                              << " channels but weight of shape " << weight.shape() << " expects "
                                              << weight.size(1));
  if (bias.defined()) {
    check_floating(op, bias);
    check_compatible(op, input, bias);
    RECUR_CHECK(bias.dim() == 1 && bias.size(0) == out_channels,
                "conv2d: bias of shape " << bias.shape() << " does not match weight of shape " << weight.shape()
                                         << " (expected [" << out_channels << "])");
  }
  const std::int64_t out_h = window_output_size(in_h, kernel.h, stride.h, padding.h, dilation.h);
  const std::int64_t out_w = window_output_size(in_w, kernel.w, stride.w, padding.w, dilation.w);
  RECUR_CHECK(out_h >= 1 && out_w >= 1,
              "conv2d: " << setting << " gives an output of " << out_h << "x" << out_w
                         << " (out = (in + 2*padding - dilation*(kernel - 1) - 1) / stride + 1); the padded input "
                         << in_h + 2 * padding.h << "x" << in_w + 2 * padding.w
                         << " is smaller than the dilated kernel " << dilation.h * (kernel.h - 1) + 1 << "x"
                         << dilation.w * (kernel.w - 1) + 1);

  Tensor x = dense_batch(op, input);
  Tensor w = dense(weight);
  Tensor b = bias.defined() ? dense(bias) : Tensor();
  backend::Window2d window;
  window.batch = x.size(0), window.channels = channels, window.in_h = in_h, window.in_w = in_w;
  window.kernel_h = kernel.h, window.kernel_w = kernel.w;
  window.stride_h = stride.h, window.stride_w = stride.w;
  window.pad_h = padding.h, window.pad_w = padding.w;
  window.dilation_h = dilation.h, window.dilation_w = dilation.w;
  window.out_h = out_h, window.out_w = out_w;

  Tensor y = empty(image_shape(batched, x.size(0), out_channels, out_h, out_w), input.dtype(), input.device());
  backend_of(x).conv2d(view_of(y), view_of(x), view_of(w), b.defined() ? view_of(b) : backend::View{}, window);

  if (auto node = make_node<Conv2dBackward>({input, weight, bias})) {
    if (weight.requires_grad()) node->input = x;
    node->weight = w;  // its shape sizes the gradients, even when only the input's is needed
    node->input_shape = input.shape();
    node->window = window;
    record(node, {input, weight, bias}, {y});
  }
  return y;
}

}  // namespace recur
