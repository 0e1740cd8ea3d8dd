// Assertions shared by the test files.
#pragma once

#include <gmock/gmock.h>
#include <gtest/gtest.h>

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

}  // namespace recur
