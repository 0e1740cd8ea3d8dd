// Parameter initialisation (torch.nn.init's formulas). Each fill runs with grad mode off
// so it may write into parameters that require grad.

#include "recur/nn/init.hpp"

#include <cmath>
#include <vector>

#include "recur/autograd.hpp"
#include "recur/ops.hpp"

namespace recur::nn::init {

namespace {

void check_fillable(const char* fn, const Tensor& tensor) {
  RECUR_CHECK(tensor.defined(), "init::" << fn << ": the tensor is undefined");
  RECUR_CHECK(is_floating(tensor.dtype()), "init::" << fn << ": expected a floating tensor, got " << tensor.dtype());
}

std::int64_t fan_for(const char* fn, const Tensor& tensor, FanMode mode) {
  Fans fans = calculate_fan_in_and_fan_out(tensor);
  std::int64_t fan = mode == FanMode::FanIn ? fans.fan_in : fans.fan_out;
  RECUR_CHECK(fan > 0, "init::" << fn << ": the fan of a tensor of shape " << tensor.shape() << " is 0");
  return fan;
}

// Applies H = I - 2 v v^T / (v^T v) to rows [k, m) and columns [first_col, n) of the
// row-major m x n matrix `x`: x -= v (2 / v^T v) (v^T x). Row by row, so the inner loops
// run over contiguous memory; `dot` is scratch of n entries.
void reflect_rows(const std::vector<double>& v, double v_norm2, std::vector<double>& x, std::int64_t k, std::int64_t m,
                  std::int64_t n, std::int64_t first_col, std::vector<double>& dot) {
  for (std::int64_t j = first_col; j < n; ++j) dot[j] = 0;
  for (std::int64_t i = k; i < m; ++i) {
    const double vi = v[i - k];
    const double* row = &x[i * n];
    for (std::int64_t j = first_col; j < n; ++j) dot[j] += vi * row[j];
  }
  for (std::int64_t i = k; i < m; ++i) {
    const double scale = 2 * v[i - k] / v_norm2;
    double* row = &x[i * n];
    for (std::int64_t j = first_col; j < n; ++j) row[j] -= scale * dot[j];
  }
}

// Householder QR of the m x n row-major matrix `a` (m >= n), in place. Returns the
// m x n matrix Q with orthonormal columns such that a = Q R; R's diagonal ends in `r_diag`.
//
// Step k reflects column k below the diagonal onto e_k: v = x - alpha e_k with
// alpha = -sign(x_0) |x| (the sign avoids cancellation), H = I - 2 v v^T / (v^T v).
// Q = H_0 H_1 ... H_{n-1} applied to the first n columns of the identity.
std::vector<double> householder_q(std::vector<double>& a, std::int64_t m, std::int64_t n, std::vector<double>& r_diag) {
  std::vector<std::vector<double>> reflectors(n);
  std::vector<double> dot(n);
  r_diag.assign(n, 0.0);
  for (std::int64_t k = 0; k < n; ++k) {
    double norm2 = 0;
    for (std::int64_t i = k; i < m; ++i) norm2 += a[i * n + k] * a[i * n + k];
    double norm = std::sqrt(norm2);
    double alpha = a[k * n + k] > 0 ? -norm : norm;
    std::vector<double>& v = reflectors[k];
    v.assign(m - k, 0.0);
    for (std::int64_t i = k; i < m; ++i) v[i - k] = a[i * n + k];
    v[0] -= alpha;
    double v_norm2 = 0;
    for (double x : v) v_norm2 += x * x;
    r_diag[k] = alpha;           // what the reflection leaves on the diagonal
    if (v_norm2 == 0) continue;  // a zero column: nothing to reflect, H = I
    reflect_rows(v, v_norm2, a, k, m, n, k, dot);
  }
  std::vector<double> q(m * n, 0.0);
  for (std::int64_t j = 0; j < n; ++j) q[j * n + j] = 1;
  for (std::int64_t k = n - 1; k >= 0; --k) {
    const std::vector<double>& v = reflectors[k];
    double v_norm2 = 0;
    for (double x : v) v_norm2 += x * x;
    if (v_norm2 == 0) continue;
    // Columns left of k are still zero in rows k.. (only later reflectors have touched Q).
    reflect_rows(v, v_norm2, q, k, m, n, k, dot);
  }
  return q;
}

}  // namespace

double calculate_gain(Nonlinearity nonlinearity, double negative_slope) {
  switch (nonlinearity) {
    case Nonlinearity::Linear:
    case Nonlinearity::Sigmoid:
      return 1;
    case Nonlinearity::Tanh:
      return 5.0 / 3;
    case Nonlinearity::ReLU:
      return std::sqrt(2.0);
    case Nonlinearity::LeakyReLU:
      return std::sqrt(2.0 / (1 + negative_slope * negative_slope));
    case Nonlinearity::SELU:
      return 3.0 / 4;
  }
  RECUR_FAIL("init::calculate_gain: unknown nonlinearity " << static_cast<int>(nonlinearity));
}

Fans calculate_fan_in_and_fan_out(const Tensor& tensor) {
  RECUR_CHECK(tensor.defined(), "init::calculate_fan_in_and_fan_out: the tensor is undefined");
  RECUR_CHECK(
      tensor.dim() >= 2,
      "init::calculate_fan_in_and_fan_out: fans need a tensor of 2 or more dimensions, got shape " << tensor.shape());
  std::int64_t receptive_field = 1;
  for (int d = 2; d < tensor.dim(); ++d) receptive_field *= tensor.size(d);
  return {tensor.size(1) * receptive_field, tensor.size(0) * receptive_field};
}

Tensor uniform_(const Tensor& tensor, double low, double high, Generator& gen) {
  check_fillable("uniform_", tensor);
  NoGradGuard no_grad;
  recur::uniform_(tensor, low, high, &gen);
  return tensor;
}

Tensor normal_(const Tensor& tensor, double mean, double std, Generator& gen) {
  check_fillable("normal_", tensor);
  NoGradGuard no_grad;
  recur::normal_(tensor, mean, std, &gen);
  return tensor;
}

Tensor constant_(const Tensor& tensor, double value) {
  check_fillable("constant_", tensor);
  NoGradGuard no_grad;
  fill_(tensor, value);
  return tensor;
}

Tensor zeros_(const Tensor& tensor) { return constant_(tensor, 0); }
Tensor ones_(const Tensor& tensor) { return constant_(tensor, 1); }

Tensor xavier_uniform_(const Tensor& tensor, double gain, Generator& gen) {
  check_fillable("xavier_uniform_", tensor);
  Fans fans = calculate_fan_in_and_fan_out(tensor);
  double std = gain * std::sqrt(2.0 / static_cast<double>(fans.fan_in + fans.fan_out));
  double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound, gen);
}

