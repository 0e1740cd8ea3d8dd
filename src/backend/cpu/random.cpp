// Random fills from the counter-based Philox4x32-10 generator.
//
// Elements 2j and 2j+1 of a fill come from the block philox4x32(key, first_block + j), so
// any split of the blocks over threads gives the same numbers. Per block:
//   uniform float32: words 0 and 1, 24 bits each (uniform_float)
//   uniform float64, bernoulli: two 53-bit doubles from words (0,1) and (2,3)
//   normal: Box-Muller, z0 = r cos(2 pi u1), z1 = r sin(2 pi u1), r = sqrt(-2 log(1 - u0))
//           (1 - u0 lies in (0, 1], so the log is finite); u0 is the 53-bit double from
//           words (0,1); u1 is the double from (2,3) for float64, and uniform_float(word 2)
//           for float32, whose maths runs in vectorised float (vec_math.hpp)
#include <algorithm>
#include <cmath>
#include <cstdint>

#include "backend/cpu/cpu_backend.hpp"
#include "backend/cpu/loops.hpp"
#include "backend/cpu/vec_math.hpp"
#include "recur/core/random.hpp"

namespace recur::backend {
namespace {

using namespace cpu;

// Philox4x32-10 for kBatch consecutive counters at once: a loop over independent lanes
// that vectorises once recur::philox4x32 is inlined. w[k][i] is word k of block `first + i`.
constexpr int kBatch = 64;

RECUR_INLINE void philox_batch(std::uint64_t key, std::uint64_t first, std::uint32_t (&w)[4][kBatch]) {
  for (int i = 0; i < kBatch; ++i) {
    std::array<std::uint32_t, 4> block = philox4x32(key, first + static_cast<std::uint64_t>(i));
    w[0][i] = block[0], w[1][i] = block[1], w[2][i] = block[2], w[3][i] = block[3];
  }
}

// Fills dst from its blocks: make(w, i, pair) turns lane i of a batch of blocks into the
// block's two values (the second dropped past the end of an odd-sized fill). Threads take
// ranges of whole batches, so every element still comes from its own block.
template <class T, class Make>
void fill_pairs(const View& dst, std::uint64_t key, std::uint64_t first_block, std::int64_t cost, Make make) {
  T* d = typed<T>(dst);
  const std::int64_t n = dst.numel();
  const std::int64_t blocks = (n + 1) / 2;
  const std::int64_t batches = (blocks + kBatch - 1) / kBatch;
  parallel_range(batches, 2 * kBatch * cost, [&](std::int64_t b, std::int64_t e) {
    std::uint32_t w[4][kBatch];
    T out[2 * kBatch];
    for (std::int64_t batch = b; batch < e; ++batch) {
      const std::int64_t j0 = batch * kBatch;
      philox_batch(key, first_block + static_cast<std::uint64_t>(j0), w);
      for (int i = 0; i < kBatch; ++i) make(w, i, out + 2 * i);
      const std::int64_t count = std::min<std::int64_t>(2 * kBatch, n - 2 * j0);
      for (std::int64_t i = 0; i < count; ++i) d[2 * j0 + i] = out[i];
    }
  }, 1);
}

template <class T>
void uniform_typed(const View& dst, double low, double high, std::uint64_t key, std::uint64_t first_block) {
  if constexpr (sizeof(T) == 4) {
    const float lo = static_cast<float>(low), span = static_cast<float>(high - low);
    fill_pairs<float>(dst, key, first_block, 1, [=](const auto& w, int i, float* out) {
      out[0] = lo + span * uniform_float(w[0][i]);
      out[1] = lo + span * uniform_float(w[1][i]);
    });
  } else {
    const double span = high - low;
    fill_pairs<double>(dst, key, first_block, 1, [=](const auto& w, int i, double* out) {
      out[0] = low + span * uniform_double(w[0][i], w[1][i]);
      out[1] = low + span * uniform_double(w[2][i], w[3][i]);
    });
  }
}

template <class T>
void normal_typed(const View& dst, double mean, double stddev, std::uint64_t key, std::uint64_t first_block) {
  if constexpr (sizeof(T) == 4) {
    // float32: vectorised float maths; the radius still from a 53-bit uniform, so the
    // tails reach 8.5 sigma rather than stopping at 5.8.
    const float m = static_cast<float>(mean), sd = static_cast<float>(stddev);
    fill_pairs<float>(dst, key, first_block, 2, [=](const auto& w, int i, float* out) {
      float one_minus_u0 = static_cast<float>(1.0 - uniform_double(w[0][i], w[1][i]));
      float r = std::sqrt(-2.0f * log_f32(one_minus_u0));
      float s, c;
      sincos_2pi_f32(uniform_float(w[2][i]), &s, &c);
      out[0] = m + sd * (r * c);
      out[1] = m + sd * (r * s);
    });
    return;
  }
  constexpr double kTwoPi = 6.283185307179586476925;
  fill_pairs<T>(dst, key, first_block, 16, [=](const auto& w, int i, T* out) {
    double u0 = uniform_double(w[0][i], w[1][i]), u1 = uniform_double(w[2][i], w[3][i]);
    double r = std::sqrt(-2.0 * std::log(1.0 - u0));
    double theta = kTwoPi * u1;
    out[0] = static_cast<T>(mean + stddev * r * std::cos(theta));
    out[1] = static_cast<T>(mean + stddev * r * std::sin(theta));
  });
}

template <class T>
void bernoulli_typed(const View& dst, double p, std::uint64_t key, std::uint64_t first_block) {
  fill_pairs<T>(dst, key, first_block, 1, [=](const auto& w, int i, T* out) {
    out[0] = uniform_double(w[0][i], w[1][i]) < p ? T(1) : T(0);
    out[1] = uniform_double(w[2][i], w[3][i]) < p ? T(1) : T(0);
  });
}

}  // namespace

void CpuBackend::fill_uniform(const View& dst, double low, double high, std::uint64_t key,
                              std::uint64_t first_block) {
  if (dst.numel() == 0) return;
  if (dst.dtype == DType::Float64) return uniform_typed<double>(dst, low, high, key, first_block);
  uniform_typed<float>(dst, low, high, key, first_block);
}

void CpuBackend::fill_normal(const View& dst, double mean, double stddev, std::uint64_t key,
                             std::uint64_t first_block) {
  if (dst.numel() == 0) return;
  if (dst.dtype == DType::Float64) return normal_typed<double>(dst, mean, stddev, key, first_block);
  normal_typed<float>(dst, mean, stddev, key, first_block);
}

void CpuBackend::fill_bernoulli(const View& dst, double p, std::uint64_t key, std::uint64_t first_block) {
  if (dst.numel() == 0) return;
  if (dst.dtype == DType::Float64) return bernoulli_typed<double>(dst, p, key, first_block);
  bernoulli_typed<float>(dst, p, key, first_block);
}

}  // namespace recur::backend
