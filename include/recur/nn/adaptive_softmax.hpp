// AdaptiveLogSoftmaxWithLoss: the adaptive softmax of Grave et al. (2017), "Efficient
// softmax approximation for GPUs", as PyTorch's torch.nn.AdaptiveLogSoftmaxWithLoss: the same
// maths, parameter names, shapes, registration order and default initialisation, so a state
// dict moves between the two.
//
// The classes must be ordered by decreasing frequency. The first cutoffs[0] of them (the
// shortlist) are scored by the head with one column each; each later range
// [cutoffs[i], cutoffs[i+1]) is a cluster with one head column of its own and a small tail
// network that scores the words inside it:
//
//   log p(w) = head_logprob[w]                                    w in the shortlist
//   log p(w) = head_logprob[shortlist + i] + tail_i_logprob[w - cutoffs[i]]   w in cluster i
//
// A training step runs the head on every row but a cluster's tail only on the rows whose
// target lies in that cluster; with frequency-ordered words most rows stop at the head.
//
//   nn::AdaptiveLogSoftmaxWithLoss adaptive(256, 25000, {2000, 10000});   // div_value 4
//   auto [output, loss] = adaptive.forward(hidden_rows, targets);        // [N, 256], int64 [N]
//   loss.backward();
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "recur/nn/linear.hpp"
#include "recur/nn/module.hpp"
#include "recur/nn/sequential.hpp"

namespace recur::nn {

class AdaptiveLogSoftmaxWithLoss : public Module {
 public:
  // Parameters, in PyTorch's order and with its names:
  //   head.weight (shortlist_size + n_clusters, in_features), head.bias (same rows; only
  //     when head_bias),
  //   tail.{i}.0.weight (hsz_i, in_features), tail.{i}.1.weight (osz_i, hsz_i), i < n_clusters,
  // with hsz_i = floor(in_features / div_value^(i+1)) (Python's float floor division) and
  // osz_i = cutoffs[i+1] - cutoffs[i] (cutoffs extended with n_classes). Every one is a
  // Linear initialised as PyTorch's Linear, from default_generator().
  // Requires (each violation an Error naming the value): in_features >= 1; cutoffs not empty,
  // strictly increasing, each in [1, n_classes - 1] (PyTorch's checks); div_value > 0 and
  // finite; every hsz_i >= 1 (PyTorch allows a zero-width tail, whose words then get a
  // uniform distribution whatever the input: recur refuses it as a configuration mistake).
  AdaptiveLogSoftmaxWithLoss(std::int64_t in_features, std::int64_t n_classes, std::vector<std::int64_t> cutoffs,
                             double div_value = 4.0, bool head_bias = false);

  struct Output {
    Tensor output;  // [N]: log p(target[n] | input[n]); [] for an unbatched call
    Tensor loss;    // []: mean of -output (NaN when N = 0, as PyTorch)
  };
  // input [N, in_features] with target int64 [N], or input [in_features] with a scalar target
  // (one unbatched row, as PyTorch). Every target in [0, n_classes): targets are read to the
  // host once to group the rows by cluster, and one out of range is an Error naming it and
  // its position. Differentiable in input and in every parameter, through output and loss.
  Output forward(const Tensor& input, const Tensor& target);

  // input [N, in_features] -> [N, n_classes]: log p of every class, each row a normalised
  // log-distribution (for evaluation and sampling). Runs every tail on every row, so it costs
  // about as much as a full softmax. Differentiable.
  Tensor log_prob(const Tensor& input);

  // input [N, in_features] -> int64 [N]: the most likely class of each row, the first one
  // on ties, as argmax(log_prob(input), 1) and PyTorch's predict. Only rows whose most likely
  // head column is a cluster go through the tails. No autograd.
  Tensor predict(const Tensor& input);

  const std::int64_t in_features;
  const std::int64_t n_classes;
  const std::vector<std::int64_t> cutoffs;  // the given cutoffs followed by n_classes, as PyTorch's attribute
  const double div_value;
  const bool head_bias;
  const std::int64_t shortlist_size;  // cutoffs[0]
  const std::int64_t n_clusters;      // cutoffs.size() - 1
  const std::int64_t head_size;       // shortlist_size + n_clusters

  std::shared_ptr<Linear> head;
  // tail[i] = Sequential(Linear(in_features, hsz_i, false), Linear(hsz_i, osz_i, false)),
  // registered as submodule i of the module list "tail".
  std::vector<std::shared_ptr<Sequential>> tail;

 private:
  // log_prob of the rows of `input` whose head logits are `head_output`.
  Tensor full_log_prob(const Tensor& input, const Tensor& head_output);
  void check_input(const char* method, const Tensor& input, int rank) const;
};

}  // namespace recur::nn
