// The machinery of tests/test_backend.cpp: which backends run, buffers of a backend's own
// memory with views over them, and comparisons of what a backend computed with a reference.
//
// Every buffer a kernel sees comes from the backend's allocator and is filled with
// copy_from_host; results come back with copy_to_host. Host code never reads a device
// pointer, so the same case runs unchanged on the CPU and on a GPU.
#pragma once

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <algorithm>
#include <functional>
#include <limits>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "backend/backend.hpp"
#include "recur/core/random.hpp"
#ifdef RECUR_CUDA
#include "backend/cuda/cuda_backend.hpp"
#endif

namespace recur::backend::harness {

// ---------------------------------------------------------------- the backends (columns)

// One column of the table: a backend, or why this build or machine cannot run it.
struct BackendUnderTest {
  std::string name;                         // the test-name suffix: "cpu", "cuda"
  std::function<Backend*()> get;            // null when the backend is unavailable here
  std::string unavailable;                  // the GTEST_SKIP message then
};

// gtest prints a parameter in failure messages by this.
inline void PrintTo(const BackendUnderTest& b, std::ostream* os) { *os << b.name; }

inline Backend& cpu_reference() { return backend_for(Device::cpu()); }

// CPU always; CUDA when the test was built with RECUR_CUDA. Without a GPU the CUDA column
// stays in the list, so its cases show as SKIPPED rather than vanish or pass.
inline std::vector<BackendUnderTest> backends_under_test() {
  std::vector<BackendUnderTest> list;
  list.push_back({"cpu", [] { return &cpu_reference(); }, ""});
#ifdef RECUR_CUDA
  list.push_back({"cuda",
                  []() -> Backend* { return cuda_device_count() > 0 ? &cuda_backend(0) : nullptr; },
                  "built with RECUR_CUDA but cuda_device_count() == 0: no GPU to run the CUDA backend on"});
#endif
  return list;
}

// ---------------------------------------------------------------- host values

// Deterministic values in [lo, hi), rounded to dtype (int64: truncated toward zero).
inline std::vector<double> random_values(std::int64_t n, DType dtype, double lo = -2, double hi = 2,
                                         std::uint64_t seed = 1) {
  std::vector<double> out(static_cast<std::size_t>(n));
  for (std::int64_t i = 0; i < n; ++i) {
    auto w = philox4x32(seed, static_cast<std::uint64_t>(i));
    double v = lo + (hi - lo) * uniform_double(w[0], w[1]);
    if (dtype == DType::Float32) v = static_cast<float>(v);
    if (dtype == DType::Int64) v = static_cast<double>(static_cast<std::int64_t>(v));
    out[static_cast<std::size_t>(i)] = v;
  }
  return out;
}

inline double round_to(DType dtype, double v) {
  if (dtype == DType::Float32) return static_cast<float>(v);
  if (dtype == DType::Int64) return static_cast<double>(static_cast<std::int64_t>(v));
  return v;
}

// Visits every multi-index of shape in row-major order.
template <class F>
void for_each_index(const Shape& shape, F&& f) {
  if (shape.numel() == 0) return;
  std::int64_t idx[kMaxDims] = {};
  for (std::int64_t i = 0, n = shape.numel(); i < n; ++i) {
    f(idx);
    for (int d = shape.ndim - 1; d >= 0; --d) {
      if (++idx[d] < shape[d]) break;
      idx[d] = 0;
    }
  }
}

inline std::int64_t row_major_offset(const Shape& shape, const std::int64_t* idx) {
  std::int64_t off = 0, stride = 1;
  for (int d = shape.ndim - 1; d >= 0; --d) off += idx[d] * stride, stride *= shape[d];
  return off;
}

// ---------------------------------------------------------------- device buffers

// `count` elements of `dtype` in the backend's memory, freed on destruction. Host values go
// in and out as doubles, converted on the host side of the copy.
class DeviceBuffer {
 public:
  DeviceBuffer(Backend& be, DType dtype, std::int64_t count)
      : be_(be), dtype_(dtype), count_(count),
        nbytes_(static_cast<std::size_t>(std::max<std::int64_t>(count, 1)) * dtype_size(dtype)) {
    data_ = be_.allocator().allocate(nbytes_);
  }
  ~DeviceBuffer() { be_.allocator().deallocate(data_, nbytes_); }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;

