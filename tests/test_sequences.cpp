// Labelled sequences: classification and CoNLL files (and their errors), labels, tokens,
// length batching and padding.
#include <filesystem>
#include <fstream>
#include <set>

#include <unistd.h>

#include "test_helpers.hpp"

namespace recur {
namespace {

namespace fs = std::filesystem;
using data::TokenMode;

// A file holding `bytes` in a directory of this test process, removed at exit.
class TempFile {
 public:
  explicit TempFile(const std::string& bytes, const std::string& name = "data.txt") {
    dir_ = fs::temp_directory_path() / ("recur_sequences_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    path_ = (dir_ / name).string();
    std::ofstream(path_, std::ios::binary) << bytes;
  }
  ~TempFile() { fs::remove_all(dir_); }
  const std::string& path() const { return path_; }

 private:
  fs::path dir_;
  std::string path_;
};

TEST(LabeledTexts, ReadsLabelTabTextLines) {
  TempFile file("spam\tWin money now\r\n\nham\tsee you at\tnoon\n  \nham\tok");
  std::vector<data::LabeledText> examples = data::read_labeled_texts(file.path());
  ASSERT_EQ(examples.size(), 3u);
  EXPECT_EQ(examples[0].label, "spam");
  EXPECT_EQ(examples[0].text, "Win money now");  // the \r is dropped
  EXPECT_EQ(examples[1].text, "see you at\tnoon");  // everything after the first tab
  EXPECT_EQ(examples[1].line, 3);
  EXPECT_EQ(examples[2].line, 5);
}

TEST(LabeledTexts, BadLinesNameFileAndLine) {
  TempFile no_tab("ham\tfine\nspam no tab here\n");
  expect_error([&] { data::read_labeled_texts(no_tab.path()); }, {no_tab.path(), "line 2", "no tab"});
  TempFile empty_label("\tsome text\n");
  expect_error([&] { data::read_labeled_texts(empty_label.path()); }, {"line 1", "label", "empty"});
  TempFile empty_text("ham\t   \n");
  expect_error([&] { data::read_labeled_texts(empty_text.path()); }, {"line 1", "has no words"});
  // In char mode spaces are characters; nothing at all is still an error.
  EXPECT_EQ(data::read_labeled_texts(empty_text.path(), TokenMode::Char)[0].text, "   ");
  TempFile nothing("ham\t\n");
  expect_error([&] { data::read_labeled_texts(nothing.path(), TokenMode::Char); }, {"has no characters"});
  TempFile not_utf8("ham\tok\nspam\tcaf\xE9 au lait\n");
  // The offset counts from the start of the line: "spam\tcaf" is 8 bytes.
  expect_error([&] { data::read_labeled_texts(not_utf8.path()); }, {not_utf8.path() + " line 2", "byte offset 8"});
  TempFile blank("\n\n");
  expect_error([&] { data::read_labeled_texts(blank.path()); }, {"has no examples"});
  expect_error([&] { data::read_labeled_texts("/nonexistent/x.tsv"); }, {"/nonexistent/x.tsv"});
}

TEST(Conll, ReadsSentencesWordFirstTagLast) {
  TempFile file("-DOCSTART- -X- O O\n\nThe DT B-NP O\ncat\tNN\tI-NP\tO\n\n\nsat VBD\n. .\n");
  std::vector<data::TaggedSentence> s = data::read_conll(file.path());
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].words, (std::vector<std::string>{"The", "cat"}));
  EXPECT_EQ(s[0].tags, (std::vector<std::string>{"O", "O"}));
  EXPECT_EQ(s[0].line, 3);
  EXPECT_EQ(s[1].words, (std::vector<std::string>{"sat", "."}));
  EXPECT_EQ(s[1].tags, (std::vector<std::string>{"VBD", "."}));
}

TEST(Conll, BadLinesNameFileAndLine) {
  TempFile one_field("a DT\nlonely\n");
  expect_error([&] { data::read_conll(one_field.path()); }, {one_field.path(), "line 2", "one field"});
  TempFile empty("\n-DOCSTART- O\n\n");
  expect_error([&] { data::read_conll(empty.path()); }, {"has no sentences"});
}

TEST(Labels, SortedDistinctAndStoredOrder) {
  const std::vector<std::string> seen = {"spam", "ham", "spam", "eggs"};
  data::Labels labels = data::Labels::build(seen);
  EXPECT_EQ(labels.names(), (std::vector<std::string>{"eggs", "ham", "spam"}));
  EXPECT_EQ(labels.find("spam"), 2);
  EXPECT_EQ(labels.find("bacon"), -1);
  EXPECT_EQ(labels.name(1), "ham");
  expect_error([] { data::Labels::from_names({"a", "b", "a"}); }, {"\"a\" appears twice"});
  expect_error([] { data::Labels::from_names({"a", ""}); }, {"name 1 is empty"});
}

TEST(SequenceTokens, SplitsWordsOrCharactersWithFolding) {
  EXPECT_EQ(data::split_tokens("  Héllo\tWORLD \u00A0x ", {.mode = TokenMode::Word, .lowercase = true}, "t"),
            (std::vector<std::string>{"héllo", "world", "x"}));
  EXPECT_EQ(data::split_tokens("Ab é", {.mode = TokenMode::Char}, "t"), (std::vector<std::string>{"A", "b", " ", "é"}));
  expect_error([] { data::split_tokens("a\xFF", {.mode = TokenMode::Word}, "sample"); }, {"sample"});
}

TEST(SequenceTokens, WordVocabularyByFrequencyWithUnknown) {
  const std::vector<std::vector<std::string>> examples = {{"a", "b", "a"}, {"a", "c"}};
  data::Vocab vocab = data::build_vocab(examples, {.mode = TokenMode::Word, .min_count = 2});
  EXPECT_EQ(vocab.tokens(), (std::vector<std::string>{"a", "<eos>", "<unk>"}));  // b, c seen once
  const std::vector<std::string> text = {"a", "c", "zebra"};
  EXPECT_EQ(data::encode_tokens(text, vocab), (std::vector<std::int32_t>{0, 2, 2}));
}

TEST(SequenceTokens, CharVocabularyAlwaysHasUnknownLast) {
  const std::vector<std::vector<std::string>> examples = {{"a", "b", "a"}, {"c"}};
  data::Vocab all = data::build_vocab(examples, {.mode = TokenMode::Char});
  EXPECT_EQ(all.tokens(), (std::vector<std::string>{"a", "b", "c", "<unk>"}));
  data::Vocab capped = data::build_vocab(examples, {.mode = TokenMode::Char, .max_size = 2});
  EXPECT_EQ(capped.tokens(), (std::vector<std::string>{"a", "<unk>"}));
  const std::vector<std::string> text = {"c", "a", "é"};
  EXPECT_EQ(data::encode_tokens(text, all), (std::vector<std::int32_t>{2, 0, 3}));
}

// Every example once per epoch, batches of similar lengths, and an order that is a pure
// function of (seed, epoch).
TEST(LengthBatches, EachExampleOnceInLengthSortedBatches) {
  std::vector<std::int64_t> lengths;
  for (int i = 0; i < 103; ++i) lengths.push_back(1 + (i * 37) % 50);
  data::LengthBatches batches(lengths, 8, 5, true, 4);
  std::vector<std::vector<std::int64_t>> epoch0, epoch1;
  std::vector<std::int64_t> picked;
  while (batches.next(picked)) epoch0.push_back(picked);
  while (batches.next(picked)) epoch1.push_back(picked);
  EXPECT_EQ(batches.epoch(), 2);
  EXPECT_NE(epoch0, epoch1);
  EXPECT_EQ(epoch0, batches.epoch_batches(0));
  EXPECT_EQ(epoch1, data::LengthBatches(lengths, 8, 5, true, 4).epoch_batches(1));
  EXPECT_NE(epoch0, data::LengthBatches(lengths, 8, 6, true, 4).epoch_batches(0));
  std::multiset<std::int64_t> seen;
  for (const auto& batch : epoch0) {
    EXPECT_LE(batch.size(), 8u);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      seen.insert(batch[i]);
      if (i > 0) {
        EXPECT_GE(lengths[batch[i - 1]], lengths[batch[i]]);  // longest first
      }
    }
  }
  std::multiset<std::int64_t> all;
  for (std::int64_t i = 0; i < 103; ++i) all.insert(i);
  EXPECT_EQ(seen, all);
  // 4 pools of 32 examples (the last 7), each cut into batches of 8: 4 + 4 + 4 + 1 batches.
  EXPECT_EQ(batches.steps_per_epoch(), 13);
  // Sorting within pools keeps padding low (batches of a random order would pad about 75%).
  std::int64_t padded = 0, real = 0;
  for (const auto& batch : epoch0) {
    std::int64_t longest = 0;
    for (std::int64_t i : batch) longest = std::max(longest, lengths[i]), real += lengths[i];
    padded += longest * static_cast<std::int64_t>(batch.size());
  }
  EXPECT_LT(static_cast<double>(padded - real) / static_cast<double>(real), 0.4);
}

