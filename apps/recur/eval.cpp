// recur eval MODEL TEXT: the text's negative log-likelihood under the model. The text is
// tokenised as in training (a word model's unknown words become <unk>), the state starts at
// zero and the model predicts tokens 2..N of the whole stream from their prefixes.

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

struct EvalOptions {
  std::string model, text;
  bool json = false, skip_unknown = false;
};

// The text's tokens: a character the model has no token for is an error, or with
// --skip-unknown is left out. (A vocabulary with "<unk>" has a token for every character.)
std::vector<std::int32_t> read_tokens(const EvalOptions& o, const data::Vocab& vocab) {
  if (vocab.mode() == data::TokenMode::Word) return data::encode_text(io::read_file(o.text), o.text, vocab);
  if (!o.skip_unknown) {
    try {
      return data::encode_text(io::read_file(o.text), o.text, vocab);
    } catch (const Error& e) {
      RECUR_FAIL(e.what() << "; the model is " << o.model << " (--skip-unknown leaves such characters out)");
    }
  }
  std::u32string text = data::read_utf8_file(o.text);
  const std::size_t before = text.size();
  std::erase_if(text, [&](char32_t c) { return !vocab.contains(c); });
  const std::size_t skipped = before - text.size();
  if (skipped > 0) std::fprintf(stderr, "recur eval: left out %zu character%s outside the vocabulary\n", skipped,
                                skipped == 1 ? "" : "s");
  return vocab.encode(text);
}

void run_eval(const EvalOptions& o) {
  train::LoadedLanguageModel loaded = train::load_language_model(o.model);
  const std::vector<std::int32_t> tokens = read_tokens(o, loaded.vocab);
  const auto count = static_cast<std::int64_t>(tokens.size());
  const bool words = loaded.vocab.mode() == data::TokenMode::Word;
  const char* unit = words ? "token" : "char";
  RECUR_CHECK(count >= 2, o.text << ": needs at least 2 " << unit << "s to predict one, has " << count);

  const double nll = loaded.model->nll(tokens);
  const std::int64_t predicted = count - 1;
  const double mean = nll / static_cast<double>(predicted);
  if (o.json) {
    nlohmann::ordered_json j;
    if (words) {
      const auto unknown = std::count(tokens.begin(), tokens.end(), loaded.vocab.unknown_index());
      j = {{"tokens", count},          {"predicted", predicted},
           {"nll_nats", nll},         {"nats_per_token", mean},
           {"bits_per_token", mean / std::log(2.0)}, {"perplexity", std::exp(mean)},
           {"unknown", unknown}};
    } else {
      j = {{"chars", count},        {"predicted", predicted},         {"nll_nats", nll},
           {"nats_per_char", mean}, {"bpc", mean / std::log(2.0)}, {"perplexity", std::exp(mean)}};
    }
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %lld %s%s, %lld predicted\n", o.text.c_str(), static_cast<long long>(count),
                words ? "token" : "character", count == 1 ? "" : "s", static_cast<long long>(predicted));
    std::printf("negative log-likelihood %.4f nats\n", nll);
    std::printf("%.4f nats/%s, %.4f bits/%s, perplexity %.3f\n", mean, unit, mean / std::log(2.0), unit,
                std::exp(mean));
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto options = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "Negative log-likelihood of a text under a model");
  cmd->add_option("MODEL", options->model, "Model or checkpoint file")->required();
  cmd->add_option("TEXT", options->text, "UTF-8 text file")->required();
  cmd->add_flag("--json", options->json,
                "Print one JSON line: {chars, predicted, nll_nats, nats_per_char, bpc, perplexity} for a char "
                "model, {tokens, predicted, nll_nats, nats_per_token, bits_per_token, perplexity, unknown} for a "
                "word model");
  cmd->add_flag("--skip-unknown", options->skip_unknown,
                "Char models: leave out characters outside the vocabulary (a word model reads them as <unk>)");
  add_threads_option(*cmd);
  cmd->callback([options] { run_eval(*options); });
}

}  // namespace recur::cli
