// attention_read_: one fused read of attention for inference (include/recur/ops.hpp); the
// kernels are the backends' attention_read (src/backend/cpu/attention.cpp).
#include "ops/op_helpers.hpp"

namespace recur {

using namespace ops;

void attention_read_(const Tensor& context, const Tensor& weights, const Tensor& query, const Tensor& keys,
                     const Tensor& projected, const Tensor& v, const Tensor& mask, const Tensor& sources) {
  const char* op = "attention_read_";
  check_floating(op, query);
  for (const Tensor* t : {&context, &weights, &keys, &mask}) check_compatible(op, query, *t);
  RECUR_CHECK(query.dim() == 2, op << ": the query must be (rows, features), got shape " << query.shape());
  RECUR_CHECK(keys.dim() == 3 && keys.size(1) >= 1,
              op << ": keys must be (batch, steps, features) with at least one step, got shape " << keys.shape());
  const std::int64_t N = query.size(0), Q = query.size(1), B = keys.size(0), S = keys.size(1), K = keys.size(2);
  const bool additive = projected.defined();
  if (additive) {
    check_compatible(op, query, projected);
    check_compatible(op, query, v);
    RECUR_CHECK(projected.shape() == Shape({B, S, Q}), op << ": additive attention's projected keys must be ("
                                                          << B << ", " << S << ", " << Q << "), got shape "
                                                          << projected.shape());
    RECUR_CHECK(v.numel() == Q, op << ": v must hold " << Q << " values, got shape " << v.shape());
  } else {
    RECUR_CHECK(!v.defined(), op << ": v belongs to additive attention, which needs the projected keys too");
    RECUR_CHECK(Q == K, op << ": the query's " << Q << " features must match the keys' " << K);
  }
  RECUR_CHECK(mask.shape() == Shape({B, S}), op << ": the mask must be (" << B << ", " << S << "), got shape "
                                                << mask.shape());
  if (sources.defined()) {
    check_int64(op, "sources", sources);
    RECUR_CHECK(sources.device() == query.device(), op << ": sources are on " << sources.device()
                                                       << ", the query on " << query.device());
    RECUR_CHECK(sources.shape() == Shape({N}), op << ": sources must be (" << N << "), got shape "
                                                  << sources.shape());
    if (N > 0) {
      const auto [lo, hi] = int_min_max(sources);
      RECUR_CHECK(lo >= 0 && hi < B, op << ": source " << (lo < 0 ? lo : hi) << " is outside [0, " << B << ")");
    }
  } else {
    RECUR_CHECK(N == B, op << ": " << N << " query rows over " << B << " rows of keys need sources");
  }
  RECUR_CHECK(weights.shape() == Shape({N, S}) && weights.is_contiguous(),
              op << ": weights must be contiguous (" << N << ", " << S << "), got shape " << weights.shape());
  RECUR_CHECK(context.shape() == Shape({N, K}) && (K <= 1 || context.stride(1) == 1),
              op << ": context must be (" << N << ", " << K << ") with contiguous rows, got shape "
                 << context.shape() << " with strides " << context.strides());
  check_writable(op, context);
  check_writable(op, weights);
  RECUR_CHECK(!autograd::any_requires_grad({query, keys, projected, v, mask}),
              op << ": not differentiable; run it under NoGradGuard");
  for (const Tensor* out : {&context, &weights})
    for (const Tensor* in : {&query, &keys, &projected, &v, &mask, &sources})
      RECUR_CHECK(!in->defined() || in->storage() != out->storage(),
                  op << ": an output shares memory with an operand; the read would see what it overwrites");
  if (N == 0) return;
  const Tensor q = dense(query), k = dense(keys), m = dense(mask);
  const Tensor p = additive ? dense(projected) : Tensor(), vv = additive ? dense(v) : Tensor();
  const Tensor src = sources.defined() ? dense(sources) : Tensor();
  backend::View none;
  none.dtype = query.dtype();
  backend_of(query).attention_read(view_of(context), view_of(weights), view_of(q), view_of(k),
                                   additive ? view_of(p) : none, additive ? view_of(vv) : none, view_of(m),
                                   src.defined() ? view_of(src) : none);
  context.storage()->bump_version();
  weights.storage()->bump_version();
}

}  // namespace recur
