// Reading the PyTorch conformance fixtures (tests/conformance/make_fixtures.py) and comparing
// against them. A fixture file holds cases; case "c" has tensors "c.<name>" and a JSON
// configuration under __metadata__["c"].
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "recur/recur.hpp"

namespace recur::conformance {

struct Case {
  std::string name;
  nlohmann::json config;
  TensorMap tensors;  // without the "<case>." prefix

  const Tensor& at(const std::string& key) const {
    auto it = tensors.find(key);
    if (it == tensors.end()) throw std::runtime_error("fixture case " + name + " has no tensor " + key);
    return it->second;
  }
  bool has(const std::string& key) const { return tensors.count(key) != 0; }
  bool is_f64() const { return name.size() > 4 && name.compare(name.size() - 4, 4, "_f64") == 0; }
  // The bound of the issue: float32 relative error 1e-5, float64 1e-10.
  double tolerance() const { return is_f64() ? 1e-10 : 1e-5; }
};

// Every case of fixture file tests/fixtures/conformance_<family>.safetensors, sorted by name.
inline std::vector<Case> load_cases(const std::string& family) {
  io::SafetensorsFile file =
      io::load_safetensors(std::string(RECUR_TEST_FIXTURES) + "/conformance_" + family + ".safetensors");
  std::vector<Case> cases;
  for (const auto& [name, config] : file.metadata) {
    Case c{name, nlohmann::json::parse(config), {}};
    const std::string prefix = name + ".";
    for (const auto& [key, value] : file.tensors)
      if (key.compare(0, prefix.size(), prefix) == 0) c.tensors[key.substr(prefix.size())] = value;
    cases.push_back(std::move(c));
  }
  return cases;
}

// A leaf copy of a fixture tensor that requires grad.
inline Tensor leaf(const Tensor& t) {
  Tensor copy = clone(t);
  copy.set_requires_grad();
  return copy;
}

// |actual - expected| <= tolerance * max(1, |expected|) for every element: relative error
// for large values, absolute near zero (where a relative error means nothing).
inline void expect_matches(const Tensor& actual, const Tensor& expected, double tolerance, const std::string& what) {
  ASSERT_TRUE(actual.defined()) << what << " is undefined";
  ASSERT_EQ(actual.shape(), expected.shape()) << what;
  ASSERT_EQ(actual.dtype(), expected.dtype()) << what;
  std::vector<double> a = actual.to_vector<double>(), e = expected.to_vector<double>();
  double worst = 0;
  std::size_t worst_at = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    double error = std::abs(a[i] - e[i]) / std::max(1.0, std::abs(e[i]));
    if (!(error <= worst)) worst = error, worst_at = i;
  }
  EXPECT_LE(worst, tolerance) << what << ": element " << worst_at << " is " << a[worst_at] << ", PyTorch has "
                              << e[worst_at];
}

}  // namespace recur::conformance
