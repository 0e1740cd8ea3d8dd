// One read of attention without a graph, in one pass per query row (backend.hpp,
// attention_read): no (N, S, A) tensor of additive terms, no keys copied per query row.
//
//   additive: score_s = v . tanh(projected[r, s] + query[n]);   dot: score_s = keys[r, s] . query[n]
//   weights[n] = softmax_s(score + mask[r]),   context[n] = sum_s weights[n, s] keys[r, s]
//
// Positions whose mask is -inf (padding) are not scored: their weight is 0 whatever the score.
#include <cmath>
#include <cstdint>
#include <limits>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"
#include "backend/cpu/softmax_row.hpp"
#include "backend/cpu/vec_math.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

template <class T>
void attention_read_typed(const View& context, const View& weights, const View& query, const View& keys,
                          const View& projected, const View& v, const View& mask, const View& sources) {
  const std::int64_t N = query.shape[0], Q = query.shape[1], S = keys.shape[1], K = keys.shape[2];
  const std::int64_t ldc = context.strides[0];
  const bool additive = projected.data != nullptr;
  const T *q_all = static_cast<const T*>(query.data), *k_all = static_cast<const T*>(keys.data),
          *p_all = static_cast<const T*>(projected.data), *vv = static_cast<const T*>(v.data),
          *m_all = static_cast<const T*>(mask.data);
  const auto* source = static_cast<const std::int64_t*>(sources.data);
  T *w_all = static_cast<T*>(weights.data), *c_all = static_cast<T*>(context.data);
  const std::int64_t cost = S * (additive ? 8 * Q : Q) + S * K;  // tanh ~ 8 operations
  parallel_range(N, cost, [&](std::int64_t n0, std::int64_t n1) {
    for (std::int64_t n = n0; n < n1; ++n) {
      const std::int64_t r = source ? source[n] : n;
      const T *q = q_all + n * Q, *m = m_all + r * S, *kr = k_all + r * S * K;
      T* w = w_all + n * S;
      for (std::int64_t s = 0; s < S; ++s) {
        if (m[s] == -std::numeric_limits<T>::infinity()) {
          w[s] = m[s];
        } else if (additive) {
          const T* p = p_all + (r * S + s) * Q;
          w[s] = static_cast<T>(lane_sum<T>(Q, [&](std::int64_t a) { return vv[a] * tanh_any(p[a] + q[a]); })) + m[s];
        } else {
          const T* k = kr + s * K;
          w[s] = static_cast<T>(lane_sum<T>(Q, [&](std::int64_t a) { return k[a] * q[a]; })) + m[s];
        }
      }
      softmax_row(w, w, 1, 1, S, false);
      T* c = c_all + n * ldc;
      for (std::int64_t j = 0; j < K; ++j) c[j] = 0;
      for (std::int64_t s = 0; s < S; ++s) {
        if (w[s] == 0) continue;  // padding, or a weight that underflowed
        const T ws = w[s], *k = kr + s * K;
        for (std::int64_t j = 0; j < K; ++j) c[j] += ws * k[j];
      }
    }
  }, 1);
}

}  // namespace

void CpuBackend::attention_read(const View& context, const View& weights, const View& query, const View& keys,
                                const View& projected, const View& v, const View& mask, const View& sources) {
  if (query.dtype == DType::Float64)
    return attention_read_typed<double>(context, weights, query, keys, projected, v, mask, sources);
  attention_read_typed<float>(context, weights, query, keys, projected, v, mask, sources);
}

}  // namespace recur::backend
