// Element offsets of every position of a strided view, in row-major order: the one serial
// loop for small index-like work (Tensor::to_vector, the CPU backend's index checks).
#pragma once

#include <cstdint>

#include "recur/core/shape.hpp"

namespace recur {

// Calls f(offset) for every position of a (shape, strides) view, offsets in elements from
// the view's first element.
template <class F>
void for_each_offset(const Shape& shape, const Shape& strides, F&& f) {
  if (shape.numel() == 0) return;
  if (shape.ndim == 0) {
    f(std::int64_t{0});
    return;
  }
  const int last = shape.ndim - 1;
  const std::int64_t len = shape[last], step = strides[last], rows = shape.numel() / len;
  std::int64_t index[kMaxDims] = {};
  std::int64_t offset = 0;  // of the current row's first element
  for (std::int64_t row = 0; row < rows; ++row) {
    for (std::int64_t i = 0; i < len; ++i) f(offset + i * step);
    for (int d = last - 1; d >= 0; --d) {
      if (++index[d] < shape[d]) {
        offset += strides[d];
        break;
      }
      offset -= strides[d] * (shape[d] - 1);
      index[d] = 0;
    }
  }
}

}  // namespace recur
