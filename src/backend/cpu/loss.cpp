// Negative log-likelihood over rows of log-probabilities, and its gradient.
//
//   loss_i = -logp[i, t_i]                 (0 where t_i == ignore_index)
//   dlogp[i, c] = -grad_i if c == t_i      (0 elsewhere, and on ignored rows)
#include <cstdint>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

template <class T>
void nll_loss_typed(const View& loss, const View& logp, const View& target, std::int64_t ignore_index) {
  T* l = typed<T>(loss);
  const T* p = typed<const T>(logp);
  const std::int64_t* t = typed<const std::int64_t>(target);
  const std::int64_t n = logp.shape[0];
  const std::int64_t ls = loss.strides[0], ps = logp.strides[0], pc = logp.strides[1], ts = target.strides[0];
  for (std::int64_t i = 0; i < n; ++i) {
    std::int64_t c = t[i * ts];
    l[i * ls] = c == ignore_index ? T(0) : -p[i * ps + c * pc];
  }
}

template <class T>
void nll_loss_backward_typed(const View& dlogp, const View& grad, const View& target, std::int64_t ignore_index) {
  T* d = typed<T>(dlogp);
  const T* g = typed<const T>(grad);
  const std::int64_t* t = typed<const std::int64_t>(target);
  const std::int64_t n = dlogp.shape[0], classes = dlogp.shape[1];
  const std::int64_t ds = dlogp.strides[0], dc = dlogp.strides[1], ts = target.strides[0];
  const std::int64_t gs = grad.shape.ndim == 0 ? 0 : grad.strides[0];
  parallel_range(n, classes, [&](std::int64_t b, std::int64_t e) {
    for (std::int64_t i = b; i < e; ++i) {
      T* row = d + i * ds;
      if (dc == 1) {
        for (std::int64_t c = 0; c < classes; ++c) row[c] = T(0);
      } else {
        for (std::int64_t c = 0; c < classes; ++c) row[c * dc] = T(0);
      }
      std::int64_t c = t[i * ts];
      if (c != ignore_index) row[c * dc] = -g[i * gs];
    }
  }, 1);
}

}  // namespace

void CpuBackend::nll_loss(const View& loss, const View& logp, const View& target, std::int64_t ignore_index) {
  if (logp.shape.ndim < 2 || logp.shape[0] == 0) return;
  if (logp.dtype == DType::Float64) return nll_loss_typed<double>(loss, logp, target, ignore_index);
  nll_loss_typed<float>(loss, logp, target, ignore_index);
}

void CpuBackend::nll_loss_backward(const View& dlogp, const View& grad, const View& target,
                                   std::int64_t ignore_index) {
  if (dlogp.shape.ndim < 2 || dlogp.numel() == 0) return;
  if (dlogp.dtype == DType::Float64) return nll_loss_backward_typed<double>(dlogp, grad, target, ignore_index);
  nll_loss_backward_typed<float>(dlogp, grad, target, ignore_index);
}

}  // namespace recur::backend
