// recur score MODEL [FILE|-]: the log-probability of each line as a sentence, each line
// independently of the others. A word model predicts the line's words then <eos> from a
// zero state first fed <eos> (a sentence start); a char model predicts the line's
// characters then the line break, after a line break. One JSON object per input line, in
// input order: {"tokens", "logprob" (natural log), "perplexity", "unknown"}.
// recur score SEQ2SEQ [FILE|-]: for each source<TAB>target line, the log-probability of the
// target given the source (forced decoding: the target's tokens and the ending <eos>), one
// JSON object a line: {"tokens", "logprob", "perplexity", "unknown" (target tokens outside
// the vocabulary)}.

#include <algorithm>
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

struct ScoreOptions {
  std::string model, input = "-";
  bool per_token = false;
  std::int64_t batch_size = 64;
};

void score_pairs(const ScoreOptions& o) {
  train::LoadedSeq2Seq loaded = train::load_seq2seq(o.model);
  const std::string name = input_name(o.input), text = read_input(o.input);
  std::vector<train::Seq2SeqExample> pairs;
  for (const std::string_view& line : lines_of(text)) {
    const std::string where = name + " line " + std::to_string(pairs.size() + 1);
    std::string_view body = line;
    if (!body.empty() && body.back() == '\r') body.remove_suffix(1);
    const std::size_t tab = body.find('\t');
    RECUR_CHECK(tab != std::string_view::npos, where << ": no tab; each line must be SOURCE<TAB>TARGET");
    pairs.push_back({train::sequence_tokens(body.substr(0, tab), loaded.source, where, "source before the tab"),
                     {train::sequence_tokens(body.substr(tab + 1), loaded.target, where, "target after the tab")}});
  }
  std::vector<std::vector<double>> per_token;
  const std::vector<double> logprobs =
      train::target_logprobs(*loaded.model, loaded, pairs, o.batch_size, o.per_token ? &per_token : nullptr);
  std::string out;
  for (std::size_t i = 0; i < pairs.size(); ++i) {
    const std::vector<std::int32_t>& target = pairs[i].targets[0];
    const auto n = static_cast<std::int64_t>(target.size()) + 1;  // and <eos>
    nlohmann::ordered_json j{{"tokens", n},
                             {"logprob", logprobs[i]},
                             {"perplexity", std::exp(-logprobs[i] / static_cast<double>(n))},
                             {"unknown", std::count(target.begin(), target.end(), loaded.target.unknown_index())}};
    if (o.per_token) j["token_logprobs"] = per_token[i];
    out += j.dump();
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

void run_score(const ScoreOptions& o) {
  if (train::model_task(io::read_safetensors_metadata(o.model), o.model) == "seq2seq") return score_pairs(o);
  train::LoadedLanguageModel loaded = train::load_language_model(o.model);
  const data::Vocab& vocab = loaded.vocab;
  const bool words = vocab.mode() == data::TokenMode::Word;
  RECUR_CHECK(words || vocab.contains(U'\n'), o.model << ": the char model has no line break in its vocabulary, "
                                                      "so it cannot score lines");
  const std::int64_t end = words ? vocab.end_index() : vocab.find(U'\n');

  const std::string name = input_name(o.input), text = read_input(o.input);
  const std::vector<std::string_view> lines = lines_of(text);
  std::vector<std::vector<std::int32_t>> sentences(lines.size());
  for (std::size_t i = 0; i < lines.size(); ++i) {
    // Errors name the line; byte offsets count from its start.
    std::vector<std::int32_t>& tokens = sentences[i] =
        data::encode_text(lines[i], name + ": line " + std::to_string(i + 1), vocab);
    if (!words || tokens.empty()) tokens.push_back(static_cast<std::int32_t>(end));  // a word line's <eos> is there
  }

  std::vector<std::vector<double>> per_token;
  const std::vector<double> logprobs =
      loaded.model->sequence_logprobs(sentences, end, o.batch_size, o.per_token ? &per_token : nullptr);
  std::string out;
  for (std::size_t i = 0; i < sentences.size(); ++i) {
    const auto n = static_cast<std::int64_t>(sentences[i].size());
    const auto unknown = std::count(sentences[i].begin(), sentences[i].end(), vocab.unknown_index());
    nlohmann::ordered_json j{{"tokens", n},
                             {"logprob", logprobs[i]},
                             {"perplexity", std::exp(-logprobs[i] / static_cast<double>(n))},
                             {"unknown", unknown}};
    if (o.per_token) j["token_logprobs"] = per_token[i];
    out += j.dump();
    out += '\n';
  }
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void add_score_command(CLI::App& app) {
  auto options = std::make_shared<ScoreOptions>();
  CLI::App* cmd = app.add_subcommand(
      "score", "The log-probability of each line of a text as a sentence, or of each target given its source");
  cmd->add_option("MODEL", options->model, "Model or checkpoint file")->required();
  cmd->add_option("FILE", options->input, "UTF-8 text, one sentence a line, or for a sequence-to-sequence model one source<TAB>target "
                  "(default or '-': standard input)");
  cmd->add_flag("--per-token", options->per_token, "Add each token's log-probability (\"token_logprobs\")");
  cmd->add_option("--batch-size", options->batch_size, "Sentences scored together (the results do not depend on it)")
      ->check(positive())->capture_default_str();
  add_threads_option(*cmd);
  cmd->callback([options] { run_score(*options); });
}

}  // namespace recur::cli
