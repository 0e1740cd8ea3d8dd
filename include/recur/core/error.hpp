// recur::Error: the one exception type recur throws for bad input.
#pragma once

#include <sstream>
#include <stdexcept>
#include <string>

namespace recur {

// Thrown for every user-facing failure: a wrong shape, dtype or device, an index out of
// range, a bad file. The message names the operation and the values involved.
class Error : public std::runtime_error {
 public:
  explicit Error(const std::string& message) : std::runtime_error(message) {}
};

}  // namespace recur

// RECUR_CHECK(cond, "op: expected " << a << ", got " << b) throws recur::Error when
// cond is false; the message is built with operator<< only on failure.
#define RECUR_CHECK(cond, message)                    \
  do {                                                \
    if (!(cond)) {                                    \
      std::ostringstream recur_check_stream_;         \
      recur_check_stream_ << message;                 \
      throw ::recur::Error(recur_check_stream_.str()); \
    }                                                 \
  } while (false)

// An unconditional throw, so a function ending in RECUR_FAIL needs no return after it.
#define RECUR_FAIL(message)              \
  throw ::recur::Error([&] {             \
    std::ostringstream recur_fail_stream_; \
    recur_fail_stream_ << message;        \
    return recur_fail_stream_.str();      \
  }())
