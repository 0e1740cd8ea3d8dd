#include "recur/core/shape.hpp"

#include <sstream>

#include "recur/core/error.hpp"

namespace recur {

Shape::Shape(std::initializer_list<std::int64_t> extents) {
  for (std::int64_t e : extents) push_back(e);
}

Shape::Shape(const std::vector<std::int64_t>& extents) {
  for (std::int64_t e : extents) push_back(e);
}

void Shape::push_back(std::int64_t extent) {
  RECUR_CHECK(ndim < kMaxDims, "shape: at most " << kMaxDims << " dimensions are supported");
  dims[ndim++] = extent;
}

std::int64_t Shape::numel() const {
  std::int64_t n = 1;
  for (int i = 0; i < ndim; ++i)
    RECUR_CHECK(!__builtin_mul_overflow(n, dims[i], &n), "shape " << str() << " has more than 2^63 elements");
  return n;
}

bool Shape::operator==(const Shape& o) const {
  if (ndim != o.ndim) return false;
  for (int i = 0; i < ndim; ++i)
    if (dims[i] != o.dims[i]) return false;
  return true;
}

std::string Shape::str() const {
  std::ostringstream os;
  os << '[';
  for (int i = 0; i < ndim; ++i) os << (i ? ", " : "") << dims[i];
  os << ']';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Shape& s) { return os << s.str(); }

Shape contiguous_strides(const Shape& shape) {
  Shape strides = shape;
  std::int64_t stride = 1;
  for (int i = shape.ndim - 1; i >= 0; --i) {
    strides[i] = stride;
    // An empty tensor's strides still multiply its other extents: [0, 2^32, 2^32] overflows.
    RECUR_CHECK(!__builtin_mul_overflow(stride, shape[i] > 0 ? shape[i] : 1, &stride),
                "shape " << shape << " has strides past 2^63");
  }
  return strides;
}

int normalize_dim(int dim, int ndim, const char* op) {
  int lo = ndim == 0 ? -1 : -ndim, hi = ndim == 0 ? 0 : ndim - 1;
  RECUR_CHECK(dim >= lo && dim <= hi,
              op << ": dimension " << dim << " is out of range for a tensor of rank " << ndim
                 << " (expected " << lo << ".." << hi << ")");
  return dim < 0 ? dim + (ndim == 0 ? 1 : ndim) : dim;
}

Shape broadcast_shapes(const Shape& a, const Shape& b, const char* op) {
  int n = a.ndim > b.ndim ? a.ndim : b.ndim;
  Shape out;
  for (int i = 0; i < n; ++i) out.push_back(1);
  for (int i = 0; i < n; ++i) {
    int ia = i - (n - a.ndim), ib = i - (n - b.ndim);
    std::int64_t ea = ia >= 0 ? a[ia] : 1, eb = ib >= 0 ? b[ib] : 1;
    RECUR_CHECK(ea == eb || ea == 1 || eb == 1,
                op << ": shapes " << a << " and " << b << " cannot be broadcast (dimension " << i
                   << ": " << ea << " vs " << eb << ")");
    out[i] = ea == 1 ? eb : ea;
  }
  return out;
}

}  // namespace recur
