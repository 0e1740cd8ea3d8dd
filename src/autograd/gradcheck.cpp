// Gradient checking: autograd's Jacobian against central finite differences, in float64.
#include <cmath>
#include <cstdio>

#include "recur/autograd.hpp"
#include "recur/ops.hpp"

namespace recur {
namespace {

// Storage offset (in elements) of the k-th element of t in row-major order.
std::int64_t element_offset(const Tensor& t, std::int64_t k) {
  std::int64_t offset = 0;
  for (int d = t.dim() - 1; d >= 0; --d) {
    offset += (k % t.size(d)) * t.stride(d);
    k /= t.size(d);
  }
  return offset;
}

std::vector<double> evaluate(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                             const std::vector<Tensor>& inputs) {
  NoGradGuard no_grad;
  return fn(inputs).to_vector<double>();
}

}  // namespace

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                          const std::vector<Tensor>& inputs, GradcheckOptions options) {
  bool any = false;
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    RECUR_CHECK(inputs[i].defined(), "gradcheck: input " << i << " is undefined");
    if (!inputs[i].requires_grad()) continue;
    RECUR_CHECK(inputs[i].dtype() == DType::Float64,
                "gradcheck: input " << i << " is " << inputs[i].dtype() << "; gradients are checked in float64");
    RECUR_CHECK(inputs[i].device().is_cpu(), "gradcheck: input " << i << " is not on the CPU");
    any = true;
  }
  RECUR_CHECK(any, "gradcheck: no input requires grad, so there is nothing to check");

  // Analytic Jacobian, one backward pass per output element: rows[j][i] is d out_j / d input_i.
  Tensor output = fn(inputs);
  RECUR_CHECK(output.requires_grad(), "gradcheck: the function's output does not depend on any input that requires grad");
  std::int64_t m = output.numel();
  std::vector<std::vector<std::vector<double>>> analytic(m);
  for (std::int64_t j = 0; j < m; ++j) {
    for (const Tensor& x : inputs) x.zero_grad();
    Tensor seed = zeros(output.shape(), output.dtype());
    seed.data<double>()[j] = 1;
    output.backward(to(seed, output.device()), /*retain_graph=*/true);
    for (const Tensor& x : inputs) {
      Tensor g = x.requires_grad() ? x.grad() : Tensor();
      analytic[j].push_back(g.defined() ? g.to_vector<double>() : std::vector<double>(x.numel(), 0.0));
    }
  }
  for (const Tensor& x : inputs) x.zero_grad();

  // Numeric Jacobian, one input element at a time, compared entry by entry.
  GradcheckResult result;
  result.ok = true;
  char worst[256] = "";
  for (std::size_t i = 0; i < inputs.size(); ++i) {
    const Tensor& x = inputs[i];
    if (!x.requires_grad()) continue;
    double* first = x.data<double>();  // a CPU input (checked above): host memory
    for (std::int64_t k = 0; k < x.numel(); ++k) {
      double& element = first[element_offset(x, k)];
      double original = element;
      element = original + options.eps;
      std::vector<double> plus = evaluate(fn, inputs);
      element = original - options.eps;
      std::vector<double> minus = evaluate(fn, inputs);
      element = original;
      for (std::int64_t j = 0; j < m; ++j) {
        double numeric = (plus[j] - minus[j]) / (2 * options.eps);
        double computed = analytic[j][i][k];
        double error = std::fabs(computed - numeric) / std::max(1.0, std::fabs(numeric));
        if (!(error <= result.max_error)) {  // also catches NaN
          result.max_error = std::isnan(error) ? INFINITY : error;
          std::snprintf(worst, sizeof worst,
                        "input %zu element %lld, output element %lld: analytic %.10g, numeric %.10g", i,
                        static_cast<long long>(k), static_cast<long long>(j), computed, numeric);
        }
      }
    }
  }
  result.ok = result.max_error < options.tolerance;
  char summary[64];
  std::snprintf(summary, sizeof summary, " (max error %.3g; worst: ", result.max_error);
  result.report = std::string(result.ok ? "gradcheck passed" : "gradcheck FAILED") + summary + worst + ")";
  return result;
}

}  // namespace recur
