// max_pool2d and avg_pool2d over NCHW images, with PyTorch's windows (floor mode).
#include "ops/window.hpp"

namespace recur {
namespace ops {
namespace {

// ---- max_pool2d: y = max over the window;  dx[argmax] += dy (the argmax saved by the forward)
struct MaxPool2dBackward final : Node {
  const char* name() const override { return "max_pool2d"; }
  TensorList apply(TensorList&& g) override {
    Tensor idx = indices.get("max_pool2d");
    Tensor dy = dense(g[0]);
    Tensor dx = empty(input_shape, dy.dtype(), dy.device());
    backend_of(dy).max_pool2d_backward(view_of(dx), view_of(dy), view_of(idx), window);
    return {dx};
  }
  void release_saved() override { indices.reset(); }
  SavedTensor indices;  // int64, the output's shape
  Shape input_shape;
  backend::Window2d window;
};

// ---- avg_pool2d: y = sum over the window / divisor;  dx += dy / divisor over each window
struct AvgPool2dBackward final : Node {
  const char* name() const override { return "avg_pool2d"; }
  TensorList apply(TensorList&& g) override {
    Tensor dy = dense(g[0]);
    Tensor dx = empty(input_shape, dy.dtype(), dy.device());
    backend_of(dy).avg_pool2d_backward(view_of(dx), view_of(dy), window, count_include_pad);
    return {dx};
  }
  Shape input_shape;
  backend::Window2d window;
  bool count_include_pad = true;
};

// Checks a pooling call and returns its window over x seen as 4-D.
backend::Window2d pool_window(const char* op, const Tensor& x, Size2 kernel, Size2 stride, Size2 padding) {
  check_floating(op, x);
  RECUR_CHECK(x.dim() == 3 || x.dim() == 4,
              op << ": expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape " << x.shape());
  RECUR_CHECK(kernel.h >= 1 && kernel.w >= 1, op << ": kernel " << kernel << " must be at least 1 (input of shape "
                                                 << x.shape() << ")");
  RECUR_CHECK(stride.h >= 1 && stride.w >= 1, op << ": stride " << stride << " must be at least 1 (input of shape "
                                                 << x.shape() << ", kernel " << kernel << ")");
  RECUR_CHECK(padding.h >= 0 && padding.w >= 0 && padding.h <= kernel.h / 2 && padding.w <= kernel.w / 2,
              op << ": padding " << padding << " must be between 0 and half the kernel " << kernel
                 << " (input of shape " << x.shape() << ", stride " << stride << ")");
  backend::Window2d w;
  w.batch = x.dim() == 4 ? x.size(0) : 1;
  w.channels = x.size(-3), w.in_h = x.size(-2), w.in_w = x.size(-1);
  w.kernel_h = kernel.h, w.kernel_w = kernel.w;
  w.stride_h = stride.h, w.stride_w = stride.w;
  w.pad_h = padding.h, w.pad_w = padding.w;
  w.out_h = window_output_size(w.in_h, kernel.h, stride.h, padding.h, 1);
  w.out_w = window_output_size(w.in_w, kernel.w, stride.w, padding.w, 1);
  RECUR_CHECK(w.out_h >= 1 && w.out_w >= 1,
              op << ": input of shape " << x.shape() << " with kernel " << kernel << ", stride " << stride
                 << ", padding " << padding << " gives an output of " << w.out_h << "x" << w.out_w
                 << " (out = (in + 2*padding - kernel) / stride + 1); the padded input " << w.in_h + 2 * padding.h
                 << "x" << w.in_w + 2 * padding.w << " is smaller than the kernel");
  return w;
}

Shape output_shape(const Tensor& x, const backend::Window2d& w) {
  return image_shape(x.dim() == 4, w.batch, w.channels, w.out_h, w.out_w);
}

}  // namespace
}  // namespace ops

using namespace ops;

Tensor max_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding) {
  const backend::Window2d window = pool_window("max_pool2d", x, kernel, stride, padding);
  Tensor input = dense_batch("max_pool2d", x);
  Tensor y = empty(output_shape(x, window), x.dtype(), x.device());
  auto node = make_node<MaxPool2dBackward>({x});
  // The argmax is needed only for a backward pass.
  Tensor indices = node ? empty(y.shape(), DType::Int64, x.device()) : Tensor();
  backend_of(x).max_pool2d(view_of(y), node ? view_of(indices) : backend::View{}, view_of(input), window);
  if (node) {
    node->indices = indices;
    node->input_shape = x.shape();
    node->window = window;
    record(node, {x}, {y});
  }
  return y;
}

Tensor max_pool2d(const Tensor& x, Size2 kernel) { return max_pool2d(x, kernel, kernel, 0); }

Tensor avg_pool2d(const Tensor& x, Size2 kernel, Size2 stride, Size2 padding, bool count_include_pad) {
  const backend::Window2d window = pool_window("avg_pool2d", x, kernel, stride, padding);
  Tensor input = dense_batch("avg_pool2d", x);
  Tensor y = empty(output_shape(x, window), x.dtype(), x.device());
  backend_of(x).avg_pool2d(view_of(y), view_of(input), window, count_include_pad);
  if (auto node = make_node<AvgPool2dBackward>({x})) {
    node->input_shape = x.shape();
    node->window = window;
    node->count_include_pad = count_include_pad;
    record(node, {x}, {y});
  }
  return y;
}

Tensor avg_pool2d(const Tensor& x, Size2 kernel) { return avg_pool2d(x, kernel, kernel, 0, true); }

}  // namespace recur