  void* data() const { return data_; }
  // The address of element `offset` (pointer arithmetic only; never dereferenced here).
  void* at(std::int64_t offset) const { return static_cast<char*>(data_) + offset * static_cast<std::int64_t>(dtype_size(dtype_)); }
  DType dtype() const { return dtype_; }
  std::int64_t count() const { return count_; }

  void upload(const std::vector<double>& host) {
    if (count_ == 0) return;
    std::vector<unsigned char> bytes(static_cast<std::size_t>(count_) * dtype_size(dtype_));
    for (std::int64_t i = 0; i < count_; ++i) {
      double v = host[static_cast<std::size_t>(i)];
      if (dtype_ == DType::Float32) {
        float f = static_cast<float>(v);
        std::memcpy(bytes.data() + 4 * i, &f, 4);
      } else if (dtype_ == DType::Float64) {
        std::memcpy(bytes.data() + 8 * i, &v, 8);
      } else {
        std::int64_t n = static_cast<std::int64_t>(v);
        std::memcpy(bytes.data() + 8 * i, &n, 8);
      }
    }
    be_.copy_from_host(data_, bytes.data(), bytes.size());
  }

  std::vector<double> download() const {
    std::vector<double> out(static_cast<std::size_t>(count_));
    if (count_ == 0) return out;
    std::vector<unsigned char> bytes(static_cast<std::size_t>(count_) * dtype_size(dtype_));
    be_.copy_to_host(bytes.data(), data_, bytes.size());
    for (std::int64_t i = 0; i < count_; ++i) {
      if (dtype_ == DType::Float32) {
        float f;
        std::memcpy(&f, bytes.data() + 4 * i, 4);
        out[static_cast<std::size_t>(i)] = f;
      } else if (dtype_ == DType::Float64) {
        std::memcpy(&out[static_cast<std::size_t>(i)], bytes.data() + 8 * i, 8);
      } else {
        std::int64_t n;
        std::memcpy(&n, bytes.data() + 8 * i, 8);
        out[static_cast<std::size_t>(i)] = static_cast<double>(n);
      }
    }
    return out;
  }

