// Looking inside a language model (`recur inspect`): a cell's activation at every token of a
// text, which cells follow simple features of the text, and a self-contained HTML page that
// colours the text by chosen cells and shows the model's next-token predictions, as the
// figures of Karpathy's "The Unreasonable Effectiveness of Recurrent Neural Networks" do.
//
//   nn::LanguageModel::Trace trace = model.trace(tokens, train::start_token(vocab));
//   train::Activations acts = train::activations_of(trace, train::CellState::Cell);
//   std::vector<train::CellPick> picks =
//       train::interesting_cells(acts, train::text_features(shown, vocab.mode()), 8);
//
// A cell's activation is, for an LSTM, tanh(c), its cell state squashed as the output gate
// reads it (what Karpathy, Johnson and Fei-Fei, "Visualizing and Understanding Recurrent
// Networks", 2015, colour), or its hidden state h on request; for the GRU, MGU and plain RNN,
// h. Both lie in [-1, 1] except a ReLU RNN's h, which is >= 0 and unbounded.
#pragma once

#include <cstdint>
#include <limits>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "recur/data/text.hpp"
#include "recur/nn/language_model.hpp"

namespace recur::train {

// Which state of an LSTM is shown: tanh(c) or h. Other cells have h only and ignore this.
enum class CellState { Cell, Hidden };

// One unit of the recurrent layers: `layer` from 0 (the layer that reads the tokens), `index`
// in [0, hidden).
struct CellRef {
  std::int64_t layer = 0, index = 0;
  std::string str() const;  // "LAYER:INDEX"
  bool operator==(const CellRef&) const = default;
};

// "LAYER:INDEX" (decimal numbers) as a CellRef of a model with `layers` layers of `hidden`
// units. Throws recur::Error naming the text and, for a number out of range, the valid range
// ("--neuron 2:5: layer 2 is outside [0, 2), the model's layers").
CellRef parse_cell_ref(std::string_view text, std::int64_t layers, std::int64_t hidden);

// Every cell's activation at every token: values[layer][t * hidden + index].
struct Activations {
  std::int64_t steps = 0, layers = 0, hidden = 0;
  std::vector<std::vector<float>> values;
  // The activation of `cell` at each of the steps. Requires a cell inside the model.
  std::vector<float> series(CellRef cell) const;
};

// The activations a trace shows: tanh(c) for an LSTM with CellState::Cell, else h.
Activations activations_of(const nn::LanguageModel::Trace& trace, CellState state);

// The tokens data::encode_text(text, source, vocab) gives for a vocabulary of `mode`, as they
// were written (before any case folding): char mode one code point each; word mode each word,
// and "\n" where a line holding words ends (the <eos> token; encode_text's rule, so the two
// have one length); only the first `limit` of them. Throws recur::Error naming `source` when
// `text` is not UTF-8.
std::vector<std::string> display_tokens(std::string_view text, data::TokenMode mode, std::string_view source,
                                        std::size_t limit = std::numeric_limits<std::size_t>::max());

// A number for each token of a text, known once the token is read.
struct TextFeature {
  std::string name;
  std::vector<double> values;
};

// Features of `tokens` (as display_tokens gives them for `mode`; "\n" ends a line), in this
// order, each value what holds after reading the token:
//   position in line  tokens since the line began (its first token 0; a line break counts
//                     as the last token of its line);
//   position in word  char mode only: characters in a row ending here that are letters,
//                     digits or apostrophes (any non-ASCII character but a separator or a
//                     double quote counts as a letter), 0 elsewhere;
//   inside quotes     1 between an opening and a closing double quote (" toggles, “ opens,
//                     ” closes; the opening quote is inside, the closing one outside);
//   bracket depth     ( [ { opened and not yet closed by ) ] }, never below 0.
std::vector<TextFeature> text_features(std::span<const std::string> tokens, data::TokenMode mode);

// A cell chosen for the page and the reason, in words ("correlation +0.82 with position in
// line").
struct CellPick {
  CellRef cell;
  std::string reason;
};

// Up to `count` cells (every cell at most once), chosen by this rule:
//  1. For each feature that varies over the tokens, the cell (not yet chosen) whose
//     activation has the largest absolute Pearson correlation with it, kept if that is at
//     least 0.3; these come first, strongest correlation first.
//  2. Then the cells with the largest variance of activation over the tokens, largest first.
// Cells whose activation does not vary are never chosen. Requires count >= 0 and features of
// acts.steps values each (checked).
std::vector<CellPick> interesting_cells(const Activations& acts, std::span<const TextFeature> features,
                                        std::int64_t count);

// Pearson's correlation of two series of one length; 0 when either does not vary.
double correlation(std::span<const double> a, std::span<const double> b);

// One coloured copy of the text.
struct InspectPanel {
  CellRef cell;
  std::string reason;         // why it is shown
  std::vector<float> values;  // its activation at each token
};

// What inspect_html shows.
struct InspectPage {
  std::string title;               // the page's title and heading
  std::vector<std::string> facts;  // lines under the heading: the model, the text, the rules
  bool words = false;              // word tokens: shown with spaces between them
  std::vector<std::string> tokens;           // as display_tokens gives them
  std::vector<double> probabilities;         // of token t given the tokens before it
  // After token t, the most likely next tokens (the vocabulary's; "\n" for a line end) with
  // their probabilities, most likely first.
  std::vector<std::vector<std::pair<std::string, double>>> next;
  double surprise_below = 0.01;    // a token with a lower probability is marked surprising
  std::vector<InspectPanel> panels;
};

// The page as one HTML document that needs nothing else (styles and script inline, no
// fonts, images or addresses to fetch): for each panel the text with each token (a
// <span class="t">) on a background from blue (-1) through white (0) to red (+1) by the
// cell's activation (a panel whose values exceed 1 in size is scaled by its largest),
// surprising tokens with the extra class "s" and an underline; hovering a token shows its
// probability, the cell's value and the next-token predictions; a table below lists every
// token with the same. The data are an inline JSON object (<script id="inspect-data">); the
// inline script checks on load that every token has its colour and data and writes what it
// found into <p id="check"> (data-coloured, data-predicted, data-hover: "ok" or "failed").
// Opened as page.html#t=N, it shows token N's tooltip as if hovered.
// Every text is escaped (escape_markup). Requires tokens, probabilities, next and every panel's values
// of one length (checked).
std::string inspect_html(const InspectPage& page);

}  // namespace recur::train
