// recur predict MODEL [FILE|-]: a classifier's label for each line of the input, in input
// order: "LABEL<TAB>probability", or with --json {"label", "prob", "probs": {LABEL: p}}.
// A line with a tab is a labelled example: the text after the first tab is classified, so a
// training file can be fed back. Lines are read as in training (the model's tokens, the first
// max_length of them) and classified in batches of similar length.
// A tagger's: each line a sentence of words separated by whitespace, each word's tag as
// "WORD<TAB>TAG" lines and a blank line after each sentence, or with --json
// {"tokens": [...], "tags": [...]} a line.

#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <recur/recur.hpp>

#include "commands.hpp"

namespace recur::cli {
namespace {

struct PredictOptions {
  std::string model, input = "-";
  bool json = false;
  std::int64_t batch_size = 64;
};

void predict_tags(const PredictOptions& o) {
  train::LoadedTagger loaded = train::load_tagger(o.model);
  const std::string name = input_name(o.input), text = read_input(o.input);
  std::vector<std::vector<std::string>> sentences;
  train::TaggedCorpus corpus;  // the sentences with words; an empty line is an empty sentence
  for (const std::string_view& line : lines_of(text)) {
    const std::string where = name + " line " + std::to_string(sentences.size() + 1);
    sentences.push_back(data::split_tokens(line, data::TokenMode::Word, /*lowercase=*/false, where));
    if (!sentences.back().empty())
      corpus.add(sentences.back(), std::vector<std::int32_t>(sentences.back().size(), 0), loaded);  // tags unread
  }
  const std::vector<double> log_probs = train::tagger_log_probs(*loaded.model, corpus, o.batch_size);
  const std::int64_t C = loaded.labels.size();
  const double* row = log_probs.data();
  std::string out;
  for (const std::vector<std::string>& words : sentences) {
    std::vector<std::string> tags;
    for (std::size_t t = 0; t < words.size(); ++t, row += C)
      tags.push_back(loaded.labels.name(std::max_element(row, row + C) - row));
    if (o.json) {
      out += nlohmann::ordered_json{{"tokens", words}, {"tags", tags}}.dump() + "\n";
      continue;
    }
    for (std::size_t t = 0; t < words.size(); ++t) out += words[t] + "\t" + tags[t] + "\n";
    out += "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void run_predict(const PredictOptions& o) {
  const std::string task = train::model_task(io::read_safetensors_metadata(o.model), o.model);
  RECUR_CHECK(task != "lm", o.model << " is a language model: recur predict needs a classifier or a tagger (recur "
                                       "train --task classify or tag); recur sample and recur score read language "
                                       "models");
  if (task == "tag") return predict_tags(o);
  train::LoadedClassifier loaded = train::load_classifier(o.model);
  const std::string name = input_name(o.input), text = read_input(o.input);
  std::vector<data::Sequence> examples;
  for (const std::string_view& line : lines_of(text)) {
    const std::string where = name + " line " + std::to_string(examples.size() + 1);
    std::string_view body = line;
    if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
    if (const std::size_t tab = body.find('\t'); tab != std::string_view::npos) body.remove_prefix(tab + 1);
    examples.push_back({train::classifier_tokens(body, loaded, where), {0}});  // the label is not read
  }
  const std::vector<double> log_probs = train::classifier_log_probs(*loaded.model, examples, o.batch_size);
  const std::int64_t C = loaded.labels.size();
  std::string out;
  for (std::size_t i = 0; i < examples.size(); ++i) {
    const double* row = log_probs.data() + i * C;
    const auto best = std::max_element(row, row + C) - row;
    if (o.json) {
      nlohmann::ordered_json probs;
      for (std::int64_t c = 0; c < C; ++c) probs[loaded.labels.name(c)] = std::exp(row[c]);
      out += nlohmann::ordered_json{{"label", loaded.labels.name(best)}, {"prob", std::exp(row[best])},
                                    {"probs", probs}}
                 .dump();
    } else {
      char prob[32];
      std::snprintf(prob, sizeof prob, "\t%.4f", std::exp(row[best]));
      out += loaded.labels.name(best) + prob;
    }
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void add_predict_command(CLI::App& app) {
  auto options = std::make_shared<PredictOptions>();
  CLI::App* cmd = app.add_subcommand("predict", "A classifier's label for each line, or a tagger's tag for each word");
  cmd->add_option("MODEL", options->model, "Classifier or tagger model or checkpoint file")->required();
  cmd->add_option("FILE", options->input,
                  "UTF-8 text, one example a line (a classifier reads the text after a first tab; a tagger, words "
                  "separated by whitespace; default or '-': standard input)");
  cmd->add_flag("--json", options->json,
                "One JSON line each: a classifier {\"label\", \"prob\", \"probs\": {LABEL: p}}, a tagger "
                "{\"tokens\", \"tags\"}");
  cmd->add_option("--batch-size", options->batch_size, "Lines run together (the results do not depend on it)")
      ->check(positive())
      ->capture_default_str();
  add_threads_option(*cmd);
  cmd->callback([options] { run_predict(*options); });
}

}  // namespace recur::cli