 private:
  Backend& be_;
  DType dtype_;
  std::int64_t count_;
  std::size_t nbytes_;
  void* data_ = nullptr;
};

// How a view lays its elements out in its buffer.
enum class Layout {
  Contiguous,
  Reversed,  // every dim transposed: the buffer holds the reversed shape, row-major
  Strided,   // every stride doubled and the first element one in: gaps everywhere
};

inline const char* layout_name(Layout l) {
  return l == Layout::Contiguous ? "contiguous" : l == Layout::Reversed ? "reversed" : "strided";
}

// What fills the elements of a buffer no view element covers: NaN for floating dtypes, so
// a kernel that reads a gap poisons its result; a kernel that writes one is caught by read().
inline double gap_value(DType dtype) {
  return dtype == DType::Int64 ? -777777.0 : std::numeric_limits<double>::quiet_NaN();
}

// A view of backend memory and the host's copy of its logical (row-major) values.
struct Arg {
  std::shared_ptr<DeviceBuffer> buffer;  // null for a view with null data
  View view;
  std::vector<double> values;       // logical values, row-major over view.shape
  std::int64_t first = 0;           // the element of the buffer view.data points at
};

// A view with the given strides and first element over a new buffer of just enough elements,
// holding `values` at the view's positions and gap_value elsewhere.
inline Arg make_strided(Backend& be, DType dtype, const Shape& shape, const Shape& strides, std::int64_t first,
                        std::vector<double> values) {
  Arg a;
  std::int64_t extent = first + 1;
  for (int d = 0; d < shape.ndim; ++d)
    if (shape[d] > 0) extent += (shape[d] - 1) * strides[d];
  if (shape.numel() == 0) extent = first;
  std::vector<double> host(static_cast<std::size_t>(extent), gap_value(dtype));
  for (double& v : values) v = round_to(dtype, v);
  if (strides == contiguous_strides(shape)) {
    std::copy(values.begin(), values.end(), host.begin() + first);
  } else {
    std::int64_t i = 0;
    for_each_index(shape, [&](const std::int64_t* idx) {
      std::int64_t off = first;
      for (int d = 0; d < shape.ndim; ++d) off += idx[d] * strides[d];
      host[static_cast<std::size_t>(off)] = values[static_cast<std::size_t>(i++)];
    });
  }
  a.buffer = std::make_shared<DeviceBuffer>(be, dtype, extent);
  a.buffer->upload(host);
  a.view.data = a.buffer->at(first);
  a.view.dtype = dtype;
  a.view.shape = shape;
  a.view.strides = strides;
  a.values = std::move(values);
  a.first = first;
  return a;
}

inline Shape reversed(const Shape& s) {
  Shape r = s;
  for (int d = 0; d < s.ndim; ++d) r[d] = s[s.ndim - 1 - d];
  return r;
}

// `values` (row-major over shape) in a buffer laid out as `layout`.
inline Arg make_arg(Backend& be, DType dtype, const Shape& shape, const std::vector<double>& values,
                    Layout layout = Layout::Contiguous) {
  Shape strides = contiguous_strides(shape);
  std::int64_t first = 0;
  if (layout == Layout::Reversed) strides = reversed(contiguous_strides(reversed(shape)));
  if (layout == Layout::Strided) {
    for (int d = 0; d < shape.ndim; ++d) strides[d] *= 2;
    first = 1;
  }
  return make_strided(be, dtype, shape, strides, first, values);
}

// An output view filled with gap values (so an element the kernel fails to write shows).
inline Arg make_out(Backend& be, DType dtype, const Shape& shape, Layout layout = Layout::Contiguous) {
  return make_arg(be, dtype, shape, std::vector<double>(static_cast<std::size_t>(shape.numel()), gap_value(dtype)),
                  layout);
}

// base (row-major over base_shape) broadcast to target, row-major: what a stride-0 view reads.
inline std::vector<double> broadcast_values(const Shape& base_shape, const std::vector<double>& base,
                                            const Shape& target) {
  std::vector<double> out;
  const int lead = target.ndim - base_shape.ndim;
  for_each_index(target, [&](const std::int64_t* idx) {
    std::int64_t bidx[kMaxDims] = {};
    for (int d = lead; d < target.ndim; ++d) bidx[d - lead] = base_shape[d - lead] == 1 ? 0 : idx[d];
    out.push_back(base[static_cast<std::size_t>(row_major_offset(base_shape, bidx))]);
  });
  return out;
}

// base (row-major over base_shape) broadcast to target with stride 0 where base has extent 1
// (or no dim); the Arg's values are the broadcast ones.
inline Arg make_broadcast(Backend& be, DType dtype, const Shape& base_shape, const std::vector<double>& base,
                          const Shape& target) {
  Arg a = make_arg(be, dtype, base_shape, base);
  const int lead = target.ndim - base_shape.ndim;
  Shape base_strides = contiguous_strides(base_shape);
  a.view.shape = target;
  a.view.strides = target;
  for (int d = 0; d < target.ndim; ++d) {
    const int sd = d - lead;
    a.view.strides[d] = (sd < 0 || base_shape[sd] == 1) ? 0 : base_strides[sd];
  }
  a.values = broadcast_values(base_shape, a.values, target);
  return a;
}

// A view with null data (an output a kernel must not compute).
inline View null_view(DType dtype, const Shape& shape) {
  View v;
  v.dtype = dtype;
  v.shape = shape;
  v.strides = contiguous_strides(shape);
  return v;
}

// The view's logical values as the backend left them; fails the test if an element of the
// buffer outside the view changed.
inline std::vector<double> read(const Arg& a) {
  std::vector<double> host = a.buffer->download();
  if (a.first == 0 && static_cast<std::int64_t>(host.size()) == a.view.numel() &&
      a.view.strides == contiguous_strides(a.view.shape))
    return host;  // a dense view covering its whole buffer
  std::vector<bool> covered(host.size(), false);
  std::vector<double> out;
  out.reserve(static_cast<std::size_t>(a.view.numel()));
  for_each_index(a.view.shape, [&](const std::int64_t* idx) {
    std::int64_t off = a.first;
    for (int d = 0; d < a.view.shape.ndim; ++d) off += idx[d] * a.view.strides[d];
    covered[static_cast<std::size_t>(off)] = true;
    out.push_back(host[static_cast<std::size_t>(off)]);
  });
  const double gap = gap_value(a.view.dtype);
  for (std::size_t i = 0; i < host.size(); ++i) {
    if (covered[i]) continue;
    bool same = std::isnan(gap) ? std::isnan(host[i]) : host[i] == gap;
    if (!same) {
      ADD_FAILURE() << "element " << i << " of the buffer, outside the view, was overwritten with " << host[i];
      break;
    }
  }
  return out;
}

// ---------------------------------------------------------------- comparisons

struct Tol {
  double rtol = 0, atol = 0;
};

// |got - want| <= atol + rtol |want|, elementwise; NaN matches NaN, inf matches itself.
inline void expect_close(const std::vector<double>& got, const std::vector<double>& want, Tol tol,
                         const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int failures = 0;
  for (std::size_t i = 0; i < got.size() && failures < 5; ++i) {
    bool ok = (std::isnan(got[i]) && std::isnan(want[i])) || got[i] == want[i] ||
              std::fabs(got[i] - want[i]) <= tol.atol + tol.rtol * std::fabs(want[i]);
    if (!ok) {
      ++failures;
      ADD_FAILURE() << what << ": element " << i << " is " << got[i] << ", expected " << want[i]
                    << " (rtol " << tol.rtol << ", atol " << tol.atol << ")";
    }
  }
}

// Named outputs of one run of a case.
using Outputs = std::vector<std::pair<std::string, std::vector<double>>>;

// ---------------------------------------------------------------- the fixture

// A test of this fixture runs on the backend of its parameter. check() runs a case and
// compares with its reference: the naive loops on the CPU backend, the CPU backend's own
// results on any other, so a new backend is checked against the one already trusted.
class Ops : public testing::TestWithParam<BackendUnderTest> {
 public:
  void SetUp() override {
    be_ = GetParam().get();
    if (be_ == nullptr) GTEST_SKIP() << GetParam().unavailable;
  }
  // The number of cases the test compared, in the XML report (--gtest_output=xml).
  void TearDown() override {
    if (be_ != nullptr) RecordProperty("cases", cases_);
  }
  Backend& be() { return *be_; }
  bool on_reference() const { return be_ == &cpu_reference(); }

  // run(backend) places the case's host inputs on that backend, runs the kernel and reads
  // the outputs back; naive() computes them with plain loops in double.
  void check(const std::string& what, const std::function<Outputs(Backend&)>& run,
             const std::function<Outputs()>& naive, Tol tol) {
    ++cases_;
    Outputs got = run(be());
    Outputs want = on_reference() ? naive() : run(cpu_reference());
    ASSERT_EQ(got.size(), want.size()) << what;
    for (std::size_t i = 0; i < got.size(); ++i)
      expect_close(got[i].second, want[i].second, tol, what + " [" + got[i].first + "]");
  }

 private:
  Backend* be_ = nullptr;
  int cases_ = 0;
};

inline std::string backend_test_name(const testing::TestParamInfo<BackendUnderTest>& info) { return info.param.name; }

}  // namespace recur::backend::harness
