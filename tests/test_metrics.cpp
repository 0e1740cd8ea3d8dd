// Classification, tagging and generation measures (train/metrics.hpp), against values worked
// by hand from their definitions (scikit-learn's classification_report, conlleval's entities,
// Levenshtein's distance, Papineni et al.'s BLEU).
#include <cmath>
#include <map>
#include <sstream>

#include "test_helpers.hpp"

namespace recur {
namespace {

using train::Entity;

TEST(ClassificationReport, PrecisionRecallF1AndConfusion) {
  // 3 classes; truth and predictions of 8 examples.
  const std::vector<std::int32_t> truth = {0, 0, 0, 1, 1, 2, 2, 2};
  const std::vector<std::int32_t> predicted = {0, 0, 1, 1, 2, 2, 2, 0};
  const train::ClassificationReport r = train::classification_report(truth, predicted, 3);
  EXPECT_EQ(r.examples, 8);
  EXPECT_DOUBLE_EQ(r.accuracy, 5.0 / 8);
  EXPECT_EQ(r.confusion, (std::vector<std::vector<std::int64_t>>{{2, 1, 0}, {0, 1, 1}, {1, 0, 2}}));
  // class 0: P = 2/3, R = 2/3; class 1: P = 1/2, R = 1/2; class 2: P = 2/3, R = 2/3.
  EXPECT_DOUBLE_EQ(r.per_class[0].precision, 2.0 / 3);
  EXPECT_DOUBLE_EQ(r.per_class[1].recall, 0.5);
  EXPECT_DOUBLE_EQ(r.per_class[2].f1, 2.0 / 3);
  EXPECT_EQ(r.per_class[2].support, 3);
  EXPECT_NEAR(r.macro_f1, (2.0 / 3 + 0.5 + 2.0 / 3) / 3, 1e-15);
}

TEST(ClassificationReport, ZeroDivisionAndAbsentClasses) {
  // Class 1 is never predicted (precision 0 by the zero-division rule), class 2 never seen
  // at all (left out of the macro average).
  const std::vector<std::int32_t> truth = {0, 0, 1}, predicted = {0, 0, 0};
  const train::ClassificationReport r = train::classification_report(truth, predicted, 3);
  EXPECT_EQ(r.per_class[1].precision, 0);
  EXPECT_EQ(r.per_class[1].f1, 0);
  EXPECT_NEAR(r.per_class[0].f1, 0.8, 1e-15);  // P = 2/3, R = 1
  EXPECT_NEAR(r.macro_f1, 0.4, 1e-15);         // (0.8 + 0) / 2 classes present
  expect_error([&] { train::classification_report(truth, std::vector<std::int32_t>{0, 3, 0}, 3); },
               {"example 1", "outside [0, 3)"});
  const std::vector<std::string> names = {"ham", "spam", "eggs"};
  const std::vector<std::string> lines = train::format_report(r, names);
  ASSERT_EQ(lines.size(), 1 + 3 + 1 + 1 + 3u);  // header, classes, totals, matrix header, rows
  EXPECT_NE(lines[4].find("accuracy 0.6667, macro-F1 0.4000 over 3 examples"), std::string::npos) << lines[4];
  EXPECT_NE(lines[5].find("predicted: ham spam eggs"), std::string::npos) << lines[5];
  EXPECT_NE(lines[7].find("spam"), std::string::npos);
}

TEST(Entities, ConllevalSpans) {
  const std::vector<std::string> names = {"O", "B-PER", "I-PER", "B-LOC", "I-LOC"};
  EXPECT_TRUE(train::is_bio_tagset(names));
  EXPECT_FALSE(train::is_bio_tagset(std::vector<std::string>{"O", "nn", "B-X"}));
  // B-PER I-PER O I-LOC I-LOC B-LOC I-PER: PER [0, 2), LOC [3, 5) (an I after O starts one),
  // LOC [5, 6), PER [6, 7) (an I of another type starts one).
  const std::vector<std::int32_t> tags = {1, 2, 0, 4, 4, 3, 2};
  EXPECT_EQ(train::bio_entities(tags, names),
            (std::vector<Entity>{{0, 2, "PER"}, {3, 5, "LOC"}, {5, 6, "LOC"}, {6, 7, "PER"}}));
  // Scores: an entity counts only when type, begin and end all match.
  train::EntityCounter counter;
  counter.add(tags, std::vector<std::int32_t>{1, 0, 0, 3, 4, 3, 2}, names);  // PER [0,1) wrong end; 3 right
  const train::EntityScores s = counter.finish();
  EXPECT_EQ(s.truth, 4);
  EXPECT_EQ(s.predicted, 4);
  EXPECT_EQ(s.found, 3);
  EXPECT_DOUBLE_EQ(s.f1, 0.75);
}

using Refs = std::vector<std::vector<std::int32_t>>;

// Token ids for the words of a text (a new id for each new word), so that cases read as text.
struct Words {
  std::map<std::string, std::int32_t> ids;
  std::vector<std::int32_t> operator()(const std::string& text) {
    std::vector<std::int32_t> tokens;
    std::istringstream in(text);
    for (std::string w; in >> w;) tokens.push_back(ids.emplace(w, static_cast<std::int32_t>(ids.size())).first->second);
    return tokens;
  }
};

TEST(EditDistance, InsertionsDeletionsSubstitutions) {
  Words w;
  EXPECT_EQ(train::edit_distance(w("k i t t e n"), w("s i t t i n g")), 3);  // 2 substitutions, 1 insertion
  EXPECT_EQ(train::edit_distance(w("f l a w"), w("l a w n")), 2);           // 1 deletion, 1 insertion
  EXPECT_EQ(train::edit_distance(w("a b c"), w("a b c")), 0);
  EXPECT_EQ(train::edit_distance({}, w("a b c")), 3);
  EXPECT_EQ(train::edit_distance(w("a b c"), {}), 3);
  EXPECT_EQ(train::edit_distance(w("a b"), w("b a")), 2);  // no transpositions
}

TEST(ErrorRates, NearestReferenceAndExactMatches) {
  Words w;
  train::ErrorRateCounter counter;
  // Distance 1 to both references: the first is the nearest, 3 tokens long.
  counter.add(w("HH AH L OW"), Refs{w("HH AH L AW"), w("HH AH L OW UW")});
  // Equal to its second reference: right, no token errors, 2 tokens counted.
  counter.add(w("T UW"), Refs{w("T OW"), w("T UW")});
  const train::ErrorRates r = counter.rates;
  EXPECT_EQ(r.examples, 2);
  EXPECT_EQ(r.wrong_sequences, 1);
  EXPECT_EQ(r.token_errors, 1);
  EXPECT_EQ(r.reference_tokens, 4 + 2);
  EXPECT_DOUBLE_EQ(r.token_error_rate(), 1.0 / 6);
  EXPECT_DOUBLE_EQ(r.sequence_error_rate(), 0.5);
  EXPECT_DOUBLE_EQ(train::ErrorRates{}.token_error_rate(), 0.0);
  EXPECT_THROW(counter.add(w("A"), Refs{}), Error);
}

TEST(Bleu, CorpusPrecisionsAndBrevityPenalty) {
  Words w;
  train::BleuCounter bleu;
  // n-gram matches / hypothesis n-grams: 1: the x2, cat, on, mat = 5/6; 2: the cat, on the,
  // the mat = 3/5; 3: on the mat = 1/4; 4: 0/3.
  bleu.add(w("the cat sat on the mat"), Refs{w("the cat is on the mat")});
  EXPECT_EQ(bleu.bleu(), 0.0);  // no 4-gram matches yet
  // Every n-gram matches: 5/5, 4/4, 3/3, 2/2; one token short of its reference.
  bleu.add(w("a b c d e"), Refs{w("a b c d e f")});
  const std::int64_t matches[4] = {10, 7, 4, 2}, totals[4] = {11, 9, 7, 5};
  for (int n = 0; n < 4; ++n) {
    EXPECT_EQ(bleu.matches[n], matches[n]) << "n = " << n + 1;
    EXPECT_EQ(bleu.totals[n], totals[n]) << "n = " << n + 1;
  }
  EXPECT_EQ(bleu.hypothesis_length, 11);
  EXPECT_EQ(bleu.reference_length, 12);
  const double expected = std::exp(1.0 - 12.0 / 11) * std::pow(10.0 / 11 * 7.0 / 9 * 4.0 / 7 * 2.0 / 5, 0.25);
  EXPECT_NEAR(bleu.bleu(), expected, 1e-15);
}

TEST(Bleu, ClippingAndClosestReferenceLength) {
  Words w;
  train::BleuCounter bleu;
  // "the" 4 times in the hypothesis, at most twice in one reference: 2 matches of 4.
  bleu.add(w("the the the the"), Refs{w("the cat"), w("the the cat x y")});
  EXPECT_EQ(bleu.matches[0], 2);
  EXPECT_EQ(bleu.totals[0], 4);
  EXPECT_EQ(bleu.reference_length, 5);  // |5 - 4| < |2 - 4|
  train::BleuCounter tie;
  tie.add(w("a b c d"), Refs{w("a b c d e"), w("a b c")});
  EXPECT_EQ(tie.reference_length, 3);  // as close as 5: the shorter
  train::BleuCounter perfect;
  perfect.add(w("a b c d"), Refs{w("a b c d")});
  EXPECT_DOUBLE_EQ(perfect.bleu(), 1.0);
}

}  // namespace
}  // namespace recur
