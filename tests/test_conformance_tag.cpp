// Sequence taggers written by PyTorch (tests/conformance/make_tagger_fixtures.py): a
// bidirectional LSTM over words joined with character features (a bidirectional character
// LSTM's final states), words as written, and a two-layer bidirectional GRU over words folded
// to lower case, and a GRU over lowercased words whose character features still see the capitals.
// recur reads each file, reads the fixture's sentences as PyTorch's side did
// (train::TaggedCorpus::add: word and character indices), and gives PyTorch's per-token tag
// probabilities within 1e-5, in one padded batch and each sentence alone (issue 13: a PyTorch
// model built from the file's names gives the same probabilities). A file recur writes back
// reads as the same model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "recur/recur.hpp"

namespace recur {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kTolerance = 1e-5;  // absolute, on each probability

using Sentences = std::vector<std::vector<std::string>>;

// `sentences` as recur reads them for `facts` (the tags are not read: zeros).
train::TaggedCorpus read_sentences(const Sentences& sentences, const train::TaggerFacts& facts) {
  train::TaggedCorpus corpus;
  for (const std::vector<std::string>& words : sentences)
    corpus.add(words, std::vector<std::int32_t>(words.size(), 0), facts);
  return corpus;
}

// exp(train::tagger_log_probs): every token's C probabilities, sentence after sentence.
std::vector<double> probabilities(nn::SequenceTagger& model, const train::TaggedCorpus& corpus,
                                  std::int64_t batch_size) {
  std::vector<double> probs = train::tagger_log_probs(model, corpus, batch_size);
  for (double& p : probs) p = std::exp(p);
  return probs;
}

class ConformanceTag : public testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    path_ = std::string(RECUR_TEST_FIXTURES) + "/" + GetParam();
    loaded_ = train::load_tagger(path_);
    sentences_ = json::parse(loaded_.metadata.at("test.sentences")).get<Sentences>();
    expected_ = json::parse(loaded_.metadata.at("test.probs")).get<std::vector<std::vector<std::vector<double>>>>();
    ASSERT_EQ(expected_.size(), sentences_.size());
    for (std::size_t i = 0; i < sentences_.size(); ++i) ASSERT_EQ(expected_[i].size(), sentences_[i].size());
    corpus_ = read_sentences(sentences_, loaded_);
  }

  // Every probability of `got` (all tokens' rows, sentence after sentence) within kTolerance
  // of PyTorch's.
  void expect_pytorchs(const std::vector<double>& got, const std::string& how) {
    const auto C = static_cast<std::size_t>(loaded_.model->config.num_labels);
    std::size_t tokens = 0;
    for (const auto& s : expected_) tokens += s.size();
    ASSERT_EQ(got.size(), tokens * C) << how;
    double worst = 0;
    const double* row = got.data();
    for (std::size_t i = 0; i < sentences_.size(); ++i) {
      for (std::size_t t = 0; t < sentences_[i].size(); ++t, row += C) {
        const std::vector<double>& want = expected_[i][t];
        ASSERT_EQ(want.size(), C) << "sentence " << i << ", word " << t;
        for (std::size_t c = 0; c < C; ++c) {
          const double error = std::abs(row[c] - want[c]);
          worst = std::max(worst, error);
          EXPECT_LE(error, kTolerance) << how << ": sentence " << i << ", word " << t << " (\"" << sentences_[i][t]
                                       << "\"), tag " << loaded_.labels.name(static_cast<std::int64_t>(c))
                                       << ": recur " << row[c] << ", PyTorch " << want[c];
        }
      }
    }
    worst_ = std::max(worst_, worst);
    compared_ = true;
  }

  void TearDown() override {
    if (compared_) std::cout << "[          ] " << GetParam() << ": max |recur - PyTorch| = " << worst_ << "\n";
  }

  std::string path_;
  train::LoadedTagger loaded_;
  Sentences sentences_;
  std::vector<std::vector<std::vector<double>>> expected_;  // per sentence, per word, per tag
  train::TaggedCorpus corpus_;
  double worst_ = 0;
  bool compared_ = false;
};

