// Sequence classifiers written by PyTorch (tests/conformance/make_classifier_fixtures.py): an
// LSTM of two bidirectional layers with max pooling (3 labels), a bidirectional GRU with last
// pooling (lowercase, split at punctuation, max_length 5) and a one-direction character LSTM
// with mean pooling. recur reads each file, tokenises the fixture's texts as PyTorch's side
// did, and gives PyTorch's
// probabilities within 1e-5, in one padded batch and each text alone (issue 13: a PyTorch model
// built from the file's names and the pooling definitions gives the same probabilities). A file
// recur writes back reads as the same model.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <numeric>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "recur/recur.hpp"

namespace recur {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr double kTolerance = 1e-5;  // absolute, on each probability

// The examples of `texts` as recur reads them for `facts` (train::classifier_tokens).
std::vector<data::Sequence> encode_texts(const std::vector<std::string>& texts, const train::ClassifierFacts& facts) {
  std::vector<data::Sequence> examples;
  for (const std::string& text : texts) examples.push_back({train::classifier_tokens(text, facts, "text"), {0}});
  return examples;
}

// softmax(model(batch of `picked`)) as rows of doubles.
std::vector<std::vector<double>> probabilities(nn::SequenceClassifier& model, const std::vector<data::Sequence>& examples,
                                               const std::vector<std::int64_t>& picked) {
  NoGradGuard no_grad;
  const data::PaddedBatch batch = data::pad_batch(examples, picked, /*per_token=*/false);
  const Tensor probs = softmax(model.forward(batch.inputs, batch.lengths), 1);
  EXPECT_EQ(probs.shape(), (Shape{static_cast<std::int64_t>(picked.size()), model.config.num_labels}));
  const std::vector<double> flat = probs.to_vector<double>();
  std::vector<std::vector<double>> rows;
  const auto C = static_cast<std::size_t>(model.config.num_labels);
  for (std::size_t b = 0; b < picked.size(); ++b) rows.emplace_back(flat.begin() + b * C, flat.begin() + (b + 1) * C);
  return rows;
}

std::vector<std::int64_t> all_of(std::size_t n) {
  std::vector<std::int64_t> picked(n);
  std::iota(picked.begin(), picked.end(), 0);
  return picked;
}

class ConformanceClassify : public testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    path_ = std::string(RECUR_TEST_FIXTURES) + "/" + GetParam();
    loaded_ = train::load_classifier(path_);
    texts_ = json::parse(loaded_.metadata.at("test.texts")).get<std::vector<std::string>>();
    expected_ = json::parse(loaded_.metadata.at("test.probs")).get<std::vector<std::vector<double>>>();
    ASSERT_EQ(expected_.size(), texts_.size());
    examples_ = encode_texts(texts_, loaded_);
  }

  // Every probability of `got` (rows for the texts `picked`) within kTolerance of PyTorch's.
  void expect_pytorchs(const std::vector<std::vector<double>>& got, const std::vector<std::int64_t>& picked) {
    ASSERT_EQ(got.size(), picked.size());
    double worst = 0;
    for (std::size_t b = 0; b < picked.size(); ++b) {
      const std::vector<double>& want = expected_[static_cast<std::size_t>(picked[b])];
      ASSERT_EQ(got[b].size(), want.size()) << "text " << picked[b];
      for (std::size_t c = 0; c < want.size(); ++c) {
        const double error = std::abs(got[b][c] - want[c]);
        worst = std::max(worst, error);
        EXPECT_LE(error, kTolerance) << "text " << picked[b] << " (\"" << texts_[static_cast<std::size_t>(picked[b])]
                                     << "\"), label " << loaded_.labels.name(static_cast<std::int64_t>(c))
                                     << ": recur " << got[b][c] << ", PyTorch " << want[c];
      }
    }
    worst_ = std::max(worst_, worst);
    compared_ = true;
  }

  void TearDown() override {
    if (compared_) std::cout << "[          ] " << GetParam() << ": max |recur - PyTorch| = " << worst_ << "\n";
  }

  std::string path_;
  train::LoadedClassifier loaded_;
  std::vector<std::string> texts_;
  std::vector<std::vector<double>> expected_;
  std::vector<data::Sequence> examples_;
  double worst_ = 0;
  bool compared_ = false;
};

