// One row's softmax or log-softmax (src/backend/cpu/softmax.cpp), for kernels that take it
// inside a fused pass.
#pragma once

#include <cstdint>

namespace recur::backend::cpu {

// y = softmax(x) or log_softmax(x) over n values at strides sy and sx; y may be x.
template <class T>
void softmax_row(T* y, const T* x, std::int64_t sy, std::int64_t sx, std::int64_t n, bool log);

}  // namespace recur::backend::cpu
