#include "recur/core/tensor.hpp"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <sstream>
#include <utility>

#include "core/for_each_offset.hpp"

namespace recur {
namespace {

// Element `offset` of a CPU tensor (host memory), converted to double.
double element_as_double(const Tensor& t, std::int64_t offset) {
  const char* base = static_cast<const char*>(t.raw_data());
  switch (t.dtype()) {
    case DType::Float32: return reinterpret_cast<const float*>(base)[offset];
    case DType::Float64: return reinterpret_cast<const double*>(base)[offset];
    case DType::Int64: return static_cast<double>(reinterpret_cast<const std::int64_t*>(base)[offset]);
  }
  return 0;
}

// The elements [lo, hi] of the storage that a view with this shape, these strides and this
// offset touches (lo > hi for an empty view).
std::pair<std::int64_t, std::int64_t> span_of(const Shape& shape, const Shape& strides, std::int64_t offset) {
  std::int64_t lo = offset, hi = offset;
  for (int d = 0; d < shape.ndim; ++d) {
    if (shape[d] == 0) return {offset, offset - 1};
    std::int64_t span = strides[d] * (shape[d] - 1);
    (span < 0 ? lo : hi) += span;
  }
  return {lo, hi};
}

// t itself on the CPU; otherwise a CPU tensor with t's shape and strides over a host copy of
// the bytes t's view spans: one explicit transfer through the device's backend.
Tensor host_view(const Tensor& t) {
  if (t.device().is_cpu()) return t;
  const auto [lo, hi] = span_of(t.shape(), t.strides(), t.offset());
  const std::int64_t count = hi >= lo ? hi - lo + 1 : 0;
  const std::size_t elem = dtype_size(t.dtype());
  auto host = std::make_shared<StorageImpl>(static_cast<std::size_t>(count) * elem, Device::cpu());
  const char* src = static_cast<const char*>(t.storage()->data()) + lo * elem;
  copy_to_host(t.device(), host->data(), src, static_cast<std::size_t>(count) * elem);
  return Tensor::make_view(std::move(host), t.shape(), t.strides(), t.offset() - lo, t.dtype());
}

}  // namespace

Tensor Tensor::make_view(Storage storage, const Shape& shape, const Shape& strides,
                         std::int64_t offset, DType dtype) {
  RECUR_CHECK(storage, "make_view: null storage");
  RECUR_CHECK(shape.ndim == strides.ndim, "make_view: shape " << shape << " and strides " << strides
                                                              << " differ in rank");
  for (int d = 0; d < shape.ndim; ++d) RECUR_CHECK(shape[d] >= 0, "make_view: negative extent in shape " << shape);
  auto [lo, hi] = span_of(shape, strides, offset);
  if (hi < lo) hi = lo = offset;
  std::int64_t capacity = static_cast<std::int64_t>(storage->nbytes() / dtype_size(dtype));
  RECUR_CHECK(lo >= 0 && (shape.numel() == 0 || hi < capacity),
              "make_view: view of shape " << shape << " with strides " << strides << " at offset "
                                          << offset << " exceeds a storage of " << capacity
                                          << " elements");
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::move(storage);
  impl->shape = shape;
  impl->strides = strides;
  impl->offset = offset;
  impl->dtype = dtype;
  return Tensor(std::move(impl));
}

Tensor empty(const Shape& shape, DType dtype, Device device) {
  for (std::int64_t e : shape) RECUR_CHECK(e >= 0, "empty: negative extent in shape " << shape);
  const std::int64_t numel = shape.numel(), elem = static_cast<std::int64_t>(dtype_size(dtype));
  RECUR_CHECK(numel <= INT64_MAX / elem, "empty: shape " << shape << " needs more than 2^63 bytes");
  auto storage = std::make_shared<StorageImpl>(static_cast<std::size_t>(numel * elem), device);
  return Tensor::make_view(std::move(storage), shape, contiguous_strides(shape), 0, dtype);
}

std::int64_t Tensor::size(int d) const { return shape()[normalize_dim(d, dim(), "size")]; }
std::int64_t Tensor::stride(int d) const { return strides()[normalize_dim(d, dim(), "stride")]; }

bool Tensor::is_contiguous() const {
  if (numel() == 0) return true;  // nothing to lay out; contiguous_strides skips zero extents
  std::int64_t expected = 1;
  for (int d = dim() - 1; d >= 0; --d) {
    if (shape()[d] == 1) continue;
    if (strides()[d] != expected) return false;
    expected *= shape()[d];
  }
  return true;
}

void* Tensor::raw_data() const {
  return static_cast<char*>(impl().storage->data()) + impl().offset * dtype_size(dtype());
}

double Tensor::item() const {
  RECUR_CHECK(numel() == 1, "item: tensor of shape " << shape() << " has " << numel()
                                                     << " elements, expected exactly one");
  return element_as_double(host_view(*this), 0);
}

template <class T>
std::vector<T> Tensor::to_vector() const {
  const Tensor host = host_view(*this);
  if (host.dtype() == dtype_of<T>() && host.is_contiguous()) {  // one copy, no per-element walk
    const T* first = host.data<T>();
    return std::vector<T>(first, first + host.numel());
  }
  std::vector<T> out;
  out.reserve(numel());
  for_each_offset(host.shape(), host.strides(),
                  [&](std::int64_t off) { out.push_back(static_cast<T>(element_as_double(host, off))); });
  return out;
}
template std::vector<float> Tensor::to_vector<float>() const;
template std::vector<double> Tensor::to_vector<double>() const;
template std::vector<std::int64_t> Tensor::to_vector<std::int64_t>() const;

std::string Tensor::str() const {
  if (!defined()) return "tensor(undefined)";
  std::ostringstream os;
  std::vector<double> values = to_vector<double>();
  bool integral = dtype() == DType::Int64;
  bool all_whole = true;
  double largest = 0;
  for (double v : values) {
    if (std::isfinite(v)) largest = std::max(largest, std::fabs(v));
    if (v != std::floor(v)) all_whole = false;
  }
  bool scientific = !integral && (largest >= 1e5 || (largest > 0 && largest < 1e-3));
  auto format = [&](double v) {
    char buf[48];
    if (integral) std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(v));
    else if (scientific) std::snprintf(buf, sizeof buf, "%.4e", v);
    else if (all_whole) std::snprintf(buf, sizeof buf, "%.0f.", v);
    else std::snprintf(buf, sizeof buf, "%.4f", v);
    return std::string(buf);
  };
  std::size_t width = 0;
  for (double v : values) width = std::max(width, format(v).size());

