// recur inspect's library part: activations, text features, the choice of cells, and the
// HTML page (one string: styles, data and script inline).
#include "recur/train/inspect.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <numeric>

#include <nlohmann/json.hpp>

#include "recur/core/error.hpp"
#include "recur/train/plot.hpp"

namespace recur::train {

std::string CellRef::str() const { return std::to_string(layer) + ":" + std::to_string(index); }

namespace {

// A decimal number >= 0 filling all of `text`, or -1.
std::int64_t parse_count(std::string_view text) {
  std::int64_t value = -1;
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && value >= 0 ? value : -1;
}

}  // namespace

CellRef parse_cell_ref(std::string_view text, std::int64_t layers, std::int64_t hidden) {
  const std::size_t colon = text.find(':');
  const std::int64_t layer = colon == std::string_view::npos ? -1 : parse_count(text.substr(0, colon));
  const std::int64_t index = colon == std::string_view::npos ? -1 : parse_count(text.substr(colon + 1));
  RECUR_CHECK(layer >= 0 && index >= 0,
              "'" << text << "' is not LAYER:INDEX (two whole numbers from 0, such as 0:12)");
  RECUR_CHECK(layer < layers, text << ": layer " << layer << " is outside the model's layers [0, " << layers << ")");
  RECUR_CHECK(index < hidden, text << ": index " << index << " is outside the layer's cells [0, " << hidden << ")");
  return {layer, index};
}

std::vector<float> Activations::series(CellRef cell) const {
  std::vector<float> out(static_cast<std::size_t>(steps));
  const std::vector<float>& layer = values.at(static_cast<std::size_t>(cell.layer));
  for (std::int64_t t = 0; t < steps; ++t) out[t] = layer[t * hidden + cell.index];
  return out;
}

Activations activations_of(const nn::LanguageModel::Trace& trace, CellState state) {
  Activations acts{.steps = trace.steps, .layers = trace.layers, .hidden = trace.hidden, .values = trace.h};
  if (state == CellState::Cell && !trace.c.empty()) {
    acts.values = trace.c;
    for (std::vector<float>& layer : acts.values)
      for (float& value : layer) value = std::tanh(value);
  }
  return acts;
}

std::vector<std::string> display_tokens(std::string_view text, data::TokenMode mode, std::string_view source,
                                        std::size_t limit) {
  const std::u32string chars = data::decode_utf8(text, source);
  std::vector<std::string> tokens;
  if (mode == data::TokenMode::Char) {
    for (std::size_t i = 0; i < chars.size() && tokens.size() < limit; ++i)
      data::append_utf8(tokens.emplace_back(), chars[i]);
    return tokens;
  }
  // encode_text's word rule: words are runs of non-separators; a line holding a word ends
  // with <eos> at its '\n' or at the end of the text.
  std::string word;
  bool line_has_word = false;
  for (char32_t c : chars) {
    if (tokens.size() >= limit) break;
    if (!data::is_word_separator(c)) {
      data::append_utf8(word, c);
      continue;
    }
    if (!word.empty()) tokens.push_back(std::move(word)), word.clear(), line_has_word = true;
    if (c == U'\n' && line_has_word) tokens.emplace_back("\n"), line_has_word = false;
  }
  if (!word.empty()) tokens.push_back(std::move(word)), line_has_word = true;
  if (line_has_word) tokens.emplace_back("\n");
  if (tokens.size() > limit) tokens.resize(limit);
  return tokens;
}

namespace {

// Letters and digits: ASCII ones, and any character above ASCII that is not a separator or
// a double quote; and apostrophes.
bool is_word_char(char32_t c) {
  if (c < 0x80) return std::isalnum(static_cast<int>(c)) || c == U'\'';
  return !data::is_word_separator(c) && c != U'\u201C' && c != U'\u201D';
}

}  // namespace

std::vector<TextFeature> text_features(std::span<const std::string> tokens, data::TokenMode mode) {
  const std::size_t n = tokens.size();
  TextFeature line{"position in line", std::vector<double>(n)}, word{"position in word", std::vector<double>(n)},
      quotes{"inside quotes", std::vector<double>(n)}, brackets{"bracket depth", std::vector<double>(n)};
  double column = 0, run = 0, depth = 0;
  bool inside = false;
  for (std::size_t t = 0; t < n; ++t) {
    const std::u32string chars = data::decode_utf8(tokens[t], "token");
    line.values[t] = column;
    column = tokens[t] == "\n" ? 0 : column + 1;
    const bool whole_word = !chars.empty() && std::all_of(chars.begin(), chars.end(), is_word_char);
    run = whole_word ? run + 1 : 0;
    word.values[t] = run;
    for (char32_t c : chars) {
      if (c == U'"') inside = !inside;
      else if (c == U'\u201C') inside = true;
      else if (c == U'\u201D') inside = false;
      else if (c == U'(' || c == U'[' || c == U'{') depth += 1;
      else if (c == U')' || c == U']' || c == U'}') depth = std::max(0.0, depth - 1);
    }
    quotes.values[t] = inside ? 1 : 0;
    brackets.values[t] = depth;
  }
  if (mode == data::TokenMode::Word) return {line, quotes, brackets};
  return {line, word, quotes, brackets};
}

double correlation(std::span<const double> a, std::span<const double> b) {
  RECUR_CHECK(a.size() == b.size(), "correlation: series of " << a.size() << " and " << b.size() << " values");
  const auto n = static_cast<double>(a.size());
  if (a.empty()) return 0;
  const double mean_a = std::accumulate(a.begin(), a.end(), 0.0) / n;
  const double mean_b = std::accumulate(b.begin(), b.end(), 0.0) / n;
  double ab = 0, aa = 0, bb = 0;
  for (std::size_t i = 0; i < a.size(); ++i) {
    ab += (a[i] - mean_a) * (b[i] - mean_b);
    aa += (a[i] - mean_a) * (a[i] - mean_a);
    bb += (b[i] - mean_b) * (b[i] - mean_b);
  }
  return aa > 0 && bb > 0 ? ab / std::sqrt(aa * bb) : 0;
}

namespace {

std::string format(const char* pattern, double value) {
  char buffer[64];
  std::snprintf(buffer, sizeof buffer, pattern, value);
  return buffer;
}

}  // namespace

std::vector<CellPick> interesting_cells(const Activations& acts, std::span<const TextFeature> features,
                                        std::int64_t count) {
  RECUR_CHECK(count >= 0, "interesting_cells: count must be 0 or more, got " << count);
  for (const TextFeature& feature : features)
    RECUR_CHECK(static_cast<std::int64_t>(feature.values.size()) == acts.steps,
                "interesting_cells: feature '" << feature.name << "' has " << feature.values.size()
                                               << " values for " << acts.steps << " tokens");
  const std::int64_t cells = acts.layers * acts.hidden;
  std::vector<std::vector<double>> series(static_cast<std::size_t>(cells));
  std::vector<double> variance(static_cast<std::size_t>(cells));
  for (std::int64_t k = 0; k < cells; ++k) {
    const std::vector<float> values = acts.series({k / acts.hidden, k % acts.hidden});
    series[k].assign(values.begin(), values.end());
    const double mean = std::accumulate(series[k].begin(), series[k].end(), 0.0) / std::max<double>(1, acts.steps);
    for (double v : series[k]) variance[k] += (v - mean) * (v - mean);
    variance[k] /= std::max<double>(1, acts.steps);
  }
  // r[f][k]: feature f against cell k, for the features that vary.
  std::vector<const TextFeature*> varying;
  std::vector<std::vector<double>> r;
  for (const TextFeature& feature : features) {
    if (std::all_of(feature.values.begin(), feature.values.end(), [&](double v) { return v == feature.values[0]; }))
      continue;
    varying.push_back(&feature);
    std::vector<double>& row = r.emplace_back(static_cast<std::size_t>(cells));
    for (std::int64_t k = 0; k < cells; ++k) row[k] = correlation(series[k], feature.values);
  }
  const auto cell_of = [&](std::int64_t k) { return CellRef{k / acts.hidden, k % acts.hidden}; };
  std::vector<bool> taken(static_cast<std::size_t>(cells), false);
  std::vector<CellPick> picks;

  // 1. Each feature's best-correlated cell, strongest first (a cell best for two features
  // goes to the stronger, and the other feature takes its next best).
  constexpr double kMinCorrelation = 0.3;
  std::vector<bool> feature_done(varying.size(), false);
  while (static_cast<std::int64_t>(picks.size()) < count) {
    std::size_t best_feature = 0;
    std::int64_t best_cell = -1;
    for (std::size_t f = 0; f < varying.size(); ++f) {
      if (feature_done[f]) continue;
      for (std::int64_t k = 0; k < cells; ++k)
        if (!taken[k] && variance[k] > 0 && std::abs(r[f][k]) >= kMinCorrelation &&
            (best_cell < 0 || std::abs(r[f][k]) > std::abs(r[best_feature][best_cell])))
          best_feature = f, best_cell = k;
    }
    if (best_cell < 0) break;
    taken[best_cell] = true;
    feature_done[best_feature] = true;
    picks.push_back({cell_of(best_cell), "correlation " + format("%+.2f", r[best_feature][best_cell]) + " with " +
                                             varying[best_feature]->name});
  }

  // 2. The most variable of the rest.
  std::vector<std::int64_t> order(static_cast<std::size_t>(cells));
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return variance[a] > variance[b]; });
  for (std::size_t rank = 0; rank < order.size() && static_cast<std::int64_t>(picks.size()) < count; ++rank) {
    const std::int64_t k = order[rank];
    if (variance[k] <= 0) break;
    if (taken[k]) continue;
    taken[k] = true;
    std::string reason = "variance " + format("%.3f", variance[k]) + ", " + std::to_string(rank + 1) +
                         (rank == 0 ? "st" : rank == 1 ? "nd" : rank == 2 ? "rd" : "th") + " largest of " +
                         std::to_string(cells) + " cells";
    std::size_t strongest = 0;
    for (std::size_t f = 1; f < varying.size(); ++f)
      if (std::abs(r[f][k]) > std::abs(r[strongest][k])) strongest = f;
    if (!varying.empty())
      reason += "; its strongest feature: " + format("%+.2f", r[strongest][k]) + " with " + varying[strongest]->name;
    picks.push_back({cell_of(k), reason});
  }
  return picks;
}

