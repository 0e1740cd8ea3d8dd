// Batch normalisation over a dense (N, C, L) input, statistics per channel over N*L values,
// with PyTorch's CPU formulas (two-pass mean and variance, sums in double):
//
//   mean = sum(x) / n,  var = sum((x - mean)^2) / n,  invstd = 1 / sqrt(var + eps)
//   y    = x * alpha + beta,   alpha = invstd * weight,  beta = bias - mean * alpha
//   running = momentum * batch + (1 - momentum) * running   (variance: sum(...) / (n - 1))
//
// Backward, with dotp = sum((x - mean) * dy):
//   grad_bias = sum(dy),  grad_weight = dotp * invstd
//   training: grad_input = (dy - sum(dy)/n - (x - mean) * dotp * invstd^2 / n) * invstd * weight
//   eval:     grad_input = dy * invstd * weight
//
// Blocks of channels go to threads. An image input (L > 1) is walked channel by channel along
// its rows of L values; a (N, C) input (L == 1, BatchNorm1d after a linear layer) row by row
// across the block's channels, so that both loops run over contiguous memory and vectorise.
#include <cmath>
#include <cstdint>
#include <vector>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

// A per-channel (C) view: element c at data[c * stride]; empty when the view has no data.
template <class T>
struct PerChannel {
  explicit PerChannel(const View& v) : data(typed<T>(v)), stride(v.shape.ndim == 0 ? 0 : v.strides[0]) {}
  T& operator[](std::int64_t c) const { return data[c * stride]; }
  explicit operator bool() const { return data != nullptr; }
  T* data;
  std::int64_t stride;
};

struct Layout {
  std::int64_t batch, channels, inner;  // N, C, L
  std::int64_t count() const { return batch * inner; }
  std::int64_t row(std::int64_t n, std::int64_t c) const { return (n * channels + c) * inner; }
};

Layout layout_of(const View& input) { return {input.shape[0], input.shape[1], input.shape[2]}; }

// Calls f(c0, c1) for blocks of channels [c0, c1), spread over threads; `passes` is the
// number of sweeps over the data, the cost that decides whether to fork.
template <class F>
void for_channel_blocks(const Layout& s, std::int64_t passes, F&& f) {
  parallel_range(s.channels, passes * s.count(), [&](std::int64_t c0, std::int64_t c1) { f(c0, c1); },
                 s.inner == 1 ? 16 : 1);
}

// out[c - c0] = sum over the channel's values of f(offset), offset the element's position in
// the (N, C, L) input, for c in [c0, c1). Sums in T lanes along a row, double across rows.
template <class T, class F>
void channel_sums(const Layout& s, std::int64_t c0, std::int64_t c1, double* out, F&& f) {
  if (s.inner == 1) {
    for (std::int64_t c = c0; c < c1; ++c) out[c - c0] = 0;
    for (std::int64_t n = 0; n < s.batch; ++n) {
      const std::int64_t row = n * s.channels;
      for (std::int64_t c = c0; c < c1; ++c) out[c - c0] += f(row + c, c);
    }
    return;
  }
  constexpr int kLanes = 16;  // independent accumulators: the loop vectorises without reassociating
  for (std::int64_t c = c0; c < c1; ++c) {
    double total = 0;
    for (std::int64_t n = 0; n < s.batch; ++n) {
      const std::int64_t row = s.row(n, c);
      T acc[kLanes] = {};
      std::int64_t i = 0;
      for (; i + kLanes <= s.inner; i += kLanes)
        for (int l = 0; l < kLanes; ++l) acc[l] += f(row + i + l, c);
      for (int l = 0; l < kLanes; ++l) total += acc[l];
      for (; i < s.inner; ++i) total += f(row + i, c);
    }
    out[c - c0] = total;
  }
}

// f(offset, c) for every element of channels [c0, c1), in memory order.
template <class F>
void for_each_element(const Layout& s, std::int64_t c0, std::int64_t c1, F&& f) {
  if (s.inner == 1) {
    for (std::int64_t n = 0; n < s.batch; ++n)
      for (std::int64_t c = c0; c < c1; ++c) f(n * s.channels + c, c);
    return;
  }
  for (std::int64_t n = 0; n < s.batch; ++n)
    for (std::int64_t c = c0; c < c1; ++c) {
      const std::int64_t row = s.row(n, c);
      for (std::int64_t i = 0; i < s.inner; ++i) f(row + i, c);
    }
}

template <class T>
void stats_typed(const View& mean_v, const View& invstd_v, const View& input, const View& running_mean_v,
                 const View& running_var_v, bool training, double momentum, double eps) {
  const Layout s = layout_of(input);
  const T* x = typed<const T>(input);
  PerChannel<T> mean(mean_v), invstd(invstd_v), running_mean(running_mean_v), running_var(running_var_v);
  if (!training) {
    for (std::int64_t c = 0; c < s.channels; ++c) {
      mean[c] = running_mean[c];
      invstd[c] = static_cast<T>(1 / std::sqrt(static_cast<double>(running_var[c]) + eps));
    }
    return;
  }
  const double n = static_cast<double>(s.count());
  for_channel_blocks(s, 2, [&](std::int64_t c0, std::int64_t c1) {
    std::vector<double> sums(c1 - c0);
    std::vector<T> block_mean(c1 - c0);
    channel_sums<T>(s, c0, c1, sums.data(), [&](std::int64_t o, std::int64_t) { return x[o]; });
    for (std::int64_t c = c0; c < c1; ++c) block_mean[c - c0] = static_cast<T>(sums[c - c0] / n);
    channel_sums<T>(s, c0, c1, sums.data(), [&](std::int64_t o, std::int64_t c) {
      const T d = x[o] - block_mean[c - c0];
      return d * d;
    });
    for (std::int64_t c = c0; c < c1; ++c) {
      const T m = block_mean[c - c0];
      const double squares = sums[c - c0], var = squares / n;
      mean[c] = m;
      invstd[c] = var == 0 && eps == 0 ? T(0) : static_cast<T>(1 / std::sqrt(var + eps));
      if (running_mean) running_mean[c] = static_cast<T>(momentum * m + (1 - momentum) * running_mean[c]);
      if (running_var) {
        running_var[c] = static_cast<T>(momentum * (squares / (n - 1)) + (1 - momentum) * running_var[c]);
      }
    }
  });
}

