// Classification measures (accuracy, per-class precision / recall / F1, macro-F1, confusion),
// BIO entity scores, and the measures of generated sequences (edit distance, error rates, BLEU).

#include "recur/train/metrics.hpp"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <numeric>

#include "recur/core/error.hpp"

namespace recur::train {

namespace {
const std::string kOutside = "O";
double ratio(double a, double b) { return b > 0 ? a / b : 0.0; }
}  // namespace

// With n[t][p] the confusion counts: precision_c = n[c][c] / sum_t n[t][c], recall_c =
// n[c][c] / sum_p n[c][p], F1_c = 2 P R / (P + R); accuracy = sum_c n[c][c] / N.
ClassificationReport classification_report(std::span<const std::int32_t> truth, std::span<const std::int32_t> predicted,
                                           std::int64_t num_labels) {
  RECUR_CHECK(truth.size() == predicted.size(), "classification_report: " << truth.size() << " true labels but "
                                                                          << predicted.size() << " predictions");
  RECUR_CHECK(num_labels >= 1, "classification_report: num_labels must be at least 1, got " << num_labels);
  const auto C = static_cast<std::size_t>(num_labels);
  ClassificationReport r;
  r.examples = static_cast<std::int64_t>(truth.size());
  r.confusion.assign(C, std::vector<std::int64_t>(C, 0));
  for (std::size_t i = 0; i < truth.size(); ++i) {
    RECUR_CHECK(truth[i] >= 0 && truth[i] < num_labels && predicted[i] >= 0 && predicted[i] < num_labels,
                "classification_report: example " << i << " has label " << truth[i] << " and prediction "
                                                  << predicted[i] << ", outside [0, " << num_labels << ")");
    ++r.confusion[truth[i]][predicted[i]];
  }
  std::int64_t correct = 0, classes_seen = 0;
  double f1_sum = 0;
  r.per_class.resize(C);
  for (std::size_t c = 0; c < C; ++c) {
    std::int64_t as_truth = 0, as_prediction = 0;
    for (std::size_t k = 0; k < C; ++k) as_truth += r.confusion[c][k], as_prediction += r.confusion[k][c];
    const auto hits = static_cast<double>(r.confusion[c][c]);
    ClassScores& s = r.per_class[c];
    s.support = as_truth;
    s.precision = ratio(hits, static_cast<double>(as_prediction));
    s.recall = ratio(hits, static_cast<double>(as_truth));
    s.f1 = ratio(2 * s.precision * s.recall, s.precision + s.recall);
    correct += r.confusion[c][c];
    if (as_truth + as_prediction > 0) f1_sum += s.f1, ++classes_seen;
  }
  r.accuracy = ratio(static_cast<double>(correct), static_cast<double>(r.examples));
  r.macro_f1 = ratio(f1_sum, static_cast<double>(classes_seen));
  return r;
}

std::vector<std::string> format_report(const ClassificationReport& report, std::span<const std::string> names) {
  RECUR_CHECK(names.size() == report.per_class.size(),
              "format_report: " << names.size() << " names for " << report.per_class.size() << " classes");
  int width = 9;  // "precision"
  for (const std::string& name : names) width = std::max(width, static_cast<int>(name.size()));
  std::vector<std::string> lines;
  char line[512];
  std::snprintf(line, sizeof line, "%*s  precision  recall     f1  support", width, "");
  lines.push_back(line);
  for (std::size_t c = 0; c < names.size(); ++c) {
    const ClassScores& s = report.per_class[c];
    std::snprintf(line, sizeof line, "%*s  %9.4f  %6.4f  %.4f  %7lld", width, names[c].c_str(), s.precision, s.recall,
                  s.f1, static_cast<long long>(s.support));
    lines.push_back(line);
  }
  std::snprintf(line, sizeof line, "accuracy %.4f, macro-F1 %.4f over %lld examples", report.accuracy,
                report.macro_f1, static_cast<long long>(report.examples));
  lines.push_back(line);
  // The confusion matrix: a column per predicted label, as wide as its name or its counts.
  std::snprintf(line, sizeof line, "%*s  predicted:", width, "");
  std::string header = line;
  std::vector<int> columns;
  for (std::size_t c = 0; c < names.size(); ++c) {
    std::int64_t largest = 0;
    for (const auto& row : report.confusion) largest = std::max(largest, row[c]);
    columns.push_back(std::max(static_cast<int>(names[c].size()), static_cast<int>(std::to_string(largest).size())));
    std::snprintf(line, sizeof line, " %*s", columns.back(), names[c].c_str());
    header += line;
  }
  lines.push_back(header);
  for (std::size_t t = 0; t < names.size(); ++t) {
    std::snprintf(line, sizeof line, "%*s  %10s", width, names[t].c_str(), t == 0 ? "true:" : "");
    std::string row = line;
    for (std::size_t c = 0; c < names.size(); ++c) {
      std::snprintf(line, sizeof line, " %*lld", columns[c], static_cast<long long>(report.confusion[t][c]));
      row += line;
    }
    lines.push_back(row);
  }
  return lines;
}

bool is_bio_tagset(std::span<const std::string> names) {
  for (const std::string& name : names)
    if (name != "O" && !(name.size() > 2 && (name[0] == 'B' || name[0] == 'I') && name[1] == '-')) return false;
  return !names.empty();
}

std::vector<Entity> bio_entities(std::span<const std::int32_t> tags, std::span<const std::string> names) {
  std::vector<Entity> entities;
  bool open = false;
  for (std::size_t t = 0; t <= tags.size(); ++t) {
    // Past the last tag, as after an O: an open entity ends.
    const std::string& name = t < tags.size() ? names[tags[t]] : kOutside;
    const bool inside = name != kOutside;
    const std::string type = inside ? name.substr(2) : std::string();
    const bool continues = open && inside && name[0] == 'I' && type == entities.back().type;
    if (open && !continues) entities.back().end = static_cast<std::int64_t>(t), open = false;
    if (inside && !continues) entities.push_back({static_cast<std::int64_t>(t), 0, type}), open = true;
  }
  return entities;
}

void EntityCounter::add(std::span<const std::int32_t> truth, std::span<const std::int32_t> predicted,
                        std::span<const std::string> names) {
  const std::vector<Entity> a = bio_entities(truth, names), b = bio_entities(predicted, names);
  scores.truth += static_cast<std::int64_t>(a.size());
  scores.predicted += static_cast<std::int64_t>(b.size());
  for (const Entity& e : a) scores.found += std::find(b.begin(), b.end(), e) != b.end();
}

EntityScores EntityCounter::finish() const {
  EntityScores s = scores;
  s.precision = ratio(static_cast<double>(s.found), static_cast<double>(s.predicted));
  s.recall = ratio(static_cast<double>(s.found), static_cast<double>(s.truth));
  s.f1 = ratio(2 * s.precision * s.recall, s.precision + s.recall);
  return s;
}

// ------------------------------------------------------------------ sequence generation

// The textbook dynamic programme, one row at a time: row[j] = distance(a[0, i), b[0, j)).
std::int64_t edit_distance(TokenSpan a, TokenSpan b) {
  std::vector<std::int64_t> row(b.size() + 1);
  std::iota(row.begin(), row.end(), std::int64_t{0});
  for (std::size_t i = 1; i <= a.size(); ++i) {
    std::int64_t diagonal = row[0];  // distance(a[0, i-1), b[0, j-1))
    row[0] = static_cast<std::int64_t>(i);
    for (std::size_t j = 1; j <= b.size(); ++j) {
      const std::int64_t substitute = diagonal + (a[i - 1] != b[j - 1]);
      diagonal = row[j];
      row[j] = std::min({substitute, row[j] + 1, row[j - 1] + 1});  // row[j]: delete a[i-1]; row[j-1]: insert b[j-1]
    }
  }
  return row.back();
}

double ErrorRates::token_error_rate() const {
  return ratio(static_cast<double>(token_errors), static_cast<double>(reference_tokens));
}

double ErrorRates::sequence_error_rate() const {
  return ratio(static_cast<double>(wrong_sequences), static_cast<double>(examples));
}

void ErrorRateCounter::add(TokenSpan hypothesis, std::span<const std::vector<std::int32_t>> references) {
  RECUR_CHECK(!references.empty(), "ErrorRateCounter::add: an example needs at least one reference");
  std::int64_t best = -1;
  std::size_t nearest = 0;
  for (std::size_t r = 0; r < references.size(); ++r) {
    const std::int64_t d = edit_distance(hypothesis, references[r]);
    if (best < 0 || d < best) best = d, nearest = r;
  }
  ++rates.examples;
  rates.wrong_sequences += best > 0;
  rates.token_errors += best;
  rates.reference_tokens += static_cast<std::int64_t>(references[nearest].size());
}

namespace {

using NgramCounts = std::map<std::vector<std::int32_t>, std::int64_t>;

NgramCounts ngram_counts(TokenSpan tokens, std::size_t n) {
  NgramCounts counts;
  for (std::size_t i = 0; i + n <= tokens.size(); ++i)
    ++counts[std::vector<std::int32_t>(tokens.begin() + i, tokens.begin() + i + n)];
  return counts;
}

}  // namespace

void BleuCounter::add(TokenSpan hypothesis, std::span<const std::vector<std::int32_t>> references) {
  RECUR_CHECK(!references.empty(), "BleuCounter::add: an example needs at least one reference");
  const auto c = static_cast<std::int64_t>(hypothesis.size());
  std::int64_t closest = static_cast<std::int64_t>(references[0].size());
  for (const std::vector<std::int32_t>& ref : references) {
    const auto r = static_cast<std::int64_t>(ref.size());
    const std::int64_t gap = std::abs(r - c), best = std::abs(closest - c);
    if (gap < best || (gap == best && r < closest)) closest = r;
  }
  hypothesis_length += c;
  reference_length += closest;
  for (std::size_t n = 1; n <= 4; ++n) {
    NgramCounts most;  // each n-gram's largest count in any one reference
    for (const std::vector<std::int32_t>& ref : references)
      for (const auto& [gram, count] : ngram_counts(ref, n)) most[gram] = std::max(most[gram], count);
    for (const auto& [gram, count] : ngram_counts(hypothesis, n)) {
      const auto found = most.find(gram);
      matches[n - 1] += found == most.end() ? 0 : std::min(count, found->second);
      totals[n - 1] += count;
    }
  }
}

double BleuCounter::bleu() const {
  double log_precision = 0;
  for (int n = 0; n < 4; ++n) {
    if (matches[n] == 0) return 0.0;
    log_precision += std::log(static_cast<double>(matches[n]) / static_cast<double>(totals[n])) / 4;
  }
  const auto c = static_cast<double>(hypothesis_length), r = static_cast<double>(reference_length);
  const double brevity = c < r ? std::exp(1.0 - r / c) : 1.0;
  return brevity * std::exp(log_precision);
}

}  // namespace recur::train
