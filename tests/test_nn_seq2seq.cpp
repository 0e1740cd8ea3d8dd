// nn::Seq2Seq (names, shapes, float64 gradchecks through every parameter, batch-mates and
// padding that do not matter, agreement with the same model written in PyTorch from the
// header's equations: tests/fixtures/conformance_seq2seq.safetensors, made by
// tests/conformance/make_seq2seq_fixture.py) and nn::beam_search (against exhaustive search on a small
// Markov model, greedy decoding, n-best, the length penalty, batch-parallel beams, a language
// model as the StepModel), and the
// in-place Seq2SeqStepper against the model's forward.

#include <cmath>
#include <functional>
#include <map>

#include "conformance/conformance.hpp"
#include "recur/recur.hpp"
#include "test_helpers.hpp"

using namespace recur;
using testing::ElementsAre;

namespace {

nn::Seq2SeqConfig small_config(const std::string& cell, std::optional<nn::AttentionKind> attention) {
  return {.cell = cell, .src_vocab = 5, .tgt_vocab = 6, .embed = 3, .hidden = 4, .enc_layers = 1,
          .dec_layers = 2, .bidirectional = true, .attention = attention, .dropout = 0};
}

Tensor int64s(const std::vector<std::int64_t>& values, const Shape& shape) { return from_vector(values, shape); }

}  // namespace

TEST(Seq2Seq, PyTorchNamesAndShapes) {
  nn::Seq2Seq m(small_config("lstm", nn::AttentionKind::Additive));
  const std::vector<std::string> names = parameter_names(m);
  EXPECT_THAT(std::vector<std::string>(names.begin(), names.begin() + 3),
              ElementsAre("src_embed.weight", "encoder.weight_ih_l0", "encoder.weight_hh_l0"));
  EXPECT_EQ(m.encoder->hidden_size, 2);  // each direction half of H
  EXPECT_EQ(m.decoder->input_size, 3 + 4);  // embedding + the fed attentional vector
  EXPECT_EQ(m.combine->weight.shape(), (Shape{4, 8}));
  EXPECT_EQ(m.head->weight.shape(), (Shape{6, 4}));
  EXPECT_EQ(names.back(), "head.bias");
  nn::Seq2Seq plain(small_config("gru", std::nullopt));
  EXPECT_EQ(plain.attention, nullptr);
  EXPECT_EQ(plain.decoder->input_size, 3);
  expect_error([] { nn::Seq2Seq(nn::Seq2SeqConfig{.src_vocab = 5, .tgt_vocab = 6, .hidden = 5}); },
               {"must be even, got 5"});
  expect_error([] { nn::Seq2Seq(nn::Seq2SeqConfig{.src_vocab = 5, .tgt_vocab = 0}); }, {"vocabulary sizes"});
}

TEST(Seq2Seq, GradcheckEveryParameter) {
  const std::pair<std::string, std::optional<nn::AttentionKind>> variants[] = {
      {"lstm", nn::AttentionKind::Additive}, {"gru", nn::AttentionKind::General}, {"lstm", std::nullopt}};
  for (const auto& [cell, attention] : variants) {
    SCOPED_TRACE(cell + " " + (attention ? nn::attention_name(*attention) : "none"));
    nn::Seq2Seq m(small_config(cell, attention));
    m.to(DType::Float64);
    const Tensor src = int64s({1, 2, 3, 4, 0, 2}, {3, 2}), lengths = int64s({3, 2}, {2});
    const Tensor tgt = int64s({1, 1, 5, 2, 3, 0}, {3, 2});
    std::vector<Tensor> params;
    for (const Tensor& p : m.parameters()) params.push_back(p);
    expect_gradcheck([&](const std::vector<Tensor>&) { return log_softmax(m.forward(src, lengths, tgt), 2); },
                     params);
  }
}

