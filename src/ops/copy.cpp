// Copies, dtype conversion and in-place updates.
#include <cmath>
#include <vector>

#include "ops/op_helpers.hpp"

namespace recur {
namespace ops {
namespace {

// A dense copy made with the kernel only (no recording), in `dtype`.
Tensor dense_copy(const Tensor& src, DType dtype) {
  Tensor out = empty(src.shape(), dtype, src.device());
  if (out.numel() > 0) backend_of(src).copy(view_of(out), view_of(src));
  return out;
}

bool same_view(const Tensor& a, const Tensor& b) {
  return a.storage() == b.storage() && a.offset() == b.offset() && a.shape() == b.shape() &&
         a.strides() == b.strides() && a.dtype() == b.dtype();
}

// A source that shares storage with dst but is not exactly dst's view could be overwritten
// while it is read; such a source is copied first.
Tensor unaliased_source(const Tensor& dst, const Tensor& src) {
  if (src.storage() == dst.storage() && !same_view(dst, src)) return dense_copy(src, src.dtype());
  return src;
}

// An expanded destination (stride 0 over an extent > 1) holds one element in several places:
// an elementwise update would apply to it several times.
void check_no_internal_overlap(const char* op, const Tensor& dst) {
  for (int d = 0; d < dst.dim(); ++d)
    RECUR_CHECK(dst.stride(d) != 0 || dst.size(d) <= 1,
                op << ": the destination of shape " << dst.shape() << " has stride 0 in dimension " << d
                   << " (an expanded view), so elements alias each other; write into a clone instead");
}

void check_same_device(const char* op, const Tensor& dst, const Tensor& src) {
  RECUR_CHECK(dst.device() == src.device(), op << ": destination " << dst.shape() << " is on " << dst.device()
                                               << " but source " << src.shape() << " is on " << src.device());
}

void check_broadcasts_to(const char* op, const Tensor& src, const Shape& shape) {
  bool ok = src.dim() <= shape.ndim;
  for (int i = 0; ok && i < src.dim(); ++i) {
    std::int64_t e = src.size(i), target = shape[shape.ndim - src.dim() + i];
    ok = e == target || e == 1;
  }
  RECUR_CHECK(ok, op << ": source of shape " << src.shape() << " cannot be broadcast to the destination's shape "
                     << shape);
}

// NaN, infinities and values past int64's range have no int64 value (the cast is undefined).
void check_storable(const char* op, double value, DType dtype) {
  if (dtype != DType::Int64) return;
  RECUR_CHECK(std::isfinite(value) && value >= -9.2233720368547758e18 && value < 9.2233720368547758e18,
              op << ": value " << value << " cannot be stored in an int64 tensor");
}

// ---- clone, contiguous: y = x;  dx = g
struct CloneBackward final : Node {
  const char* name() const override { return "clone"; }
  TensorList apply(TensorList&& g) override { return {g[0]}; }
};

// ---- to_dtype between floats: y = convert(x);  dx = convert(g) back to x's dtype
struct ToDtypeBackward final : Node {
  const char* name() const override { return "to_dtype"; }
  TensorList apply(TensorList&& g) override { return {to_dtype(g[0], input_dtype)}; }
  DType input_dtype = DType::Float32;
};

// dst = src between two devices, both contiguous, of one shape and dtype: one copy through
// the backends, staged through host memory when neither device is the CPU.
void transfer(const Tensor& dst, const Tensor& src) {
  const std::size_t nbytes = static_cast<std::size_t>(src.numel()) * dtype_size(src.dtype());
  if (nbytes == 0) return;
  if (src.device().is_cpu()) {
    backend_of(dst).copy_from_host(dst.raw_data(), src.raw_data(), nbytes);
  } else if (dst.device().is_cpu()) {
    backend_of(src).copy_to_host(dst.raw_data(), src.raw_data(), nbytes);
  } else {
    std::vector<char> staging(nbytes);
    backend_of(src).copy_to_host(staging.data(), src.raw_data(), nbytes);
    backend_of(dst).copy_from_host(dst.raw_data(), staging.data(), nbytes);
  }
}

// ---- to(device): y = x on another device;  dx = g moved back to x's device
struct ToDeviceBackward final : Node {
  const char* name() const override { return "to"; }
  TensorList apply(TensorList&& g) override { return {to(g[0], source)}; }
  Device source;
};

// Random fills need a contiguous destination; others are filled through a dense buffer.
// Each fill reserves ceil(n/2) Philox blocks (two elements per block, any thread count).
enum class RandomKind { Uniform, Normal };

void random_fill(const Tensor& dst, RandomKind kind, double a, double b, Generator* gen) {
  if (dst.numel() == 0) return;
  Generator& g = gen ? *gen : default_generator();
  std::uint64_t first = g.reserve(static_cast<std::uint64_t>(dst.numel() + 1) / 2);
  Tensor target = dst.is_contiguous() ? dst : empty(dst.shape(), dst.dtype(), dst.device());
  if (kind == RandomKind::Uniform) backend_of(dst).fill_uniform(view_of(target), a, b, g.seed(), first);
  else backend_of(dst).fill_normal(view_of(target), a, b, g.seed(), first);
  if (!target.is_same(dst)) backend_of(dst).copy(view_of(dst), view_of(target));
}

}  // namespace
}  // namespace ops

using namespace ops;

Tensor clone(const Tensor& t) {
  check_defined("clone", t);
  Tensor y = dense_copy(t, t.dtype());
  if (auto node = make_node<CloneBackward>({t})) record(node, {t}, {y});
  return y;
}

Tensor contiguous(const Tensor& t) {
  check_defined("contiguous", t);
  return t.is_contiguous() ? t : clone(t);
}

Tensor Tensor::contiguous() const { return recur::contiguous(*this); }

Tensor to_dtype(const Tensor& t, DType dtype) {
  check_defined("to_dtype", t);
  if (t.dtype() == dtype) return t;
  Tensor y = dense_copy(t, dtype);
  // A conversion to int64 has no gradient; between floats the gradient converts back.
  if (is_floating(t.dtype()) && is_floating(dtype)) {
    if (auto node = make_node<ToDtypeBackward>({t})) {
      node->input_dtype = t.dtype();
      record(node, {t}, {y});
    }
  }
  return y;
}

Tensor to(const Tensor& t, Device device) {
  check_defined("to", t);
  if (t.device() == device) return t;
  Tensor y = empty(t.shape(), t.dtype(), device);  // an Error if this build lacks the device's backend
  transfer(y, t.is_contiguous() ? t : dense_copy(t, t.dtype()));
  if (is_floating(t.dtype())) {
    if (auto node = make_node<ToDeviceBackward>({t})) {
      node->source = t.device();
      record(node, {t}, {y});
    }
  }
  return y;
}

void copy_(const Tensor& dst, const Tensor& src) {
  check_writable("copy_", dst);
  check_defined("copy_", src);
  check_broadcasts_to("copy_", src, dst.shape());
  check_no_internal_overlap("copy_", dst);
  if (dst.device() != src.device()) {
    if (dst.is_contiguous() && src.is_contiguous() && dst.shape() == src.shape() && dst.dtype() == src.dtype()) {
      transfer(dst, src);  // one copy, nothing allocated (on the host side at least)
    } else {
      NoGradGuard no_grad;
      copy_(dst, to(src, dst.device()));
    }
    dst.storage()->bump_version();
    return;
  }
  if (dst.numel() == 0 || same_view(dst, src)) return;
  Tensor s = unaliased_source(dst, src);
  backend_of(dst).copy(view_of(dst), backend::broadcast_view(s, dst.shape()));
  dst.storage()->bump_version();
}

void fill_(const Tensor& dst, double value) {
  check_writable("fill_", dst);
  check_storable("fill_", value, dst.dtype());
  // An expanded destination is fine here: every alias receives the same value.
  if (dst.numel() > 0) backend_of(dst).fill(view_of(dst), value);
  dst.storage()->bump_version();
}

void zero_(const Tensor& dst) {
  check_writable("zero_", dst);
  if (dst.numel() > 0) backend_of(dst).fill(view_of(dst), 0);
  dst.storage()->bump_version();
}

void add_(const Tensor& dst, const Tensor& src, double alpha) {
  check_writable("add_", dst);
  check_defined("add_", src);
  check_same_device("add_", dst, src);
  check_broadcasts_to("add_", src, dst.shape());
  check_no_internal_overlap("add_", dst);
  if (!is_floating(dst.dtype())) {
    check_storable("add_", alpha, dst.dtype());
    RECUR_CHECK(alpha == std::floor(alpha),
                "add_: alpha " << alpha << " is not a whole number, but the destination is int64");
  }
  if (dst.numel() == 0) return;
  Tensor s = src.dtype() == dst.dtype() ? unaliased_source(dst, src) : dense_copy(src, dst.dtype());
  // One fused pass, dst = dst + alpha * src, as PyTorch's add_ with alpha.
  const BinaryOp op = alpha == 1 ? BinaryOp::Add : BinaryOp::AddScaled;
  backend_of(dst).binary(op, view_of(dst), view_of(dst), backend::broadcast_view(s, dst.shape()), {alpha, 0});
  dst.storage()->bump_version();
}

void mul_(const Tensor& dst, double factor) {
  check_writable("mul_", dst);
  check_no_internal_overlap("mul_", dst);
  if (is_floating(dst.dtype())) {
    if (dst.numel() > 0) backend_of(dst).unary(UnaryOp::MulScalar, view_of(dst), view_of(dst), {factor, 0});
  } else {
    check_storable("mul_", factor, dst.dtype());
    RECUR_CHECK(factor == std::floor(factor),
                "mul_: factor " << factor << " is not a whole number, but the destination is int64");
    if (dst.numel() > 0) {
      Tensor f = full({}, factor, dst.dtype(), dst.device());
      backend_of(dst).binary(BinaryOp::Mul, view_of(dst), view_of(dst), backend::broadcast_view(f, dst.shape()), {});
    }
  }
  dst.storage()->bump_version();
}

void clamp_(const Tensor& dst, double low, double high) {
  check_writable("clamp_", dst);
  check_floating("clamp_", dst);
  check_no_internal_overlap("clamp_", dst);
  RECUR_CHECK(low <= high, "clamp_: low " << low << " is greater than high " << high);
  if (dst.numel() > 0) backend_of(dst).unary(UnaryOp::Clamp, view_of(dst), view_of(dst), {low, high});
  dst.storage()->bump_version();
}

void uniform_(const Tensor& dst, double low, double high, Generator* gen) {
  check_writable("uniform_", dst);
  check_floating("uniform_", dst);
  check_no_internal_overlap("uniform_", dst);
  RECUR_CHECK(std::isfinite(low) && std::isfinite(high) && low <= high,
              "uniform_: expected finite low <= high, got low " << low << " and high " << high);
  random_fill(dst, RandomKind::Uniform, low, high, gen);
  dst.storage()->bump_version();
}

void normal_(const Tensor& dst, double mean, double stddev, Generator* gen) {
  check_writable("normal_", dst);
  check_floating("normal_", dst);
  check_no_internal_overlap("normal_", dst);
  RECUR_CHECK(std::isfinite(mean) && std::isfinite(stddev) && stddev >= 0,
              "normal_: expected a finite mean and a finite stddev >= 0, got mean " << mean << " and stddev "
                                                                                  << stddev);
  random_fill(dst, RandomKind::Normal, mean, stddev, gen);
  dst.storage()->bump_version();
}

}  // namespace recur
