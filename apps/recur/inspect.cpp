// recur inspect MODEL TEXT --html OUT.html: a language model read over TEXT, shown as one
// self-contained HTML page: the text coloured by the activation of chosen cells (--neuron)
// or of the most interesting ones (train::interesting_cells says how they are picked), each
// token's probability, surprising tokens marked, and the model's next-token predictions on
// hover and in a table. Stdout: one line per cell shown, "LAYER:INDEX<TAB>why".

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include <recur/recur.hpp>

#include "commands.hpp"

namespace recur::cli {
namespace {

struct InspectOptions {
  std::string model, input, html;
  std::vector<std::string> neurons;
  std::int64_t cells = 8;
  std::int64_t max_tokens = 1000;
  std::string lstm_state = "cell";
  double surprise = 0.01;
};

constexpr std::int64_t kPredictions = 5;

// A vocabulary token as the page shows a prediction: a word model's <eos> is a line break.
std::string prediction_text(const data::Vocab& vocab, std::int64_t token) {
  return token == vocab.end_index() ? std::string("\n") : vocab.token(token);
}

void run_inspect(const InspectOptions& o) {
  const std::string task = train::model_task(io::read_safetensors_metadata(o.model), o.model);
  RECUR_CHECK(task == "lm", o.model << " holds a " << task << " model; recur inspect reads language models");
  train::LoadedLanguageModel loaded = train::load_language_model(o.model);
  const data::Vocab& vocab = loaded.vocab;
  const nn::LanguageModelConfig& config = loaded.model->config;
  const bool words = vocab.mode() == data::TokenMode::Word;
  std::vector<train::CellRef> chosen;
  for (const std::string& text : o.neurons) {
    try {
      chosen.push_back(train::parse_cell_ref(text, config.layers, config.hidden));
    } catch (const Error& e) {
      RECUR_FAIL("--neuron " << e.what());
    }
  }

  const std::string name = input_name(o.input), text = read_input(o.input);
  std::vector<std::int32_t> tokens = data::encode_text(text, name, vocab);
  const std::size_t total = tokens.size();
  RECUR_CHECK(total > 0, name << ": no tokens to show (the text is empty" << (words ? " or blank)" : ")"));
  tokens.resize(std::min(total, static_cast<std::size_t>(o.max_tokens)));
  const std::vector<std::string> shown = train::display_tokens(text, vocab.mode(), name, tokens.size());
  RECUR_CHECK(shown.size() == tokens.size(), name << ": " << tokens.size() << " tokens but " << shown.size()
                                                  << " to show (a bug in recur inspect)");
  if (tokens.size() < total) {
    std::fprintf(stderr, "recur inspect: %s has %zu tokens; showing the first %lld (--max-tokens)\n", name.c_str(),
                 total, static_cast<long long>(o.max_tokens));
  }

  const nn::LanguageModel::Trace trace = loaded.model->trace(tokens, train::start_token(vocab), kPredictions);
  const bool lstm = loaded.model->cell == RnnCell::Lstm;
  const train::CellState state = o.lstm_state == "hidden" ? train::CellState::Hidden : train::CellState::Cell;
  const train::Activations acts = train::activations_of(trace, state);
  std::vector<train::CellPick> picks;
  if (chosen.empty()) picks = train::interesting_cells(acts, train::text_features(shown, vocab.mode()), o.cells);
  for (const train::CellRef& cell : chosen) picks.push_back({cell, "chosen with --neuron"});

  train::InspectPage page;
  page.title = "recur inspect: " + o.model;
  page.facts = {
      std::string(words ? "Word" : "Character") + " language model: " + config.cell + ", " +
          std::to_string(config.layers) + (config.layers == 1 ? " layer" : " layers") + " of " +
          std::to_string(config.hidden) + " cells, " + std::to_string(vocab.size()) + " tokens in its vocabulary.",
      "Text: " + name + ", " +
          (shown.size() < total ? "the first " + std::to_string(shown.size()) + " of " + std::to_string(total)
                                : std::to_string(total)) +
          " tokens, read from a zero state after a line end, as the start of a line.",
      "A cell LAYER:INDEX counts layers from 0 (the layer reading the tokens); its activation is " +
          std::string(!lstm ? "its hidden state h"
                      : state == train::CellState::Cell ? "tanh(c), the LSTM's cell state as its output gate reads it"
                                                        : "h, the LSTM's hidden state") +
          ", after reading the token.",
      chosen.empty() ? std::string("Cells shown: first, for each feature (position in line, ") +
                           (words ? "" : "position in word, ") +
                           "inside quotes, bracket depth), the cell best correlated with it if |r| >= 0.3; then the "
                           "cells of largest variance."
                     : "Cells shown: those chosen with --neuron."};
  page.words = words;
  page.tokens = shown;
  page.surprise_below = o.surprise;
  for (std::size_t t = 0; t < shown.size(); ++t) {
    page.probabilities.push_back(std::exp(trace.logprobs[t]));
    std::vector<std::pair<std::string, double>>& next = page.next.emplace_back();
    for (std::int64_t i = 0; i < trace.top_k; ++i) {
      const std::size_t at = t * static_cast<std::size_t>(trace.top_k) + static_cast<std::size_t>(i);
      next.emplace_back(prediction_text(vocab, trace.next_tokens[at]), std::exp(trace.next_logprobs[at]));
    }
  }
  for (const train::CellPick& pick : picks) page.panels.push_back({pick.cell, pick.reason, acts.series(pick.cell)});
  io::write_file_atomically(o.html, train::inspect_html(page));

  std::string out;
  for (const train::CellPick& pick : picks) out += pick.cell.str() + "\t" + pick.reason + "\n";
  std::fwrite(out.data(), 1, out.size(), stdout);
}

}  // namespace

void add_inspect_command(CLI::App& app) {
  auto options = std::make_shared<InspectOptions>();
  InspectOptions& o = *options;
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Show a language model's cells and predictions over a text as a self-contained HTML page");
  cmd->add_option("MODEL", o.model, "Language model or checkpoint file")->required();
  cmd->add_option("TEXT", o.input, "UTF-8 text to read ('-': standard input)")->required();
  cmd->add_option("--html", o.html, "The HTML page to write (replaced atomically)")->required();
  cmd->add_option("--neuron", o.neurons,
                  "Show this cell, LAYER:INDEX, layers from 0 (repeat, or separate with commas, for several); "
                  "default: the most interesting cells")
      ->multi_option_policy(CLI::MultiOptionPolicy::TakeAll)
      ->delimiter(',');
  cmd->add_option("--cells", o.cells, "How many interesting cells to show without --neuron")
      ->check(positive())->capture_default_str();
  cmd->add_option("--max-tokens", o.max_tokens, "Show at most this many tokens of TEXT, its beginning")
      ->check(positive())->capture_default_str();
  cmd->add_option("--lstm-state", o.lstm_state, "An LSTM's activation: cell (tanh of its cell state c) or hidden (h)")
      ->check(CLI::IsMember({"cell", "hidden"}))->capture_default_str();
  cmd->add_option("--surprise", o.surprise, "Mark tokens the model gave a probability below this")
      ->check(in_range(0, 1))->capture_default_str();
  add_threads_option(*cmd);
  cmd->callback([options] { run_inspect(*options); });
}

}  // namespace recur::cli
