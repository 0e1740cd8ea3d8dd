// Option checks with plain messages (CLI11 prefixes them with the option's name).
#pragma once
#include <string>

#include <CLI/CLI.hpp>

namespace recur::cli {

// A number > 0 ("--hidden: must be greater than 0, got 0").
inline CLI::Validator positive() {
  return CLI::Validator(
      [](std::string& value) {
        double number = 0;
        return CLI::detail::lexical_cast(value, number) && number > 0 ? std::string()
                                                                      : "must be greater than 0, got " + value;
      },
      "> 0");
}

// A number >= 0.
inline CLI::Validator non_negative() {
  return CLI::Validator(
      [](std::string& value) {
        double number = 0;
        return CLI::detail::lexical_cast(value, number) && number >= 0 ? std::string()
                                                                       : "must be 0 or more, got " + value;
      },
      ">= 0");
}

// A number in [low, high].
inline CLI::Validator in_range(double low, double high) {
  return CLI::Validator(
      [low, high](std::string& value) {
        double number = 0;
        if (CLI::detail::lexical_cast(value, number) && number >= low && number <= high) return std::string();
        return "must be in [" + CLI::detail::to_string(low) + ", " + CLI::detail::to_string(high) + "], got " + value;
      },
      "in [" + CLI::detail::to_string(low) + ", " + CLI::detail::to_string(high) + "]");
}

// A number in [0, 1): a probability that may not be certain (dropout).
inline CLI::Validator below_one() {
  return CLI::Validator(
      [](std::string& value) {
        double number = 0;
        return CLI::detail::lexical_cast(value, number) && number >= 0 && number < 1
                   ? std::string()
                   : "must be in [0, 1), got " + value;
      },
      "in [0, 1)");
}

}  // namespace recur::cli
