// The command-line side of the option registry (recur/train/options.hpp): one CLI11 flag per
// registered option, with its help, default and check, and the parsed values read back.
#pragma once
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>
#include <recur/recur.hpp>

#include "validators.hpp"

namespace recur::cli {

class RegistryFlags {
 public:
  // Adds a flag (or a positional argument) to `cmd` for every command-line option of `specs`.
  RegistryFlags(CLI::App& cmd, const std::vector<train::OptionSpec>& specs) : values_(specs) {
    slots_.resize(specs.size());
    for (std::size_t i = 0; i < specs.size(); ++i) {
      const train::OptionSpec& s = specs[i];
      if (!s.command_line) continue;
      Slot& slot = slots_[i];
      const std::string name = train::flag_name(s);
      CLI::Option* option = nullptr;
      switch (s.type) {
        case train::OptionType::Flag:
          slot.flag = std::get<bool>(s.default_value);
          option = cmd.add_flag(name, slot.flag, s.help);
          break;
        case train::OptionType::Int:
          slot.integer = std::get<std::int64_t>(s.default_value);
          option = cmd.add_option(name, slot.integer, s.help)->capture_default_str();
          break;
        case train::OptionType::Seed:
          slot.seed = std::get<std::uint64_t>(s.default_value);
          option = cmd.add_option(name, slot.seed, s.help)->capture_default_str();
          break;
        case train::OptionType::Real:
          slot.real = std::get<double>(s.default_value);
          option = cmd.add_option(name, slot.real, s.help)->capture_default_str();
          break;
        case train::OptionType::Text:
          slot.text = std::get<std::string>(s.default_value);
          option = cmd.add_option(name, slot.text, s.help);
          if (!s.positional && !slot.text.empty()) option->capture_default_str();
          break;
      }
      if (!s.choices.empty()) option->check(CLI::IsMember(s.choices));
      switch (s.check) {
        case train::OptionCheck::None: break;
        case train::OptionCheck::Positive: option->check(positive()); break;
        case train::OptionCheck::NonNegative: option->check(non_negative()); break;
        case train::OptionCheck::Fraction: option->check(in_range(0, 1)); break;
        case train::OptionCheck::BelowOne: option->check(below_one()); break;
      }
      option->group(std::string(1, static_cast<char>(std::toupper(*train::group_name(s.group)))) +
                    (train::group_name(s.group) + 1));
      slot.option = option;
    }
  }

  // After parsing: the values (defaults where not given) and the keys given.
  train::OptionValues values() const {
    train::OptionValues values = values_;
    for (std::size_t i = 0; i < slots_.size(); ++i) {
      const train::OptionSpec& s = values.specs()[i];
      if (!s.command_line) continue;
      const Slot& slot = slots_[i];
      switch (s.type) {
        case train::OptionType::Flag: values.set(s.key, slot.flag); break;
        case train::OptionType::Int: values.set(s.key, slot.integer); break;
        case train::OptionType::Seed: values.set(s.key, slot.seed); break;
        case train::OptionType::Real: values.set(s.key, slot.real); break;
        case train::OptionType::Text: values.set(s.key, slot.text); break;
      }
    }
    return values;
  }
  std::set<std::string> given() const {
    std::set<std::string> keys;
    for (std::size_t i = 0; i < slots_.size(); ++i)
      if (slots_[i].option && slots_[i].option->count() > 0) keys.insert(values_.specs()[i].key);
    return keys;
  }

 private:
  struct Slot {
    bool flag = false;
    std::int64_t integer = 0;
    std::uint64_t seed = 0;
    double real = 0;
    std::string text;
    CLI::Option* option = nullptr;
  };
  train::OptionValues values_;
  std::vector<Slot> slots_;  // one per spec; CLI11 writes into them, so they never move
};

}  // namespace recur::cli
