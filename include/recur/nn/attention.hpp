// Attention over a batch of source sequences, as encoder-decoders use it: a query (the
// decoder's state) scores every source position, the scores become weights by a softmax over
// the real positions, and the context is the weighted sum of the source vectors (the keys).
//
//   additive (Bahdanau et al. 2015):  score(q, k_s) = v . tanh(W_q q + W_k k_s)
//   dot      (Luong et al. 2015):     score(q, k_s) = q . k_s               (needs Q = K)
//   general  (Luong et al. 2015):     score(q, k_s) = (W q) . k_s = q . W^T k_s
//   weights_s = exp(score_s) / sum_{s' < L} exp(score_s')  for s < L (the source length), 0 after
//   context   = sum_s weights_s k_s
//
// Parameters, with PyTorch's Linear names and no biases (as in the papers):
//   additive: query_proj.weight (A, Q), key_proj.weight (A, K), v.weight (1, A)
//   general:  query_proj.weight (K, Q)
//   dot:      none
//
//   nn::Attention attention(nn::AttentionKind::Additive, /*query=*/256, /*key=*/512, /*hidden=*/256);
//   nn::AttentionKeys keys = attention.prepare(encoder_outputs, source_lengths);  // once per batch
//   nn::AttentionOutput a = attention.forward(decoder_h, keys);                  // each step
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "recur/nn/linear.hpp"
#include "recur/nn/module.hpp"

namespace recur::nn {

enum class AttentionKind { Additive, Dot, General };
// "bahdanau" / "dot" / "general", and the inverse (anything else is an Error listing the
// names; "additive" is accepted for bahdanau).
const char* attention_name(AttentionKind kind);
AttentionKind parse_attention(const std::string& name);

// What a batch of sources gives every decoding step: the keys batch-major, their projection
// (additive only) and the additive mask that keeps padding out of the softmax.
struct AttentionKeys {
  Tensor keys;       // (B, S, K)
  Tensor projected;  // (B, S, A): W_k k_s for additive attention; undefined otherwise
  Tensor mask;       // (B, S): 0 at real positions, -inf at padding
  // int64 (N): the source that query row n reads, when there are N queries (a beam search's
  // hypotheses, several per source, all reading its keys); undefined: row n reads source n.
  Tensor sources;
};

struct AttentionOutput {
  Tensor context;  // (B, K)
  Tensor weights;  // (B, S), each row summing to 1 over the real positions, 0 at padding
};

class Attention : public Module {
 public:
  // query_size Q, key_size K >= 1; hidden_size A >= 1 for additive attention (ignored
  // otherwise); dot attention requires Q == K. Weights drawn as Linear's from
  // default_generator(). Throws recur::Error naming a size out of range.
  Attention(AttentionKind kind, std::int64_t query_size, std::int64_t key_size, std::int64_t hidden_size = 0);

  // outputs (S, B, K), time-major as the recurrent layers give them; lengths int64 (B) in
  // [1, S] (checked). Differentiable in outputs.
  AttentionKeys prepare(const Tensor& outputs, const Tensor& lengths);
  // query (N, Q) -> context (N, K) and weights (N, S), N = B or the size of keys.sources.
  // Differentiable in query and in the keys; without a graph to record (inference) it runs
  // as one fused op, attention_read_ (recur/ops.hpp).
  AttentionOutput forward(const Tensor& query, const AttentionKeys& keys);

  std::string extra_repr() const override;  // "general, query=256, key=512"

  const AttentionKind kind;
  const std::int64_t query_size, key_size, hidden_size;
  std::shared_ptr<Linear> query_proj, key_proj, v;  // as the kind needs them (see above)
};

}  // namespace recur::nn