template <class T>
void transform_typed(const View& out, const View& input, const View& mean_v, const View& invstd_v,
                     const View& weight_v, const View& bias_v) {
  const Layout s = layout_of(input);
  const T* x = typed<const T>(input);
  T* y = typed<T>(out);
  PerChannel<const T> mean(mean_v), invstd(invstd_v), weight(weight_v), bias(bias_v);
  for_channel_blocks(s, 1, [&](std::int64_t c0, std::int64_t c1) {
    std::vector<T> alpha(c1 - c0), beta(c1 - c0);
    for (std::int64_t c = c0; c < c1; ++c) {
      alpha[c - c0] = invstd[c] * (weight ? weight[c] : T(1));
      beta[c - c0] = (bias ? bias[c] : T(0)) - mean[c] * alpha[c - c0];
    }
    const T* a = alpha.data() - c0;
    const T* b = beta.data() - c0;
    for_each_element(s, c0, c1, [&](std::int64_t o, std::int64_t c) { y[o] = x[o] * a[c] + b[c]; });
  });
}

template <class T>
void backward_typed(const View& grad_input, const View& grad_weight_v, const View& grad_bias_v,
                    const View& grad_out, const View& input, const View& mean_v, const View& invstd_v,
                    const View& weight_v, bool training) {
  const Layout s = layout_of(input);
  const T* x = typed<const T>(input);
  const T* dy = typed<const T>(grad_out);
  T* dx = typed<T>(grad_input);
  PerChannel<const T> mean(mean_v), invstd(invstd_v), weight(weight_v);
  PerChannel<T> grad_weight(grad_weight_v), grad_bias(grad_bias_v);
  const double n = static_cast<double>(s.count());
  for_channel_blocks(s, dx ? 3 : 2, [&](std::int64_t c0, std::int64_t c1) {
    const std::int64_t width = c1 - c0;
    std::vector<double> sum(width), dotp(width);
    std::vector<T> block_mean(width);
    for (std::int64_t c = c0; c < c1; ++c) block_mean[c - c0] = mean[c];
    const T* m = block_mean.data() - c0;
    channel_sums<T>(s, c0, c1, sum.data(), [&](std::int64_t o, std::int64_t) { return dy[o]; });
    channel_sums<T>(s, c0, c1, dotp.data(), [&](std::int64_t o, std::int64_t c) { return (x[o] - m[c]) * dy[o]; });
    // Per channel: dx = (dy - grad_mean - (x - mean) * k) * scale (training), dy * scale (eval).
    std::vector<T> scale(width), k(width), grad_mean(width);
    for (std::int64_t c = c0; c < c1; ++c) {
      const std::int64_t i = c - c0;
      const double is = invstd[c];
      if (grad_weight) grad_weight[c] = static_cast<T>(dotp[i] * is);
      if (grad_bias) grad_bias[c] = static_cast<T>(sum[i]);
      scale[i] = static_cast<T>(is * (weight ? static_cast<double>(weight[c]) : 1.0));
      k[i] = training ? static_cast<T>(dotp[i] * is * is / n) : T(0);
      grad_mean[i] = training ? static_cast<T>(sum[i] / n) : T(0);
    }
    if (!dx) return;
    const T* sc = scale.data() - c0;
    const T* kc = k.data() - c0;
    const T* gm = grad_mean.data() - c0;
    if (training) {
      for_each_element(s, c0, c1, [&](std::int64_t o, std::int64_t c) {
        dx[o] = (dy[o] - gm[c] - (x[o] - m[c]) * kc[c]) * sc[c];
      });
    } else {
      for_each_element(s, c0, c1, [&](std::int64_t o, std::int64_t c) { dx[o] = dy[o] * sc[c]; });
    }
  });
}

}  // namespace

void CpuBackend::batch_norm_stats(const View& mean, const View& invstd, const View& input, const View& running_mean,
                                  const View& running_var, bool training, double momentum, double eps) {
  if (input.shape[1] == 0) return;
  if (input.dtype == DType::Float64) {
    return stats_typed<double>(mean, invstd, input, running_mean, running_var, training, momentum, eps);
  }
  stats_typed<float>(mean, invstd, input, running_mean, running_var, training, momentum, eps);
}

void CpuBackend::batch_norm(const View& out, const View& input, const View& mean, const View& invstd,
                            const View& weight, const View& bias) {
  if (out.numel() == 0) return;
  if (input.dtype == DType::Float64) return transform_typed<double>(out, input, mean, invstd, weight, bias);
  transform_typed<float>(out, input, mean, invstd, weight, bias);
}

void CpuBackend::batch_norm_backward(const View& grad_input, const View& grad_weight, const View& grad_bias,
                                     const View& grad_out, const View& input, const View& mean, const View& invstd,
                                     const View& weight, bool training) {
  if (input.shape[1] == 0) return;
  if (input.dtype == DType::Float64) {
    return backward_typed<double>(grad_input, grad_weight, grad_bias, grad_out, input, mean, invstd, weight,
                                  training);
  }
  backward_typed<float>(grad_input, grad_weight, grad_bias, grad_out, input, mean, invstd, weight, training);
}

}  // namespace recur::backend
