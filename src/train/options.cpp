// The option registry: values, their JSON (recur.run) and the resume rule.

#include "recur/train/options.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include <nlohmann/json.hpp>

#include "io/json_limits.hpp"
#include "recur/core/error.hpp"

namespace recur::train {

using nlohmann::ordered_json;

std::string flag_name(const OptionSpec& spec) {
  std::string name = spec.key;
  if (spec.positional) {
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::toupper(c); });
    return name;
  }
  std::replace(name.begin(), name.end(), '_', '-');
  return "--" + name;
}

const char* group_name(OptionGroup group) {
  switch (group) {
    case OptionGroup::Data: return "data";
    case OptionGroup::Model: return "model";
    case OptionGroup::Optimizer: return "optimizer";
    case OptionGroup::Budget: return "budget";
    case OptionGroup::Reporting: return "reporting";
  }
  return "?";
}

std::string format_option_value(const OptionValue& value) {
  if (const bool* b = std::get_if<bool>(&value)) return *b ? "true" : "false";
  if (const auto* i = std::get_if<std::int64_t>(&value)) return std::to_string(*i);
  if (const auto* u = std::get_if<std::uint64_t>(&value)) return std::to_string(*u);
  if (const double* d = std::get_if<double>(&value)) {
    char text[32];
    std::snprintf(text, sizeof text, "%.17g", *d);
    // The shortest text that reads back as the same double ("0.002", not "0.0020000000000000000").
    for (int digits = 1; digits <= 17; ++digits) {
      char shorter[32];
      std::snprintf(shorter, sizeof shorter, "%.*g", digits, *d);
      if (std::strtod(shorter, nullptr) == *d) return shorter;
    }
    return text;
  }
  return std::get<std::string>(value);
}

namespace {

const char* type_name(OptionType type) {
  switch (type) {
    case OptionType::Flag: return "a flag";
    case OptionType::Int: return "an integer";
    case OptionType::Seed: return "an unsigned integer";
    case OptionType::Real: return "a number";
    case OptionType::Text: return "a string";
  }
  return "?";
}

// `value` converted to the alternative `type` names, or false when it does not fit.
bool convert(OptionType type, const OptionValue& value, OptionValue& out) {
  switch (type) {
    case OptionType::Flag:
      if (!std::holds_alternative<bool>(value)) return false;
      out = value;
      return true;
    case OptionType::Int:
      if (const auto* u = std::get_if<std::uint64_t>(&value)) {
        if (*u > static_cast<std::uint64_t>(INT64_MAX)) return false;
        out = static_cast<std::int64_t>(*u);
        return true;
      }
      if (!std::holds_alternative<std::int64_t>(value)) return false;
      out = value;
      return true;
    case OptionType::Seed:
      if (const auto* i = std::get_if<std::int64_t>(&value)) {
        if (*i < 0) return false;
        out = static_cast<std::uint64_t>(*i);
        return true;
      }
      if (!std::holds_alternative<std::uint64_t>(value)) return false;
      out = value;
      return true;
    case OptionType::Real:
      if (const auto* i = std::get_if<std::int64_t>(&value)) out = static_cast<double>(*i);
      else if (const auto* u = std::get_if<std::uint64_t>(&value)) out = static_cast<double>(*u);
      else if (std::holds_alternative<double>(value)) out = value;
      else return false;
      return true;
    case OptionType::Text:
      if (!std::holds_alternative<std::string>(value)) return false;
      out = value;
      return true;
  }
  return false;
}

ordered_json to_json_value(const OptionValue& value) {
  return std::visit([](const auto& v) { return ordered_json(v); }, value);
}

// The JSON value as an OptionValue of `type`, or false when its JSON type does not fit.
bool from_json_value(OptionType type, const ordered_json& j, OptionValue& out) {
  OptionValue raw;
  if (j.is_boolean()) raw = j.get<bool>();
  else if (j.is_number_unsigned()) raw = j.get<std::uint64_t>();
  else if (j.is_number_integer()) raw = j.get<std::int64_t>();
  else if (j.is_number_float()) raw = j.get<double>();
  else if (j.is_string()) raw = j.get<std::string>();
  else return false;
  return convert(type, raw, out);
}

}  // namespace

OptionValues::OptionValues(std::vector<OptionSpec> specs) : specs_(std::move(specs)) {
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    for (std::size_t j = 0; j < i; ++j)
      RECUR_CHECK(specs_[j].key != specs_[i].key, "OptionValues: the option '" << specs_[i].key << "' is declared twice");
    OptionValue value;
    RECUR_CHECK(convert(specs_[i].type, specs_[i].default_value, value),
                "OptionValues: the default of '" << specs_[i].key << "' is not " << type_name(specs_[i].type));
    values_.push_back(std::move(value));
  }
}

