// Attention (additive, dot, general) with source masks. The backward comes from the ops'
// autograd (linear, tanh, matmul, softmax); the maths is in include/recur/nn/attention.hpp.

#include "recur/nn/attention.hpp"

#include <limits>
#include <sstream>
#include <vector>

#include "recur/autograd.hpp"
#include "recur/ops.hpp"

namespace recur::nn {

const char* attention_name(AttentionKind kind) {
  switch (kind) {
    case AttentionKind::Additive: return "bahdanau";
    case AttentionKind::Dot: return "dot";
    case AttentionKind::General: return "general";
  }
  return "?";
}

AttentionKind parse_attention(const std::string& name) {
  if (name == "additive") return AttentionKind::Additive;
  for (AttentionKind kind : {AttentionKind::Additive, AttentionKind::Dot, AttentionKind::General})
    if (name == attention_name(kind)) return kind;
  RECUR_FAIL("unknown attention '" << name << "' (expected bahdanau, dot or general)");
}

Attention::Attention(AttentionKind kind, std::int64_t query_size, std::int64_t key_size, std::int64_t hidden_size)
    : kind(kind), query_size(query_size), key_size(key_size),
      hidden_size(kind == AttentionKind::Additive ? hidden_size : 0) {
  RECUR_CHECK(query_size >= 1 && key_size >= 1,
              "Attention: query and key sizes must be at least 1, got " << query_size << " and " << key_size);
  switch (kind) {
    case AttentionKind::Additive:
      RECUR_CHECK(hidden_size >= 1, "Attention (bahdanau): the hidden size must be at least 1, got " << hidden_size);
      query_proj = register_module("query_proj", std::make_shared<Linear>(query_size, hidden_size, false));
      key_proj = register_module("key_proj", std::make_shared<Linear>(key_size, hidden_size, false));
      v = register_module("v", std::make_shared<Linear>(hidden_size, 1, false));
      break;
    case AttentionKind::Dot:
      RECUR_CHECK(query_size == key_size, "Attention (dot): the query size " << query_size
                                                                          << " must equal the key size " << key_size
                                                                          << " (general attention maps one to the other)");
      break;
    case AttentionKind::General:
      query_proj = register_module("query_proj", std::make_shared<Linear>(query_size, key_size, false));
      break;
  }
}

AttentionKeys Attention::prepare(const Tensor& outputs, const Tensor& lengths) {
  RECUR_CHECK(outputs.defined() && outputs.dim() == 3 && outputs.size(2) == key_size,
              "Attention: keys must be (steps, batch, " << key_size << "), got "
                                                        << (outputs.defined() ? outputs.shape().str() : "undefined"));
  const std::int64_t S = outputs.size(0), B = outputs.size(1);
  RECUR_CHECK(lengths.defined() && lengths.dtype() == DType::Int64 && lengths.shape() == Shape{B},
              "Attention: lengths must be int64 (" << B << "), got "
                                                   << (lengths.defined() ? lengths.shape().str() : "undefined"));
  const std::vector<std::int64_t> L = recur::to(lengths, Device::cpu()).to_vector<std::int64_t>();
  std::vector<double> mask(static_cast<std::size_t>(B * S), 0.0);
  for (std::int64_t b = 0; b < B; ++b) {
    RECUR_CHECK(L[b] >= 1 && L[b] <= S, "Attention: length " << L[b] << " of source " << b << " is outside [1, " << S
                                                             << "]");
    for (std::int64_t s = L[b]; s < S; ++s) mask[b * S + s] = -std::numeric_limits<double>::infinity();
  }
  AttentionKeys k;
  k.keys = contiguous(transpose(outputs, 0, 1));
  k.mask = recur::to(to_dtype(from_vector(mask, {B, S}), outputs.dtype()), outputs.device());
  if (kind == AttentionKind::Additive) k.projected = key_proj->forward(k.keys);
  return k;
}

AttentionOutput Attention::forward(const Tensor& query, const AttentionKeys& keys) {
  const std::int64_t N = keys.sources.defined() ? keys.sources.size(0) : keys.keys.size(0), S = keys.keys.size(1);
  RECUR_CHECK(query.defined() && query.dim() == 2 && query.size(1) == query_size && query.size(0) == N,
              "Attention: the query must be (" << N << ", " << query_size << "), got "
                                               << (query.defined() ? query.shape().str() : "undefined"));
  const Tensor q = kind == AttentionKind::Dot ? query : query_proj->forward(query);  // (N, A) or (N, K)
  const Tensor v_weight = kind == AttentionKind::Additive ? v->weight : Tensor();
  AttentionOutput out;
  bool graph = false;  // to record: grad mode on and an operand that requires grad
  for (const Tensor& t : {q, keys.keys, keys.projected, keys.mask, v_weight})
    graph = graph || (t.defined() && t.requires_grad());
  if (!graph || !is_grad_enabled()) {
    out.context = empty({N, key_size}, query.dtype(), query.device());
    out.weights = empty({N, S}, query.dtype(), query.device());
    attention_read_(out.context, out.weights, q, keys.keys, keys.projected, v_weight, keys.mask, keys.sources);
    return out;
  }
  auto of_rows = [&](const Tensor& t) { return keys.sources.defined() ? index_select(t, 0, keys.sources) : t; };
  const Tensor keys_n = of_rows(keys.keys), mask_n = of_rows(keys.mask);  // (N, S, K), (N, S)
  Tensor scores;  // (N, S)
  if (kind == AttentionKind::Additive) {
    const Tensor hidden = tanh(add(of_rows(keys.projected), unsqueeze(q, 1)));  // (N, S, A)
    scores = reshape(v->forward(hidden), {N, S});
  } else {
    scores = reshape(matmul(keys_n, unsqueeze(q, 2)), {N, S});
  }
  out.weights = softmax(add(scores, mask_n), 1);
  out.context = reshape(matmul(unsqueeze(out.weights, 1), keys_n), {N, key_size});
  return out;
}

std::string Attention::extra_repr() const {
  std::ostringstream os;
  os << attention_name(kind) << ", query=" << query_size << ", key=" << key_size;
  if (kind == AttentionKind::Additive) os << ", hidden=" << hidden_size;
  return os.str();
}

}  // namespace recur::nn
