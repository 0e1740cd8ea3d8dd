// recur predict MODEL [FILE|-]: a classifier's label for each line of the input, in input
// order: "LABEL<TAB>probability", or with --json {"label", "prob", "probs": {LABEL: p}}.
// A line with a tab is a labelled example: the text after the first tab is classified, so a
// training file can be fed back. Lines are read as in training (the model's tokens, the first
// max_length of them) and classified in batches of similar length.
// A tagger's: each line a sentence of words separated by whitespace, each word's tag as
// "WORD<TAB>TAG" lines and a blank line after each sentence, or with --json
// {"tokens": [...], "tags": [...]} a line.
// A sequence-to-sequence model's: each line a source (a line with a tab: the part before it),
// its best target by beam search (word tokens joined by spaces, characters run together), or
// with --n-best N the N best, a line each; with --json {"source", "hypotheses": [{"target",
// "logprob"}, ...]} a line. With --attention DIR, DIR/NNNN.svg (NNNN the line's number) shows
// where the model looked while writing the line's best target.

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>
#include <recur/recur.hpp>

#include "commands.hpp"

namespace recur::cli {
namespace {

namespace fs = std::filesystem;

struct PredictOptions {
  std::string model, input = "-";
  bool json = false;
  std::int64_t batch_size = 64;
  nn::BeamOptions beam{.max_length = 0};  // sequence-to-sequence models; 0: 2 x the source + 10
  std::string attention_dir;             // sequence-to-sequence models: heatmaps written here
};

// DIR/NNNN.svg for line `index` (from 0): the attention of `model` writing `best` for `source`.
void write_attention(const PredictOptions& o, train::LoadedSeq2Seq& loaded, std::size_t index,
                     const std::vector<std::int32_t>& source, const std::vector<std::int32_t>& best) {
  std::vector<std::string> across, down;
  for (std::int32_t t : source) across.push_back(loaded.source.token(t));
  for (std::int32_t t : best) down.push_back(loaded.target.token(t));
  down.emplace_back("<eos>");
  char name[32];
  std::snprintf(name, sizeof name, "%04zu.svg", index + 1);
  const std::string svg = train::attention_svg(across, down, train::attention_matrix(*loaded.model, loaded, source, best),
                                               train::sequence_text(source, loaded.source));
  io::write_file_atomically((fs::path(o.attention_dir) / name).string(), svg);
}

void predict_sequences(const PredictOptions& o) {
  train::LoadedSeq2Seq loaded = train::load_seq2seq(o.model);
  if (!o.attention_dir.empty()) {
    RECUR_CHECK(loaded.model->attention, "--attention " << o.attention_dir << ": " << o.model
                                                         << " has no attention to draw (trained with --attention none)");
    std::error_code error;
    fs::create_directories(o.attention_dir, error);
    RECUR_CHECK(!error && fs::is_directory(o.attention_dir),
                "--attention " << o.attention_dir << ": cannot create the directory (" << error.message() << ")");
  }
  const std::string name = input_name(o.input), text = read_input(o.input);
  std::vector<std::string> lines;
  std::vector<std::vector<std::int32_t>> sources;
  for (const std::string_view& line : lines_of(text)) {
    const std::string where = name + " line " + std::to_string(sources.size() + 1);
    std::string_view source = line;
    if (!source.empty() && source.back() == '\r') source.remove_suffix(1);
    if (const std::size_t tab = source.find('\t'); tab != std::string_view::npos) source = source.substr(0, tab);
    sources.push_back(train::sequence_tokens(source, loaded.source, where, "source"));
    lines.emplace_back(source);
  }
  const std::vector<std::vector<nn::Hypothesis>> found =
      train::translate(*loaded.model, loaded, sources, o.beam, o.batch_size);
  if (!o.attention_dir.empty())
    for (std::size_t i = 0; i < found.size(); ++i)
      write_attention(o, loaded, i, sources[i], found[i].empty() ? std::vector<std::int32_t>() : found[i][0].tokens);
  std::string out;
  for (std::size_t i = 0; i < found.size(); ++i) {
    if (o.json) {
      nlohmann::ordered_json hypotheses = nlohmann::ordered_json::array();
      for (const nn::Hypothesis& h : found[i])
        hypotheses.push_back({{"target", train::sequence_text(h.tokens, loaded.target)}, {"logprob", h.logprob}});
      out += nlohmann::ordered_json{{"source", lines[i]}, {"hypotheses", hypotheses}}.dump() + "\n";
      continue;
    }
    for (const nn::Hypothesis& h : found[i]) out += train::sequence_text(h.tokens, loaded.target) + "\n";
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void predict_tags(const PredictOptions& o) {
  train::LoadedTagger loaded = train::load_tagger(o.model);
  const std::string name = input_name(o.input), text = read_input(o.input);
  std::vector<std::vector<std::string>> sentences;
  train::TaggedCorpus corpus;  // the sentences with words; an empty line is an empty sentence
  for (const std::string_view& line : lines_of(text)) {
    const std::string where = name + " line " + std::to_string(sentences.size() + 1);
    sentences.push_back(data::split_tokens(line, {.mode = data::TokenMode::Word}, where));
    if (!sentences.back().empty())
      corpus.add(sentences.back(), std::vector<std::int32_t>(sentences.back().size(), 0), loaded);  // tags unread
  }
  const std::vector<std::int32_t> best = train::tagger_tags(*loaded.model, corpus, o.batch_size);
  auto next = best.begin();
  std::string out;
  for (const std::vector<std::string>& words : sentences) {
    std::vector<std::string> tags;
    for (std::size_t t = 0; t < words.size(); ++t) tags.push_back(loaded.labels.name(*next++));
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
  RECUR_CHECK(task != "lm", o.model << " is a language model: recur predict needs a classifier, a tagger or a "
                                       "sequence-to-sequence model (recur train --task classify, tag or seq2seq); "
                                       "recur sample and recur score read language models");
  RECUR_CHECK(o.beam.n_best <= o.beam.beam,
              "--n-best " << o.beam.n_best << " is larger than --beam " << o.beam.beam << ": the beam keeps only "
                          << o.beam.beam << " hypotheses");
  if (task == "tag") return predict_tags(o);
  if (task == "seq2seq") return predict_sequences(o);
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
  CLI::App* cmd = app.add_subcommand("predict", "A classifier's label for each line, a tagger's tag for each word, "
                                                "or a sequence-to-sequence model's target for each source");
  cmd->add_option("MODEL", options->model, "Classifier, tagger or sequence-to-sequence model or checkpoint file")->required();
  cmd->add_option("FILE", options->input,
                  "UTF-8 text, one example a line (a classifier reads the text after a first tab; a tagger, words "
                  "separated by whitespace; default or '-': standard input)");
  cmd->add_flag("--json", options->json,
                "One JSON line each: a classifier {\"label\", \"prob\", \"probs\": {LABEL: p}}, a tagger "
                "{\"tokens\", \"tags\"}");
  cmd->add_option("--batch-size", options->batch_size, "Lines run together (the results do not depend on it)")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--beam", options->beam.beam, "Sequence-to-sequence models: the beam search's width (1: greedy)")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--n-best", options->beam.n_best, "Sequence-to-sequence models: the best N targets of each source")
      ->check(positive())
      ->capture_default_str();
  cmd->add_option("--max-len", options->beam.max_length,
                  "Sequence-to-sequence models: tokens generated at most (default: twice the source's, plus 10)")
      ->check(positive());
  cmd->add_option("--length-penalty", options->beam.length_penalty,
                  "Sequence-to-sequence models: GNMT's alpha; 0 ranks targets by log-probability alone")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cmd->add_option("--attention", options->attention_dir,
                  "Sequence-to-sequence models: write DIR/NNNN.svg, a heatmap of where the model looked while "
                  "writing line NNNN's best target");
  add_threads_option(*cmd);
  cmd->callback([options] { run_predict(*options); });
}

}  // namespace recur::cli
