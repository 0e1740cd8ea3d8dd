// Row helpers of src/backend/cpu/softmax.cpp, shared with the kernels that take a softmax
// inside a fused pass (attention.cpp).
#pragma once

#include <cstdint>

namespace recur::backend::cpu {

// Independent accumulators of a row's sums: two vectors of the widest registers.
template <class T>
constexpr int kLanes = 64 / sizeof(T) * 2;

// sum_i f(i) for i < n over a contiguous row, in independent lanes so that it vectorises;
// the lanes are added in double.
template <class T, class F>
double lane_sum(std::int64_t n, F f) {
  constexpr int L = kLanes<T>;
  T acc[L] = {};
  std::int64_t i = 0;
  for (; i + L <= n; i += L)
    for (int l = 0; l < L; ++l) acc[l] += f(i + l);
  double s = 0;
  for (int l = 0; l < L; ++l) s += acc[l];
  for (; i < n; ++i) s += f(i);
  return s;
}

// y = softmax(x) or log_softmax(x) over n values at strides sy and sx; y may be x.
template <class T>
void softmax_row(T* y, const T* x, std::int64_t sy, std::int64_t sx, std::int64_t n, bool log);

}  // namespace recur::backend::cpu
