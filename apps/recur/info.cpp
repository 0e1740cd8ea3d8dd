// recur info MODEL: what a model or checkpoint file holds.

#include <cstdio>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>
#include <recur/recur.hpp>

#include "commands.hpp"

namespace recur::cli {
namespace {

// A token as it reads in a space-separated preview: the space and control characters by
// code point.
std::string preview_token(const data::Vocab& vocab, std::int64_t index) {
  if (index == vocab.unknown_index()) return std::string(data::Vocab::kUnknownToken);
  std::u32string c = data::decode_utf8(vocab.token(index));
  if (c[0] == U' ') return "U+0020";
  return c[0] < 0x20 || c[0] == 0x7F ? data::describe_char(c[0]) : vocab.token(index);
}

// The run's options as flags, one line per group (what repeats the run); empty ones left out.
void print_options(const std::string& json, const std::string& path) {
  train::LanguageModelTask task;
  train::OptionValues options(train::run_options(task));
  options.from_json(json, path);
  const char* heading = "options";
  for (train::OptionGroup group : {train::OptionGroup::Data, train::OptionGroup::Model, train::OptionGroup::Optimizer,
                                   train::OptionGroup::Budget, train::OptionGroup::Reporting}) {
    std::string line;
    for (const train::OptionSpec& spec : options.specs()) {
      if (spec.group != group || !spec.command_line) continue;
      const train::OptionValue& value = options.value(spec.key);
      if (spec.type == train::OptionType::Flag) {
        if (std::get<bool>(value)) line += " " + train::flag_name(spec);
        continue;
      }
      std::string shown = train::format_option_value(value);
      if (shown.empty()) continue;
      if (shown.find(' ') != std::string::npos) shown = "'" + shown + "'";
      line += " " + (spec.positional ? std::string() : train::flag_name(spec) + " ") + shown;
    }
    std::printf("  %-11s %s:%s\n", heading, train::group_name(group), line.c_str());
    heading = "";
  }
}

void run_info(const std::string& path) {
  train::LoadedLanguageModel loaded = train::load_language_model(path);
  const nn::LanguageModelConfig& c = loaded.model->config;
  std::printf("%s\n", path.c_str());
  std::printf("  model       %s, %lld layer%s of %lld, %s input%s, dropout %g\n", c.cell.c_str(),
              static_cast<long long>(c.layers), c.layers == 1 ? "" : "s", static_cast<long long>(c.hidden),
              c.embed > 0 ? ("embedding " + std::to_string(c.embed)).c_str() : "one-hot",
              c.peephole ? ", peepholes" : "", c.dropout);
  std::printf("  parameters  %lld%s\n", static_cast<long long>(loaded.model->num_parameters()),
              c.tie_weights ? " (embedding and output layer tied)" : "");
  const data::Vocab& vocab = loaded.vocab;
  std::string specials;
  if (vocab.mode() == data::TokenMode::Word)
    specials = ", " + std::string(data::Vocab::kUnknownToken) + " at " + std::to_string(vocab.unknown_index()) +
               ", " + std::string(data::Vocab::kEndToken) + " at " + std::to_string(vocab.end_index());
  else if (vocab.has_unknown())
    specials = ", " + std::string(data::Vocab::kUnknownToken) + " at " + std::to_string(vocab.unknown_index());
  std::printf("  tokens      %s%s%s\n",
              vocab.mode() == data::TokenMode::Word ? "words (split at whitespace, <eos> ending each line)"
                                                    : "characters",
              vocab.lowercase() ? ", lowercased" : "", specials.c_str());
  std::string preview;
  const std::int64_t shown = std::min<std::int64_t>(loaded.vocab.size(), 40);
  for (std::int64_t i = 0; i < shown; ++i) preview += (i ? " " : "") + preview_token(loaded.vocab, i);
  std::printf("  vocabulary  %lld tokens, most frequent first: %s%s\n", static_cast<long long>(loaded.vocab.size()),
              preview.c_str(), shown < loaded.vocab.size() ? " ..." : "");
  auto progress = loaded.metadata.find(train::kProgressKey);
  if (progress != loaded.metadata.end()) {
    nlohmann::json p = nlohmann::json::parse(progress->second, nullptr, false);
    if (p.is_object()) {
      std::printf("  training    step %lld (epoch %.2f)", p.value("step", 0LL), p.value("epoch", 0.0));
      if (p.contains("val_loss") && p["val_loss"].is_number())
        std::printf(", validation loss %.4f", p["val_loss"].get<double>());
      if (p.contains("best_val_loss") && p["best_val_loss"].is_number())
        std::printf(", best %.4f", p["best_val_loss"].get<double>());
      std::printf("\n");
    }
  } else {
    std::printf("  training    no training state (not written by recur train)\n");
  }
  auto run = loaded.metadata.find(train::kRunKey);
  if (run != loaded.metadata.end()) print_options(run->second, path);
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("info", "Configuration, vocabulary and training state of a model file");
  cmd->add_option("MODEL", *path, "Model or checkpoint file")->required();
  cmd->callback([path] { run_info(*path); });
}

}  // namespace recur::cli
