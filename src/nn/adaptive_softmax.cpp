// AdaptiveLogSoftmaxWithLoss, built from differentiable ops (linear, linear_cross_entropy,
// log_softmax, index_select, cat): backward comes from their autograd.

#include "recur/nn/adaptive_softmax.hpp"

#include <algorithm>
#include <cmath>
#include <sstream>
#include <utility>

#include "recur/autograd.hpp"
#include "recur/ops.hpp"

namespace recur::nn {
namespace {

// PyTorch keeps the tails in a ModuleList; this is one, so names ("tail.0.1.weight") and the
// printout ("(tail): ModuleList(") are the same.
class ModuleList final : public Module {};

std::string list_str(const std::vector<std::int64_t>& values) {
  std::ostringstream os;
  os << "[";
  for (std::size_t i = 0; i < values.size(); ++i) os << (i ? ", " : "") << values[i];
  os << "]";
  return os.str();
}

// Python's float floor division a // b (float_floor_div in CPython), which PyTorch's
// int(in_features // div_value ** (i + 1)) uses: it is not floor(a / b) when a / b rounds up
// to an integer (1 // 0.1 is 9.0, floor(1 / 0.1) is 10).
double python_floordiv(double a, double b) {
  double mod = std::fmod(a, b);
  double div = (a - mod) / b;
  if (mod != 0 && ((b < 0) != (mod < 0))) div -= 1.0;
  if (div == 0) return 0;
  double floordiv = std::floor(div);
  if (div - floordiv > 0.5) floordiv += 1.0;
  return floordiv;
}

std::int64_t tail_hidden_size(std::int64_t in_features, double div_value, std::size_t cluster) {
  return static_cast<std::int64_t>(
      python_floordiv(static_cast<double>(in_features), std::pow(div_value, static_cast<double>(cluster + 1))));
}

// Checks the constructor's arguments and returns cutoffs followed by n_classes.
std::vector<std::int64_t> checked_cutoffs(std::int64_t in_features, std::int64_t n_classes,
                                          std::vector<std::int64_t> cutoffs, double div_value) {
  const char* me = "AdaptiveLogSoftmaxWithLoss";
  RECUR_CHECK(in_features >= 1, me << ": in_features must be at least 1, got " << in_features);
  const std::string rule = "cutoffs must be unique positive integers in increasing order, each between 1 and "
                           "n_classes - 1 = " + std::to_string(n_classes - 1);
  RECUR_CHECK(!cutoffs.empty(), me << ": cutoffs is empty; " << rule);
  for (std::size_t i = 0; i < cutoffs.size(); ++i) {
    RECUR_CHECK(cutoffs[i] >= 1 && cutoffs[i] <= n_classes - 1,
                me << ": cutoffs " << list_str(cutoffs) << ": cutoffs[" << i << "] = " << cutoffs[i]
                   << " is out of range; " << rule);
    RECUR_CHECK(i == 0 || cutoffs[i] > cutoffs[i - 1],
                me << ": cutoffs " << list_str(cutoffs) << ": cutoffs[" << i << "] = " << cutoffs[i]
                   << " is not greater than cutoffs[" << i - 1 << "] = " << cutoffs[i - 1] << "; " << rule);
  }
  RECUR_CHECK(div_value > 0 && std::isfinite(div_value),
              me << ": div_value must be positive and finite, got " << div_value);
  for (std::size_t i = 0; i < cutoffs.size(); ++i) {
    std::int64_t hsz = tail_hidden_size(in_features, div_value, i);
    RECUR_CHECK(hsz >= 1, me << ": cluster " << i << " would get a tail of hidden size floor(" << in_features << " / "
                             << div_value << "^" << i + 1 << ") = " << hsz
                             << "; use fewer cutoffs, a smaller div_value or more in_features");
  }
  cutoffs.push_back(n_classes);
  return cutoffs;
}

}  // namespace

AdaptiveLogSoftmaxWithLoss::AdaptiveLogSoftmaxWithLoss(std::int64_t in_features, std::int64_t n_classes,
                                                       std::vector<std::int64_t> cutoffs, double div_value,
                                                       bool head_bias)
    : in_features(in_features),
      n_classes(n_classes),
      cutoffs(checked_cutoffs(in_features, n_classes, std::move(cutoffs), div_value)),
      div_value(div_value),
      head_bias(head_bias),
      shortlist_size(this->cutoffs[0]),
      n_clusters(static_cast<std::int64_t>(this->cutoffs.size()) - 1),
      head_size(shortlist_size + n_clusters) {
  // Built in PyTorch's order, so the draws from default_generator() go to the same tensors.
  head = register_module("head", std::make_shared<Linear>(in_features, head_size, head_bias));
  auto list = register_module("tail", std::make_shared<ModuleList>());
  for (std::int64_t i = 0; i < n_clusters; ++i) {
    std::int64_t hsz = tail_hidden_size(in_features, div_value, static_cast<std::size_t>(i));
    std::int64_t osz = this->cutoffs[i + 1] - this->cutoffs[i];
    tail.push_back(list->register_module(std::to_string(i),
                                         std::make_shared<Sequential>(std::make_shared<Linear>(in_features, hsz, false),
                                                                      std::make_shared<Linear>(hsz, osz, false))));
  }
}

void AdaptiveLogSoftmaxWithLoss::check_input(const char* method, const Tensor& input, int rank) const {
  RECUR_CHECK(input.defined() && input.dim() == rank && input.size(-1) == in_features,
              "AdaptiveLogSoftmaxWithLoss(in_features=" << in_features << ", n_classes=" << n_classes << ")."
                                                        << method << ": expected an input of shape "
                                                        << (rank == 2 ? "[N, " : "[") << in_features << "], got "
                                                        << (input.defined() ? input.shape().str()
                                                                            : std::string("an undefined tensor")));
}

// nll[n] = -log p(target[n]) = -head_logprob[n, column(n)] - tail_logprob[n, target[n] - cutoffs[i]],
// the second term only for targets in cluster i. Each cluster's tail runs on its own rows
// (index_select), and its nll values come back to row order through one index_select of
// cat({0, nll of cluster 0, nll of cluster 1, ...}), whose entry 0 serves the shortlist rows.
// linear_cross_entropy with Reduction::None is log_softmax of a linear layer's logits and a
// gather of the target's entry; without a graph the logits are never stored.
AdaptiveLogSoftmaxWithLoss::Output AdaptiveLogSoftmaxWithLoss::forward(const Tensor& input, const Tensor& target) {
  const char* me = "AdaptiveLogSoftmaxWithLoss.forward";
  RECUR_CHECK(target.defined() && target.dtype() == DType::Int64,
              me << ": expected an int64 target, got " << (target.defined() ? dtype_name(target.dtype()) : "none"));
  RECUR_CHECK(target.dim() <= 1, me << ": expected a target of shape [N] or [] (one class per row), got "
                                    << target.shape());
  const bool batched = target.dim() == 1;
  check_input("forward", input, batched ? 2 : 1);
  RECUR_CHECK(!batched || input.size(0) == target.size(0),
              me << ": input of shape " << input.shape() << " and target of shape " << target.shape()
                 << " differ in the batch dimension");
  const Tensor rows_in = batched ? input : unsqueeze(input, 0);
  const std::int64_t n = rows_in.size(0);
  const Device device = input.device();

  // The targets decide which rows each tail sees, so they are read to the host once, as
  // PyTorch's nonzero() does.
  const std::vector<std::int64_t> targets = target.to_vector<std::int64_t>();
  std::vector<std::int64_t> head_column(static_cast<std::size_t>(n));
  std::vector<std::vector<std::int64_t>> rows(static_cast<std::size_t>(n_clusters)), relative(rows.size());
  for (std::int64_t r = 0; r < n; ++r) {
    const std::int64_t t = targets[static_cast<std::size_t>(r)];
    RECUR_CHECK(t >= 0 && t < n_classes, me << ": target " << t << (batched ? " at position " + std::to_string(r) : "")
                                            << " is out of range for " << n_classes << " classes (expected 0.."
                                            << n_classes - 1 << ")");
    if (t < shortlist_size) {
      head_column[static_cast<std::size_t>(r)] = t;
      continue;
    }
    const auto c = static_cast<std::size_t>(std::upper_bound(cutoffs.begin(), cutoffs.end(), t) - cutoffs.begin() - 1);
    head_column[static_cast<std::size_t>(r)] = shortlist_size + static_cast<std::int64_t>(c);
    rows[c].push_back(r);
    relative[c].push_back(t - cutoffs[c]);
  }

  Tensor nll = linear_cross_entropy(rows_in, head->weight, head->bias, from_vector(head_column, {n}, device),
                                    Reduction::None);
  std::vector<Tensor> pieces{zeros({1}, rows_in.dtype(), device)};
  std::vector<std::int64_t> pick(static_cast<std::size_t>(n), 0);  // row r's entry in cat(pieces)
  std::int64_t offset = 1;
  for (std::size_t c = 0; c < rows.size(); ++c) {
    if (rows[c].empty()) continue;
    const auto count = static_cast<std::int64_t>(rows[c].size());
    Tensor x = index_select(rows_in, 0, from_vector(rows[c], {count}, device));
    const Tensor projected = tail[c]->at<Linear>(0)->forward(x);
    const std::shared_ptr<Linear> out = tail[c]->at<Linear>(1);
    pieces.push_back(linear_cross_entropy(projected, out->weight, out->bias, from_vector(relative[c], {count}, device),
                                          Reduction::None));
    for (std::int64_t k = 0; k < count; ++k) pick[static_cast<std::size_t>(rows[c][k])] = offset + k;
    offset += count;
  }
  if (pieces.size() > 1) nll = add(nll, index_select(cat(pieces, 0), 0, from_vector(pick, {n}, device)));

  Output out{neg(nll), mean(nll)};
  if (!batched) out.output = reshape(out.output, {});
  return out;
}

// out[:, :shortlist] = head_logprob[:, :shortlist];
// out[:, cutoffs[i]:cutoffs[i+1]] = log_softmax(tail_i(input)) + head_logprob[:, shortlist + i]
Tensor AdaptiveLogSoftmaxWithLoss::full_log_prob(const Tensor& input, const Tensor& head_output) {
  Tensor head_logprob = log_softmax(head_output, 1);
  std::vector<Tensor> parts{narrow(head_logprob, 1, 0, shortlist_size)};
  for (std::int64_t i = 0; i < n_clusters; ++i)
    parts.push_back(add(log_softmax(tail[static_cast<std::size_t>(i)]->forward(input), 1),
                        narrow(head_logprob, 1, shortlist_size + i, 1)));
  return cat(parts, 1);
}

Tensor AdaptiveLogSoftmaxWithLoss::log_prob(const Tensor& input) {
  check_input("log_prob", input, 2);
  return full_log_prob(input, head->forward(input));
}

// A row whose best head column is a shortlist word needs no tail: that word's probability is
// at least its best cluster's, which bounds every word inside the cluster.
Tensor AdaptiveLogSoftmaxWithLoss::predict(const Tensor& input) {
  check_input("predict", input, 2);
  NoGradGuard no_grad;
  const Device device = input.device();
  Tensor head_output = head->forward(input);
  std::vector<std::int64_t> best = argmax(head_output, 1).to_vector<std::int64_t>();
  std::vector<std::int64_t> in_clusters;
  for (std::size_t r = 0; r < best.size(); ++r)
    if (best[r] >= shortlist_size) in_clusters.push_back(static_cast<std::int64_t>(r));
  if (!in_clusters.empty()) {
    Tensor index = from_vector(in_clusters, {static_cast<std::int64_t>(in_clusters.size())}, device);
    std::vector<std::int64_t> full_best =
        argmax(full_log_prob(index_select(input, 0, index), index_select(head_output, 0, index)), 1)
            .to_vector<std::int64_t>();
    for (std::size_t k = 0; k < in_clusters.size(); ++k) best[static_cast<std::size_t>(in_clusters[k])] = full_best[k];
  }
  return from_vector(best, {input.size(0)}, device);
}

}  // namespace recur::nn