TEST(Seq2Seq, ResultsDoNotDependOnBatchMatesOrPadding) {
  manual_seed(5);
  nn::Seq2Seq m(small_config("lstm", nn::AttentionKind::Additive));
  // Two sources, the second shorter (padding 4 at its end); targets of 3 steps.
  const Tensor src = int64s({1, 2, 3, 4, 0, 4}, {3, 2}), lengths = int64s({3, 2}, {2});
  const Tensor tgt = int64s({1, 1, 5, 2, 3, 4}, {3, 2});
  const Tensor both = m.forward(src, lengths, tgt);
  const Tensor second = m.forward(int64s({2, 4}, {2, 1}), int64s({2}, {1}), int64s({1, 2, 4}, {3, 1}));
  expect_close(second, narrow(both, 1, 1, 1), 1e-6);
  const Tensor other_padding = m.forward(int64s({1, 2, 3, 4, 0, 1}, {3, 2}), lengths, tgt);
  EXPECT_EQ(other_padding.to_vector<float>(), both.to_vector<float>());
}

// In inference (eval mode, no gradients) the encoder projects each distinct source token once
// (RNNBase::forward_tokens): the states and keys of the path that training takes.
TEST(Seq2Seq, InferenceEncodesAsTraining) {
  manual_seed(6);
  nn::Seq2Seq m(small_config("gru", nn::AttentionKind::Additive));
  m.to(DType::Float64);
  m.eval();
  const Tensor src = int64s({1, 2, 3, 1, 1, 4, 2, 0}, {4, 2}), lengths = int64s({4, 3}, {2});
  const nn::DecoderState trained = m.encode(src, lengths);
  ASSERT_TRUE(trained.rnn.h.requires_grad());
  NoGradGuard no_grad;
  const nn::DecoderState inferred = m.encode(src, lengths);
  expect_close(inferred.rnn.h, trained.rnn.h, 1e-13);
  expect_close(inferred.keys.keys, trained.keys.keys, 1e-13);
  expect_close(inferred.keys.projected, trained.keys.projected, 1e-13);
}

// The stepper decodes in place (rnn_step_, the fused attention read, buffers kept between
// steps): the log-probabilities of the model's forward, also after rows are reordered,
// repeated and dropped, and after a restart on another batch; with the target embeddings
// projected through a table (a vocabulary small against the inputs) or not.
TEST(Seq2SeqStepper, StepsAsTheModelForwards) {
  const Tensor src = int64s({1, 2, 3, 4, 0, 4, 2, 0, 1, 3, 0, 0}, {4, 3}), lengths = int64s({4, 2, 3}, {3});
  const Tensor tgt = int64s({1, 1, 1, 5, 2, 3, 4, 0, 2}, {3, 3});
  const std::vector<std::optional<nn::AttentionKind>> attentions = {
      nn::AttentionKind::Additive, nn::AttentionKind::Dot, nn::AttentionKind::General, std::nullopt};
  for (const char* cell : {"lstm", "gru"})
    for (const std::optional<nn::AttentionKind>& attention : attentions)
      for (std::int64_t vocab : {6, 60}) {  // 60 > 16 x 3 inputs: no table
        SCOPED_TRACE(std::string(cell) + " " + (attention ? nn::attention_name(*attention) : "no attention") +
                     " vocabulary " + std::to_string(vocab));
        manual_seed(8);
        nn::Seq2SeqConfig config = small_config(cell, attention);
        config.tgt_vocab = vocab;
        nn::Seq2Seq m(config);
        for (const Tensor& p : m.parameters()) {
          NoGradGuard no_grad;
          mul_(p, 3.0);  // outputs that depend on the source
        }
        m.eval();
        NoGradGuard no_grad;
        const Tensor expected = log_softmax(m.forward(src, lengths, tgt), 2);  // (3, 3, vocab)
        const Tensor picks = int64s({2, 0, 0}, {3});
        const Tensor expected_picked = log_softmax(
            m.forward(index_select(src, 1, picks), index_select(lengths, 0, picks), index_select(tgt, 1, picks)), 2);
        nn::Seq2SeqStepper stepper(m, m.encode(src, lengths));
        auto step = [&](const Tensor& tokens) {
          const std::vector<float> got = stepper.next_log_probs(tokens.to_vector<std::int64_t>());
          return from_vector(got, {tokens.size(0), vocab});
        };
        expect_close(step(select(tgt, 0, 0)), select(expected, 0, 0), 1e-5);
        expect_close(step(select(tgt, 0, 1)), select(expected, 0, 1), 1e-5);
        stepper.reorder({2, 0, 0});  // input 1 dropped, input 0 twice
        expect_close(step(index_select(select(tgt, 0, 2), 0, picks)), select(expected_picked, 0, 2), 1e-5);
        // Another batch (the picked sources) on the same stepper.
        stepper.restart(m.encode(index_select(src, 1, picks), index_select(lengths, 0, picks)));
        expect_close(step(index_select(select(tgt, 0, 0), 0, picks)), select(expected_picked, 0, 0), 1e-5);
        expect_close(step(index_select(select(tgt, 0, 1), 0, picks)), select(expected_picked, 0, 1), 1e-5);
      }
}