  // Prints dimension d starting at flat index `start`; long dimensions show 3 + ... + 3.
  const Shape& s = shape();
  std::int64_t flat_stride[kMaxDims];
  for (int d = dim() - 1, st = 1; d >= 0; --d) { flat_stride[d] = st; st *= s[d]; }
  auto print = [&](auto&& self, int d, std::int64_t start) -> void {
    if (d == dim()) {
      std::string v = format(values[start]);
      os << std::string(width - v.size(), ' ') << v;
      return;
    }
    os << '[';
    std::int64_t n = s[d];
    for (std::int64_t i = 0; i < n; ++i) {
      if (n > 6 && i == 3) {
        os << (d == dim() - 1 ? "..., " : "...,\n" + std::string(8 + d, ' '));
        i = n - 4;
        continue;
      }
      self(self, d + 1, start + i * flat_stride[d]);
      if (i + 1 < n) os << (d == dim() - 1 ? ", " : ",\n" + std::string(dim() - d - 1, '\n').substr(1) + std::string(8 + d, ' '));
    }
    os << ']';
  };
  os << "tensor(";
  if (numel() == 0) os << "[]";
  else print(print, 0, 0);
  if (numel() == 0) os << ", size=" << s;
  if (dtype() != DType::Float32) os << ", dtype=" << dtype();
  if (!device().is_cpu()) os << ", device=" << device();
  os << ')';
  return os.str();
}

std::ostream& operator<<(std::ostream& os, const Tensor& t) { return os << t.str(); }

}  // namespace recur
