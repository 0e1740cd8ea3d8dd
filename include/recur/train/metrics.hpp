// Evaluation measures of classifiers: accuracy, per-class precision / recall / F1, their
// macro average, and the confusion matrix, as scikit-learn's classification_report and
// confusion_matrix define them; and a plain-text table of them for people. Of taggers:
// BIO entity scores as conlleval counts them. Of sequence generators: edit distance, token
// and sequence error rates against one or several references, and corpus BLEU-4.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace recur::train {

struct ClassScores {
  double precision = 0, recall = 0, f1 = 0;
  std::int64_t support = 0;  // examples whose true label is this class
};

struct ClassificationReport {
  std::int64_t examples = 0;
  double accuracy = 0;
  // The unweighted mean of the classes' F1 over the classes that occur (as true or as
  // predicted labels): a class seen in neither says nothing about the classifier.
  double macro_f1 = 0;
  std::vector<ClassScores> per_class;              // [C]
  std::vector<std::vector<std::int64_t>> confusion;  // [C][C]: row = true label, column = predicted
};

// The report of `predicted` against `truth` (one label in [0, num_labels) each, equal
// lengths; checked). A precision or recall with a zero denominator is 0, and so is the F1
// of a class with precision + recall = 0 (scikit-learn's zero_division=0). No examples:
// everything 0.
ClassificationReport classification_report(std::span<const std::int32_t> truth, std::span<const std::int32_t> predicted,
                                           std::int64_t num_labels);

// The report as text lines: a table of precision, recall, F1 and support per label name
// (names[c] for class c; requires names.size() == num_labels), the accuracy and macro-F1,
// then the confusion matrix with the true labels down and the predicted across.
std::vector<std::string> format_report(const ClassificationReport& report, std::span<const std::string> names);

// ------------------------------------------------------------------ tagging

// True when every name is "O" or "B-X" / "I-X" (X non-empty): a BIO (IOB2) tag set, whose
// entities entity_scores measures.
bool is_bio_tagset(std::span<const std::string> names);

// The entities of one sentence's BIO tags (tag t's name is names[tags[t]]), as conlleval
// reads them: an entity of type X starts at B-X, or at I-X after O or after a tag of another
// type, and runs over the I-X that follow. [begin, end) in tokens.
struct Entity {
  std::int64_t begin = 0, end = 0;
  std::string type;
  bool operator==(const Entity&) const = default;
};
std::vector<Entity> bio_entities(std::span<const std::int32_t> tags, std::span<const std::string> names);

// Exact-match entity scores over sentences: an entity counts as found when the prediction
// has one of the same type, begin and end. Precision = found / predicted entities, recall =
// found / true entities, F1 their harmonic mean (0 where a denominator is 0).
struct EntityScores {
  std::int64_t truth = 0, predicted = 0, found = 0;
  double precision = 0, recall = 0, f1 = 0;
};
// Adds one sentence; finish() computes the ratios.
struct EntityCounter {
  void add(std::span<const std::int32_t> truth, std::span<const std::int32_t> predicted,
           std::span<const std::string> names);
  EntityScores finish() const;
  EntityScores scores;
};

// ------------------------------------------------------------------ sequence generation
// Sequences are token ids; what the ids mean does not matter here.
using TokenSpan = std::span<const std::int32_t>;

// Levenshtein distance: the fewest insertions, deletions and substitutions (each costing 1)
// that turn a into b. O(|a| |b|) time, O(|b|) memory.
std::int64_t edit_distance(TokenSpan a, TokenSpan b);

// Token and sequence error rates of hypotheses against references, as grapheme-to-phoneme
// and speech recognition score them (phoneme / word error rate; word / sentence error rate).
// An example may have several correct references: its hypothesis is right when it equals
// any of them, and its token errors are its edit distance to the nearest one (the first of
// the nearest), counted against that reference's length.
//   token_error_rate    = sum of those distances / sum of those references' lengths
//   sequence_error_rate = examples whose hypothesis equals no reference / examples
// Either is 0 with no examples (or no reference tokens).
struct ErrorRates {
  std::int64_t examples = 0, wrong_sequences = 0, token_errors = 0, reference_tokens = 0;
  double token_error_rate() const;
  double sequence_error_rate() const;
};
// Adds one example. Requires at least one reference (checked).
struct ErrorRateCounter {
  void add(TokenSpan hypothesis, std::span<const std::vector<std::int32_t>> references);
  ErrorRates rates;
};

// Corpus BLEU-4 (Papineni et al. 2002, as sacreBLEU and NLTK's corpus_bleu compute it
// without smoothing): for n = 1..4, p_n = the hypotheses' n-grams, each counted at most as
// often as it occurs in one reference (the most in any), over all hypothesis n-grams; the
// brevity penalty BP = exp(1 - r / c) when the hypotheses' total length c is below r, the
// total of each example's reference length closest to its hypothesis's (the shorter on a
// tie), else 1. BLEU = BP exp(mean log p_n), in [0, 1]; 0 when some p_n is 0.
struct BleuCounter {
  void add(TokenSpan hypothesis, std::span<const std::vector<std::int32_t>> references);  // >= 1 reference
  double bleu() const;
  std::int64_t matches[4] = {}, totals[4] = {};  // clipped matching n-grams, hypothesis n-grams
  std::int64_t hypothesis_length = 0, reference_length = 0;
};

}  // namespace recur::train
