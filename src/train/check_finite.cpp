#include "recur/train/check_finite.hpp"

#include <cmath>

#include "recur/core/error.hpp"

namespace recur::train {

void check_finite(double value, std::int64_t step, const char* what) {
  if (std::isfinite(value)) return;
  const char* kind = std::isnan(value) ? "nan" : value > 0 ? "inf" : "-inf";
  RECUR_FAIL(what << " is " << kind << " at step " << step);
}

}  // namespace recur::train
