#include "backend/backend.hpp"

#include <memory>

#include "recur/core/error.hpp"

namespace recur::backend {

// Same rule as Tensor::is_contiguous: dims of extent 1 may have any stride.
bool View::is_contiguous() const {
  std::int64_t expected = 1;
  for (int d = shape.ndim - 1; d >= 0; --d) {
    if (shape[d] == 1) continue;
    if (strides[d] != expected) return false;
    expected *= shape[d];
  }
  return true;
}

View view_of(const Tensor& t) {
  View v;
  v.data = t.raw_data();
  v.dtype = t.dtype();
  v.shape = t.shape();
  v.strides = t.strides();
  return v;
}

View broadcast_view(const Tensor& t, const Shape& target) {
  View v;
  v.data = t.raw_data();
  v.dtype = t.dtype();
  v.shape = target;
  v.strides = target;
  const Shape& shape = t.shape();
  const Shape& strides = t.strides();
  int lead = target.ndim - shape.ndim;
  RECUR_CHECK(lead >= 0, "broadcast_view: shape " << shape << " has more dims than " << target);
  for (int d = 0; d < target.ndim; ++d) {
    int sd = d - lead;
    if (sd < 0) {
      v.strides[d] = 0;
    } else if (shape[sd] == target[d]) {
      v.strides[d] = target[d] == 1 ? 0 : strides[sd];
    } else {
      RECUR_CHECK(shape[sd] == 1, "broadcast_view: shape " << shape << " does not broadcast to " << target);
      v.strides[d] = 0;
    }
  }
  return v;
}

void Backend::linear_cross_entropy(const View& loss, const View& x, const View& weight, const View& bias,
                                   const View& target, std::int64_t ignore_index) {
  const std::int64_t n = x.shape[0], k = x.shape[1], classes = weight.shape[0];
  const std::size_t bytes = static_cast<std::size_t>(n * classes) * dtype_size(x.dtype);
  Allocator& memory = allocator();
  const auto release = [&](void* p) { memory.deallocate(p, bytes); };
  const std::unique_ptr<void, decltype(release)> logits(memory.allocate(bytes), release);
  const View z{logits.get(), x.dtype, Shape{n, classes}, Shape{classes, 1}};
  gemm(false, true, n, classes, k, 1.0, x.data, k, weight.data, k, 0.0, z.data, classes, x.dtype, 1, 0, 0, 0,
       bias.data);
  cross_entropy(loss, z, target, ignore_index);
}

void Backend::rnn_forward_all(std::span<const RnnForwardCall> calls) {
  for (const RnnForwardCall& c : calls) rnn_forward(c.dims, c.weights, c.buffers);
}

void Backend::rnn_backward_all(std::span<const RnnBackwardCall> calls) {
  for (const RnnBackwardCall& c : calls) rnn_backward(c.dims, c.weights, c.buffers);
}

}  // namespace recur::backend
