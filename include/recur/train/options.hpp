// The option registry: every option of a training run declared once, as a row of a plain
// table (OptionSpec). The command line's flags, the options a checkpoint stores
// (metadata "recur.run"), the checks made when a run is resumed and `recur info` all read
// the same rows, so an option is added by adding one row.
//
//   OptionValues o(task.options() + trainer_options());
//   o.set("hidden", std::int64_t{128});
//   std::string stored = o.to_json();          // {"text": ..., "model": {"hidden": 128, ...}, ...}
//   OptionValues back(o.specs());
//   back.from_json(stored, "last.safetensors");  // back.integer("hidden") == 128
#pragma once

#include <cstdint>
#include <set>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

namespace recur::train {

enum class OptionType { Flag, Int, Seed, Real, Text };  // bool, int64, uint64, double, string
enum class OptionGroup { Data, Model, Optimizer, Budget, Reporting };
// The check a command line applies to a value (the library trusts the values it is given).
enum class OptionCheck { None, Positive, NonNegative, Fraction, BelowOne };  // >0, >=0, [0,1], [0,1)

using OptionValue = std::variant<bool, std::int64_t, std::uint64_t, double, std::string>;

struct OptionSpec {
  std::string key = {};  // the JSON key; the flag is "--" + key with '_' -> '-' ("max_vocab": --max-vocab)
  OptionType type = OptionType::Text;
  OptionValue default_value;  // of the alternative `type` names
  std::string help = {};
  OptionGroup group = OptionGroup::Data;
  // A resumed run may change it (the budget and the reporting): a longer run, other cadences.
  bool resumable = false;
  OptionCheck check = OptionCheck::None;
  std::vector<std::string> choices = {};  // Text: the allowed values, when not empty
  std::string section = {};          // recur.run nests it in this object ("model"); "" = top level
  bool positional = false;           // given without a flag name; its flag_name() is the upper-cased key
  bool command_line = true;          // false: derived from the data (vocab_size), stored but not a flag
};

// "--max-vocab" for "max_vocab", "TEXT" for the positional "text".
std::string flag_name(const OptionSpec& spec);
const char* group_name(OptionGroup group);  // "data", "model", "optimizer", "budget", "reporting"

// `value` as a command line would give it ("0.002", "lstm", "true").
std::string format_option_value(const OptionValue& value);

// The values of a list of options, each at its default until set. Keys are unique (checked).
class OptionValues {
 public:
  OptionValues() = default;
  explicit OptionValues(std::vector<OptionSpec> specs);

  const std::vector<OptionSpec>& specs() const { return specs_; }
  bool has(std::string_view key) const;
  // The row of `key`; an unknown key is an Error naming it.
  const OptionSpec& spec(std::string_view key) const;
  const OptionValue& value(std::string_view key) const;
  // Requires a value of the option's type (checked; an Int accepts a Seed and vice versa
  // when it fits).
  void set(std::string_view key, OptionValue value);

  // Typed reads; a key of another type is an Error.
  bool flag(std::string_view key) const;
  std::int64_t integer(std::string_view key) const;
  std::uint64_t seed(std::string_view key) const;
  double real(std::string_view key) const;
  const std::string& text(std::string_view key) const;

  // Every option, in table order, as one JSON object; options with a section are nested
  // in an object of that name, placed where its first option is.
  std::string to_json() const;
  // Sets every option `json` holds (as to_json writes it); an option it lacks keeps its
  // value (files written before the option existed), a mistyped one or unreadable JSON is
  // an Error naming `source`.
  void from_json(const std::string& json, const std::string& source);

 private:
  std::size_t index(std::string_view key) const;
  std::vector<OptionSpec> specs_;
  std::vector<OptionValue> values_;
};

// A task's defaults where they differ from the options' own (Task::apply_defaults): sets
// each (key, value) of `defaults` unless the command line gave that key (`given`).
using OptionDefault = std::pair<const char*, OptionValue>;
void set_defaults(OptionValues& o, std::span<const OptionDefault> defaults, const std::set<std::string>& given);

// The options of a resumed run: the checkpoint's (`stored`), with the resumable ones the
// command line gave (`given`, keys in `given_keys`) taken from it. A non-resumable option
// given with a value other than the stored one is an Error naming its flag and both values;
// one given with the stored value is accepted, so the original command with --resume
// added resumes. `where` names the run in messages (its directory).
OptionValues resumed_options(const OptionValues& stored, const OptionValues& given,
                             const std::set<std::string>& given_keys, const std::string& where);

// "90", "90s", "15m", "2h", "1.5h" -> seconds; "0" = no limit. Anything else is an Error
// naming `flag` and the text.
double parse_duration(const std::string& text, const std::string& flag = "--max-time");

}  // namespace recur::train