TEST_P(ConformanceClassify, VocabularyAndLabelsAreTheFixtures) {
  const json config = json::parse(loaded_.metadata.at("recur.config"));
  EXPECT_EQ(json(loaded_.vocab.tokens()), json::parse(loaded_.metadata.at("recur.vocab")));
  EXPECT_EQ(json(loaded_.labels.names()), json::parse(loaded_.metadata.at("recur.labels")));
  EXPECT_EQ(json(loaded_.label_counts), json::parse(loaded_.metadata.at("recur.label_counts")));
  EXPECT_EQ(data::token_mode_name(loaded_.vocab.mode()), config.at("tokens").get<std::string>());
  EXPECT_EQ(loaded_.vocab.lowercase(), config.at("lowercase").get<bool>());
  EXPECT_EQ(loaded_.vocab.split_punctuation(), config.at("split_punctuation").get<bool>());
  EXPECT_EQ(loaded_.max_length, config.at("max_length").get<std::int64_t>());
  const nn::SequenceClassifierConfig& model = loaded_.model->config;
  EXPECT_EQ(model.cell, config.at("cell").get<std::string>());
  EXPECT_EQ(model.layers, config.at("layers").get<std::int64_t>());
  EXPECT_EQ(model.bidirectional, config.at("bidirectional").get<bool>());
  EXPECT_EQ(nn::pool_name(model.pool), config.at("pool").get<std::string>());
  EXPECT_FALSE(loaded_.model->is_training());

  // They are also what recur builds from the training set PyTorch's side was given.
  const auto train_texts = json::parse(loaded_.metadata.at("test.train_texts")).get<std::vector<std::string>>();
  const auto train_labels = json::parse(loaded_.metadata.at("test.train_labels")).get<std::vector<std::string>>();
  std::vector<std::vector<std::string>> tokens;
  for (const std::string& text : train_texts) {
    tokens.push_back(data::split_tokens(text, loaded_.vocab.token_options(), "train text"));
    if (loaded_.max_length > 0 && static_cast<std::int64_t>(tokens.back().size()) > loaded_.max_length)
      tokens.back().resize(static_cast<std::size_t>(loaded_.max_length));
  }
  data::TokenOptions options = loaded_.vocab.token_options();
  if (loaded_.metadata.count("test.min_count")) options.min_count = std::stoll(loaded_.metadata.at("test.min_count"));
  EXPECT_EQ(data::build_vocab(tokens, options).tokens(), loaded_.vocab.tokens());
  EXPECT_EQ(data::Labels::build(train_labels).names(), loaded_.labels.names());
}

TEST_P(ConformanceClassify, TokensFollowRecursRules) {
  const json want = json::parse(loaded_.metadata.at("test.tokens"));
  ASSERT_EQ(want.size(), examples_.size());
  for (std::size_t i = 0; i < examples_.size(); ++i)
    EXPECT_EQ(json(examples_[i].tokens), want[i]) << "text " << i << ": \"" << texts_[i] << "\"";
}

TEST_P(ConformanceClassify, BatchProbabilitiesArePyTorchs) {
  const std::vector<std::int64_t> picked = all_of(examples_.size());
  expect_pytorchs(probabilities(*loaded_.model, examples_, picked), picked);
}

TEST_P(ConformanceClassify, EachTextAloneHasPyTorchsProbabilities) {
  for (std::size_t i = 0; i < examples_.size(); ++i) {
    const std::vector<std::int64_t> picked{static_cast<std::int64_t>(i)};
    expect_pytorchs(probabilities(*loaded_.model, examples_, picked), picked);
  }
}

TEST_P(ConformanceClassify, SavedFileLoadsAsTheSameModel) {
  const fs::path dir = fs::temp_directory_path() / ("recur_conformance_classify_" + std::to_string(getpid()));
  fs::create_directories(dir);
  const std::string copy = (dir / "model.safetensors").string();
  train::save_classifier(copy, *loaded_.model, loaded_, {{"note", "round trip"}});
  const train::LoadedClassifier again = train::load_classifier(copy);
  fs::remove_all(dir);

  EXPECT_EQ(again.vocab.tokens(), loaded_.vocab.tokens());
  EXPECT_EQ(again.vocab.mode(), loaded_.vocab.mode());
  EXPECT_EQ(again.vocab.lowercase(), loaded_.vocab.lowercase());
  EXPECT_EQ(again.vocab.split_punctuation(), loaded_.vocab.split_punctuation());
  EXPECT_EQ(again.labels.names(), loaded_.labels.names());
  EXPECT_EQ(again.label_counts, loaded_.label_counts);
  EXPECT_EQ(again.max_length, loaded_.max_length);
  EXPECT_EQ(again.metadata.at("note"), "round trip");
  EXPECT_EQ(json::parse(again.metadata.at("recur.config")), json::parse(loaded_.metadata.at("recur.config")));
  const TensorMap before = loaded_.model->state_dict(), after = again.model->state_dict();
  ASSERT_EQ(after.size(), before.size());
  for (const auto& [name, tensor] : before) {
    ASSERT_TRUE(after.count(name)) << name;
    EXPECT_EQ(after.at(name).to_vector<float>(), tensor.to_vector<float>()) << name;
  }
  const std::vector<std::int64_t> picked = all_of(examples_.size());
  EXPECT_EQ(probabilities(*again.model, examples_, picked), probabilities(*loaded_.model, examples_, picked));
}

INSTANTIATE_TEST_SUITE_P(TorchModels, ConformanceClassify,
                         testing::Values("classifier_torch_lstm_bi_max.safetensors",
                                         "classifier_torch_gru_bi_last.safetensors",
                                         "classifier_torch_lstm_mean_char.safetensors"),
                         [](const testing::TestParamInfo<const char*>& info) {
                           const std::string name = info.param;
                           if (name.find("lstm_bi_max") != std::string::npos) return std::string("LstmBiMax");
                           if (name.find("gru_bi_last") != std::string::npos) return std::string("GruBiLast");
                           return std::string("LstmMeanChar");
                         });

}  // namespace
}  // namespace recur
