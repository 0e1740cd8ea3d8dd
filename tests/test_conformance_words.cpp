// Word-level language models written by PyTorch (tests/conformance/make_word_fixtures.py):
// a Linear head and an adaptive softmax head. recur reads each file, tokenises the fixture's
// text exactly as PyTorch's side did, builds the same vocabulary from it, and `recur eval`
// and `recur score` give PyTorch's numbers within 1e-4 relative (issue 12's equivalence).
#include <gtest/gtest.h>

#include <cmath>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_helpers.hpp"
#include "recur/recur.hpp"

namespace recur {
namespace {

using nlohmann::json;

class ConformanceWords : public testing::TestWithParam<const char*> {
 protected:
  void SetUp() override {
    path_ = std::string(RECUR_TEST_FIXTURES) + "/" + GetParam();
    file_ = io::load_safetensors(path_);
    text_ = file_.metadata.at("test.text");
    dir_ = fs::temp_directory_path() / ("recur_conformance_words_" + std::to_string(getpid()));
    fs::create_directories(dir_);
    write_bytes(dir_ / "text.txt", text_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  Result recur(const Args& args) { return collect(spawn_recur(args, dir_ / "run"), dir_ / "run"); }

  std::string path_, text_;
  io::SafetensorsFile file_;
  fs::path dir_;
};

TEST_P(ConformanceWords, TokensAndVocabularyFollowTheWordRules) {
  const train::LoadedLanguageModel loaded = train::load_language_model(path_);
  EXPECT_EQ(loaded.vocab.mode(), data::TokenMode::Word);
  // The vocabulary PyTorch's side stored is the one recur builds from the text.
  const std::int64_t min_count = std::stoll(file_.metadata.at("test.min_count"));
  EXPECT_EQ(data::Vocab::build_words(data::count_words(text_, "text"), min_count).tokens(), loaded.vocab.tokens());
  const std::vector<std::int32_t> tokens = data::encode_text(text_, "text", loaded.vocab);
  EXPECT_EQ(json(tokens), json::parse(file_.metadata.at("test.tokens")));
}

TEST_P(ConformanceWords, EvalIsPyTorchsNll) {
  Result r = recur({"eval", path_, (dir_ / "text.txt").string(), "--json", "--threads", "1"});
  ASSERT_TRUE(r.ok()) << r;
  const double expected = std::stod(file_.metadata.at("test.nll"));
  EXPECT_NEAR(json::parse(r.out).at("nll_nats").get<double>(), expected, 1e-4 * expected);
}

TEST_P(ConformanceWords, ScoreIsPyTorchsSentenceLogprobs) {
  Result r = recur({"score", path_, (dir_ / "text.txt").string(), "--per-token", "--threads", "1"});
  ASSERT_TRUE(r.ok()) << r;
  const json expected = json::parse(file_.metadata.at("test.scores"));
  std::istringstream lines(r.out);
  std::size_t i = 0;
  for (std::string line; std::getline(lines, line); ++i) {
    SCOPED_TRACE("line " + std::to_string(i + 1));
    ASSERT_LT(i, expected.size());
    const json got = json::parse(line), want = expected[i];
    EXPECT_EQ(got.at("tokens"), want.at("tokens"));
    EXPECT_EQ(got.at("unknown"), want.at("unknown"));
    const double logprob = want.at("logprob");
    EXPECT_NEAR(got.at("logprob").get<double>(), logprob, 1e-4 * std::abs(logprob));
    EXPECT_NEAR(got.at("perplexity").get<double>(), want.at("perplexity").get<double>(),
                1e-4 * want.at("perplexity").get<double>());
    ASSERT_EQ(got.at("token_logprobs").size(), want.at("token_logprobs").size());
    for (std::size_t k = 0; k < got.at("token_logprobs").size(); ++k) {
      const double term = want.at("token_logprobs")[k];
      EXPECT_NEAR(got.at("token_logprobs")[k].get<double>(), term, 1e-4 * std::max(1.0, std::abs(term)));
    }
  }
  EXPECT_EQ(i, expected.size());
}

INSTANTIATE_TEST_SUITE_P(TorchModels, ConformanceWords,
                         testing::Values("word_model_torch_linear.safetensors",
                                         "word_model_torch_adaptive.safetensors"),
                         [](const testing::TestParamInfo<const char*>& info) {
                           return std::string(info.param).find("adaptive") != std::string::npos ? "Adaptive"
                                                                                                  : "Linear";
                         });

}  // namespace
}  // namespace recur