namespace {

// How a token reads in the tooltip and the table: visible marks for a line break, a space
// and a tab, control pictures (U+2400...) for the other control characters.
std::string token_label(const std::string& token) {
  if (token == "\n") return "\u21B5";  // ↵
  if (token == " ") return "\u2423";   // ␣
  if (token == "\t") return "\u21E5";  // ⇥
  std::string out;
  for (char c : token) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20) data::append_utf8(out, 0x2400 + byte);
    else if (byte == 0x7F) out += "\u2421";  // ␡
    else out += c;
  }
  return out;
}

// The text of a token inside the coloured copy: a line break shows as ↵ (the break itself
// follows the element), control characters as their pictures; spaces and tabs stay, visible
// by their background.
std::string token_text(const std::string& token) {
  if (token == "\n") return "\u21B5";
  if (token == " " || token == "\t") return token;
  return escape_markup(token_label(token));
}

// Blue (-1) through white (0) to red (+1): ColorBrewer's RdBu ends, mixed linearly with white.
std::string background(double s) {
  s = std::clamp(s, -1.0, 1.0);
  const double w = std::abs(s);
  const double end[3] = {s >= 0 ? 178.0 : 33.0, s >= 0 ? 24.0 : 102.0, s >= 0 ? 43.0 : 172.0};
  char buffer[8];
  std::snprintf(buffer, sizeof buffer, "#%02x%02x%02x", static_cast<int>(std::lround(255 + (end[0] - 255) * w)),
                static_cast<int>(std::lround(255 + (end[1] - 255) * w)),
                static_cast<int>(std::lround(255 + (end[2] - 255) * w)));
  return buffer;
}

