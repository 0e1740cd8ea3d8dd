// nn::SequenceTagger: float64 gradient checks (with and without character features),
// padding and batch-mates that change nothing, PyTorch's parameter names; and the tagging
// task's batches of spellings.
#include "test_helpers.hpp"

namespace recur {
namespace {

Tensor i64(std::vector<std::int64_t> values, const Shape& shape) { return from_vector(values, shape); }

// Two sentences: [3, 1, 4] and [2, 5, 6, 6, 0]; the words' spellings (character indices).
struct Batch {
  Tensor inputs = i64({3, 2, 1, 5, 4, 6, 0, 6, 0, 0}, {5, 2});
  Tensor lengths = i64({3, 5}, {2});
  // Distinct words 0..5 spelled with characters 1..4; index maps each position to its word.
  nn::WordSpellings spellings{i64({1, 2, 3, 4, 1, 2, 2, 0, 4, 3, 1, 0, 0, 0, 2, 0, 0, 0}, {3, 6}),
                              i64({3, 2, 3, 2, 1, 1}, {6}), i64({0, 1, 2, 3, 4, 5, 0, 5, 0, 1}, {5, 2})};
};

TEST(SequenceTagger, PyTorchNamesAndShapes) {
  nn::SequenceTagger model({.hidden = 6, .embed = 5, .vocab_size = 11, .num_labels = 4, .char_vocab_size = 7,
                            .char_embed = 3, .char_hidden = 2});
  EXPECT_THAT(parameter_names(model),
              testing::ElementsAre("embed.weight", "char_embed.weight", "char_rnn.weight_ih_l0",
                                   "char_rnn.weight_hh_l0", "char_rnn.bias_ih_l0", "char_rnn.bias_hh_l0",
                                   "char_rnn.weight_ih_l0_reverse", "char_rnn.weight_hh_l0_reverse",
                                   "char_rnn.bias_ih_l0_reverse", "char_rnn.bias_hh_l0_reverse", "rnn.weight_ih_l0",
                                   "rnn.weight_hh_l0", "rnn.bias_ih_l0", "rnn.bias_hh_l0", "rnn.weight_ih_l0_reverse",
                                   "rnn.weight_hh_l0_reverse", "rnn.bias_ih_l0_reverse", "rnn.bias_hh_l0_reverse",
                                   "head.weight", "head.bias"));
  // The recurrent layer reads the word's 5 features and the characters' 2 x 2.
  EXPECT_EQ(model.state_dict().at("rnn.weight_ih_l0").shape(), Shape({24, 9}));
  EXPECT_EQ(model.state_dict().at("head.weight").shape(), Shape({4, 12}));
  expect_error([] { nn::SequenceTagger({.vocab_size = 5, .num_labels = 3, .char_vocab_size = 4, .char_embed = 2}); },
               {"char_embed, char_hidden and char_vocab_size"});
  expect_error([] { nn::SequenceTagger({.vocab_size = 5, .num_labels = 1}); }, {"at least 2 tags"});
  nn::SequenceTagger plain({.vocab_size = 11, .num_labels = 4});
  expect_error([&] { plain.forward(Batch().inputs, Batch().lengths, Batch().spellings); }, {"no character features"});
}

// A sentence's tag scores do not depend on its batch-mates or on the padding after it.
TEST(SequenceTagger, PaddingAndBatchMatesChangeNothing) {
  for (bool chars : {false, true}) {
    manual_seed(5);
    nn::SequenceTagger model({.layers = 2, .hidden = 4, .embed = 3, .vocab_size = 7, .num_labels = 3,
                              .char_vocab_size = chars ? 5 : 0, .char_embed = chars ? 2 : 0,
                              .char_hidden = chars ? 3 : 0});
    model.to(DType::Float64);
    model.eval();
    NoGradGuard no_grad;
    Batch b;
    Tensor logits = model.forward(b.inputs, b.lengths, chars ? b.spellings : nn::WordSpellings{});
    // Sentence 0 alone: its words 0, 2, 4 spelled alone.
    nn::WordSpellings own{i64({1, 3, 1, 2, 4, 0, 0, 2, 0}, {3, 3}), i64({3, 3, 1}, {3}), i64({0, 1, 2}, {3, 1})};
    Tensor alone = model.forward(i64({3, 1, 4}, {3, 1}), i64({3}, {1}), chars ? own : nn::WordSpellings{});
    expect_close(select(narrow(logits, 0, 0, 3), 1, 0), select(alone, 1, 0), 1e-12);
  }
}

// Inference (grad mode off, eval mode) projects the first layer's input once per distinct
// (word, spelling) pair: the logits of the path that training takes.
TEST(SequenceTagger, InferenceEqualsTheTrainingPath) {
  for (bool chars : {false, true}) {
    manual_seed(7);
    nn::SequenceTagger model({.layers = 2, .hidden = 4, .embed = 3, .vocab_size = 7, .num_labels = 3,
                              .dropout = 0.3, .char_vocab_size = chars ? 5 : 0, .char_embed = chars ? 2 : 0,
                              .char_hidden = chars ? 3 : 0});
    model.to(DType::Float64);
    model.eval();
    Batch b;
    const nn::WordSpellings spellings = chars ? b.spellings : nn::WordSpellings{};
    Tensor trained = model.forward(b.inputs, b.lengths, spellings);
    ASSERT_TRUE(trained.requires_grad());
    NoGradGuard no_grad;
    expect_close(model.forward(b.inputs, b.lengths, spellings), trained, 1e-13);
  }
}

// project_words makes a table for any list of (word, spelling) pairs, in any order, unused
// ones among them; forward_projected reads a batch's rows from it: forward's logits.
TEST(SequenceTagger, ATableOfPairsServesAnyBatch) {
  manual_seed(8);
  nn::SequenceTagger model({.hidden = 4, .embed = 3, .vocab_size = 7, .num_labels = 3, .char_vocab_size = 5,
                            .char_embed = 2, .char_hidden = 3});
  model.to(DType::Float64);
  Batch b;
  // Batch's (word, spelling) pairs scrambled, and (2, 2), which it lacks.
  const Tensor pairs_words = i64({6, 0, 3, 2, 1, 5, 4, 0, 2}, {9}), pairs_spellings = i64({5, 0, 0, 1, 2, 3, 4, 1, 2}, {9});
  expect_error([&] { model.project_words(pairs_words, {b.spellings.chars, b.spellings.lengths, pairs_spellings}); },
               {"project_words is for inference"});
  model.eval();
  NoGradGuard no_grad;
  const Tensor table =
      model.project_words(pairs_words, {b.spellings.chars, b.spellings.lengths, pairs_spellings});
  // Batch's positions (t, b): (3, 0) (2, 1) / (1, 2) (5, 3) / (4, 4) (6, 5) / (0, 0) (6, 5) / padding (0, 1).
  const Tensor rows = i64({2, 3, 4, 5, 6, 0, 1, 0, 1, 7}, {5, 2});
  expect_close(model.forward_projected(table, rows, b.lengths), model.forward(b.inputs, b.lengths, b.spellings),
               1e-13);
  expect_error([&] { model.project_words(pairs_words); }, {"character features need the words' spellings"});
}

TEST(SequenceTagger, GradcheckThroughEveryParameter) {
  manual_seed(6);
  nn::SequenceTagger model({.cell = "gru", .hidden = 3, .embed = 2, .vocab_size = 7, .num_labels = 3,
                            .dropout = 0.2, .char_vocab_size = 5, .char_embed = 2, .char_hidden = 2});
  model.to(DType::Float64);
  Batch b;
  std::vector<Tensor> params = model.parameters();
  expect_gradcheck(
      [&](const std::vector<Tensor>&) {
        manual_seed(9);  // the same dropout masks at every evaluation
        return model.forward(b.inputs, b.lengths, b.spellings);
      },
      params);
}

// tagger_batch spells each distinct word of the batch once, time-major, and points every
// position at its word.
TEST(TaggerBatch, DistinctSpellingsOncePerBatch) {
  train::TaggerFacts facts;
  facts.vocab = data::build_vocab(std::vector<std::vector<std::string>>{{"the", "cat", "sat"}},
                                  {.mode = data::TokenMode::Word});
  facts.labels = data::Labels::build(std::vector<std::string>{"a", "b"});
  facts.char_vocab = data::build_vocab(std::vector<std::vector<std::string>>{{"t", "h", "e", "c", "a"}},
                                       {.mode = data::TokenMode::Char});
  train::TaggedCorpus corpus;
  corpus.add(std::vector<std::string>{"the", "cat"}, {0, 1}, facts);
  corpus.add(std::vector<std::string>{"cat", "seat", "the"}, {1, 0, 0}, facts);
  const std::vector<std::int64_t> picked = {1, 0};
  train::TaggerBatch batch = train::tagger_batch(corpus, picked, true);
  // Distinct words longest first, ties in order of appearance sentence by sentence: seat, cat,
  // the ('s' is <unk>); padding takes the first sentence's first word.
  EXPECT_EQ(batch.spellings.lengths.to_vector<std::int64_t>(), (std::vector<std::int64_t>{4, 3, 3}));
  EXPECT_EQ(batch.spellings.index.to_vector<std::int64_t>(), (std::vector<std::int64_t>{1, 2, 0, 1, 2, 1}));
  const std::int64_t c = facts.char_vocab.find(U'c'), t = facts.char_vocab.find(U't');
  const std::int64_t unk = facts.char_vocab.unknown_index();
  const std::vector<std::int64_t> chars = batch.spellings.chars.to_vector<std::int64_t>();
  EXPECT_EQ(std::vector<std::int64_t>(chars.begin(), chars.begin() + 3), (std::vector<std::int64_t>{unk, c, t}));
  EXPECT_EQ(std::vector<std::int64_t>(chars.end() - 3, chars.end()), (std::vector<std::int64_t>{t, 0, 0}));
  // Targets: the tags, ignored past sentence 0's (picked second) two words.
  EXPECT_EQ(batch.padded.targets.to_vector<std::int64_t>(),
            (std::vector<std::int64_t>{1, 0, 0, 1, 0, data::kIgnoreLabel}));
}

// tagger_log_probs shares one table of projections among consecutive batches while it fits
// (16 MB: 512 pairs of this tagger, of the 1,000 words here); over several tables, each
// sentence's log-probabilities are those of running it alone.
TEST(TaggerLogProbs, ManyTablesEqualEachSentenceAlone) {
  train::TaggerFacts facts;
  std::vector<std::string> words;
  for (int i = 0; i < 1800; ++i) words.push_back("w" + std::to_string(i * 7919 % 1000));
  facts.vocab = data::build_vocab(std::vector<std::vector<std::string>>{words}, {.mode = data::TokenMode::Word});
  facts.labels = data::Labels::build(std::vector<std::string>{"a", "b", "c"});
  facts.char_vocab = data::build_vocab(std::vector<std::vector<std::string>>{{"w", "1", "2", "3", "4", "5", "6", "7"}},
                                       {.mode = data::TokenMode::Char});
  train::TaggedCorpus corpus;
  for (std::size_t i = 0; i + 7 <= words.size(); i += 7)  // 257 sentences of 1 to 7 words
    corpus.add(std::span(words).subspan(i, 1 + i / 7 % 7), std::vector<std::int32_t>(1 + i / 7 % 7, 0), facts);
  manual_seed(3);
  nn::SequenceTagger model({.hidden = 1024, .embed = 4, .vocab_size = facts.vocab.size(), .num_labels = 3,
                            .char_vocab_size = facts.char_vocab.size(), .char_embed = 2, .char_hidden = 2});
  const std::vector<double> all = train::tagger_log_probs(model, corpus, 16);
  model.eval();
  NoGradGuard no_grad;
  std::size_t k = 0;
  for (std::int64_t i = 0; i < static_cast<std::int64_t>(corpus.sentences.size()); ++i) {
    const std::vector<std::int64_t> picked{i};
    const train::TaggerBatch batch = train::tagger_batch(corpus, picked, true);
    const std::vector<double> alone =
        to_dtype(log_softmax(model.forward(batch.padded.inputs, batch.padded.lengths, batch.spellings), 2),
                 DType::Float64)
            .to_vector<double>();
    for (double p : alone) ASSERT_NEAR(all.at(k++), p, 1e-5) << "sentence " << i;
  }
  EXPECT_EQ(k, all.size());
}

}  // namespace
}  // namespace recur
