// Classification and tagging measures (train/metrics.hpp), against values worked by hand
// from their definitions (scikit-learn's classification_report, conlleval's entities).
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

}  // namespace
}  // namespace recur