// A probability in a few characters: 0.412, 0.0031, 2.1e-05.
std::string probability(double p) { return p >= 0.001 ? format("%.3f", p) : format("%.2g", p); }

// Rounded for the inline data, which the page shows to 3 decimals or 2 significant digits.
double rounded(double value) { return std::stod(format("%.4g", value)); }

// The page's style and script: fixed text.
constexpr const char* kStyle = R"(
body{font:15px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;color:#222;
  margin:24px auto;max-width:1100px;padding:0 16px}
h1{font-size:22px;margin:0 0 6px}h2{font-size:15px;margin:22px 0 6px;font-weight:600}
.facts{color:#555;margin:2px 0;font-size:13.5px}
.legend{display:flex;align-items:center;gap:8px;font-size:13px;color:#444;margin:12px 0}
.scale{width:180px;height:12px;border:1px solid #aaa;background:linear-gradient(to right,#2166ac,#fff,#b2182b)}
.text{font:13.5px/1.75 "DejaVu Sans Mono",Menlo,Consolas,monospace;white-space:pre-wrap;word-break:break-all;
  border:1px solid #ddd;border-radius:4px;padding:8px 10px}
.t{cursor:default}.t.d{color:#fff}.t.nl{color:#888}.t.d.nl{color:#ddd}
.t.s{box-shadow:inset 0 -2px 0 #000}.t:hover{outline:1px solid #000}
.mark{box-shadow:inset 0 -2px 0 #000;padding:0 3px}
#tip{position:fixed;z-index:10;background:#fff;border:1px solid #888;border-radius:4px;
  box-shadow:0 2px 8px rgba(0,0,0,.25);padding:6px 9px;font-size:13px;min-width:170px;pointer-events:none}
#tip table{border-collapse:collapse}#tip .mono{background:#eee;padding:0 3px}#tip td{padding:0 6px 0 0}
.mono{font-family:"DejaVu Sans Mono",Menlo,Consolas,monospace;white-space:pre}
.bar{height:8px;background:#b2182b;opacity:.6}.sub{color:#666;margin-top:4px}
table.predictions{border-collapse:collapse;font-size:13px;margin-top:8px}
table.predictions th,table.predictions td{border-bottom:1px solid #e4e4e4;padding:2px 10px 2px 0;
  text-align:left;vertical-align:top}
table.predictions td.num{text-align:right;font-variant-numeric:tabular-nums}
table.predictions tr.s td{background:#fff4d6}table.predictions tr.s td.mono{text-decoration:underline 2px}
.check{color:#888;font-size:12px;margin-top:18px}
*{-webkit-print-color-adjust:exact;print-color-adjust:exact}
@media print{#tip{display:none}.panel{break-inside:avoid}}
)";

constexpr const char* kScript = R"(
(function () {
  'use strict';
  var data = JSON.parse(document.getElementById('inspect-data').textContent);
  var tip = document.getElementById('tip');
  function fmt(p) { return p >= 0.001 ? p.toFixed(3) : p.toExponential(1); }
  function add(parent, tag, cls, text) {
    var e = document.createElement(tag);
    if (cls) e.className = cls;
    if (text !== undefined) e.textContent = text;
    parent.appendChild(e);
    return e;
  }
  function fill(i, panel, surprising) {
    tip.textContent = '';
    var head = add(tip, 'div');
    add(head, 'span', 'mono', data.tokens[i]);
    add(head, 'span', '', '  p = ' + fmt(data.p[i]) + (surprising ? '  (surprising)' : ''));
    if (panel >= 0) {
      var v = data.panels[panel].values[i];
      add(tip, 'div', '', 'cell ' + data.panels[panel].cell + ': ' + (v >= 0 ? '+' : '') + v.toFixed(3));
    }
    add(tip, 'div', 'sub', 'next token:');
    var table = add(tip, 'table');
    data.next[i].forEach(function (c) {
      var row = add(table, 'tr');
      add(row, 'td', 'mono', c[0]);
      add(row, 'td', '', fmt(c[1]));
      add(add(row, 'td'), 'div', 'bar').style.width = Math.max(1, Math.round(c[1] * 80)) + 'px';
    });
  }
  function place(x, y) {
    var w = tip.offsetWidth, h = tip.offsetHeight;
    tip.style.left = Math.max(4, Math.min(x + 14, window.innerWidth - w - 4)) + 'px';
    tip.style.top = (y + 18 + h < window.innerHeight ? y + 18 : Math.max(4, y - h - 10)) + 'px';
  }
  document.addEventListener('mouseover', function (e) {
    var t = e.target.closest ? e.target.closest('.panel .t') : null;
    if (!t) { tip.hidden = true; return; }
    fill(+t.dataset.i, +t.closest('.panel').dataset.panel, t.classList.contains('s'));
    tip.hidden = false;
    place(e.clientX, e.clientY);
  });
  document.addEventListener('mousemove', function (e) { if (!tip.hidden) place(e.clientX, e.clientY); });

  // Self-check, for the reader and for tests: every token coloured, every token's data
  // there, and hovering the first token shows its first prediction.
  var spans = document.querySelectorAll('.panel .t'), coloured = 0, predicted = 0, hover = 'failed';
  spans.forEach(function (s) { if (s.style.backgroundColor) coloured++; });
  data.tokens.forEach(function (t, i) {
    if (typeof data.p[i] === 'number' && data.next[i] && data.next[i].length > 0) predicted++;
  });
  if (spans.length > 0 && data.next[0].length > 0) {
    spans[0].dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: 10, clientY: 10}));
    if (!tip.hidden && tip.textContent.indexOf(data.next[0][0][0]) >= 0) hover = 'ok';
    tip.hidden = true;
  }
  var check = document.getElementById('check');
  check.dataset.coloured = coloured;
  check.dataset.predicted = predicted;
  check.dataset.hover = hover;
  check.textContent = 'Page check: ' + coloured + ' coloured tokens in ' + data.panels.length + ' panels; ' +
      'predictions for ' + predicted + ' of ' + data.tokens.length + ' tokens; hover ' + hover + '.';

  // page.html#t=N opens with token N's tooltip shown, as if hovered (a link to a token).
  var pinned = /^#t=(\d+)$/.exec(location.hash);
  var target = pinned && document.querySelector('.panel .t[data-i="' + pinned[1] + '"]');
  if (target) {
    var box = target.getBoundingClientRect();
    target.dispatchEvent(new MouseEvent('mouseover', {bubbles: true, clientX: box.right, clientY: box.bottom - 14}));
  }
})();
)";

}  // namespace

std::string inspect_html(const InspectPage& page) {
  const std::size_t n = page.tokens.size();
  RECUR_CHECK(page.probabilities.size() == n && page.next.size() == n,
              "inspect_html: " << n << " tokens but " << page.probabilities.size() << " probabilities and "
                               << page.next.size() << " prediction lists");
  for (const InspectPanel& panel : page.panels)
    RECUR_CHECK(panel.values.size() == n, "inspect_html: cell " << panel.cell.str() << " has " << panel.values.size()
                                                               << " values for " << n << " tokens");
  std::vector<std::string> labels(n);
  for (std::size_t t = 0; t < n; ++t) labels[t] = token_label(page.tokens[t]);

  std::string html;
  html += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  html += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n";
  html += "<title>" + escape_markup(page.title) + "</title>\n<style>" + kStyle + "</style>\n</head>\n<body>\n";
  html += "<h1>" + escape_markup(page.title) + "</h1>\n";
  for (const std::string& fact : page.facts) html += "<p class=\"facts\">" + escape_markup(fact) + "</p>\n";
  html += "<div class=\"legend\"><span>activation &minus;1</span><span class=\"scale\"></span><span>+1</span>"
          "<span class=\"mark\">underlined</span><span>: surprising, probability below " +
          format("%g", page.surprise_below) + "</span></div>\n";

  for (std::size_t k = 0; k < page.panels.size(); ++k) {
    const InspectPanel& panel = page.panels[k];
    double largest = 1;  // a ReLU cell's values are scaled into [-1, 1]
    for (float v : panel.values) largest = std::max(largest, std::abs(static_cast<double>(v)));
    const std::string scaled =
        largest > 1 ? " (colours scaled by its largest value, " + format("%.3g", largest) + ")" : "";
    html += "<section class=\"panel\" data-panel=\"" + std::to_string(k) + "\" data-cell=\"" + panel.cell.str() +
            "\">\n<h2>cell " + panel.cell.str() + " &mdash; " + escape_markup(panel.reason + scaled) +
            "</h2>\n<div class=\"text\">";
    for (std::size_t t = 0; t < n; ++t) {
      const double s = panel.values[t] / largest;
      const bool line_break = page.tokens[t] == "\n";
      if (page.words && t > 0 && page.tokens[t - 1] != "\n") html += ' ';
      html += "<span class=\"t";
      if (std::abs(s) > 0.55) html += " d";
      if (line_break) html += " nl";
      if (page.probabilities[t] < page.surprise_below) html += " s";
      html += "\" data-i=\"" + std::to_string(t) + "\" style=\"background:" + background(s) + "\">" +
              token_text(page.tokens[t]) + "</span>";
      if (line_break) html += '\n';
    }
    html += "</div>\n</section>\n";
  }

  html += "<h2>Predictions</h2>\n<p class=\"facts\">Each token, the probability the model gave it, and the model's "
          "five most likely next tokens after reading it.</p>\n";
  html += "<table class=\"predictions\">\n<tr><th>#</th><th>token</th><th>probability</th><th>next token</th></tr>\n";
  for (std::size_t t = 0; t < n; ++t) {
    html += page.probabilities[t] < page.surprise_below ? "<tr class=\"s\">" : "<tr>";
    html += "<td class=\"num\">" + std::to_string(t) + "</td><td class=\"mono\">" + escape_markup(labels[t]) +
            "</td><td class=\"num\">" + probability(page.probabilities[t]) + "</td><td>";
    for (std::size_t i = 0; i < page.next[t].size(); ++i)
      html += (i > 0 ? "&ensp; " : "") + std::string("<span class=\"mono\">") +
              escape_markup(token_label(page.next[t][i].first)) + "</span> " + probability(page.next[t][i].second);
    html += "</td></tr>\n";
  }
  html += "</table>\n<p id=\"check\" class=\"check\">Page check: the page's script did not run.</p>\n";
  html += "<div id=\"tip\" hidden></div>\n";

  nlohmann::json data;
  data["tokens"] = labels;
  data["surprise"] = page.surprise_below;
  nlohmann::json p = nlohmann::json::array(), next = nlohmann::json::array(), panels = nlohmann::json::array();
  for (std::size_t t = 0; t < n; ++t) {
    p.push_back(rounded(page.probabilities[t]));
    nlohmann::json row = nlohmann::json::array();
    for (const auto& [token, probability] : page.next[t])
      row.push_back(nlohmann::json::array({token_label(token), rounded(probability)}));
    next.push_back(std::move(row));
  }
  for (const InspectPanel& panel : page.panels) {
    nlohmann::json values = nlohmann::json::array();
    for (float v : panel.values) values.push_back(rounded(v));
    panels.push_back({{"cell", panel.cell.str()}, {"values", std::move(values)}});
  }
  data["p"] = std::move(p);
  data["next"] = std::move(next);
  data["panels"] = std::move(panels);
  // '<' only occurs inside JSON strings, where \u003c means the same; so no "</script>"
  // or "<!--" in the text can end the element early.
  std::string json = data.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::string safe;
  safe.reserve(json.size());
  for (char c : json) safe += c == '<' ? std::string("\\u003c") : std::string(1, c);
  html += "<script id=\"inspect-data\" type=\"application/json\">" + safe + "</script>\n";
  html += "<script>" + std::string(kScript) + "</script>\n</body>\n</html>\n";
  return html;
}

}  // namespace recur::train
