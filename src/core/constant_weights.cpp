#include "recur/core/constant_weights.hpp"

#include <algorithm>

#include "backend/backend.hpp"

namespace recur {

ConstantWeightsGuard::ConstantWeightsGuard(const std::vector<Tensor>& weights) {
  for (const Tensor& w : weights)
    if (w.defined() && std::find(devices_.begin(), devices_.end(), w.device()) == devices_.end())
      devices_.push_back(w.device());
  for (const Device& device : devices_) {
    std::vector<Tensor> on_device;
    for (const Tensor& w : weights)
      if (w.defined() && w.device() == device) on_device.push_back(w);
    backend::backend_for(device).begin_constant_weights(on_device);
  }
}

ConstantWeightsGuard::~ConstantWeightsGuard() {
  for (auto device = devices_.rbegin(); device != devices_.rend(); ++device)
    backend::backend_for(*device).end_constant_weights();
}

}  // namespace recur
