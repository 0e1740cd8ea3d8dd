// Assertions and small input makers shared by the test files.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "recur/recur.hpp"

namespace recur {

// Runs fn, expects a recur::Error, and checks that its message contains every fragment.
inline void expect_error(const std::function<void()>& fn, const std::vector<std::string>& fragments) {
  try {
    fn();
  } catch (const Error& e) {
    for (const std::string& fragment : fragments) EXPECT_THAT(e.what(), testing::HasSubstr(fragment));
    return;
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected recur::Error, got another exception: " << e.what();
    return;
  }
  ADD_FAILURE() << "expected recur::Error";
}

// Float64 gradient check of fn at inputs, to the bound (max error below 1e-6).
inline void expect_gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& fn,
                             const std::vector<Tensor>& inputs) {
  GradcheckResult result = gradcheck(fn, inputs);
  EXPECT_TRUE(result.ok) << result.report;
  EXPECT_LT(result.max_error, 1e-6) << result.report;
}

// ------------------------------------------------------------------ inputs

// A float64 tensor holding `values`, shaped `shape`.
inline Tensor f64(const std::vector<double>& values, const Shape& shape) { return from_vector(values, shape); }

// Reproducible float64 normal draws with mean 0 and standard deviation `stddev`, from `seed`.
inline Tensor randn64(const Shape& shape, std::uint64_t seed, double stddev = 1) {
  Generator gen(seed);
  return normal(shape, 0, stddev, DType::Float64, &gen);
}

// Reproducible float32 standard-normal draws from `seed`.
inline Tensor randn32(const Shape& shape, std::uint64_t seed) {
  Generator gen(seed);
  return normal(shape, 0, 1, DType::Float32, &gen);
}

// Marks t itself (not a copy) as requiring grad and returns it.
inline Tensor leaf(const Tensor& t) {
  t.set_requires_grad();
  return t;
}

// A float64 leaf of standard-normal draws from `seed`.
inline Tensor random_leaf(const Shape& shape, std::uint64_t seed = 1) { return leaf(randn64(shape, seed)); }

// 0, 1, ..., numel-1 in `dtype`, shaped `shape`.
inline Tensor iota(const Shape& shape, DType dtype = DType::Float32) {
  return reshape(arange(0, static_cast<double>(shape.numel()), 1, dtype), shape);
}

// ------------------------------------------------------------------ comparisons

// Every element of t within absolute tolerance `tol` of `expected` (row-major order).
inline void expect_values(const Tensor& t, const std::vector<double>& expected, double tol = 1e-12) {
  ASSERT_TRUE(t.defined());
  std::vector<double> got = t.to_vector<double>();
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], expected[i], tol) << "element " << i;
}

// Every element of t within tol * max(1, |expected|) of `expected`: relative for large
// values, absolute near zero.
inline void expect_values_rel(const Tensor& t, const std::vector<double>& expected, double tol = 1e-12) {
  ASSERT_TRUE(t.defined());
  std::vector<double> got = t.to_vector<double>();
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], expected[i], tol * std::max(1.0, std::fabs(expected[i]))) << "element " << i;
}

// Same shape, and every element within absolute tolerance `tol` of expected's.
inline void expect_close(const Tensor& got, const Tensor& expected, double tol = 1e-12) {
  ASSERT_EQ(got.shape(), expected.shape());
  expect_values(got, expected.to_vector<double>(), tol);
}

// Same shape, and every element within tol * max(1, |expected|) of expected's.
inline void expect_close_rel(const Tensor& got, const Tensor& expected, double tol = 1e-12) {
  ASSERT_EQ(got.shape(), expected.shape());
  expect_values_rel(got, expected.to_vector<double>(), tol);
}

// |got[i] - want[i]| <= atol + rtol * |want[i]| for every i (the test of torch.allclose).
inline void expect_allclose(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                            double atol) {
  ASSERT_EQ(got.size(), want.size());
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], atol + rtol * std::fabs(want[i])) << "element " << i;
}

// Mean, population standard deviation, minimum and maximum of a tensor's elements.
struct Moments {
  double mean = 0, stddev = 0, min = INFINITY, max = -INFINITY;
};

inline Moments moments(const Tensor& t) {
  std::vector<double> v = t.to_vector<double>();
  Moments m;
  for (double x : v) {
    m.mean += x;
    m.min = std::min(m.min, x);
    m.max = std::max(m.max, x);
  }
  m.mean /= static_cast<double>(v.size());
  for (double x : v) m.stddev += (x - m.mean) * (x - m.mean);
  m.stddev = std::sqrt(m.stddev / static_cast<double>(v.size()));
  return m;
}

// ------------------------------------------------------------------ modules

// The names of entries such as Module::named_parameters(), in order.
inline std::vector<std::string> names_of(const std::vector<nn::NamedTensor>& entries) {
  std::vector<std::string> names;
  for (const nn::NamedTensor& entry : entries) names.push_back(entry.name);
  return names;
}

// The names of m's parameters, in registration order.
inline std::vector<std::string> parameter_names(const nn::Module& m) { return names_of(m.named_parameters()); }

// ------------------------------------------------------------------ files

// A fresh empty directory under the system's temp dir, removed with its contents (even
// after a test made it read-only) when the object goes.
class TempDir {
 public:
  TempDir() {
    std::string pattern = (std::filesystem::temp_directory_path() / "recur_test_XXXXXX").string();
    RECUR_CHECK(::mkdtemp(pattern.data()) != nullptr, "mkdtemp failed for " << pattern);
    path_ = pattern;
  }
  ~TempDir() {
    std::error_code ignored;
    std::filesystem::permissions(path_, std::filesystem::perms::owner_all, std::filesystem::perm_options::add,
                                 ignored);
    std::filesystem::remove_all(path_, ignored);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::string str() const { return path_.string(); }
  // The path of `name` inside the directory.
  std::string file(const std::string& name) const { return (path_ / name).string(); }
  // The names of the directory's entries, sorted.
  std::vector<std::string> entries() const {
    std::vector<std::string> names;
    for (const auto& entry : std::filesystem::directory_iterator(path_))
      names.push_back(entry.path().filename().string());
    std::sort(names.begin(), names.end());
    return names;
  }

 private:
  std::filesystem::path path_;
};

}  // namespace recur
