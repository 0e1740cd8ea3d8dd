// Tells the backends that some tensors (a model's parameters) stay as they are for a while,
// so that work derived from them may be kept and reused. The CPU backend packs a weight
// matrix once for the products with few rows that a decoder makes at every step, where BLAS
// would pack it again at each call (docs/ARCHITECTURE.md, "Packed weights").
//
//   {
//     ConstantWeightsGuard constant(model.parameters());
//     Tensor loss = ...;  loss.backward();           // or a whole beam search
//   }
//   optimizer.step();                                // after the guard: the weights change
//
// Requires: while the guard lives, the tensors are written only through ops (an in-place
// op bumps its storage's version, and a pack made before it is made again), never through
// raw data pointers. Guards nest; each covers the products run on the thread that made it.
#pragma once

#include <vector>

#include "recur/core/device.hpp"
#include "recur/core/tensor.hpp"

namespace recur {

class ConstantWeightsGuard {
 public:
  explicit ConstantWeightsGuard(const std::vector<Tensor>& weights);
  ~ConstantWeightsGuard();
  ConstantWeightsGuard(const ConstantWeightsGuard&) = delete;
  ConstantWeightsGuard& operator=(const ConstantWeightsGuard&) = delete;

 private:
  std::vector<Device> devices_;  // whose backends were told, in order
};

}  // namespace recur