TEST_P(ConformanceTag, VocabulariesAndTagsAreTheFixtures) {
  const json config = json::parse(loaded_.metadata.at("recur.config"));
  EXPECT_EQ(json(loaded_.vocab.tokens()), json::parse(loaded_.metadata.at("recur.vocab")));
  EXPECT_EQ(json(loaded_.labels.names()), json::parse(loaded_.metadata.at("recur.labels")));
  EXPECT_EQ(json(loaded_.label_counts), json::parse(loaded_.metadata.at("recur.label_counts")));
  EXPECT_EQ(loaded_.vocab.mode(), data::TokenMode::Word);
  EXPECT_EQ(loaded_.vocab.lowercase(), config.at("lowercase").get<bool>());
  const nn::SequenceTaggerConfig& model = loaded_.model->config;
  EXPECT_EQ(model.cell, config.at("cell").get<std::string>());
  EXPECT_EQ(model.layers, config.at("layers").get<std::int64_t>());
  EXPECT_EQ(model.bidirectional, config.at("bidirectional").get<bool>());
  EXPECT_EQ(model.char_embed, config.at("char_embed").get<std::int64_t>());
  EXPECT_EQ(model.char_hidden, config.at("char_hidden").get<std::int64_t>());
  const bool chars = model.char_embed > 0;
  EXPECT_EQ(loaded_.model->has_char_features(), chars);
  if (chars) {
    EXPECT_EQ(json(loaded_.char_vocab.tokens()), json::parse(loaded_.metadata.at("recur.char_vocab")));
  } else {
    EXPECT_EQ(loaded_.char_vocab.size(), 0);
  }
  EXPECT_FALSE(loaded_.model->is_training());

  // They are also what recur builds (as train::TagTask does) from the training sentences
  // PyTorch's side was given.
  const auto train_sentences = json::parse(loaded_.metadata.at("test.train_sentences")).get<Sentences>();
  const auto train_tags = json::parse(loaded_.metadata.at("test.train_tags")).get<Sentences>();
  ASSERT_EQ(train_tags.size(), train_sentences.size());
  std::vector<std::vector<std::string>> words, spelled;
  std::vector<std::string> tags;
  for (std::size_t i = 0; i < train_sentences.size(); ++i) {
    ASSERT_EQ(train_tags[i].size(), train_sentences[i].size()) << "training sentence " << i;
    tags.insert(tags.end(), train_tags[i].begin(), train_tags[i].end());
    std::vector<std::string>& folded = words.emplace_back();
    for (const std::string& w : train_sentences[i]) {
      folded.push_back(data::split_tokens(w, loaded_.vocab.token_options(), "train word").at(0));
      spelled.push_back(data::split_tokens(w, {.mode = data::TokenMode::Char}, "train word"));
    }
  }
  const data::TokenOptions options{.mode = data::TokenMode::Word, .lowercase = loaded_.vocab.lowercase(),
                                   .min_count = std::stoll(loaded_.metadata.at("test.min_count"))};
  EXPECT_EQ(data::build_vocab(words, options).tokens(), loaded_.vocab.tokens());
  if (chars) {
    EXPECT_EQ(data::build_vocab(spelled, {.mode = data::TokenMode::Char}).tokens(), loaded_.char_vocab.tokens());
  }
  const data::Labels labels = data::Labels::build(tags);
  EXPECT_EQ(labels.names(), loaded_.labels.names());
  std::vector<std::int64_t> counts(static_cast<std::size_t>(labels.size()), 0);
  for (const std::string& tag : tags) ++counts[static_cast<std::size_t>(labels.find(tag))];
  EXPECT_EQ(counts, loaded_.label_counts);
}

TEST_P(ConformanceTag, WordsAndCharactersFollowRecursRules) {
  const json want = json::parse(loaded_.metadata.at("test.tokens"));
  ASSERT_EQ(want.size(), corpus_.sentences.size());
  for (std::size_t i = 0; i < corpus_.sentences.size(); ++i)
    EXPECT_EQ(json(corpus_.sentences[i].tokens), want[i]) << "sentence " << i << ": " << json(sentences_[i]).dump();
  if (!loaded_.model->has_char_features()) return;
  const json want_chars = json::parse(loaded_.metadata.at("test.chars"));
  ASSERT_EQ(want_chars.size(), corpus_.words.size());
  for (std::size_t i = 0; i < corpus_.words.size(); ++i) {
    ASSERT_EQ(want_chars[i].size(), corpus_.words[i].size()) << "sentence " << i;
    for (std::size_t t = 0; t < corpus_.words[i].size(); ++t)
      EXPECT_EQ(json(corpus_.spelled.at(static_cast<std::size_t>(corpus_.words[i][t]))), want_chars[i][t])
          << "sentence " << i << ", word " << t << " (\"" << sentences_[i][t] << "\")";
  }
}

