// A counter-based random generator (Philox4x32-10, Salmon et al. 2011).
//
// Element i of a random fill is a pure function of (seed, offset + i), so the numbers do
// not depend on how many threads produce them, and a generator's whole state is two
// integers that a checkpoint can save and restore.
#pragma once

#include <array>
#include <cstdint>

namespace recur {

class Generator {
 public:
  explicit Generator(std::uint64_t seed = 0) : seed_(seed) {}

  std::uint64_t seed() const { return seed_; }
  // Number of 128-bit blocks consumed so far; with the seed, the whole state.
  std::uint64_t offset() const { return offset_; }
  void set_state(std::uint64_t seed, std::uint64_t offset) { seed_ = seed; offset_ = offset; }

  // Reserves `blocks` consecutive counters and returns the first one.
  std::uint64_t reserve(std::uint64_t blocks) {
    std::uint64_t first = offset_;
    offset_ += blocks;
    return first;
  }

  // Scalar draws (each consumes one block), for host-side sampling and shuffling.
  std::uint32_t next_u32();
  double next_uniform();  // in [0, 1)

 private:
  std::uint64_t seed_ = 0;
  std::uint64_t offset_ = 0;
};

// The process-wide generator used when an op is given none.
Generator& default_generator();
void manual_seed(std::uint64_t seed);

// One Philox4x32-10 block: four 32-bit random words for (key, counter). Inline, so the
// CPU kernels' batched fills inline and vectorise it.
inline std::array<std::uint32_t, 4> philox4x32(std::uint64_t key, std::uint64_t counter) {
  constexpr std::uint32_t kMul0 = 0xD2511F53u, kMul1 = 0xCD9E8D57u;
  constexpr std::uint32_t kWeyl0 = 0x9E3779B9u, kWeyl1 = 0xBB67AE85u;
  std::uint32_t c0 = static_cast<std::uint32_t>(counter), c1 = static_cast<std::uint32_t>(counter >> 32);
  std::uint32_t c2 = 0, c3 = 0;
  std::uint32_t k0 = static_cast<std::uint32_t>(key), k1 = static_cast<std::uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    std::uint64_t p0 = static_cast<std::uint64_t>(kMul0) * c0;
    std::uint64_t p1 = static_cast<std::uint64_t>(kMul1) * c2;
    std::uint32_t n0 = static_cast<std::uint32_t>(p1 >> 32) ^ c1 ^ k0;
    std::uint32_t n1 = static_cast<std::uint32_t>(p1);
    std::uint32_t n2 = static_cast<std::uint32_t>(p0 >> 32) ^ c3 ^ k1;
    std::uint32_t n3 = static_cast<std::uint32_t>(p0);
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += kWeyl0;
    k1 += kWeyl1;
  }
  return {c0, c1, c2, c3};
}

// Maps a 32-bit word to a float in [0, 1) / a double in [0, 1) from two words.
inline float uniform_float(std::uint32_t w) { return static_cast<float>(w >> 8) * (1.0f / 16777216.0f); }
inline double uniform_double(std::uint32_t hi, std::uint32_t lo) {
  std::uint64_t bits = (static_cast<std::uint64_t>(hi) << 21) ^ (lo >> 11);
  return static_cast<double>(bits & ((1ull << 53) - 1)) * (1.0 / 9007199254740992.0);
}

}  // namespace recur
