// BatchNorm1d / BatchNorm2d: parameters, buffers and the train/eval switch; the maths and
// its backward are recur::batch_norm's (src/ops/batch_norm.cpp).

#include "recur/nn/batch_norm.hpp"

#include <algorithm>
#include <sstream>

#include "recur/autograd.hpp"
#include "recur/nn/init.hpp"
#include "recur/ops.hpp"

namespace recur::nn {

BatchNorm::BatchNorm(std::int64_t num_features, double eps, double momentum, bool affine, bool track_running_stats,
                     std::initializer_list<int> expected_dims)
    : num_features(num_features),
      eps(eps),
      momentum(momentum),
      affine(affine),
      track_running_stats(track_running_stats),
      expected_dims_(expected_dims) {
  RECUR_CHECK(num_features >= 1, "BatchNorm: num_features must be at least 1, got " << num_features);
  RECUR_CHECK(eps > 0 && momentum >= 0 && momentum <= 1,
              "BatchNorm: requires eps > 0 and 0 <= momentum <= 1, got eps=" << eps << ", momentum=" << momentum);
  if (affine) {
    weight = register_parameter("weight", empty({num_features}, DType::Float32, parameter_device()));
    bias = register_parameter("bias", empty({num_features}, DType::Float32, parameter_device()));
  }
  if (track_running_stats) {
    running_mean = register_buffer("running_mean", empty({num_features}, DType::Float32, parameter_device()));
    running_var = register_buffer("running_var", empty({num_features}, DType::Float32, parameter_device()));
    num_batches_tracked = register_buffer("num_batches_tracked", zeros({}, DType::Int64, parameter_device()));
  }
  reset_parameters();
}

void BatchNorm::reset_parameters() {
  if (affine) init::ones_(weight), init::zeros_(bias);
  if (track_running_stats) {
    init::zeros_(running_mean), init::ones_(running_var);
    NoGradGuard no_grad;
    fill_(num_batches_tracked, 0);
  }
}

Tensor BatchNorm::forward(const Tensor& input) {
  RECUR_CHECK(input.defined() &&
                  std::find(expected_dims_.begin(), expected_dims_.end(), input.dim()) != expected_dims_.end() &&
                  input.size(1) == num_features,
              type_name() << "(" << num_features << "): expected an input of rank "
                          << (expected_dims_.size() == 1 ? "4 (N, C, H, W)" : "2 or 3 ((N, C) or (N, C, L))")
                          << " with C = " << num_features << ", got "
                          << (input.defined() ? input.shape().str() : std::string("an undefined tensor")));
  // Batch statistics in training, and always when there are no running ones.
  const bool use_batch_stats = is_training() || !track_running_stats;
  if (is_training() && track_running_stats) {
    NoGradGuard no_grad;
    // Counted on the buffer's device: no value comes back to the host.
    add_(num_batches_tracked, ones({}, DType::Int64, num_batches_tracked.device()));
  }
  return batch_norm(input, running_mean, running_var, weight, bias, use_batch_stats,
                    momentum, eps);
}

std::string BatchNorm::extra_repr() const {
  std::ostringstream os;
  os << num_features << ", eps=" << eps << ", momentum=" << momentum << ", affine=" << (affine ? "true" : "false")
     << ", track_running_stats=" << (track_running_stats ? "true" : "false");
  return os.str();
}

}  // namespace recur::nn
