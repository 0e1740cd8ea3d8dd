// Negative log-likelihood over rows of log-probabilities, and its gradient.
//
//   loss_i = -logp[i, t_i]                 (0 where t_i == ignore_index)
//   dlogp[i, c] = -grad_i if c == t_i      (0 elsewhere, and on ignored rows)
#include "backend/cuda/cuda_common.cuh"

namespace recur::backend {
namespace {

using namespace cuda;

template <class T>
__global__ void nll_loss_kernel(std::int64_t n, T* l, std::int64_t ls, const T* p, std::int64_t ps, std::int64_t pc,
                                const std::int64_t* t, std::int64_t ts, std::int64_t ignore_index) {
  const std::int64_t gstep = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t i = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < n; i += gstep) {
    const std::int64_t c = t[i * ts];
    l[i * ls] = c == ignore_index ? T(0) : -p[i * ps + c * pc];
  }
}

// One thread per element of dlogp (rows n, classes k).
template <class T>
__global__ void nll_loss_backward_kernel(std::int64_t n, std::int64_t k, T* d, std::int64_t ds, std::int64_t dc,
                                         const T* g, std::int64_t gs, const std::int64_t* t, std::int64_t ts,
                                         std::int64_t ignore_index) {
  const std::int64_t total = n * k;
  const std::int64_t gstep = static_cast<std::int64_t>(gridDim.x) * blockDim.x;
  for (std::int64_t e = static_cast<std::int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; e < total; e += gstep) {
    const std::int64_t i = e / k, c = e - i * k;
    const std::int64_t target = t[i * ts];
    d[i * ds + c * dc] = (c == target && target != ignore_index) ? -g[i * gs] : T(0);
  }
}

template <class T>
void nll_loss_typed(cudaStream_t stream, const View& loss, const View& logp, const View& target,
                    std::int64_t ignore_index) {
  const std::int64_t n = logp.shape[0];
  const std::int64_t ls = loss.shape.ndim == 0 ? 0 : loss.strides[0];
  nll_loss_kernel<T><<<grid_for(n), kThreads, 0, stream>>>(n, typed<T>(loss), ls, typed<const T>(logp),
                                                           logp.strides[0], logp.strides[1],
                                                           typed<const std::int64_t>(target), target.strides[0],
                                                           ignore_index);
  RECUR_CUDA_LAUNCH_CHECK();
}

template <class T>
void nll_loss_backward_typed(cudaStream_t stream, const View& dlogp, const View& grad, const View& target,
                             std::int64_t ignore_index) {
  const std::int64_t n = dlogp.shape[0], k = dlogp.shape[1];
  const std::int64_t gs = grad.shape.ndim == 0 ? 0 : grad.strides[0];
  nll_loss_backward_kernel<T><<<grid_for(n * k), kThreads, 0, stream>>>(
      n, k, typed<T>(dlogp), dlogp.strides[0], dlogp.strides[1], typed<const T>(grad), gs,
      typed<const std::int64_t>(target), target.strides[0], ignore_index);
  RECUR_CUDA_LAUNCH_CHECK();
}

}  // namespace

void CudaBackend::nll_loss(const View& loss, const View& logp, const View& target, std::int64_t ignore_index) {
  if (logp.shape.ndim < 2 || logp.shape[0] == 0) return;
  DeviceGuard guard(device_);
  if (logp.dtype == DType::Float64) return nll_loss_typed<double>(stream_, loss, logp, target, ignore_index);
  nll_loss_typed<float>(stream_, loss, logp, target, ignore_index);
}

void CudaBackend::nll_loss_backward(const View& dlogp, const View& grad, const View& target,
                                    std::int64_t ignore_index) {
  if (dlogp.shape.ndim < 2 || dlogp.numel() == 0) return;
  DeviceGuard guard(device_);
  if (dlogp.dtype == DType::Float64)
    return nll_loss_backward_typed<double>(stream_, dlogp, grad, target, ignore_index);
  nll_loss_backward_typed<float>(stream_, dlogp, grad, target, ignore_index);
}

}  // namespace recur::backend