TEST(Seq2Seq, MatchesTheEquationsInPyTorch) {
  const std::vector<conformance::Case> cases = conformance::load_cases("seq2seq");
  ASSERT_EQ(cases.size(), 8u);
  for (const conformance::Case& c : cases) {
    SCOPED_TRACE(c.name);
    const std::string attention = c.config["attention"];
    nn::Seq2Seq m({.cell = c.config["cell"], .src_vocab = c.config["src_vocab"], .tgt_vocab = c.config["tgt_vocab"],
                   .embed = c.config["embed"], .hidden = c.config["hidden"], .enc_layers = c.config["enc_layers"],
                   .dec_layers = c.config["dec_layers"], .bidirectional = c.config["bidirectional"],
                   .attention = attention == "none" ? std::nullopt
                                                    : std::optional<nn::AttentionKind>(nn::parse_attention(attention)),
                   .dropout = 0});
    if (c.is_f64()) m.to(DType::Float64);
    TensorMap state;
    for (const std::string& name : parameter_names(m)) state[name] = c.at(name);
    m.load_state_dict(state, /*strict=*/true);
    const Tensor logits = m.forward(c.at("src"), c.at("src_lengths"), c.at("tgt_in"));
    conformance::expect_matches(logits, c.at("logits"), c.tolerance(), "logits");
    sum(mul(logits, c.at("grad_logits"))).backward();
    for (const nn::NamedTensor& p : m.named_parameters())
      conformance::expect_matches(p.tensor.grad(), c.at("grad_" + p.name), c.tolerance(), "grad_" + p.name);
  }
}

// ------------------------------------------------------------------ beam search

namespace {

// A first-order Markov model over V tokens: row r's next-token log-probabilities depend only on
// its last token (table[last]). Counts its calls.
class MarkovModel : public nn::StepModel {
 public:
  explicit MarkovModel(std::vector<std::vector<double>> table) : table_(std::move(table)) {}
  std::vector<float> next_log_probs(const std::vector<std::int64_t>& tokens) override {
    ++calls;
    rows_seen += static_cast<std::int64_t>(tokens.size());
    std::vector<float> out;
    for (std::int64_t t : tokens)
      for (double p : table_[t]) out.push_back(static_cast<float>(std::log(p)));
    return out;
  }
  void reorder(const std::vector<std::int64_t>&) override {}  // no state but the last token
  int calls = 0;
  std::int64_t rows_seen = 0;