TEST_P(ConformanceTag, BatchProbabilitiesArePyTorchs) {
  expect_pytorchs(probabilities(*loaded_.model, corpus_, 64), "batches of 64");
}

TEST_P(ConformanceTag, EachSentenceAloneHasPyTorchsProbabilities) {
  expect_pytorchs(probabilities(*loaded_.model, corpus_, 1), "batches of 1");
}

// What `recur predict` prints: each token's most likely tag, PyTorch's argmax (where its two
// best are more than the tolerance apart), in batches of 64 and of 3.
TEST_P(ConformanceTag, TagsArePyTorchsMostLikely) {
  for (std::int64_t batch_size : {64, 3}) {
    const std::vector<std::int32_t> tags = train::tagger_tags(*loaded_.model, corpus_, batch_size);
    std::size_t k = 0, compared = 0;
    for (std::size_t i = 0; i < expected_.size(); ++i)
      for (std::size_t t = 0; t < expected_[i].size(); ++t, ++k) {
        ASSERT_LT(k, tags.size());
        std::vector<double> p = expected_[i][t];
        const auto best = std::max_element(p.begin(), p.end()) - p.begin();
        const double top = p[best];
        p[best] = -1;
        if (top - *std::max_element(p.begin(), p.end()) <= kTolerance) continue;  // a near tie
        EXPECT_EQ(tags[k], best) << "batch " << batch_size << ", sentence " << i << ", word " << t;
        ++compared;
      }
    EXPECT_EQ(k, tags.size());
    EXPECT_GT(compared, k / 2);
  }
}

TEST_P(ConformanceTag, SavedFileLoadsAsTheSameModel) {
  const fs::path dir = fs::temp_directory_path() / ("recur_conformance_tag_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string copy = (dir / "model.safetensors").string();
  train::save_tagger(copy, *loaded_.model, loaded_, {{"note", "round trip"}});
  const train::LoadedTagger again = train::load_tagger(copy);
  fs::remove_all(dir);

  EXPECT_EQ(again.vocab.tokens(), loaded_.vocab.tokens());
  EXPECT_EQ(again.vocab.lowercase(), loaded_.vocab.lowercase());
  EXPECT_EQ(again.char_vocab.tokens(), loaded_.char_vocab.tokens());
  EXPECT_EQ(again.labels.names(), loaded_.labels.names());
  EXPECT_EQ(again.label_counts, loaded_.label_counts);
  EXPECT_EQ(again.metadata.at("note"), "round trip");
  EXPECT_EQ(json::parse(again.metadata.at("recur.config")), json::parse(loaded_.metadata.at("recur.config")));
  const TensorMap before = loaded_.model->state_dict(), after = again.model->state_dict();
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [name, tensor] : before) {
    ASSERT_TRUE(after.count(name)) << name;
    EXPECT_EQ(after.at(name).to_vector<float>(), tensor.to_vector<float>()) << name;
  }
  const train::TaggedCorpus reread = read_sentences(sentences_, again);
  EXPECT_EQ(probabilities(*again.model, reread, 64), probabilities(*loaded_.model, corpus_, 64));
}

INSTANTIATE_TEST_SUITE_P(TorchModels, ConformanceTag,
                         testing::Values("tagger_torch_lstm_chars.safetensors",
                                         "tagger_torch_gru_nochars.safetensors",
                                         "tagger_torch_gru_chars_lower.safetensors"),
                         [](const testing::TestParamInfo<const char*>& info) {
                           const std::string name = info.param;
                           if (name.find("lstm_chars") != std::string::npos) return std::string("LstmChars");
                           if (name.find("nochars") != std::string::npos) return std::string("GruNoChars");
                           return std::string("GruCharsLowercase");
                         });

}  // namespace
}  // namespace recur
