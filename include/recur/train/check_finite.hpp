// Stops a diverged training run before a NaN reaches a checkpoint.
#pragma once

#include <cstdint>

namespace recur::train {

// Throws recur::Error "loss is nan at step 123" (or inf, -inf) when `value` is not finite.
// `what` names the value in the message ("loss", "gradient norm", ...).
void check_finite(double value, std::int64_t step, const char* what = "loss");

// "nan", "inf" or "-inf" for a value that is not finite (messages name it so); "finite" otherwise.
const char* non_finite_name(double value);

}  // namespace recur::train