 private:
  std::vector<std::vector<double>> table_;
};

// Tokens: 0 pad, 1 <bos>, 2 <eos>, 3 a, 4 b. Greedy takes "a" (0.5) then <eos> (0.5), but
// "b <eos>" is more probable than "a <eos>" (0.4 * 0.9 = 0.36 > 0.5 * 0.5 = 0.25).
std::vector<std::vector<double>> garden_path() {
  return {
      {0.2, 0.2, 0.2, 0.2, 0.2},    // pad (unused)
      {0.01, 0.01, 0.08, 0.5, 0.4},  // after <bos>
      {0.2, 0.2, 0.2, 0.2, 0.2},    // after <eos> (unused)
      {0.01, 0.01, 0.5, 0.24, 0.24},  // after a
      {0.01, 0.01, 0.9, 0.01, 0.07},  // after b
  };
}

// log P of tokens followed by <eos> under the table, and the best such sequence up to
// max_length tokens in all (<eos> included), by enumeration.
double sequence_logprob(const std::vector<std::vector<double>>& table, const std::vector<std::int32_t>& tokens) {
  double lp = 0;
  std::int64_t last = 1;
  for (std::int32_t t : tokens) lp += std::log(table[last][t]), last = t;
  return lp + std::log(table[last][2]);
}

std::pair<std::vector<std::int32_t>, double> exhaustive_best(const std::vector<std::vector<double>>& table,
                                                             std::int64_t max_length) {
  std::vector<std::int32_t> best;
  double best_lp = -INFINITY;
  std::function<void(std::vector<std::int32_t>&)> visit = [&](std::vector<std::int32_t>& prefix) {
    const double lp = sequence_logprob(table, prefix);
    if (lp > best_lp) best_lp = lp, best = prefix;
    if (static_cast<std::int64_t>(prefix.size()) + 1 >= max_length) return;
    for (std::int32_t t = 0; t < static_cast<std::int32_t>(table.size()); ++t) {
      if (t == 2) continue;
      prefix.push_back(t);
      visit(prefix);
      prefix.pop_back();
    }
  };
  std::vector<std::int32_t> empty;
  visit(empty);
  return {best, best_lp};
}

}  // namespace

TEST(BeamSearch, GreedyTakesTheGardenPathAndABeamFindsTheBest) {
  const auto table = garden_path();
  MarkovModel greedy_model(table);
  const auto greedy = nn::beam_search(greedy_model, 1, {.beam = 1, .max_length = 10});
  ASSERT_EQ(greedy[0].size(), 1u);
  EXPECT_EQ(greedy[0][0].tokens, (std::vector<std::int32_t>{3}));
  EXPECT_NEAR(greedy[0][0].logprob, std::log(0.5 * 0.5), 1e-6);

  MarkovModel model(table);
  const auto found = nn::beam_search(model, 1, {.beam = 3, .n_best = 3, .max_length = 6});
  const auto [best, best_lp] = exhaustive_best(table, 6);
  EXPECT_EQ(found[0][0].tokens, best);
  EXPECT_NEAR(found[0][0].logprob, best_lp, 1e-6);
  EXPECT_EQ(best, (std::vector<std::int32_t>{4}));
  ASSERT_EQ(found[0].size(), 3u);
  for (std::size_t i = 0; i < found[0].size(); ++i) {
    EXPECT_NEAR(found[0][i].logprob, sequence_logprob(table, found[0][i].tokens), 1e-6);
    if (i > 0) {
      EXPECT_LE(found[0][i].score, found[0][i - 1].score);
    }
  }
}

