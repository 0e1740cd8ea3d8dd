#include "ops/window.hpp"

namespace recur {

std::ostream& operator<<(std::ostream& os, Size2 s) { return os << "(" << s.h << ", " << s.w << ")"; }

namespace ops {

Tensor reshaped(const Tensor& dense_tensor, const Shape& shape) {
  return Tensor::make_view(dense_tensor.storage(), shape, contiguous_strides(shape), dense_tensor.offset(),
                           dense_tensor.dtype());
}

Tensor dense_batch(const char* op, const Tensor& x) {
  RECUR_CHECK(x.dim() == 3 || x.dim() == 4,
              op << ": expected a 3-D (C, H, W) or 4-D (N, C, H, W) input, got shape " << x.shape());
  Tensor d = dense(x);
  return x.dim() == 4 ? d : reshaped(d, {1, x.size(0), x.size(1), x.size(2)});
}

std::int64_t window_output_size(std::int64_t in, std::int64_t kernel, std::int64_t stride, std::int64_t padding,
                                std::int64_t dilation) {
  std::int64_t span = in + 2 * padding - dilation * (kernel - 1) - 1;
  std::int64_t q = span / stride;
  if (span % stride != 0 && span < 0) --q;  // floor, not truncation
  return q + 1;
}

Shape image_shape(bool batched, std::int64_t n, std::int64_t c, std::int64_t h, std::int64_t w) {
  return batched ? Shape{n, c, h, w} : Shape{c, h, w};
}

}  // namespace ops
}  // namespace recur
