// Shape: a small fixed-capacity list of extents (also used for strides). It lives on the
// stack, so building shapes in hot code never allocates.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <ostream>
#include <string>
#include <vector>

namespace recur {

constexpr int kMaxDims = 8;

struct Shape {
  std::int64_t dims[kMaxDims] = {};
  int ndim = 0;

  Shape() = default;
  Shape(std::initializer_list<std::int64_t> extents);  // requires at most kMaxDims entries
  explicit Shape(const std::vector<std::int64_t>& extents);

  int size() const { return ndim; }
  bool empty() const { return ndim == 0; }
  std::int64_t operator[](int i) const { return dims[i]; }
  std::int64_t& operator[](int i) { return dims[i]; }
  const std::int64_t* begin() const { return dims; }
  const std::int64_t* end() const { return dims + ndim; }
  std::int64_t back() const { return dims[ndim - 1]; }
  void push_back(std::int64_t extent);  // throws Error past kMaxDims
  std::int64_t numel() const;           // product of extents; 1 for a scalar
  std::vector<std::int64_t> to_vector() const { return {begin(), end()}; }
  std::string str() const;              // "[2, 3]"

  bool operator==(const Shape& o) const;
  bool operator!=(const Shape& o) const { return !(*this == o); }
};

std::ostream& operator<<(std::ostream& os, const Shape& s);

// Row-major strides of a contiguous tensor of this shape, in elements.
Shape contiguous_strides(const Shape& shape);

// Maps a possibly negative dimension into [0, ndim); throws Error naming op otherwise.
int normalize_dim(int dim, int ndim, const char* op);

// NumPy broadcasting of two shapes; throws Error naming op and both shapes if they clash.
Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op);

}  // namespace recur