TEST(BeamSearch, LengthPenaltyAndMaxLength) {
  // After <bos>: <eos> 0.3, "a" 0.7; after "a": <eos> 0.3, "a" 0.7. Without a penalty the
  // empty output (0.3) beats "a" (0.21); GNMT's penalty with alpha 2 divides log P by
  // ((5 + |Y|) / 6)^2 and prefers longer outputs.
  const std::vector<std::vector<double>> table = {
      {0.2, 0.2, 0.2, 0.2, 0.2}, {0.0001, 0.0001, 0.3, 0.6998, 0.0001}, {0.2, 0.2, 0.2, 0.2, 0.2},
      {0.0001, 0.0001, 0.3, 0.6998, 0.0001}, {0.2, 0.2, 0.2, 0.2, 0.2}};
  MarkovModel plain(table), penalised(table), cut(table);
  EXPECT_TRUE(nn::beam_search(plain, 1, {.beam = 2, .max_length = 8})[0][0].tokens.empty());
  const auto longer = nn::beam_search(penalised, 1, {.beam = 2, .max_length = 8, .length_penalty = 2.0});
  EXPECT_GT(longer[0][0].tokens.size(), 0u);
  const double lp = longer[0][0].logprob, length = static_cast<double>(longer[0][0].tokens.size() + 1);
  EXPECT_NEAR(longer[0][0].score, lp / std::pow((5 + length) / 6, 2.0), 1e-12);
  // Cut at 3 tokens: hypotheses that never ended keep what they have (no <eos>).
  const auto at_most = nn::beam_search(cut, 1, {.beam = 1, .max_length = 3, .length_penalty = 2.0});
  EXPECT_LE(at_most[0][0].tokens.size(), 3u);
}

TEST(BeamSearch, BatchParallelEqualsOneAtATime) {
  manual_seed(9);
  nn::Seq2Seq m({.src_vocab = 7, .tgt_vocab = 8, .embed = 4, .hidden = 6, .enc_layers = 2, .dec_layers = 2,
                 .attention = nn::AttentionKind::General, .dropout = 0.3});
  const Tensor src = int64s({3, 4, 5, 6, 3, 4, 5, 0, 6, 0, 0, 0}, {4, 3}), lengths = int64s({4, 2, 3}, {3});
  NoGradGuard no_grad;
  m.eval();  // encode as the stepper decodes: without dropout
  // Every input to the length limit, then inputs ending at different steps (their rows leave
  // the batch, and with them their sources' keys): for that, weights three times their initial
  // size make the outputs depend on the source, and a bias makes <eos> likelier.
  for (const Tensor& p : m.parameters()) mul_(p, 3.0);
  m.head->bias.data<float>()[2] += 2.0f;
  for (const nn::BeamOptions& options : {
           nn::BeamOptions{.beam = 4, .n_best = 2, .max_length = 7, .length_penalty = 0.6},
           nn::BeamOptions{.beam = 2, .n_best = 2, .max_length = 40}}) {
    std::vector<std::vector<nn::Hypothesis>> together;
    {
      nn::Seq2SeqStepper stepper(m, m.encode(src, lengths));
      together = nn::beam_search(stepper, 3, options);
    }
    const std::vector<std::vector<std::int64_t>> sources = {{3, 6, 5, 0}, {4, 3}, {5, 4, 6}};  // src's columns
    std::vector<std::size_t> lengths_found;
    for (std::size_t b = 0; b < 3; ++b) {
      const auto S = static_cast<std::int64_t>(sources[b].size());
      nn::Seq2SeqStepper stepper(m, m.encode(int64s(sources[b], {S, 1}), int64s({S}, {1})));
      const auto alone = nn::beam_search(stepper, 1, options);
      ASSERT_EQ(alone[0].size(), together[b].size()) << "input " << b;
      for (std::size_t i = 0; i < alone[0].size(); ++i) {
        EXPECT_EQ(alone[0][i].tokens, together[b][i].tokens) << "input " << b << " hypothesis " << i;
        EXPECT_NEAR(alone[0][i].logprob, together[b][i].logprob, 1e-5);
      }
      std::size_t longest = 0;  // the step this input's search ended at
      for (const nn::Hypothesis& h : together[b]) longest = std::max(longest, h.tokens.size());
      lengths_found.push_back(longest);
    }
    if (options.max_length == 40) {  // the inputs did end at different steps
      EXPECT_NE(*std::min_element(lengths_found.begin(), lengths_found.end()),
                *std::max_element(lengths_found.begin(), lengths_found.end()));
    }
  }
  // The stepper decodes in eval mode and gives the model back in its own.
  m.train();
  {
    nn::Seq2SeqStepper stepper(m, m.encode(src, lengths));
    EXPECT_FALSE(m.is_training());
  }
  EXPECT_TRUE(m.is_training());
}

