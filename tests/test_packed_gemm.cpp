// The CPU backend's product with a packed right-hand matrix (src/backend/cpu/packed_gemm.hpp)
// against a plain triple loop in long double: every tile shape (rows 1 to past two tiles,
// columns on both sides of a panel's width, k of 1 and odd), both storage orders, strided
// operands, overwrite and accumulate, one thread and two.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "backend/cpu/packed_gemm.hpp"
#include "recur/core/threading.hpp"

namespace {

using namespace recur::backend::cpu;

template <class T>
std::vector<T> random_values(std::int64_t count, unsigned seed) {
  std::mt19937 gen(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<T> v(static_cast<std::size_t>(count));
  for (T& x : v) x = static_cast<T>(u(gen));
  return v;
}

struct Shape {
  std::int64_t m, k, n;
};

// C (with ldc = n + 3, its extra columns marked) = A P or += A P, with or without a bias on
// every row, checked against the loop; returns C so that callers can compare thread counts.
template <class T>
std::vector<T> check_product(const Shape& s, bool trans, bool accumulate, bool with_bias = false) {
  const std::int64_t lda = s.k + 2, ldb = (trans ? s.k : s.n) + 1, ldc = s.n + 3;
  const std::vector<T> a = random_values<T>(s.m * lda, 1), b = random_values<T>((trans ? s.n : s.k) * ldb, 2);
  std::vector<T> c = random_values<T>(s.m * ldc, 3);
  for (std::int64_t i = 0; i < s.m; ++i)
    for (std::int64_t j = s.n; j < ldc; ++j) c[i * ldc + j] = T(7);
  const std::vector<T> before = c, bias = random_values<T>(s.n, 4);
  std::vector<T> storage(static_cast<std::size_t>(packed_size<T>(s.k, s.n)), T(-1));
  const PackedMatrix<T> p = pack_matrix<T>(trans, s.k, s.n, b.data(), ldb, storage.data());
  gemm_packed<T>(s.m, a.data(), lda, p, accumulate, with_bias ? bias.data() : nullptr, c.data(), ldc);

  const double tol = (sizeof(T) == 4 ? 1e-6 : 1e-14) * static_cast<double>(s.k);
  double worst = 0;
  for (std::int64_t i = 0; i < s.m; ++i) {
    for (std::int64_t j = 0; j < s.n; ++j) {
      long double want = (accumulate ? before[i * ldc + j] : 0) + (with_bias ? bias[j] : 0);
      for (std::int64_t q = 0; q < s.k; ++q)
        want += static_cast<long double>(a[i * lda + q]) * (trans ? b[j * ldb + q] : b[q * ldb + j]);
      worst = std::max(worst, std::fabs(static_cast<double>(want - c[i * ldc + j])));
    }
    for (std::int64_t j = s.n; j < ldc; ++j) EXPECT_EQ(c[i * ldc + j], T(7)) << "wrote past column n";
  }
  EXPECT_LT(worst, tol) << s.m << "x" << s.k << " by " << s.k << "x" << s.n << (trans ? " (B transposed)" : "")
                        << (accumulate ? " accumulating" : "") << (with_bias ? " with a bias" : "");
  return c;
}

template <class T>
void check_all_shapes() {
  const std::int64_t panel = packed_panel_width<T>();
  for (std::int64_t m : {1, 2, 5, 6, 7, 8, 9, 13, 17, 32})
    for (std::int64_t k : {1, 3, 64})
      for (std::int64_t n : {std::int64_t{1}, panel - 1, panel, panel + 1, 3 * panel + 5})
        for (bool trans : {false, true})
          for (bool accumulate : {false, true})
            for (bool with_bias : {false, true}) check_product<T>({m, k, n}, trans, accumulate, with_bias);
}

TEST(PackedGemm, MatchesPlainLoopFloat) { check_all_shapes<float>(); }

TEST(PackedGemm, MatchesPlainLoopDouble) { check_all_shapes<double>(); }

// Large enough to be split over the pool by panels: the same bits with one thread or two.
TEST(PackedGemm, SplitOverThreadsGivesTheSameBits) {
  const int threads = recur::get_num_threads();
  const Shape s{32, 512, 16 * packed_panel_width<float>() + 3};
  recur::set_num_threads(1);
  const std::vector<float> one = check_product<float>(s, true, true);
  recur::set_num_threads(2);
  const std::vector<float> two = check_product<float>(s, true, true);
  recur::set_num_threads(threads);
  EXPECT_EQ(one, two);
}

}  // namespace
