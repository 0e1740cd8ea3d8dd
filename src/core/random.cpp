#include "recur/core/random.hpp"

namespace recur {

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
