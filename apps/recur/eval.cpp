// recur eval MODEL TEXT: the text's negative log-likelihood under the model. The state
// starts at zero and the model predicts characters 2..N from their prefixes.

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
  train::LoadedCharModel loaded = train::load_char_model(o.model);
  const std::vector<std::int32_t> tokens = read_tokens(o, loaded.vocab);
  const std::int64_t chars = static_cast<std::int64_t>(tokens.size());
  RECUR_CHECK(chars >= 2, o.text << ": needs at least 2 characters to predict one, has " << chars);

  const double nll = loaded.model->nll(tokens);
  const std::int64_t predicted = chars - 1;
  const double mean = nll / static_cast<double>(predicted);
  if (o.json) {
    nlohmann::ordered_json j{{"chars", chars},     {"predicted", predicted},         {"nll_nats", nll},
                             {"nats_per_char", mean}, {"bpc", mean / std::log(2.0)}, {"perplexity", std::exp(mean)}};
    std::printf("%s\n", j.dump().c_str());
  } else {
    std::printf("%s: %lld characters, %lld predicted\n", o.text.c_str(), static_cast<long long>(chars),
                static_cast<long long>(predicted));
    std::printf("negative log-likelihood %.4f nats\n", nll);
    std::printf("%.4f nats/char, %.4f bits/char, perplexity %.3f\n", mean, mean / std::log(2.0), std::exp(mean));
  }
}

}  // namespace

void add_eval_command(CLI::App& app) {
  auto options = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "Negative log-likelihood of a text under a model");
  cmd->add_option("MODEL", options->model, "Model or checkpoint file")->required();
  cmd->add_option("TEXT", options->text, "UTF-8 text file")->required();
  cmd->add_flag("--json", options->json,
                "Print {chars, predicted, nll_nats, nats_per_char, bpc, perplexity} as one JSON line");
  cmd->add_flag("--skip-unknown", options->skip_unknown, "Leave out characters outside the vocabulary");
  add_threads_option(*cmd);
  cmd->callback([options] { run_eval(*options); });
}

}  // namespace recur::cli
