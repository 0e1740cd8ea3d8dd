// `recur inspect MODEL TEXT --html OUT.html` (apps/recur/inspect.cpp), run as a subprocess on
// small untrained models written by the test: the page has a coloured copy of the text per
// cell with one element per token, escapes the text, marks the surprising tokens, carries the
// predictions, fetches nothing; bad cells, files and texts are one-line errors that write
// nothing. tests/test_inspect_browser.sh opens such a page in Chromium.
#include <gtest/gtest.h>
#include <unistd.h>

#include <regex>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_helpers.hpp"
#include "recur/recur.hpp"
#include "test_helpers.hpp"

namespace recur {
namespace {

// The number of non-overlapping occurrences of `needle` in `text`.
std::size_t occurrences(const std::string& text, const std::string& needle) {
  std::size_t count = 0;
  for (std::size_t at = text.find(needle); at != std::string::npos; at = text.find(needle, at + needle.size())) ++count;
  return count;
}

std::size_t matches(const std::string& text, const std::string& pattern) {
  const std::regex re(pattern);
  return static_cast<std::size_t>(std::distance(std::sregex_iterator(text.begin(), text.end(), re), {}));
}

// Coloured token elements, and those marked surprising.
std::size_t token_elements(const std::string& html) { return matches(html, "<span class=\"t[ \"]"); }
std::size_t surprising_elements(const std::string& html) { return matches(html, "<span class=\"t[^\"]* s\""); }

// The page's inline data.
nlohmann::json page_data(const std::string& html) {
  const std::string open = "<script id=\"inspect-data\" type=\"application/json\">";
  const std::size_t begin = html.find(open);
  if (begin == std::string::npos) return {};
  const std::size_t start = begin + open.size();
  return nlohmann::json::parse(html.substr(start, html.find("</script>", start) - start));
}

// A text with every character HTML must escape, quotes, brackets and a two-byte character:
// 39 characters.
const std::string kText = "<b>\"Tom & Jerry's\"</b>\n(x [y]) caf\xC3\xA9 ok\n";
constexpr std::size_t kTextChars = 39;

class CliInspect : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("recur_cli_inspect_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    // A char LSTM of two layers over printable ASCII, the line break and é.
    std::u32string chars = U"\n\u00E9";
    for (char32_t c = 0x20; c < 0x7F; ++c) chars += c;
    manual_seed(1);
    nn::LanguageModel lstm({.cell = "lstm", .layers = 2, .hidden = 16, .embed = 8,
                            .vocab_size = static_cast<std::int64_t>(chars.size())});
    train::save_language_model(char_model(), lstm, data::Vocab::build(chars));
    // A word GRU of one layer.
    const data::EncodedText words =
        data::encode_text("the cat sat on the mat\nthe dog sat\n", "words", {.mode = data::TokenMode::Word});
    nn::LanguageModel gru({.cell = "gru", .layers = 1, .hidden = 12, .embed = 6, .vocab_size = words.vocab.size()});
    train::save_language_model(word_model(), gru, words.vocab);
    write_bytes(root_ / "text.txt", kText);
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  static std::string char_model() { return (root_ / "char.safetensors").string(); }
  static std::string word_model() { return (root_ / "word.safetensors").string(); }
  static std::string text() { return (root_ / "text.txt").string(); }

  static Result run(const Args& args, const fs::path& input = "/dev/null") {
    const fs::path capture = root_ / "capture";
    return collect(spawn_recur(Args{"inspect"} + args + Args{"--threads", "1"}, capture, input), capture);
  }

  // A page written to a fresh file, its run's output checked to succeed.
  static std::string page(const Args& args, Result* result = nullptr) {
    const fs::path out = root_ / "page.html";
    fs::remove(out);
    const Result r = run(args + Args{"--html", out.string()});
    EXPECT_TRUE(r.ok()) << r;
    if (result) *result = r;
    return read_bytes(out);
  }

  static fs::path root_;
};

fs::path CliInspect::root_;

TEST_F(CliInspect, DefaultPageShowsTheChosenNumberOfCellsEachWithEveryToken) {
  Result r;
  const std::string html = page({char_model(), text(), "--cells", "3"}, &r);
  EXPECT_EQ(occurrences(html, "<section class=\"panel\""), 3u);
  EXPECT_EQ(token_elements(html), 3 * kTextChars);
  // Stdout names each cell and why, as the panels do.
  const std::vector<std::string> lines = lines_of_output(r.out);
  ASSERT_EQ(lines.size(), 3u) << r.out;
  for (const std::string& line : lines) {
    EXPECT_TRUE(std::regex_match(line, std::regex("[01]:([0-9]|1[0-5])\t(correlation|variance) .*"))) << line;
    EXPECT_NE(html.find("data-cell=\"" + line.substr(0, line.find('\t')) + "\""), std::string::npos) << line;
  }
  EXPECT_EQ(r.err, "");
  // The predictions: each token's probability and 5 next tokens.
  const nlohmann::json data = page_data(html);
  ASSERT_EQ(data.at("tokens").size(), kTextChars);
  ASSERT_EQ(data.at("p").size(), kTextChars);
  ASSERT_EQ(data.at("next").size(), kTextChars);
  for (const nlohmann::json& next : data["next"]) EXPECT_EQ(next.size(), 5u);
  EXPECT_EQ(occurrences(html, "<tr"), 1 + kTextChars);  // the table: a header and a row per token
}

TEST_F(CliInspect, EscapesTheTextAndKeepsCodePointsWhole) {
  const std::string html = page({char_model(), text(), "--cells", "1"});
  for (const char* escaped : {">&lt;</span>", ">&gt;</span>", ">&amp;</span>", ">&quot;</span>", ">&apos;</span>",
                              ">\xC3\xA9</span>", "\u21B5</span>\n"})
    EXPECT_NE(html.find(escaped), std::string::npos) << escaped;
  EXPECT_EQ(html.find("<b>"), std::string::npos);
  EXPECT_EQ(html.find("</b>"), std::string::npos);
  EXPECT_EQ(page_data(html)["tokens"][36], "o");  // after "caf", "é", " ": one token each
  EXPECT_EQ(page_data(html)["tokens"][34], "\xC3\xA9");
}

TEST_F(CliInspect, PageFetchesNothing) {
  const std::string html = page({char_model(), text()});
  EXPECT_EQ(html.find("http:"), std::string::npos);
  EXPECT_EQ(html.find("https:"), std::string::npos);
  EXPECT_EQ(occurrences(html, "//"), occurrences(html, "// "));  // no "//host/..." address: only comments
  EXPECT_EQ(html.find(" src="), std::string::npos);
  EXPECT_EQ(html.find("<link"), std::string::npos);
  EXPECT_EQ(html.find("@import"), std::string::npos);
  EXPECT_EQ(html.find("url("), std::string::npos);
}

TEST_F(CliInspect, NeuronShowsExactlyThoseCells) {
  Result r;
  std::string html = page({char_model(), text(), "--neuron", "1:15"}, &r);
  EXPECT_EQ(occurrences(html, "<section class=\"panel\""), 1u);
  EXPECT_NE(html.find("data-cell=\"1:15\""), std::string::npos);
  EXPECT_EQ(token_elements(html), kTextChars);
  EXPECT_EQ(r.out, "1:15\tchosen with --neuron\n");
  html = page({char_model(), text(), "--neuron", "0:3,1:2", "--neuron", "0:0"}, &r);
  EXPECT_EQ(r.out, "0:3\tchosen with --neuron\n1:2\tchosen with --neuron\n0:0\tchosen with --neuron\n");
  EXPECT_EQ(token_elements(html), 3 * kTextChars);
}

TEST_F(CliInspect, LstmShowsTanhOfTheCellStateOrOnRequestTheHiddenState) {
  const std::string cell = page({char_model(), text(), "--neuron", "1:4"});
  const std::string hidden = page({char_model(), text(), "--neuron", "1:4", "--lstm-state", "hidden"});
  EXPECT_NE(cell.find("tanh(c)"), std::string::npos);
  EXPECT_NE(hidden.find("h, the LSTM&apos;s hidden state"), std::string::npos);
  // The values differ (the same text, the same model).
  EXPECT_NE(page_data(cell)["panels"][0]["values"], page_data(hidden)["panels"][0]["values"]);
}

TEST_F(CliInspect, MarksTokensBelowTheSurpriseThreshold) {
  // Everything has probability below 1, nothing below 0.
  EXPECT_EQ(surprising_elements(page({char_model(), text(), "--cells", "2", "--surprise", "1"})), 2 * kTextChars);
  EXPECT_EQ(surprising_elements(page({char_model(), text(), "--cells", "2", "--surprise", "0"})), 0u);
  // In between, exactly the tokens whose probability in the data is below it, in the text and the table.
  const std::string html = page({char_model(), text(), "--cells", "2", "--surprise", "0.0105"});
  const nlohmann::json data = page_data(html);
  std::size_t below = 0;
  for (const nlohmann::json& p : data.at("p")) below += p.get<double>() < 0.0105;
  EXPECT_GT(below, 0u);
  EXPECT_LT(below, kTextChars);
  EXPECT_EQ(surprising_elements(html), 2 * below);
  EXPECT_EQ(occurrences(html, "<tr class=\"s\">"), below);
}

TEST_F(CliInspect, ReadsStandardInputAndCapsTheTokens) {
  const fs::path out = root_ / "stdin.html";
  const Result r = run({char_model(), "-", "--html", out.string(), "--cells", "2", "--max-tokens", "10"}, text());
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.err, "recur inspect: <stdin> has 39 tokens; showing the first 10 (--max-tokens)\n");
  const std::string html = read_bytes(out);
  EXPECT_EQ(token_elements(html), 2 * 10u);
  EXPECT_NE(html.find("the first 10 of 39 tokens"), std::string::npos);
}

TEST_F(CliInspect, WordModelShowsWordsAndLineEnds) {
  write_bytes(root_ / "words.txt", "the cat sat\n\nthe zebra sat on the mat\n");
  const std::string html = page({word_model(), (root_ / "words.txt").string(), "--cells", "2"});
  // 3 words and <eos>, 6 words and <eos>: 11 tokens; the unknown word shown as written.
  EXPECT_EQ(token_elements(html), 2 * 11u);
  EXPECT_NE(html.find(">zebra</span>"), std::string::npos);
  EXPECT_NE(html.find("Word language model: gru, 1 layer of 12 cells"), std::string::npos);
  const nlohmann::json data = page_data(html);
  ASSERT_EQ(data.at("tokens").size(), 11u);
  EXPECT_EQ(data["tokens"][3], "\u21B5");
  bool predicts_line_end = false;  // the vocabulary's <eos> is offered as a line end
  for (const nlohmann::json& next : data["next"])
    for (const nlohmann::json& candidate : next) predicts_line_end |= candidate[0] == "\u21B5";
  EXPECT_TRUE(predicts_line_end);
}

TEST_F(CliInspect, ReplacesTheOutputWhole) {
  const fs::path dir = root_ / "replace";
  fs::create_directories(dir);
  write_bytes(dir / "page.html", "old");
  ASSERT_TRUE(run({char_model(), text(), "--html", (dir / "page.html").string(), "--cells", "1"}).ok());
  EXPECT_EQ(read_bytes(dir / "page.html").rfind("<!DOCTYPE html>", 0), 0u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir), {}), 1);  // no temporary file left
}

