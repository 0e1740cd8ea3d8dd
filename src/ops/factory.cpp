// Factories: constant, range, literal and random tensors. None of them records autograd.
#include <cmath>
#include <limits>

#include "ops/op_helpers.hpp"

namespace recur {
namespace ops {
namespace {

// Extents must be non-negative and their product must fit: a wrapped element count would
// allocate a buffer smaller than the tensor claims to be.
void check_shape(const char* op, const Shape& shape) {
  std::int64_t n = 1;
  for (std::int64_t e : shape) {
    RECUR_CHECK(e >= 0, op << ": negative extent in shape " << shape);
    RECUR_CHECK(!__builtin_mul_overflow(n, e, &n), op << ": shape " << shape << " has too many elements");
  }
}

// An int64 tensor cannot hold NaN, infinities or values past its range (the cast is undefined).
void check_storable(const char* op, double value, DType dtype) {
  if (dtype != DType::Int64) return;
  RECUR_CHECK(std::isfinite(value) && value >= -9.2233720368547758e18 && value < 9.2233720368547758e18,
              op << ": value " << value << " cannot be stored in an int64 tensor");
}

// Host-side write of element i of a fresh contiguous CPU tensor (uploaded afterwards), converting from double.
void store(const Tensor& t, std::int64_t i, double value) {
  switch (t.dtype()) {
    case DType::Float32: t.data<float>()[i] = static_cast<float>(value); break;
    case DType::Float64: t.data<double>()[i] = value; break;
    case DType::Int64: t.data<std::int64_t>()[i] = static_cast<std::int64_t>(value); break;
  }
}

// A contiguous tensor on `device` holding the bytes of a host buffer: one upload.
Tensor upload(const void* host, const Shape& shape, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  if (t.numel() > 0)
    backend_of(t).copy_from_host(t.raw_data(), host, static_cast<std::size_t>(t.numel()) * dtype_size(dtype));
  return t;
}

// A contiguous CPU tensor filled on the host, moved to `device` (itself when that is the CPU).
Tensor upload(const Tensor& host, Device device) {
  if (device.is_cpu()) return host;
  return upload(host.raw_data(), host.shape(), host.dtype(), device);
}

template <class T>
Tensor from_values(const std::vector<T>& values, const Shape& shape, Device device) {
  Shape s = shape.empty() ? Shape{static_cast<std::int64_t>(values.size())} : shape;
  check_shape("from_vector", s);
  RECUR_CHECK(s.numel() == static_cast<std::int64_t>(values.size()),
              "from_vector: " << values.size() << " values do not fill shape " << s << " (" << s.numel()
                              << " elements)");
  return upload(values.data(), s, dtype_of<T>(), device);
}

// Random fills reserve ceil(n/2) Philox blocks: the kernel draws elements 2j and 2j+1
// from block first + j, so the stream position advances the same for any thread count.
Generator& generator_or_default(Generator* gen) { return gen ? *gen : default_generator(); }

std::uint64_t reserve_blocks(Generator& gen, const Tensor& t) {
  return gen.reserve(static_cast<std::uint64_t>(t.numel() + 1) / 2);
}

void check_random_dtype(const char* op, DType dtype) {
  RECUR_CHECK(is_floating(dtype), op << ": expected a float32 or float64 dtype, got " << dtype);
}

// A tensor filled with value, checked under the name of the factory the user called.
Tensor constant(const char* op, const Shape& shape, double value, DType dtype, Device device) {
  check_shape(op, shape);
  check_storable(op, value, dtype);
  Tensor t = empty(shape, dtype, device);
  if (t.numel() > 0) backend_of(t).fill(view_of(t), value);
  return t;
}

}  // namespace
}  // namespace ops

using namespace ops;

Tensor full(const Shape& shape, double value, DType dtype, Device device) {
  return constant("full", shape, value, dtype, device);
}

Tensor zeros(const Shape& shape, DType dtype, Device device) { return constant("zeros", shape, 0, dtype, device); }
Tensor ones(const Shape& shape, DType dtype, Device device) { return constant("ones", shape, 1, dtype, device); }

Tensor zeros_like(const Tensor& t) {
  check_defined("zeros_like", t);
  return constant("zeros_like", t.shape(), 0, t.dtype(), t.device());
}

Tensor ones_like(const Tensor& t) {
  check_defined("ones_like", t);
  return constant("ones_like", t.shape(), 1, t.dtype(), t.device());
}

Tensor arange(std::int64_t end, DType dtype, Device device) {
  RECUR_CHECK(end >= 0, "arange: end " << end << " is negative (expected end >= 0)");
  Tensor t = empty({end}, dtype);
  for (std::int64_t i = 0; i < end; ++i) store(t, i, static_cast<double>(i));
  return upload(t, device);
}

Tensor arange(double start, double end, double step, DType dtype, Device device) {
  RECUR_CHECK(std::isfinite(start) && std::isfinite(end) && std::isfinite(step),
              "arange: start " << start << ", end " << end << " and step " << step << " must be finite");
  RECUR_CHECK(step != 0, "arange: step must be non-zero");
  // As PyTorch: a range that runs away from end is an error, not an empty tensor.
  RECUR_CHECK((step > 0 && start <= end) || (step < 0 && start >= end),
              "arange: step " << step << " does not lead from start " << start << " to end " << end);
  double count = std::ceil((end - start) / step);
  RECUR_CHECK(count < 4.6e18, "arange: range from " << start << " to " << end << " with step " << step
                                                   << " has too many elements");
  std::int64_t n = static_cast<std::int64_t>(count);
  check_storable("arange", start, dtype);
  check_storable("arange", start + static_cast<double>(n > 0 ? n - 1 : 0) * step, dtype);
  Tensor t = empty({n}, dtype);
  // start + i * step rather than a running sum, so rounding errors do not accumulate.
  for (std::int64_t i = 0; i < n; ++i) store(t, i, start + static_cast<double>(i) * step);
  return upload(t, device);
}

Tensor from_vector(const std::vector<float>& values, const Shape& shape, Device device) {
  return from_values(values, shape, device);
}
Tensor from_vector(const std::vector<double>& values, const Shape& shape, Device device) {
  return from_values(values, shape, device);
}
Tensor from_vector(const std::vector<std::int64_t>& values, const Shape& shape, Device device) {
  return from_values(values, shape, device);
}

Tensor tensor(std::initializer_list<double> values, DType dtype, Device device) {
  Tensor t = empty({static_cast<std::int64_t>(values.size())}, dtype);
  std::int64_t i = 0;
  for (double v : values) {
    check_storable("tensor", v, dtype);
    store(t, i++, v);
  }
  return upload(t, device);
}

Tensor tensor(std::initializer_list<std::initializer_list<double>> rows, DType dtype, Device device) {
  std::int64_t n_rows = static_cast<std::int64_t>(rows.size());
  std::int64_t n_cols = n_rows > 0 ? static_cast<std::int64_t>(rows.begin()->size()) : 0;
  std::int64_t r = 0;
  for (const auto& row : rows) {
    RECUR_CHECK(static_cast<std::int64_t>(row.size()) == n_cols,
                "tensor: row " << r << " has " << row.size() << " values, but row 0 has " << n_cols);
    ++r;
  }
  Tensor t = empty({n_rows, n_cols}, dtype);
  std::int64_t i = 0;
  for (const auto& row : rows)
    for (double v : row) {
      check_storable("tensor", v, dtype);
      store(t, i++, v);
    }
  return upload(t, device);
}

Tensor scalar_tensor(double value, DType dtype, Device device) {
  check_storable("scalar_tensor", value, dtype);
  Tensor t = empty({}, dtype);
  store(t, 0, value);
  return upload(t, device);
}

Tensor uniform(const Shape& shape, double low, double high, DType dtype, Generator* gen, Device device) {
  check_shape("uniform", shape);
  check_random_dtype("uniform", dtype);
  RECUR_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high,
              "uniform: expected finite low <= high, got low " << low << " and high " << high);
  Tensor t = empty(shape, dtype, device);
  Generator& g = generator_or_default(gen);
  std::uint64_t first = reserve_blocks(g, t);
  if (t.numel() > 0) backend_of(t).fill_uniform(view_of(t), low, high, g.seed(), first);
  return t;
}

Tensor normal(const Shape& shape, double mean, double stddev, DType dtype, Generator* gen, Device device) {
  check_shape("normal", shape);
  check_random_dtype("normal", dtype);
  RECUR_CHECK(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0,
              "normal: expected a finite mean and a finite stddev >= 0, got mean " << mean << " and stddev "
                                                                                 << stddev);
  Tensor t = empty(shape, dtype, device);
  Generator& g = generator_or_default(gen);
  std::uint64_t first = reserve_blocks(g, t);
  if (t.numel() > 0) backend_of(t).fill_normal(view_of(t), mean, stddev, g.seed(), first);
  return t;
}

Tensor bernoulli(const Shape& shape, double p, DType dtype, Generator* gen, Device device) {
  check_shape("bernoulli", shape);
  check_random_dtype("bernoulli", dtype);
  RECUR_CHECK(p >= 0 && p <= 1, "bernoulli: probability " << p << " is outside [0, 1]");
  Tensor t = empty(shape, dtype, device);
  Generator& g = generator_or_default(gen);
  std::uint64_t first = reserve_blocks(g, t);
  if (t.numel() > 0) backend_of(t).fill_bernoulli(view_of(t), p, g.seed(), first);
  return t;
}

}  // namespace recur