std::size_t OptionValues::index(std::string_view key) const {
  for (std::size_t i = 0; i < specs_.size(); ++i)
    if (specs_[i].key == key) return i;
  RECUR_FAIL("no option '" << key << "' is declared");
}

bool OptionValues::has(std::string_view key) const {
  return std::any_of(specs_.begin(), specs_.end(), [&](const OptionSpec& s) { return s.key == key; });
}

const OptionSpec& OptionValues::spec(std::string_view key) const { return specs_[index(key)]; }
const OptionValue& OptionValues::value(std::string_view key) const { return values_[index(key)]; }

void OptionValues::set(std::string_view key, OptionValue value) {
  const std::size_t i = index(key);
  OptionValue converted;
  RECUR_CHECK(convert(specs_[i].type, value, converted),
              flag_name(specs_[i]) << " takes " << type_name(specs_[i].type) << ", got "
                                   << format_option_value(value));
  values_[i] = std::move(converted);
}

bool OptionValues::flag(std::string_view key) const { return std::get<bool>(values_[index(key)]); }
std::int64_t OptionValues::integer(std::string_view key) const {
  return std::get<std::int64_t>(values_[index(key)]);
}
std::uint64_t OptionValues::seed(std::string_view key) const { return std::get<std::uint64_t>(values_[index(key)]); }
double OptionValues::real(std::string_view key) const { return std::get<double>(values_[index(key)]); }
const std::string& OptionValues::text(std::string_view key) const {
  return std::get<std::string>(values_[index(key)]);
}

std::string OptionValues::to_json() const {
  ordered_json j = ordered_json::object();
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    if (specs_[i].section.empty()) j[specs_[i].key] = to_json_value(values_[i]);
    else j[specs_[i].section][specs_[i].key] = to_json_value(values_[i]);
  }
  return j.dump();
}

void OptionValues::from_json(const std::string& json, const std::string& source) {
  ordered_json j = io::parse_untrusted_json<ordered_json>(json);
  RECUR_CHECK(!j.is_discarded() && j.is_object(),
              source << ": the saved training options are unreadable (not a JSON object)");
  for (std::size_t i = 0; i < specs_.size(); ++i) {
    const OptionSpec& s = specs_[i];
    const ordered_json* holder = &j;
    if (!s.section.empty()) {
      if (!j.contains(s.section)) continue;
      holder = &j[s.section];
      RECUR_CHECK(holder->is_object(), source << ": the saved training options' \"" << s.section
                                              << "\" is not a JSON object");
    }
    if (!holder->contains(s.key)) continue;
    const ordered_json& v = holder->at(s.key);
    RECUR_CHECK(from_json_value(s.type, v, values_[i]), source << ": the saved option " << flag_name(s) << " should be "
                                                               << type_name(s.type) << ", got " << io::excerpt(v.dump()));
  }
}

void set_defaults(OptionValues& o, std::span<const OptionDefault> defaults, const std::set<std::string>& given) {
  for (const auto& [key, value] : defaults)
    if (!given.count(key)) o.set(key, value);
}

OptionValues resumed_options(const OptionValues& stored, const OptionValues& given,
                             const std::set<std::string>& given_keys, const std::string& where) {
  OptionValues resumed = stored;
  for (const std::string& key : given_keys) {
    if (!resumed.has(key)) continue;  // not a run option (--out, --threads, ...)
    const OptionSpec& s = resumed.spec(key);
    if (s.resumable) {
      resumed.set(key, given.value(key));
      continue;
    }
    RECUR_CHECK(given.value(key) == stored.value(key),
                "--resume continues the run in " << where << " as it was configured; " << flag_name(s) << " "
                << format_option_value(given.value(key)) << " cannot be given with it: the run has "
                << flag_name(s) << " " << format_option_value(stored.value(key))
                << " (give the same value, or leave the flag out)");
  }
  return resumed;
}

double parse_duration(const std::string& text, const std::string& flag) {
  std::size_t used = 0;
  double value = -1;
  try {
    value = std::stod(text, &used);
  } catch (const std::exception&) {
  }
  std::string unit = text.substr(std::min(used, text.size()));
  double scale = unit.empty() || unit == "s" ? 1 : unit == "m" ? 60 : unit == "h" ? 3600 : -1;
  RECUR_CHECK(used > 0 && scale > 0 && value >= 0 && std::isfinite(value),
              flag << ": '" << text << "' is not a duration (seconds, or a number with s, m or h: 90s, 15m, 2h)");
  return value * scale;
}

}  // namespace recur::train