Tensor xavier_normal_(const Tensor& tensor, double gain, Generator& gen) {
  check_fillable("xavier_normal_", tensor);
  Fans fans = calculate_fan_in_and_fan_out(tensor);
  double std = gain * std::sqrt(2.0 / static_cast<double>(fans.fan_in + fans.fan_out));
  return normal_(tensor, 0, std, gen);
}

Tensor kaiming_uniform_(const Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity, Generator& gen) {
  check_fillable("kaiming_uniform_", tensor);
  double std =
      calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan_for("kaiming_uniform_", tensor, mode)));
  double bound = std::sqrt(3.0) * std;
  return uniform_(tensor, -bound, bound, gen);
}

Tensor kaiming_normal_(const Tensor& tensor, double a, FanMode mode, Nonlinearity nonlinearity, Generator& gen) {
  check_fillable("kaiming_normal_", tensor);
  double std =
      calculate_gain(nonlinearity, a) / std::sqrt(static_cast<double>(fan_for("kaiming_normal_", tensor, mode)));
  return normal_(tensor, 0, std, gen);
}

Tensor orthogonal_(const Tensor& tensor, double gain, Generator& gen) {
  check_fillable("orthogonal_", tensor);
  RECUR_CHECK(tensor.dim() >= 2,
              "init::orthogonal_: needs a tensor of 2 or more dimensions, got shape " << tensor.shape());
  if (tensor.numel() == 0) return tensor;
  std::int64_t rows = tensor.size(0), cols = tensor.numel() / rows;
  // The QR factorisation runs on the host: the random matrix is drawn there (the same numbers
  // a draw on any device gives) and the result is uploaded once; nothing is read back from
  // the tensor's device.
  std::vector<double> flat = normal({rows, cols}, 0, 1, DType::Float64, &gen, Device::cpu()).to_vector<double>();

  // Factorise the tall orientation: the matrix itself, or its transpose when it is wide.
  bool wide = rows < cols;
  std::int64_t m = wide ? cols : rows, n = wide ? rows : cols;
  std::vector<double> a(m * n);
  for (std::int64_t i = 0; i < rows; ++i)
    for (std::int64_t j = 0; j < cols; ++j) (wide ? a[j * n + i] : a[i * n + j]) = flat[i * cols + j];
  std::vector<double> r_diag;
  std::vector<double> q = householder_q(a, m, n, r_diag);

  // Column j of Q times sign(R_jj) times gain, transposed back when wide.
  std::vector<double> result(rows * cols);
  for (std::int64_t i = 0; i < m; ++i)
    for (std::int64_t j = 0; j < n; ++j) {
      double value = q[i * n + j] * (r_diag[j] < 0 ? -gain : gain);
      (wide ? result[j * cols + i] : result[i * cols + j]) = value;
    }
  NoGradGuard no_grad;
  copy_(tensor, reshape(from_vector(result, {rows, cols}, tensor.device()), tensor.shape()));
  return tensor;
}

}  // namespace recur::nn::init
