// recur info MODEL: what a model or checkpoint file holds.

#include <cstdio>
#include <map>
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
void print_options(const train::Task& task, const std::string& json, const std::string& path) {
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

// The tokens line and a preview of the vocabulary; `lines`: a language model's, whose word
// tokens include each line's end.
void print_vocabulary(const data::Vocab& vocab, bool lines) {
  std::string specials;
  if (vocab.mode() == data::TokenMode::Word)
    specials = ", " + std::string(data::Vocab::kUnknownToken) + " at " + std::to_string(vocab.unknown_index()) +
               ", " + std::string(data::Vocab::kEndToken) + " at " + std::to_string(vocab.end_index());
  else if (vocab.has_unknown())
    specials = ", " + std::string(data::Vocab::kUnknownToken) + " at " + std::to_string(vocab.unknown_index());
  std::string tokens = "characters";
  if (vocab.mode() == data::TokenMode::Word)
    tokens = std::string("words (split at whitespace") + (vocab.split_punctuation() ? " and punctuation" : "") +
             (lines ? ", <eos> ending each line)" : ")");
  if (vocab.lowercase()) tokens += ", lowercased";
  std::printf("  tokens      %s%s\n", tokens.c_str(), specials.c_str());
  std::string preview;
  const std::int64_t shown = std::min<std::int64_t>(vocab.size(), 40);
  for (std::int64_t i = 0; i < shown; ++i) preview += (i ? " " : "") + preview_token(vocab, i);
  std::printf("  vocabulary  %lld tokens, most frequent first: %s%s\n", static_cast<long long>(vocab.size()),
              preview.c_str(), shown < vocab.size() ? " ..." : "");
}

// "labels      2: ham (3286), spam (1446) training texts": the names and their counts.
void print_labels(const char* heading, const data::Labels& labels, const std::vector<std::int64_t>& counts,
                  const char* counted) {
  std::string line;
  for (std::int64_t i = 0; i < labels.size(); ++i) {
    line += (i ? ", " : "") + labels.name(i);
    if (!counts.empty()) line += " (" + std::to_string(counts[i]) + ")";
  }
  std::printf("  %-11s %lld: %s%s%s\n", heading, static_cast<long long>(labels.size()), line.c_str(),
              counts.empty() ? "" : " ", counts.empty() ? "" : counted);
}

void print_language_model(const train::LoadedLanguageModel& loaded) {
  const nn::LanguageModelConfig& c = loaded.model->config;
  std::printf("  model       %s, %lld layer%s of %lld, %s input%s, dropout %g\n", c.cell.c_str(),
              static_cast<long long>(c.layers), c.layers == 1 ? "" : "s", static_cast<long long>(c.hidden),
              c.embed > 0 ? ("embedding " + std::to_string(c.embed)).c_str() : "one-hot",
              c.peephole ? ", peepholes" : "", c.dropout);
  std::printf("  parameters  %lld%s\n", static_cast<long long>(loaded.model->num_parameters()),
              c.tie_weights ? " (embedding and output layer tied)" : "");
  print_vocabulary(loaded.vocab, /*lines=*/true);
}

void print_classifier(const train::LoadedClassifier& loaded) {
  const nn::SequenceClassifierConfig& c = loaded.model->config;
  std::printf("  task        classify: one label per text\n");
  std::printf("  model       %s%s, %lld layer%s of %lld, embedding %lld, %s pooling, dropout %g\n",
              c.bidirectional ? "bidirectional " : "", c.cell.c_str(), static_cast<long long>(c.layers),
              c.layers == 1 ? "" : "s", static_cast<long long>(c.hidden), static_cast<long long>(c.embed),
              nn::pool_name(c.pool), c.dropout);
  std::printf("  parameters  %lld\n", static_cast<long long>(loaded.model->num_parameters()));
  print_labels("labels", loaded.labels, loaded.label_counts, "training texts");
  print_vocabulary(loaded.vocab, /*lines=*/false);
  if (loaded.max_length > 0)
    std::printf("  length      the first %lld tokens of a text are read\n", static_cast<long long>(loaded.max_length));
}

void print_tagger(const train::LoadedTagger& loaded) {
  const nn::SequenceTaggerConfig& c = loaded.model->config;
  std::printf("  task        tag: one tag per word\n");
  std::printf("  model       %s%s, %lld layer%s of %lld, embedding %lld", c.bidirectional ? "bidirectional " : "",
              c.cell.c_str(), static_cast<long long>(c.layers), c.layers == 1 ? "" : "s",
              static_cast<long long>(c.hidden), static_cast<long long>(c.embed));
  if (c.char_embed > 0)
    std::printf(", character features %lld -> 2x%lld over %lld characters", static_cast<long long>(c.char_embed),
                static_cast<long long>(c.char_hidden), static_cast<long long>(c.char_vocab_size));
  std::printf(", dropout %g\n", c.dropout);
  std::printf("  parameters  %lld\n", static_cast<long long>(loaded.model->num_parameters()));
  print_labels("tags", loaded.labels, loaded.label_counts, "training words");
  print_vocabulary(loaded.vocab, /*lines=*/false);
}

void print_seq2seq(const train::LoadedSeq2Seq& loaded) {
  const nn::Seq2SeqConfig& c = loaded.model->config;
  std::printf("  task        seq2seq: a target sequence for each source sequence\n");
  std::printf("  model       %s%s encoder of %lld layer%s, decoder of %lld layer%s, hidden %lld, embedding %lld, "
              "%s attention, dropout %g\n",
              c.bidirectional ? "bidirectional " : "", c.cell.c_str(), static_cast<long long>(c.enc_layers),
              c.enc_layers == 1 ? "" : "s", static_cast<long long>(c.dec_layers), c.dec_layers == 1 ? "" : "s",
              static_cast<long long>(c.hidden), static_cast<long long>(c.embed),
              c.attention ? nn::attention_name(*c.attention) : "no", c.dropout);
  std::printf("  parameters  %lld\n", static_cast<long long>(loaded.model->num_parameters()));
  std::printf("  sources\n");
  print_vocabulary(loaded.source, /*lines=*/false);
  std::printf("  targets     (and <bos> at %lld, <eos> at %lld)\n", static_cast<long long>(loaded.bos()),
              static_cast<long long>(loaded.eos()));
  print_vocabulary(loaded.target, /*lines=*/false);
}

void run_info(const std::string& path) {
  const std::string task_name = train::model_task(io::read_safetensors_metadata(path), path);
  // Each model is loaded whole before anything is printed: a bad file prints only its error.
  std::map<std::string, std::string> metadata;
  if (task_name == "classify") {
    train::LoadedClassifier loaded = train::load_classifier(path);
    std::printf("%s\n", path.c_str());
    print_classifier(loaded);
    metadata = loaded.metadata;
  } else if (task_name == "tag") {
    train::LoadedTagger loaded = train::load_tagger(path);
    std::printf("%s\n", path.c_str());
    print_tagger(loaded);
    metadata = loaded.metadata;
  } else if (task_name == "seq2seq") {
    train::LoadedSeq2Seq loaded = train::load_seq2seq(path);
    std::printf("%s\n", path.c_str());
    print_seq2seq(loaded);
    metadata = loaded.metadata;
  } else {
    train::LoadedLanguageModel loaded = train::load_language_model(path);
    std::printf("%s\n", path.c_str());
    print_language_model(loaded);
    metadata = loaded.metadata;
  }
  const std::unique_ptr<train::Task> task = train::make_task(task_name);
  auto progress = metadata.find(train::kProgressKey);
  if (progress != metadata.end()) {
    nlohmann::json p = nlohmann::json::parse(progress->second, nullptr, false);
    if (p.is_object()) {
      // The validation figure that picks the best model, which the progress holds as
      // "best_<metric>" ("best_val_loss": "validation loss"); a tagger's depends on its tags.
      std::string metric = "val_loss";
      for (const auto& [key, value] : p.items())
        if (key.starts_with("best_val_")) metric = key.substr(5);
      const std::string shown = metric.substr(4);
      std::printf("  training    step %lld (epoch %.2f)", p.value("step", 0LL), p.value("epoch", 0.0));
      if (p.contains(metric) && p[metric].is_number())
        std::printf(", validation %s %.4f", shown.c_str(), p[metric].get<double>());
      if (p.contains("best_" + metric) && p["best_" + metric].is_number())
        std::printf(", best %.4f", p["best_" + metric].get<double>());
      std::printf("\n");
    }
  } else {
    std::printf("  training    no training state (not written by recur train)\n");
  }
  auto run = metadata.find(train::kRunKey);
  if (run != metadata.end()) print_options(*task, run->second, path);
}

}  // namespace

void add_info_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* cmd = app.add_subcommand("info", "Configuration, vocabulary and training state of a model file");
  cmd->add_option("MODEL", *path, "Model or checkpoint file")->required();
  cmd->callback([path] { run_info(*path); });
}

}  // namespace recur::cli
