#include "recur/train/check_finite.hpp"

#include <cmath>

#include "recur/core/error.hpp"

namespace recur::train {

const char* non_finite_name(double value) {
  return std::isfinite(value) ? "finite" : std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf";
}

void check_finite(double value, std::int64_t step, const char* what) {
  if (std::isfinite(value)) return;
  RECUR_FAIL(what << " is " << non_finite_name(value) << " at step " << step);
}

}  // namespace recur::train
