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
// Channels are independent and go to threads; a channel walks its N rows of L values.
#include <cmath>
#include <cstdint>

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

// Independent accumulator lanes so that the loops vectorise without reassociation.
constexpr int kLanes = 16;

// sum over i < n of f(i), in T lanes, returned as double.
template <class T, class F>
double lane_sum(std::int64_t n, F&& f) {
  T acc[kLanes] = {};
  std::int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) acc[l] += f(i + l);
  double s = 0;
  for (int l = 0; l < kLanes; ++l) s += acc[l];
  for (; i < n; ++i) s += f(i);
  return s;
}

// Calls f(c) for every channel, channels spread over threads.
template <class F>
void for_each_channel(const Layout& s, std::int64_t passes, F&& f) {
  parallel_range(s.channels, passes * s.count(), [&](std::int64_t begin, std::int64_t end) {
    for (std::int64_t c = begin; c < end; ++c) f(c);
  }, 1);
}

template <class T>
void stats_typed(const View& mean_v, const View& invstd_v, const View& input, const View& running_mean_v,
                 const View& running_var_v, bool training, double momentum, double eps) {
  const Layout s = layout_of(input);
  const T* x = typed<const T>(input);
  PerChannel<T> mean(mean_v), invstd(invstd_v), running_mean(running_mean_v), running_var(running_var_v);
  const double n = static_cast<double>(s.count());
  for_each_channel(s, 2, [&](std::int64_t c) {
    if (!training) {
      mean[c] = running_mean[c];
      invstd[c] = static_cast<T>(1 / std::sqrt(static_cast<double>(running_var[c]) + eps));
      return;
    }
    double sum = 0;
    for (std::int64_t b = 0; b < s.batch; ++b) {
      const T* row = x + s.row(b, c);
      sum += lane_sum<T>(s.inner, [&](std::int64_t i) { return row[i]; });
    }
    const double m = sum / n;
    const T mt = static_cast<T>(m);
    double squares = 0;
    for (std::int64_t b = 0; b < s.batch; ++b) {
      const T* row = x + s.row(b, c);
      squares += lane_sum<T>(s.inner, [&](std::int64_t i) { return (row[i] - mt) * (row[i] - mt); });
    }
    const double var = squares / n;
    mean[c] = mt;
    invstd[c] = var == 0 && eps == 0 ? T(0) : static_cast<T>(1 / std::sqrt(var + eps));
    if (running_mean) running_mean[c] = static_cast<T>(momentum * mt + (1 - momentum) * running_mean[c]);
    if (running_var) {
      const double unbiased = squares / (n - 1);
      running_var[c] = static_cast<T>(momentum * unbiased + (1 - momentum) * running_var[c]);
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
  for_each_channel(s, 1, [&](std::int64_t c) {
    const T alpha = invstd[c] * (weight ? weight[c] : T(1));
    const T beta = (bias ? bias[c] : T(0)) - mean[c] * alpha;
    for (std::int64_t b = 0; b < s.batch; ++b) {
      const T* xr = x + s.row(b, c);
      T* yr = y + s.row(b, c);
      for (std::int64_t i = 0; i < s.inner; ++i) yr[i] = xr[i] * alpha + beta;
    }
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
  for_each_channel(s, dx ? 3 : 2, [&](std::int64_t c) {
    const T m = mean[c];
    double sum = 0, dotp = 0;
    for (std::int64_t b = 0; b < s.batch; ++b) {
      const T* xr = x + s.row(b, c);
      const T* dyr = dy + s.row(b, c);
      sum += lane_sum<T>(s.inner, [&](std::int64_t i) { return dyr[i]; });
      dotp += lane_sum<T>(s.inner, [&](std::int64_t i) { return (xr[i] - m) * dyr[i]; });
    }
    const double is = invstd[c];
    if (grad_weight) grad_weight[c] = static_cast<T>(dotp * is);
    if (grad_bias) grad_bias[c] = static_cast<T>(sum);
    if (!dx) return;
    const T scale = static_cast<T>(is * (weight ? static_cast<double>(weight[c]) : 1.0));
    const T k = training ? static_cast<T>(dotp * is * is / n) : T(0);
    const T grad_mean = training ? static_cast<T>(sum / n) : T(0);
    for (std::int64_t b = 0; b < s.batch; ++b) {
      const T* xr = x + s.row(b, c);
      const T* dyr = dy + s.row(b, c);
      T* dxr = dx + s.row(b, c);
      if (training) {
        for (std::int64_t i = 0; i < s.inner; ++i) dxr[i] = (dyr[i] - grad_mean - (xr[i] - m) * k) * scale;
      } else {
        for (std::int64_t i = 0; i < s.inner; ++i) dxr[i] = dyr[i] * scale;
      }
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
