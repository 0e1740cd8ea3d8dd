// What every op file shares: operand checks, kernel launch helpers, recording.
#pragma once

#include <memory>
#include <utility>
#include <vector>

#include "autograd/node.hpp"
#include "backend/backend.hpp"
#include "recur/ops.hpp"

namespace recur::ops {

using autograd::Node;
using autograd::SavedTensor;
using autograd::TensorList;
using backend::BinaryOp;
using backend::ReduceOp;
using backend::Scalars;
using backend::UnaryOp;
using backend::view_of;

inline backend::Backend& backend_of(const Tensor& t) { return backend::backend_for(t.device()); }

void check_defined(const char* op, const Tensor& t);
void check_floating(const char* op, const Tensor& t);
void check_int64(const char* op, const char* what, const Tensor& t);
// Same device and dtype, naming both operands' shapes on failure.
void check_compatible(const char* op, const Tensor& a, const Tensor& b);
// Throws if t requires grad while grad mode is on: in-place writes would corrupt autograd.
void check_writable(const char* op, const Tensor& t);

// linear's operand checks (ops.hpp); returns the output's shape (x's leading dims, out_features).
Shape check_linear(const char* op, const Tensor& x, const Tensor& weight, const Tensor& bias);

// The smallest and largest value of a non-empty int64 tensor: one pass on its device, two
// numbers read back (range checks before a kernel that trusts its indices).
std::pair<std::int64_t, std::int64_t> int_min_max(const Tensor& t);

// t's data as a dense tensor of t's shape, detached: t's storage when contiguous, else a
// copy made by the kernel alone (not recorded; the op records its own node).
Tensor dense(const Tensor& t);

// The gradient of a broadcast operand: grad (of the broadcast shape) summed down to `shape`.
Tensor sum_to(const Tensor& grad, const Shape& shape);

// Records `node` for outputs when any input requires grad; returns whether it did.
// Usage:  if (auto node = make_node<TanhBackward>({x})) { node->y = y; record(node, {x}, {y}); }
template <class N>
std::shared_ptr<N> make_node(std::initializer_list<Tensor> inputs) {
  return autograd::any_requires_grad(inputs) ? std::make_shared<N>() : nullptr;
}
using autograd::record;

}  // namespace recur::ops
