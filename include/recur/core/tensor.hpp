// Tensor: a strided view of a reference-counted Storage, plus (when it takes part in
// autograd) a pointer to its autograd metadata.
//
// Copying a Tensor copies a handle: both names refer to the same data, as in PyTorch.
// Views (reshape, transpose, narrow, ...) share storage and differ in shape, strides
// and offset; contiguous() makes a dense row-major copy only when one is needed.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "recur/core/device.hpp"
#include "recur/core/dtype.hpp"
#include "recur/core/error.hpp"
#include "recur/core/shape.hpp"
#include "recur/core/storage.hpp"

namespace recur {

namespace autograd {
struct AutogradMeta;  // defined by the autograd layer; core only holds the pointer
}

struct TensorImpl {
  Storage storage;
  Shape shape;
  Shape strides;            // in elements
  std::int64_t offset = 0;  // in elements, from storage->data()
  DType dtype = DType::Float32;
  std::shared_ptr<autograd::AutogradMeta> autograd;
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor: defined() is false, every accessor throws
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // Wraps existing storage. Requires the view to lie inside the storage (checked).
  static Tensor make_view(Storage storage, const Shape& shape, const Shape& strides,
                          std::int64_t offset, DType dtype);

  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  int dim() const { return impl().shape.ndim; }
  std::int64_t size(int dim) const;  // negative dims count from the end
  std::int64_t numel() const { return impl().shape.numel(); }
  const Shape& strides() const { return impl().strides; }
  std::int64_t stride(int dim) const;
  std::int64_t offset() const { return impl().offset; }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  const Storage& storage() const { return impl().storage; }
  bool is_contiguous() const;

  // Address of the first element in the memory of device(): a host pointer only for a CPU
  // tensor. Kernels (src/backend) take it; nothing else may dereference it.
  void* raw_data() const;
  // Host pointer to the first element. Requires dtype() == dtype_of<T>() and a tensor in host
  // memory (device() is the CPU); both checked: a tensor on another device is an Error naming
  // it (copy it first with recur::to(t, Device::cpu())).
  template <class T>
  T* data() const {
    RECUR_CHECK(dtype() == dtype_of<T>(), "data<" << dtype_of<T>() << ">: tensor is " << dtype());
    RECUR_CHECK(device().is_cpu(), "data<" << dtype_of<T>() << ">: tensor of shape " << shape() << " is on "
                                           << device() << ", not in host memory; copy it with to(t, Device::cpu())");
    return static_cast<T*>(raw_data());
  }

  // The single value of a one-element tensor, converted to double. On a device other than the
  // CPU this is an explicit read: it waits for the device and copies one element to the host.
  double item() const;
  // All elements in row-major order, converted to T. A tensor on another device is copied
  // to the host first (one transfer of the bytes its view spans).
  template <class T>
  std::vector<T> to_vector() const;

  std::string str() const;  // readable, PyTorch-like printout (copies to the host if needed)

  // --- autograd (defined in src/autograd) ---
  bool requires_grad() const;
  // Marks a leaf tensor as a parameter whose gradient backward() accumulates.
  // Requires a floating dtype and a leaf (not the result of a recorded op).
  const Tensor& set_requires_grad(bool required = true) const;
  bool is_leaf() const;
  // The accumulated gradient; undefined until a backward pass reaches this tensor.
  Tensor grad() const;
  void set_grad(const Tensor& grad) const;
  void zero_grad() const;  // drops the gradient (the next backward starts from zero)
  // Backpropagates from this tensor. Without `gradient` requires a one-element tensor;
  // otherwise `gradient` must have this tensor's shape. Frees the graph unless retain_graph.
  void backward(const Tensor& gradient = Tensor(), bool retain_graph = false) const;
  Tensor detach() const;  // same data, no history, requires_grad() false

  // --- differentiable conveniences (defined in src/ops) ---
  Tensor contiguous() const;  // *this if already contiguous, else a dense copy

  TensorImpl& impl() const {
    RECUR_CHECK(impl_, "use of an undefined tensor");
    return *impl_;
  }
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  bool is_same(const Tensor& o) const { return impl_ == o.impl_; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

std::ostream& operator<<(std::ostream& os, const Tensor& t);

// Tensors by name, sorted: a module's state_dict, an optimizer's state, a safetensors file.
using TensorMap = std::map<std::string, Tensor>;

// An uninitialised contiguous tensor. Contents are unspecified until written.
Tensor empty(const Shape& shape, DType dtype = DType::Float32, Device device = Device::cpu());

}  // namespace recur
