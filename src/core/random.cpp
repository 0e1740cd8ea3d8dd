#include "recur/core/random.hpp"

namespace recur {

// Philox4x32-10: ten rounds of multiply-and-xor on a 128-bit counter keyed by 64 bits.
std::array<std::uint32_t, 4> philox4x32(std::uint64_t key, std::uint64_t counter) {
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

std::uint32_t Generator::next_u32() { return philox4x32(seed_, reserve(1))[0]; }

double Generator::next_uniform() {
  auto w = philox4x32(seed_, reserve(1));
  return uniform_double(w[0], w[1]);
}

Generator& default_generator() {
  static Generator generator(0);
  return generator;
}

void manual_seed(std::uint64_t seed) { default_generator().set_state(seed, 0); }

}  // namespace recur
