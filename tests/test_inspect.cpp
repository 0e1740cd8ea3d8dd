// recur inspect's library part: LanguageModel::trace (the per-step states and predictions,
// which must be the normal forward's numbers), the activations, the text features, the
// choice of cells and the HTML page.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

namespace recur {
namespace {

using train::CellRef;

// The number of non-overlapping occurrences of `needle` in `text`.
std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

const std::vector<std::int32_t> kTokens = {3, 1, 4, 1, 5, 8, 2, 6, 5, 3, 5, 8, 7, 0, 0, 2};
constexpr std::int64_t kStart = 2;

// The trace of `model` over kTokens against forward() on [start, tokens...]: every
// token's log-probability, the top-k predictions, every step of the top layer and every
// layer's final state.
void expect_trace_matches_forward(nn::LanguageModel& model, std::int64_t top_k) {
  const auto T = static_cast<std::int64_t>(kTokens.size());
  const std::int64_t V = model.config.vocab_size, H = model.config.hidden, L = model.config.layers;
  const nn::LanguageModel::Trace trace = model.trace(kTokens, kStart, top_k);
  ASSERT_EQ(trace.steps, T);
  ASSERT_EQ(trace.layers, L);
  ASSERT_EQ(trace.hidden, H);
  ASSERT_EQ(trace.top_k, std::min(top_k, V));
  const bool lstm = model.cell == RnnCell::Lstm;
  ASSERT_EQ(trace.c.size(), lstm ? static_cast<std::size_t>(L) : 0u);

  const bool training = model.is_training();
  model.eval();
  NoGradGuard no_grad;
  std::vector<std::int64_t> inputs{kStart};
  inputs.insert(inputs.end(), kTokens.begin(), kTokens.end());
  const Tensor ids = from_vector(inputs, {T + 1, 1});
  const nn::LanguageModel::Output out = model.forward(ids, {});
  const std::vector<float> logp = log_softmax(reshape(out.logits, {T + 1, V}), 1).to_vector<float>();
  const std::vector<float> top = model.features(ids, {}).logits.contiguous().to_vector<float>();  // [T + 1, 1, H]
  model.train(training);

  constexpr double kTolerance = 2e-5;
  for (std::int64_t t = 0; t < T; ++t) {
    EXPECT_NEAR(trace.logprobs[t], logp[t * V + kTokens[t]], kTolerance) << "token " << t;
    // The predictions after token t are row t + 1, sorted.
    const float* row = logp.data() + (t + 1) * V;
    for (std::int64_t i = 0; i < trace.top_k; ++i) {
      const std::int32_t token = trace.next_tokens[t * trace.top_k + i];
      EXPECT_NEAR(trace.next_logprobs[t * trace.top_k + i], row[token], kTolerance);
      if (i > 0) {
        EXPECT_GE(trace.next_logprobs[t * trace.top_k + i - 1], trace.next_logprobs[t * trace.top_k + i]);
      }
    }
    EXPECT_EQ(trace.next_tokens[t * trace.top_k], std::max_element(row, row + V) - row) << "step " << t;
    for (std::int64_t j = 0; j < H; ++j)
      EXPECT_NEAR(trace.h[L - 1][t * H + j], top[(t + 1) * H + j], kTolerance) << "step " << t << " unit " << j;
  }
  const std::vector<float> h_n = out.state.h.contiguous().to_vector<float>();  // [L, 1, H]
  const std::vector<float> c_n = lstm ? out.state.c.contiguous().to_vector<float>() : std::vector<float>();
  for (std::int64_t l = 0; l < L; ++l)
    for (std::int64_t j = 0; j < H; ++j) {
      EXPECT_NEAR(trace.h[l][(T - 1) * H + j], h_n[l * H + j], kTolerance) << "layer " << l;
      if (lstm) {
        EXPECT_NEAR(trace.c[l][(T - 1) * H + j], c_n[l * H + j], kTolerance) << "layer " << l;
      }
    }
}

class TraceOfCell : public testing::TestWithParam<std::string> {};

TEST_P(TraceOfCell, AgreesWithTheForward) {
  manual_seed(7);
  nn::LanguageModel model({.cell = GetParam(), .layers = 3, .hidden = 12, .embed = 6, .vocab_size = 9});
  expect_trace_matches_forward(model, 4);
}

INSTANTIATE_TEST_SUITE_P(Cells, TraceOfCell, testing::Values("lstm", "gru", "rnn_tanh", "rnn_relu", "mgu"));

TEST(Trace, OneHotInputAndAnAdaptiveHeadAgreeWithTheForward) {
  manual_seed(8);
  nn::LanguageModel model({.cell = "lstm", .layers = 2, .hidden = 16, .embed = 0, .vocab_size = 12,
                           .adaptive_softmax = {4, 8}});
  expect_trace_matches_forward(model, 5);
}

TEST(Trace, RunsInEvaluationModeAndLeavesTheModeAlone) {
  manual_seed(9);
  nn::LanguageModel model({.cell = "gru", .layers = 2, .hidden = 10, .embed = 4, .vocab_size = 9, .dropout = 0.5});
  model.train();
  expect_trace_matches_forward(model, 20);  // more than the vocabulary: all 9, sorted
  EXPECT_TRUE(model.is_training());
}

TEST(Trace, ChecksItsArguments) {
  manual_seed(10);
  nn::LanguageModel model({.cell = "lstm", .layers = 1, .hidden = 4, .embed = 3, .vocab_size = 5});
  const std::vector<std::int32_t> bad = {1, 2, 5};
  expect_error([&] { model.trace(bad, 0); }, {"token 5 at position 2", "[0, 5)"});
  expect_error([&] { model.trace(kTokens, 0, 0); }, {"top_k", "got 0"});
  expect_error([&] { model.trace(std::vector<std::int32_t>{1}, 7); }, {"start token 7"});
  const nn::LanguageModel::Trace empty = model.trace({}, 0);
  EXPECT_EQ(empty.steps, 0);
  EXPECT_TRUE(empty.logprobs.empty());
}

TEST(Activations, AreTanhOfTheLstmCellStateOrTheHiddenState) {
  manual_seed(11);
  nn::LanguageModel lstm({.cell = "lstm", .layers = 2, .hidden = 5, .embed = 3, .vocab_size = 9});
  const nn::LanguageModel::Trace trace = lstm.trace(kTokens, kStart);
  const train::Activations cell = train::activations_of(trace, train::CellState::Cell);
  const train::Activations hidden = train::activations_of(trace, train::CellState::Hidden);
  const std::vector<float> series = cell.series({1, 3});
  ASSERT_EQ(series.size(), kTokens.size());
  for (std::size_t t = 0; t < kTokens.size(); ++t) {
    EXPECT_FLOAT_EQ(series[t], std::tanh(trace.c[1][t * 5 + 3]));
    EXPECT_FLOAT_EQ(hidden.series({1, 3})[t], trace.h[1][t * 5 + 3]);
  }
  nn::LanguageModel gru({.cell = "gru", .layers = 1, .hidden = 5, .embed = 3, .vocab_size = 9});
  const nn::LanguageModel::Trace gru_trace = gru.trace(kTokens, kStart);
  EXPECT_EQ(train::activations_of(gru_trace, train::CellState::Cell).values, gru_trace.h);
}

TEST(ParseCellRef, ReadsLayerColonIndexWithinTheModel) {
  EXPECT_EQ(train::parse_cell_ref("1:15", 2, 16), (CellRef{1, 15}));
  EXPECT_EQ(train::parse_cell_ref("0:0", 1, 1), (CellRef{0, 0}));
  expect_error([] { train::parse_cell_ref("2:0", 2, 16); }, {"2:0", "layer 2", "[0, 2)"});
  expect_error([] { train::parse_cell_ref("1:16", 2, 16); }, {"1:16", "index 16", "[0, 16)"});
  for (const char* bad : {"", "1", "1:", ":3", "-1:2", "1:2:3", "a:b", " 1:2", "1.5:2"})
    expect_error([&] { train::parse_cell_ref(bad, 2, 16); }, {"is not LAYER:INDEX"});
  EXPECT_EQ((CellRef{3, 7}).str(), "3:7");
}

TEST(DisplayTokens, AreWholeCodePointsOrTheWordsAndLineEndsOfEncodeText) {
  EXPECT_EQ(train::display_tokens("h\xC3\xA9<\n", data::TokenMode::Char, "t"),
            (std::vector<std::string>{"h", "\xC3\xA9", "<", "\n"}));
  EXPECT_EQ(train::display_tokens("The cat\n\n  sat\t on\r\nit", data::TokenMode::Word, "t"),
            (std::vector<std::string>{"The", "cat", "\n", "sat", "on", "\n", "it", "\n"}));
  // One length with encode_text, the line ends where its <eos> are, for awkward texts.
  for (const std::string text : {"a b\n\n\nc  d \n", "  x\r\n y\t z", "\n\n", "one", "caf\xC3\xA9 \xE2\x80\x83 ok\n"}) {
    SCOPED_TRACE(text);
    const data::EncodedText encoded = data::encode_text(text, "t", {.mode = data::TokenMode::Word});
    const std::vector<std::string> shown = train::display_tokens(text, data::TokenMode::Word, "t");
    ASSERT_EQ(shown.size(), encoded.tokens.size());
    for (std::size_t i = 0; i < shown.size(); ++i)
      EXPECT_EQ(shown[i] == "\n", encoded.tokens[i] == encoded.vocab.end_index()) << i;
  }
  expect_error([] { train::display_tokens("ok\xFF", data::TokenMode::Char, "input.txt"); }, {"input.txt"});
  // The first `limit` only.
  EXPECT_EQ(train::display_tokens("abc", data::TokenMode::Char, "t", 2), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(train::display_tokens("a b\nc d", data::TokenMode::Word, "t", 3),
            (std::vector<std::string>{"a", "b", "\n"}));
  EXPECT_EQ(train::display_tokens("a b", data::TokenMode::Word, "t", 2), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(train::display_tokens("a b", data::TokenMode::Word, "t", 0), (std::vector<std::string>{}));
}

TEST(TextFeatures, FollowTheLineTheWordTheQuotesAndTheBrackets) {
  // a b ␣ ( c " d ) " ↵ x
  const std::vector<std::string> tokens = {"a", "b", " ", "(", "c", "\"", "d", ")", "\"", "\n", "x"};
  const std::vector<train::TextFeature> features = train::text_features(tokens, data::TokenMode::Char);
  ASSERT_EQ(features.size(), 4u);
  EXPECT_EQ(features[0].name, "position in line");
  EXPECT_EQ(features[0].values, (std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0}));
  EXPECT_EQ(features[1].name, "position in word");
  EXPECT_EQ(features[1].values, (std::vector<double>{1, 2, 0, 0, 1, 0, 1, 0, 0, 0, 1}));
  EXPECT_EQ(features[2].name, "inside quotes");
  EXPECT_EQ(features[2].values, (std::vector<double>{0, 0, 0, 0, 0, 1, 1, 1, 0, 0, 0}));
  EXPECT_EQ(features[3].name, "bracket depth");
  EXPECT_EQ(features[3].values, (std::vector<double>{0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0}));
  // Typographic quotes open and close; a closing bracket never takes the depth below 0.
  const std::vector<std::string> curly = {"\xE2\x80\x9C", "a", "\xE2\x80\x9D", ")", "["};
  const std::vector<train::TextFeature> f = train::text_features(curly, data::TokenMode::Char);
  EXPECT_EQ(f[2].values, (std::vector<double>{1, 1, 0, 0, 0}));
  EXPECT_EQ(f[3].values, (std::vector<double>{0, 0, 0, 0, 1}));
  // Words: no position in word; brackets and quotes inside words count.
  const std::vector<std::string> words = {"I", "am", "(sure", "\"so\")", "\n", "a"};
  const std::vector<train::TextFeature> w = train::text_features(words, data::TokenMode::Word);
  ASSERT_EQ(w.size(), 3u);
  EXPECT_EQ(w[0].values, (std::vector<double>{0, 1, 2, 3, 4, 0}));
  EXPECT_EQ(w[1].name, "inside quotes");
  EXPECT_EQ(w[1].values, (std::vector<double>{0, 0, 0, 0, 0, 0}));
  EXPECT_EQ(w[2].values, (std::vector<double>{0, 0, 1, 0, 0, 0}));
}

TEST(Correlation, IsPearsonsAndZeroForAConstant) {
  EXPECT_NEAR(train::correlation(std::vector<double>{1, 2, 3}, std::vector<double>{2, 4, 6}), 1, 1e-12);
  EXPECT_NEAR(train::correlation(std::vector<double>{1, 2, 3}, std::vector<double>{3, 1, 2}), -0.5, 1e-12);
  EXPECT_EQ(train::correlation(std::vector<double>{1, 2, 3}, std::vector<double>{5, 5, 5}), 0);
}

// Two layers of three cells over a text of `steps` tokens, each cell set by `value(cell, t)`.
train::Activations made_activations(std::int64_t steps, const std::function<float(std::int64_t, std::int64_t)>& value) {
  train::Activations acts{.steps = steps, .layers = 2, .hidden = 3, .values = {}};
  for (std::int64_t l = 0; l < 2; ++l) {
    std::vector<float>& layer = acts.values.emplace_back(static_cast<std::size_t>(steps * 3));
    for (std::int64_t t = 0; t < steps; ++t)
      for (std::int64_t j = 0; j < 3; ++j) layer[t * 3 + j] = value(l * 3 + j, t);
  }
  return acts;
}

TEST(InterestingCells, PutEachFeaturesBestCellFirstThenTheMostVariable) {
  // Cell 1:2 follows the position in line, 0:1 the bracket depth with the opposite sign,
  // 0:0 alternates widely (the largest variance), 1:1 less, 1:0 a little, 0:2 never moves.
  const std::vector<std::string> tokens = {"a", "(", "b", "\n", "c", "d", "(", "(", "e", ")", "\n", "f"};
  const std::vector<train::TextFeature> all = train::text_features(tokens, data::TokenMode::Char);
  const std::vector<train::TextFeature> features = {all[0], all[2], all[3]};  // line, quotes (constant), brackets
  const auto steps = static_cast<std::int64_t>(tokens.size());
  const train::Activations acts = made_activations(steps, [&](std::int64_t cell, std::int64_t t) -> float {
    switch (cell) {
      case 5: return 0.1f * static_cast<float>(features[0].values[t]);
      case 1: return -0.4f * static_cast<float>(features[2].values[t]) + (t == 0 ? 0.01f : 0.0f);  // |r| < 1
      case 0: return t % 2 ? 0.9f : -0.9f;
      case 4: return t % 3 ? 0.5f : -0.5f;
      case 3: return t % 4 ? 0.05f : -0.05f;
      default: return 0.25f;
    }
  });
  const std::vector<train::CellPick> picks = train::interesting_cells(acts, features, 10);
  ASSERT_EQ(picks.size(), 5u);  // the constant cell 0:2 never
  EXPECT_EQ(picks[0].cell, (CellRef{1, 2}));
  EXPECT_EQ(picks[0].reason, "correlation +1.00 with position in line");
  EXPECT_EQ(picks[1].cell, (CellRef{0, 1}));
  EXPECT_EQ(picks[1].reason, "correlation -1.00 with bracket depth");
  EXPECT_EQ(picks[2].cell, (CellRef{0, 0}));
  EXPECT_NE(picks[2].reason.find("variance 0.810, 1st largest of 6 cells; its strongest feature:"), std::string::npos)
      << picks[2].reason;
  EXPECT_EQ(picks[3].cell, (CellRef{1, 1}));
  EXPECT_EQ(picks[4].cell, (CellRef{1, 0}));
  for (const train::CellPick& pick : picks) EXPECT_EQ(pick.reason.find("inside quotes"), std::string::npos);
  // Fewer asked for: the strongest first.
  const std::vector<train::CellPick> one = train::interesting_cells(acts, features, 1);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].cell, (CellRef{1, 2}));
  EXPECT_TRUE(train::interesting_cells(acts, features, 0).empty());
  expect_error([&] { train::interesting_cells(acts, std::vector<train::TextFeature>{{"short", {1, 2}}}, 3); },
               {"short", "2 values for 12 tokens"});
}

TEST(EscapeMarkup, ReplacesTheFiveSpecialCharactersAndControls) {
  EXPECT_EQ(train::escape_markup("<a href=\"x\">Tom & Jerry's</a>"),
            "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;");
  EXPECT_EQ(train::escape_markup("a\tb\nc\x01" "d"), "a\tb\nc?d");
}

train::InspectPage small_page() {
  train::InspectPage page;
  page.title = "model <1>";
  page.facts = {"a & b"};
  page.tokens = {"<", "&", "\"", "</script>", "\n", "'", " ", "\xC3\xA9"};
  page.probabilities = {0.5, 0.001, 0.2, 0.003, 0.9, 0.02, 0.6, 0.0099};
  for (std::size_t t = 0; t < page.tokens.size(); ++t) page.next.push_back({{"<", 0.6}, {"\n", 0.3}, {"x", 0.1}});
  page.panels = {{{0, 1}, "why <not>", {-1, -0.5, 0, 0.5, 1, 0.2, -0.2, 0}},
                 {{1, 0}, "relu", {0, 3, 1.5, 0, 0, 0, 0, 0}}};
  return page;
}

TEST(InspectHtml, ColoursEveryTokenOfEveryPanelAndEscapesAllText) {
  const train::InspectPage page = small_page();
  const std::string html = train::inspect_html(page);
  EXPECT_EQ(html.rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(occurrences(html, "<span class=\"t"), 16u);  // 8 tokens, 2 panels
  EXPECT_EQ(occurrences(html, "<section class=\"panel\""), 2u);
  EXPECT_NE(html.find("data-cell=\"0:1\""), std::string::npos);
  // Every text escaped: the tokens, the title, the facts, the reasons; the token
  // "</script>" ends no element, in the text or in the data.
  EXPECT_NE(html.find(">&lt;</span>"), std::string::npos);
  EXPECT_NE(html.find(">&amp;</span>"), std::string::npos);
  EXPECT_NE(html.find(">&quot;</span>"), std::string::npos);
  EXPECT_NE(html.find(">&apos;</span>"), std::string::npos);
  EXPECT_NE(html.find(">&lt;/script&gt;</span>"), std::string::npos);
  EXPECT_NE(html.find(">\xC3\xA9</span>"), std::string::npos);
  EXPECT_NE(html.find("<title>model &lt;1&gt;</title>"), std::string::npos);
  EXPECT_NE(html.find("a &amp; b"), std::string::npos);
  EXPECT_NE(html.find("why &lt;not&gt;"), std::string::npos);
  EXPECT_EQ(occurrences(html, "</script>"), 2u);  // the data's and the script's
  EXPECT_EQ(occurrences(html, "<script"), 2u);
  EXPECT_NE(html.find("\\u003c/script>"), std::string::npos);
  // A line break token shows as ↵ and breaks the line after it.
  EXPECT_NE(html.find("\u21B5</span>\n"), std::string::npos);
  // Colours: -1 is the blue end, +1 the red end, 0 white.
  EXPECT_NE(html.find("data-i=\"0\" style=\"background:#2166ac\""), std::string::npos);
  EXPECT_NE(html.find("data-i=\"4\" style=\"background:#b2182b\""), std::string::npos);
  EXPECT_NE(html.find("data-i=\"2\" style=\"background:#ffffff\""), std::string::npos);
  // The ReLU panel is scaled by its largest value: 3 is the red end.
  EXPECT_NE(html.find("data-i=\"1\" style=\"background:#b2182b\""), std::string::npos);
  EXPECT_NE(html.find("colours scaled by its largest value, 3"), std::string::npos);
  // Nothing to fetch.
  EXPECT_EQ(html.find("http://"), std::string::npos);
  EXPECT_EQ(html.find("https://"), std::string::npos);
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
}

TEST(InspectHtml, MarksSurprisingTokensInTheTextAndTheTable) {
  train::InspectPage page = small_page();
  const std::regex surprising_span("<span class=\"t[^\"]* s\"");
  auto count = [](const std::string& html, const std::regex& re) {
    return static_cast<std::size_t>(std::distance(std::sregex_iterator(html.begin(), html.end(), re), {}));
  };
  // Below 0.01: tokens 1, 3 and 7, in both panels and in the table.
  std::string html = train::inspect_html(page);
  EXPECT_EQ(count(html, surprising_span), 6u);
  EXPECT_EQ(occurrences(html, "<tr class=\"s\">"), 3u);
  EXPECT_EQ(occurrences(html, "<tr"), 1u + 8u);  // the header and a row per token
  page.surprise_below = 0;
  html = train::inspect_html(page);
  EXPECT_EQ(count(html, surprising_span), 0u);
  EXPECT_EQ(occurrences(html, "<tr class=\"s\">"), 0u);
}

TEST(InspectHtml, CarriesThePredictionsAsJson) {
  const std::string html = train::inspect_html(small_page());
  const std::string open = "<script id=\"inspect-data\" type=\"application/json\">";
  const std::size_t begin = html.find(open) + open.size();
  ASSERT_NE(begin, std::string::npos + open.size());
  const nlohmann::json data = nlohmann::json::parse(html.substr(begin, html.find("</script>", begin) - begin));
  ASSERT_EQ(data.at("tokens").size(), 8u);
  EXPECT_EQ(data["tokens"][0], "<");
  EXPECT_EQ(data["tokens"][4], "\u21B5");
  EXPECT_EQ(data["tokens"][6], "\u2423");
  ASSERT_EQ(data.at("next").size(), 8u);
  EXPECT_EQ(data["next"][3][0][0], "<");
  EXPECT_DOUBLE_EQ(data["next"][3][0][1].get<double>(), 0.6);
  EXPECT_EQ(data["next"][3][1][0], "\u21B5");
  EXPECT_DOUBLE_EQ(data["p"][1].get<double>(), 0.001);
  EXPECT_DOUBLE_EQ(data["surprise"].get<double>(), 0.01);
  ASSERT_EQ(data.at("panels").size(), 2u);
  EXPECT_EQ(data["panels"][1]["cell"], "1:0");
  EXPECT_DOUBLE_EQ(data["panels"][1]["values"][1].get<double>(), 3);
}

TEST(InspectHtml, RequiresOneLengthForEverything) {
  train::InspectPage page = small_page();
  page.probabilities.pop_back();
  expect_error([&] { train::inspect_html(page); }, {"8 tokens but 7 probabilities"});
  page = small_page();
  page.panels[1].values.push_back(0);
  expect_error([&] { train::inspect_html(page); }, {"cell 1:0 has 9 values for 8 tokens"});
}

}  // namespace
}  // namespace recur