// A language model as a StepModel: the log-probabilities of its forward, after reorders too;
// greedy search (beam 1) writes what the sampler's argmax draws write; with one-hot input,
// GRU, and an adaptive head as well.
TEST(BeamSearch, OverALanguageModel) {
  const std::vector<nn::LanguageModelConfig> configs = {
      {.cell = "lstm", .layers = 2, .hidden = 6, .embed = 4, .vocab_size = 7},
      {.cell = "gru", .layers = 1, .hidden = 5, .embed = 0, .vocab_size = 7},
      {.cell = "lstm", .layers = 1, .hidden = 6, .embed = 4, .vocab_size = 7, .adaptive_softmax = {3}}};
  for (const nn::LanguageModelConfig& config : configs) {
    SCOPED_TRACE(config.cell + " embed " + std::to_string(config.embed) +
                 (config.adaptive_softmax.empty() ? "" : " adaptive"));
    manual_seed(12);
    nn::LanguageModel m(config);
    NoGradGuard no_grad;
    for (const Tensor& p : m.parameters()) mul_(p, 3.0);  // peaked distributions
    const Tensor inputs = int64s({1, 2, 3, 4, 5, 6}, {3, 2});
    m.eval();
    const nn::LanguageModel::Output out = m.forward(inputs, {});
    const Tensor expected = config.adaptive_softmax.empty() ? log_softmax(out.logits, 2) : out.logits;
    {
      nn::LanguageModelStepper stepper(m, 2);
      for (std::int64_t t = 0; t < 2; ++t)
        expect_close(from_vector(stepper.next_log_probs(select(inputs, 0, t).to_vector<std::int64_t>()), {2, 7}),
                     select(expected, 0, t), 1e-5);
      stepper.reorder({1, 1, 0});  // then: streams 1, 1, 0
      const std::vector<float> third = stepper.next_log_probs({6, 6, 5});
      expect_close(from_vector(std::vector<float>(third.begin(), third.begin() + 7), {1, 7}),
                   narrow(select(expected, 0, 2), 0, 1, 1), 1e-5);
      expect_close(from_vector(std::vector<float>(third.begin() + 14, third.end()), {1, 7}),
                   narrow(select(expected, 0, 2), 0, 0, 1), 1e-5);
    }
    // Greedy search from token 1, to token 0 or 8 tokens, against the sampler's argmax.
    nn::LanguageModelStepper stepper(m, 1);
    const std::vector<nn::Hypothesis> greedy =
        nn::beam_search(stepper, 1, {.beam = 1, .max_length = 8, .bos = 1, .eos = 0})[0];
    nn::TokenSampler sampler(m, 1);
    Generator gen(1);
    std::vector<std::int32_t> drawn;
    std::int64_t token = 1;
    for (int step = 0; step < 8; ++step) {
      sampler.feed(std::span<const std::int64_t>(&token, 1));
      sampler.draw(std::span<std::int64_t>(&token, 1), {.argmax = true}, gen);
      if (token == 0) break;
      drawn.push_back(static_cast<std::int32_t>(token));
    }
    ASSERT_EQ(greedy.size(), 1u);
    EXPECT_GE(drawn.size(), 2u);  // a search of several steps
    EXPECT_EQ(greedy[0].tokens, drawn);
  }
}

TEST(BeamSearch, Errors) {
  MarkovModel model(garden_path());
  expect_error([&] { nn::beam_search(model, 1, {.beam = 0}); }, {"the beam must be at least 1, got 0"});
  expect_error([&] { nn::beam_search(model, 1, {.beam = 2, .n_best = 3}); },
               {"n-best must be between 1 and the beam 2, got 3"});
  expect_error([&] { nn::beam_search(model, 1, {.max_length = 0}); }, {"maximum length must be at least 1"});
}