TEST_F(CliInspect, BadInputIsOneLineNamingWhatIsWrongAndWritesNothing) {
  const fs::path dir = root_ / "bad";
  fs::create_directories(dir);
  write_bytes(dir / "keep.txt", "unchanged");
  write_bytes(dir / "cyrillic.txt", "ok \xD0\xB6\n");
  const std::string out = (dir / "out.html").string();
  const auto check = [&](const Args& args, const std::vector<std::string>& fragments) {
    expect_error_leaving_files(dir, [&] { return run(args); }, args, fragments);
  };
  check({char_model(), text(), "--html", out, "--neuron", "2:0"}, {"--neuron 2:0", "layer 2", "[0, 2)"});
  check({char_model(), text(), "--html", out, "--neuron", "0:16"}, {"--neuron 0:16", "index 16", "[0, 16)"});
  check({char_model(), text(), "--html", out, "--neuron", "0:1,x"}, {"--neuron 'x'", "LAYER:INDEX"});
  check({word_model(), text(), "--html", out, "--neuron", "1:0"}, {"layer 1", "[0, 1)"});
  check({char_model(), (dir / "missing.txt").string(), "--html", out}, {"missing.txt"});
  check({(dir / "missing.safetensors").string(), text(), "--html", out}, {"missing.safetensors"});
  check({char_model(), (dir / "cyrillic.txt").string(), "--html", out}, {"cyrillic.txt", "U+0436"});
  check({char_model(), (dir / "keep.txt").string(), "--html", (dir / "no" / "out.html").string()}, {"no/out.html"});
  check({char_model(), text(), "--html", out, "--cells", "0"}, {"--cells", "greater than 0"});
  check({char_model(), text(), "--html", out, "--max-tokens", "0"}, {"--max-tokens"});
  check({char_model(), text(), "--html", out, "--lstm-state", "c"}, {"--lstm-state", "c"});
  check({char_model(), text()}, {"--html"});
  write_bytes(dir / "blank.txt", " \n\n");
  check({word_model(), (dir / "blank.txt").string(), "--html", out}, {"blank.txt", "no tokens"});
  fs::remove(dir / "blank.txt");
  const std::string classifier = std::string(RECUR_TEST_FIXTURES) + "/classifier_torch_gru_bi_last.safetensors";
  check({classifier, text(), "--html", out}, {"classify model", "language models"});
  EXPECT_FALSE(fs::exists(out));
}

}  // namespace
}  // namespace recur
