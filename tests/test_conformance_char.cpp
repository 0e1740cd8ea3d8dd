// Character models moved between PyTorch and recur (docs/FORMAT.md), through the fixtures
// of tests/conformance/make_char_fixtures.py:
//   - char_model_torch_lstm and char_model_torch_gru_onehot were built, trained a little
//     and saved by PyTorch; train::load_language_model reads them, recur's NLL of the stored
//     text equals PyTorch's within 1e-5 relative, and TokenSampler's greedy continuation of
//     the stored prime is PyTorch's, character for character.
//   - char_model_recur was written by recur (this test, with RECUR_UPDATE_FIXTURES=1 in the
//     environment); the script loads it into torch.nn modules and checks PyTorch's NLL
//     against the recur NLL stored in it. Here the test checks that the committed file is
//     still what recur writes: the same configuration, vocabulary, tensors and NLL.
#include <gtest/gtest.h>

#include <cstdlib>
#include <iomanip>
#include <sstream>
#include <string>
#include <vector>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;

namespace {

constexpr std::int64_t kGreedyLength = 40;  // make_char_fixtures.py's GREEDY_LENGTH

std::string fixture(const std::string& name) { return std::string(RECUR_TEST_FIXTURES) + "/" + name; }

std::vector<std::int32_t> encode(const data::Vocab& vocab, const std::string& text) {
  return vocab.encode(data::decode_utf8(text, "test text"));
}

// Feeds `prime` one token at a time from the zero state, then takes the argmax
// `length` times, feeding each choice back in.
std::string greedy_continuation(const nn::LanguageModel& model, const data::Vocab& vocab, const std::string& prime,
                                std::int64_t length) {
  nn::TokenSampler sampler(model, 1);
  std::int64_t token = 0;
  for (std::int32_t t : encode(vocab, prime)) {
    token = t;
    sampler.feed({&token, 1});
  }
  Generator unused(0);
  std::vector<std::int64_t> continuation;
  for (std::int64_t i = 0; i < length; ++i) {
    sampler.draw({&token, 1}, {.argmax = true}, unused);
    continuation.push_back(token);
    sampler.feed({&token, 1});
  }
  return vocab.decode(continuation);
}

void expect_matches_pytorch(const std::string& name, const std::string& cell, std::int64_t embed) {
  SCOPED_TRACE(name);
  train::LoadedLanguageModel loaded = train::load_language_model(fixture(name));
  EXPECT_EQ(loaded.model->config.cell, cell);
  EXPECT_EQ(loaded.model->config.embed, embed);
  EXPECT_EQ(loaded.model->embed == nullptr, embed == 0);
  const std::map<std::string, std::string>& meta = loaded.metadata;

  const std::vector<std::int32_t> tokens = encode(loaded.vocab, meta.at("test.text"));
  ASSERT_GT(tokens.size(), 50u);
  const double expected = std::stod(meta.at("test.nll"));
  for (std::int64_t chunk : {512, 17}) {
    const double nll = loaded.model->nll(tokens, chunk);
    EXPECT_NEAR(nll, expected, 1e-5 * expected) << "chunk " << chunk;
  }
  EXPECT_EQ(greedy_continuation(*loaded.model, loaded.vocab, meta.at("test.prime"), kGreedyLength),
            meta.at("test.greedy"));
}

TEST(ConformanceChar, TorchWrittenLstmWithEmbedding) {
  expect_matches_pytorch("char_model_torch_lstm.safetensors", "lstm", 8);
}

TEST(ConformanceChar, TorchWrittenGruOneHotWithUnknownToken) {
  expect_matches_pytorch("char_model_torch_gru_onehot.safetensors", "gru", 0);
  train::LoadedLanguageModel loaded = train::load_language_model(fixture("char_model_torch_gru_onehot.safetensors"));
  EXPECT_TRUE(loaded.vocab.has_unknown());
  EXPECT_TRUE(loaded.vocab.contains(U'唐'));
}

// The model of char_model_recur.safetensors: recur's own initialisation from a fixed seed,
// scaled so that its predictions are not nearly uniform.
struct RecurModel {
  std::shared_ptr<nn::LanguageModel> model;
  data::Vocab vocab;
  std::string text;
};

RecurModel recur_model() {
  RecurModel r;
  r.vocab = data::Vocab::from_tokens({"a", "b", "c", "d", "e", " ", "é", "唐", "\n", "<unk>"});
  manual_seed(2026);
  r.model = std::make_shared<nn::LanguageModel>(
      nn::LanguageModelConfig{.cell = "lstm", .layers = 2, .hidden = 16, .embed = 6, .vocab_size = r.vocab.size()});
  NoGradGuard no_grad;
  for (const Tensor& p : r.model->parameters()) mul_(p, 2);
  r.text = "a bad cab, a bee\nde\xC3\xA9 \xE5\x94\x90 dab ace\nabcde edcba!\n";  // é 唐; ',' '!' are <unk>
  return r;
}

TEST(ConformanceChar, RecurWrittenModelIsCurrent) {
  RecurModel fresh = recur_model();
  const double nll = fresh.model->nll(encode(fresh.vocab, fresh.text));
  const std::string path = fixture("char_model_recur.safetensors");
  if (const char* update = std::getenv("RECUR_UPDATE_FIXTURES"); update && std::string(update) == "1") {
    std::ostringstream nll_text;
    nll_text << std::setprecision(17) << nll;
    train::save_language_model(path, *fresh.model, fresh.vocab, {{"test.text", fresh.text}, {"test.nll", nll_text.str()}});
  }
  train::LoadedLanguageModel committed = train::load_language_model(path);
  // The fixture predates word models: its recur.config lacks "tokens", "lowercase" and
  // "tie_weights", and reads as the char model it is.
  EXPECT_EQ(train::config_to_json(committed.model->config, committed.vocab),
            train::config_to_json(fresh.model->config, fresh.vocab));
  EXPECT_EQ(committed.vocab.tokens(), fresh.vocab.tokens());
  EXPECT_EQ(committed.metadata.at("test.text"), fresh.text);
  TensorMap want = fresh.model->state_dict(), got = committed.model->state_dict();
  ASSERT_EQ(got.size(), want.size());
  for (const auto& [name, tensor] : want) {
    SCOPED_TRACE(name);
    expect_close(got.at(name), tensor, 1e-6);
  }
  const double stored = std::stod(committed.metadata.at("test.nll"));
  EXPECT_NEAR(stored, nll, 1e-6 * nll);
  EXPECT_NEAR(committed.model->nll(encode(committed.vocab, committed.metadata.at("test.text"))), stored, 1e-6 * nll);
}

}  // namespace