TEST(LengthBatches, ResumesAtAPosition) {
  const std::vector<std::int64_t> lengths = {3, 1, 4, 1, 5, 9, 2, 6, 5, 3};
  data::LengthBatches a(lengths, 3, 1), b(lengths, 3, 1);
  std::vector<std::int64_t> picked, expected;
  while (a.next(picked)) {
  }
  a.next(picked), a.next(expected);  // epoch 1, steps 0 and 1
  b.set_position(1, 1);
  b.next(picked);
  EXPECT_EQ(picked, expected);
  expect_error([&] { b.set_position(0, 99); }, {"outside an epoch of 4 batches"});
  // Without shuffling: all sorted by length, longest first.
  EXPECT_EQ(data::LengthBatches(lengths, 4, 0, false).epoch_batches(3),
            (std::vector<std::vector<std::int64_t>>{{5, 7, 4, 8}, {2, 0, 9, 6}, {1, 3}}));
}

TEST(PadBatch, TimeMajorPaddingAndIgnoredTargets) {
  const std::vector<data::Sequence> examples = {{{4, 5}, {1, 0}}, {{7}, {2}}, {{1, 2, 3}, {0, 0, 1}}};
  const std::vector<std::int64_t> picked = {2, 1};
  data::PaddedBatch tags = data::pad_batch(examples, picked, true);
  EXPECT_EQ(tags.inputs.shape(), Shape({3, 2}));
  EXPECT_EQ(tags.inputs.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 7, 2, 0, 3, 0}));
  EXPECT_EQ(tags.lengths.to_vector<std::int64_t>(), (std::vector<std::int64_t>{3, 1}));
  EXPECT_EQ(tags.targets.to_vector<std::int64_t>(), (std::vector<std::int64_t>{0, 2, 0, -100, 1, -100}));
  const std::vector<data::Sequence> classes = {{{4, 5}, {1}}, {{7}, {0}}};
  const std::vector<std::int64_t> both = {0, 1};
  data::PaddedBatch labels = data::pad_batch(classes, both, false);
  EXPECT_EQ(labels.targets.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 0}));
  expect_error([&] { data::pad_batch(examples, both, false); }, {"example 0 has 2 labels for 2 tokens"});
  const std::vector<std::int64_t> outside = {3};
  expect_error([&] { data::pad_batch(examples, outside, true); }, {"example 3 is outside [0, 3)"});
}

}  // namespace
}  // namespace recur
