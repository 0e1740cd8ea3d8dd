// The train layer's utilities: nice tick values and their labels, SVG charts (well formed,
// labelled, NaN-proof; panels stacked over one x axis), comparing runs' metrics.jsonl
// (recur plot's library half), check_finite and Stopwatch.
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <limits>
#include <sstream>
#include <string>
#include <vector>

#include "recur/data/mnist.hpp"
#include "recur/recur.hpp"
#include "recur/train/check_finite.hpp"
#include "recur/train/compare_runs.hpp"
#include "recur/train/plot.hpp"
#include "recur/train/stopwatch.hpp"
#include "test_helpers.hpp"

namespace recur {
namespace {

namespace fs = std::filesystem;
using testing::HasSubstr;
using testing::Not;

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();
constexpr double kInf = std::numeric_limits<double>::infinity();

// ---------------------------------------------------------------- a minimal XML check

// What a well-formedness pass found: element names in document order and the text
// inside every <text> element.
struct Parsed {
  bool ok = true;
  std::string error;
  std::vector<std::string> elements;
  std::vector<std::string> texts;
};

// Checks that tags nest and close, attribute values are quoted, and text holds no raw
// '<' and only the five XML entities after '&'. Enough XML for what Plot writes.
Parsed parse_xml(const std::string& doc) {
  Parsed p;
  auto fail = [&](const std::string& why, std::size_t at) {
    if (p.ok) p.error = why + " at offset " + std::to_string(at);
    p.ok = false;
  };
  std::vector<std::string> open;
  std::size_t i = 0;
  if (doc.rfind("<?xml", 0) == 0) i = doc.find("?>") + 2;
  std::string text;
  bool in_text = false;
  while (i < doc.size() && p.ok) {
    if (doc[i] != '<') {
      if (doc[i] == '&') {
        std::size_t semi = doc.find(';', i);
        std::string entity = semi == std::string::npos ? "" : doc.substr(i, semi - i + 1);
        if (entity != "&amp;" && entity != "&lt;" && entity != "&gt;" && entity != "&quot;" && entity != "&apos;") {
          fail("bad entity", i);
        }
      }
      if (doc[i] == '>') fail("stray '>'", i);
      if (in_text) text += doc[i];
      ++i;
      continue;
    }
    std::size_t end = i + 1;
    bool quoted = false;
    for (; end < doc.size() && (quoted || doc[end] != '>'); ++end) {
      if (doc[end] == '"') quoted = !quoted;
      if (quoted && doc[end] == '<') fail("'<' in an attribute", end);
    }
    if (end == doc.size()) {
      fail("unterminated tag", i);
      break;
    }
    std::string tag = doc.substr(i + 1, end - i - 1);
    if (!tag.empty() && tag[0] == '/') {
      std::string name = tag.substr(1);
      if (open.empty() || open.back() != name) fail("</" + name + "> closes " + (open.empty() ? "nothing" : open.back()), i);
      else open.pop_back();
      if (name == "text") {
        p.texts.push_back(text);
        in_text = false;
      }
    } else {
      bool self_closing = !tag.empty() && tag.back() == '/';
      std::string name = tag.substr(0, tag.find_first_of(" \n/"));
      if (name.empty()) fail("empty tag name", i);
      std::size_t quotes = static_cast<std::size_t>(std::count(tag.begin(), tag.end(), '"'));
      if (quotes % 2 != 0) fail("unbalanced quotes in <" + name + ">", i);
      p.elements.push_back(name);
      if (!self_closing) open.push_back(name);
      if (name == "text" && !self_closing) {
        in_text = true;
        text.clear();
      }
    }
    i = end + 1;
  }
  if (p.ok && !open.empty()) fail("<" + open.back() + "> never closed", doc.size());
  if (p.ok && (p.elements.empty() || p.elements.front() != "svg")) fail("the root element is not <svg>", 0);
  return p;
}

std::size_t count_of(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<std::size_t>(std::count(v.begin(), v.end(), s));
}

std::size_t occurrences(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

bool contains(const std::vector<std::string>& v, const std::string& s) { return count_of(v, s) > 0; }

TEST(XmlCheck, CatchesMalformedDocuments) {
  EXPECT_TRUE(parse_xml("<svg><g><text>a &amp; b</text></g></svg>").ok);
  EXPECT_FALSE(parse_xml("<svg><g></svg>").ok);
  EXPECT_FALSE(parse_xml("<svg><text>a < b</text></svg>").ok);
  EXPECT_FALSE(parse_xml("<svg><text>a & b</text></svg>").ok);
  EXPECT_FALSE(parse_xml("<svg><rect x=\"1/></svg>").ok);
}

// ---------------------------------------------------------------- ticks

void expect_ticks(double lo, double hi, const std::vector<double>& expected) {
  std::vector<double> ticks = train::nice_ticks(lo, hi);
  ASSERT_EQ(ticks.size(), expected.size()) << "ticks for [" << lo << ", " << hi << "]";
  for (std::size_t i = 0; i < ticks.size(); ++i) EXPECT_NEAR(ticks[i], expected[i], 1e-12 * (1 + std::abs(expected[i])));
}

TEST(NiceTicks, RoundStepsThatCoverTheRange) {
  expect_ticks(0, 1, {0, 0.2, 0.4, 0.6, 0.8, 1.0});
  expect_ticks(0, 9380, {0, 2000, 4000, 6000, 8000, 10000});
  expect_ticks(0.31, 2.47, {0, 0.5, 1.0, 1.5, 2.0, 2.5});
  expect_ticks(-3.7, 12.2, {-5, 0, 5, 10, 15});
  expect_ticks(0.8712, 0.8934, {0.87, 0.875, 0.88, 0.885, 0.89, 0.895});
  expect_ticks(2.47, 0.31, {0, 0.5, 1.0, 1.5, 2.0, 2.5});  // swapped bounds
  expect_ticks(-1e-3, 0, {-0.001, -0.0008, -0.0006, -0.0004, -0.0002, 0});
  expect_ticks(5, 5, {4.4, 4.6, 4.8, 5.0, 5.2, 5.4, 5.6});  // an empty range gets room
  expect_ticks(0, 0, {-1, -0.5, 0, 0.5, 1});
  expect_ticks(kNaN, 3, {0, 0.2, 0.4, 0.6, 0.8, 1.0});
  expect_ticks(0, kInf, {0, 0.2, 0.4, 0.6, 0.8, 1.0});

  // Every range: first tick <= lo, last >= hi, equal steps, a readable number of ticks.
  for (double lo : {-1e6, -7.3, -0.02, 0.0, 1e-9, 0.5, 123.0}) {
    for (double width : {1e-8, 0.003, 1.0, 17.0, 4.2e5}) {
      std::vector<double> t = train::nice_ticks(lo, lo + width);
      ASSERT_GE(t.size(), 3u);
      EXPECT_LE(t.size(), 12u);
      EXPECT_LE(t.front(), lo);
      EXPECT_GE(t.back(), lo + width);
      double step = t[1] - t[0];
      // Equal up to the rounding of values of lo's magnitude.
      double tolerance = 1e-9 * step + 1e-14 * std::abs(lo);
      for (std::size_t i = 1; i < t.size(); ++i) EXPECT_NEAR(t[i] - t[i - 1], step, tolerance);
    }
  }
  expect_error([] { train::nice_ticks(0, 1, 1); }, {"nice_ticks", "count", "1"});
}

TEST(NiceTicks, Labels) {
  EXPECT_EQ(train::format_tick(0.6000000000000001, 0.2), "0.6");
  EXPECT_EQ(train::format_tick(0.875, 0.005), "0.875");
  EXPECT_EQ(train::format_tick(0.25, 0.05), "0.25");
  EXPECT_EQ(train::format_tick(4000, 2000), "4000");
  EXPECT_EQ(train::format_tick(-5, 5), "-5");
  EXPECT_EQ(train::format_tick(-1e-17, 0.1), "0.0");  // no "-0.0"
  EXPECT_EQ(train::format_tick(0.0, 1), "0");
  EXPECT_EQ(train::format_tick(3e-9, 1e-9), "3e-09");
  EXPECT_EQ(train::format_tick(2e12, 5e11), "2e+12");
}

// ---------------------------------------------------------------- charts

TEST(Plot, TrainingCurvesWithTwoAxes) {
  std::vector<double> iterations, loss, test_iterations, accuracy;
  for (int i = 0; i <= 100; ++i) {
    iterations.push_back(i * 10);
    loss.push_back(2.3 * std::exp(-i / 30.0) + 0.2);
  }
  for (int i = 0; i <= 10; ++i) {
    test_iterations.push_back(i * 100);
    accuracy.push_back(0.5 + 0.04 * i);
  }
  train::Plot plot("LeNet on Fashion-MNIST");
  plot.set_x_label("iteration").set_y_label("train loss").set_y_label("test accuracy", train::Axis::Right);
  plot.add_line("train loss", iterations, loss);
  plot.add_line("test accuracy", test_iterations, accuracy, train::Axis::Right);
  std::string svg = plot.to_svg();

  Parsed p = parse_xml(svg);
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_THAT(svg, HasSubstr("xmlns=\"http://www.w3.org/2000/svg\""));
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  for (const char* text : {"LeNet on Fashion-MNIST", "iteration", "train loss", "test accuracy"}) {
    EXPECT_TRUE(contains(p.texts, text)) << text;
  }
  // x ticks 0..1000 by 200; left 0..2.5 by 0.5; right 0.5..0.9 by 0.1.
  for (const char* tick : {"0", "200", "1000", "0.5", "2.5", "0.9"}) EXPECT_TRUE(contains(p.texts, tick)) << tick;
  EXPECT_EQ(count_of(p.elements, "path"), 2u);  // one line per series
  EXPECT_THAT(svg, HasSubstr("rotate(90)"));    // the right axis's label
}

TEST(Plot, NonFiniteValuesAreSkippedAndBreakTheLine) {
  train::Plot plot;
  plot.add_line("loss", {0, 1, 2, 3, 4, 5, 6}, {1.0, 0.9, kNaN, 0.7, 0.6, kInf, 0.4});
  plot.add_points("data", {0, kNaN, 2}, {1, 2, -kInf});
  std::string svg = plot.to_svg();
  Parsed p = parse_xml(svg);
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
  EXPECT_THAT(svg, Not(HasSubstr("inf")));
  // Runs {0,1} and {3,4} make one path with two moves; {6} alone is a dot.
  EXPECT_EQ(count_of(p.elements, "path"), 1u);
  std::size_t d = svg.find(" d=\"");
  EXPECT_EQ(occurrences(svg.substr(d, svg.find('"', d + 4) - d), "M"), 2u);
  // One dot for the lone point, one circle for the single finite data point, two legend markers.
  EXPECT_EQ(count_of(p.elements, "circle"), 3u);
  // The y axis spans only the finite values 0.4..1.0.
  EXPECT_TRUE(contains(p.texts, "0.4"));
  EXPECT_TRUE(contains(p.texts, "1.0"));
  EXPECT_FALSE(contains(p.texts, "2.0"));
}

TEST(Plot, EmptySeriesAndEmptyPlots) {
  for (train::Plot plot : {train::Plot(), train::Plot("empty").add_line("nothing", {}, {}),
                           train::Plot().add_line("no finite point", {kNaN, 1}, {2, kNaN}, train::Axis::Right)}) {
    std::string svg = plot.to_svg();
    Parsed p = parse_xml(svg);
    EXPECT_TRUE(p.ok) << p.error << "\n" << svg;
    EXPECT_EQ(count_of(p.elements, "path"), 0u);
    EXPECT_THAT(svg, Not(HasSubstr("nan")));
  }
}

TEST(Plot, ScatterColouredByClass) {
  std::vector<double> xs, ys;
  std::vector<std::int64_t> classes;
  for (int i = 0; i < 30; ++i) {
    xs.push_back(std::cos(i));
    ys.push_back(std::sin(i) * 3);
    classes.push_back(i % 3 == 0 ? 0 : i % 3 == 1 ? 2 : 9);
  }
  std::vector<std::string> names(data::kFashionMnistClasses.begin(), data::kFashionMnistClasses.end());
  train::Plot plot("codes");
  plot.add_class_points(xs, ys, classes, names);
  std::string svg = plot.to_svg();
  Parsed p = parse_xml(svg);
  ASSERT_TRUE(p.ok) << p.error;
  // Legend lists the classes present, by name; "T-shirt/top" survives escaping intact.
  for (const char* name : {"T-shirt/top", "Pullover", "Ankle boot"}) EXPECT_TRUE(contains(p.texts, name)) << name;
  EXPECT_FALSE(contains(p.texts, "Trouser"));
  EXPECT_EQ(count_of(p.elements, "circle"), 30u + 3u);  // points + legend markers
  // Classes past the names get a generic name.
  std::string unnamed = train::Plot().add_class_points({0, 1}, {0, 1}, {0, 12}, {"zero"}).to_svg();
  EXPECT_TRUE(contains(parse_xml(unnamed).texts, "class 12"));
}

TEST(Plot, PointsWithAFittedCurveAndEscapedText) {
  std::vector<double> xs, noisy, fit;
  for (int i = 0; i <= 20; ++i) {
    double x = -1 + i * 0.1;
    xs.push_back(x);
    noisy.push_back(x * x - 0.5 + 0.05 * std::sin(7 * i));
    fit.push_back(x * x - 0.5);
  }
  train::Plot plot("y = x\xc2\xb2 - 0.5 & <noise>");
  plot.set_x_label("x").set_y_label("y").set_size(640, 400);
  plot.add_points("data", xs, noisy).add_line("fit \"net\"", xs, fit);
  std::string svg = plot.to_svg();
  Parsed p = parse_xml(svg);
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_THAT(svg, HasSubstr("width=\"640\" height=\"400\""));
  EXPECT_TRUE(contains(p.texts, "y = x\xc2\xb2 - 0.5 &amp; &lt;noise&gt;"));
  EXPECT_TRUE(contains(p.texts, "fit &quot;net&quot;"));
  EXPECT_EQ(count_of(p.elements, "circle"), 21u + 1u);
  EXPECT_EQ(count_of(p.elements, "path"), 1u);
}

TEST(Plot, Errors) {
  train::Plot plot;
  expect_error([&] { plot.add_line("loss", {1, 2}, {1}); }, {"add_line", "'loss'", "2 x values", "1 y values"});
  expect_error([&] { plot.add_points("data", {1}, {}); }, {"add_points", "'data'"});
  expect_error([&] { plot.add_class_points({1, 2}, {1, 2}, {0}); }, {"add_class_points", "2 x values", "1 classes"});
  expect_error([&] { plot.add_class_points({1, 2}, {1, 2}, {0, -1}); }, {"class -1 of point 1", "negative"});
  expect_error([&] { plot.set_size(100, 500); }, {"set_size", "100 x 500"});
}

TEST(Plot, SavesToAFile) {
  fs::path path = fs::temp_directory_path() / ("recur-test-plot-" + std::to_string(::getpid()) + ".svg");
  train::Plot plot("saved");
  plot.add_line("a", {0, 1}, {0, 1});
  plot.save(path.string());
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  EXPECT_EQ(contents.str(), plot.to_svg());
  fs::remove(path);
  std::string bad = (fs::temp_directory_path() / "recur-no-such-dir" / "plot.svg").string();
  expect_error([&] { plot.save(bad); }, {"Plot::save", "cannot write", bad, "No such file"});
}

TEST(Plot, DashedLinesShareAChosenColour) {
  train::Plot plot;
  plot.add_line("run a", {0, 1}, {2, 1}, train::Axis::Left, {.colour = 3});
  plot.add_line("run a train", {0, 1}, {2.5, 1.5}, train::Axis::Left, {.dashed = true, .colour = 3});
  plot.add_line("next", {0, 1}, {1, 1});  // the next unused colour: the palette's first
  const std::string svg = plot.to_svg();
  ASSERT_TRUE(parse_xml(svg).ok);
  // Both paths and both legend markers in the fourth colour; one path and one marker dashed.
  EXPECT_EQ(occurrences(svg, "stroke=\"#d62728\""), 4u);
  EXPECT_EQ(occurrences(svg, "stroke-dasharray"), 2u);
  EXPECT_EQ(occurrences(svg, "stroke=\"#1f77b4\""), 2u);
  expect_error([&] { plot.add_line("bad", {}, {}, train::Axis::Left, {.colour = -2}); }, {"'bad'", "colour -2"});
}

TEST(LogTicks, PowersOfTenWithTwoAndFiveBetweenOverFewDecades) {
  auto expect_log_ticks = [](double lo, double hi, const std::vector<double>& expected) {
    const std::vector<double> ticks = train::log_ticks(lo, hi);
    ASSERT_EQ(ticks.size(), expected.size()) << "ticks for [" << lo << ", " << hi << "]";
    for (std::size_t i = 0; i < ticks.size(); ++i) EXPECT_NEAR(ticks[i], expected[i], 1e-12 * expected[i]);
  };
  expect_log_ticks(1.3, 4.2, {1, 2, 5});
  expect_log_ticks(0.03, 7, {0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10});
  expect_log_ticks(4.2, 1.3, {1, 2, 5});        // swapped bounds
  expect_log_ticks(3e-5, 80, {1e-5, 1e-4, 1e-3, 1e-2, 0.1, 1, 10, 100});  // many decades: powers alone
  expect_log_ticks(2, 2, {2, 5});                // at least two
  expect_log_ticks(0, 5, {1, 2, 5, 10});         // not positive: [1, 10]
  expect_log_ticks(kNaN, 5, {1, 2, 5, 10});
  // Over very many decades, every few powers: no more than a dozen ticks.
  const std::vector<double> wide = train::log_ticks(1e-30, 1e30);
  EXPECT_LE(wide.size(), 12u);
  EXPECT_LE(wide.front(), 1e-30);
  EXPECT_GE(wide.back(), 1e30);
}

TEST(Plot, LogarithmicAxisSkipsValuesThatAreNotPositive) {
  train::Plot plot;
  plot.set_log_y();
  plot.add_line("loss", {0, 1, 2, 3, 4}, {4.0, 2.0, 0.0, 1.2, -1.0});
  const std::string svg = plot.to_svg();
  Parsed p = parse_xml(svg);
  ASSERT_TRUE(p.ok) << p.error;
  // 1, 2, 5 from 1.2 to 4; 0 and -1 are left out: a run {0, 1} and a lone dot at x = 3.
  for (const char* tick : {"1", "2", "5"}) EXPECT_TRUE(contains(p.texts, tick)) << tick;
  EXPECT_FALSE(contains(p.texts, "0"));
  EXPECT_EQ(count_of(p.elements, "path"), 1u);
  EXPECT_EQ(count_of(p.elements, "circle"), 1u);
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
}

// Two panels over one x axis, as loss.svg draws them: the losses and the accuracy above,
// the learning rate and the gradient norm below.
TEST(Figure, StackedPanelsShareTheXAxis) {
  train::Plot losses;
  losses.set_y_label("loss").set_y_label("fraction (0 to 1)", train::Axis::Right);
  losses.add_line("train", {100, 200, 300}, {2.0, 1.5, 1.2});
  losses.add_line("val_accuracy", {100, 200, 300}, {0.5, 0.7, 0.8}, train::Axis::Right);
  train::Plot optimizer;
  optimizer.set_size(800, 260).set_x_label("step").set_y_label("learning rate");
  optimizer.set_y_label("gradient norm", train::Axis::Right);
  // An old record without a gradient norm (NaN) is skipped; the steps reach 1000 here.
  optimizer.add_line("lr", {100, 200, 1000}, {0.002, 0.002, 0.001});
  optimizer.add_line("grad_norm", {100, 200, 1000}, {kNaN, 3.5, 2.5}, train::Axis::Right);
  train::Figure figure("recur: tiny");
  figure.add_panel(losses).add_panel(optimizer);
  const std::string svg = figure.to_svg();
  Parsed p = parse_xml(svg);
  ASSERT_TRUE(p.ok) << p.error;
  EXPECT_THAT(svg, HasSubstr("width=\"800\" height=\"790\""));  // the title's 30 pixels and both panels
  EXPECT_EQ(count_of(p.elements, "svg"), 1u);
  for (const char* text : {"recur: tiny", "loss", "fraction (0 to 1)", "learning rate", "gradient norm", "train",
                           "val_accuracy", "lr", "grad_norm", "step"})
    EXPECT_EQ(count_of(p.texts, text), 1u) << text;
  EXPECT_EQ(occurrences(svg, "rotate(90)"), 2u);  // a right axis on each panel
  EXPECT_EQ(count_of(p.elements, "path"), 4u);
  EXPECT_THAT(svg, Not(HasSubstr("nan")));
  // The shared x axis: both panels span 0..1000, with the same ticks at the same pixels.
  EXPECT_EQ(count_of(p.texts, "1000"), 2u);
  EXPECT_EQ(count_of(p.texts, "0"), 2u);
  const std::string tick_1000 = "text-anchor=\"middle\">1000</text>";
  const std::size_t first = svg.find(tick_1000), second = svg.find(tick_1000, first + 1);
  ASSERT_NE(second, std::string::npos);
  auto x_of = [&](std::size_t at) {
    const std::size_t x = svg.rfind("<text x=\"", at) + 9;
    return svg.substr(x, svg.find('"', x) - x);
  };
  EXPECT_EQ(x_of(first), x_of(second));

  // Saved atomically, like Plot; an empty figure is still a document.
  const fs::path path = fs::temp_directory_path() / ("recur-test-figure-" + std::to_string(::getpid()) + ".svg");
  figure.save(path.string());
  std::ifstream in(path);
  std::stringstream contents;
  contents << in.rdbuf();
  EXPECT_EQ(contents.str(), svg);
  fs::remove(path);
  EXPECT_TRUE(parse_xml(train::Figure().to_svg()).ok);
}

// ---------------------------------------------------------------- comparing runs

// A temporary directory for one test, removed at its end.
struct TempDir {
  fs::path path;
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / ("recur-test-" + name + "-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << text;
}

TEST(CompareRuns, ReadsMetricsLogsSkippingNullsAndNamingBadLines) {
  TempDir dir("metrics-log");
  const fs::path log = dir.path / "metrics.jsonl";
  write_text(log, "{\"step\":10,\"train_loss\":2.5,\"val_loss\":2.4,\"grad_norm\":null,\"note\":\"x\"}\n\n"
                  "{\"step\":20,\"val_loss\":2.1}\n");
  const std::vector<train::MetricsRecord> records = train::read_metrics_log(log.string());
  ASSERT_EQ(records.size(), 2u);
  EXPECT_EQ(records[0], (train::MetricsRecord{{"step", 10}, {"train_loss", 2.5}, {"val_loss", 2.4}}));
  EXPECT_EQ(records[1], (train::MetricsRecord{{"step", 20}, {"val_loss", 2.1}}));

  write_text(log, "{\"step\":10}\n{\"step\":20,\n");
  expect_error([&] { train::read_metrics_log(log.string()); }, {log.string(), "line 2", "is not JSON"});
  write_text(log, "[1, 2]\n");
  expect_error([&] { train::read_metrics_log(log.string()); }, {"line 1", "not a JSON object"});
  write_text(log, std::string(100000, '[') + "\n");  // untrusted input: too deep to parse
  expect_error([&] { train::read_metrics_log(log.string()); }, {"line 1", "is not JSON"});
  expect_error([&] { train::read_metrics_log((dir.path / "none.jsonl").string()); }, {"none.jsonl"});
}

TEST(CompareRuns, ShortestDistinguishingNames) {
  using Names = std::vector<std::string>;
  EXPECT_EQ(train::short_run_names({"runs/h128", "runs/h256/"}), (Names{"h128", "h256"}));
  EXPECT_EQ(train::short_run_names({"a/run", "b/run", "c"}), (Names{"a/run", "b/run", "c"}));
  EXPECT_EQ(train::short_run_names({"/x/a/run", "/y/a/run"}), (Names{"x/a/run", "y/a/run"}));
  EXPECT_EQ(train::short_run_names({"/a/run", "run"}), (Names{"a/run", "run"}));
  EXPECT_EQ(train::short_run_names({"/run", "run"}), (Names{"/run", "run"}));
  EXPECT_EQ(train::short_run_names({"only"}), (Names{"only"}));
  expect_error([] { train::short_run_names({"runs/a", "runs/b", "runs/./a"}); }, {"runs/a", "given twice"});
}

TEST(CompareRuns, TheMetricOfACheckpoint) {
  EXPECT_EQ(train::checkpoint_metric({{"recur.progress", R"({"step":40,"val_macro_f1":0.8,"best_val_macro_f1":0.9,)"
                                                         R"("best_checkpoint":"x","seconds":3})"}}),
            "val_macro_f1");
  EXPECT_EQ(train::checkpoint_metric({{"recur.progress", R"({"step":40})"}}), "");
  EXPECT_EQ(train::checkpoint_metric({{"recur.progress", "not json"}}), "");
  EXPECT_EQ(train::checkpoint_metric({}), "");
}

train::RunMetrics run_of(const std::string& name, const std::string& task, const std::string& metric,
                         std::vector<train::MetricsRecord> records) {
  train::RunMetrics run;
  run.dir = "runs/" + name, run.name = name, run.task = task, run.metric = metric, run.records = std::move(records);
  return run;
}

TEST(CompareRuns, OneLinePerRunNamedByTheRun) {
  const train::RunMetrics small = run_of("h16", "lm", "val_loss",
                                         {{{"step", 10}, {"epoch", 0.5}, {"train_loss", 3.0}, {"val_loss", 2.9}},
                                          {{"step", 20}, {"epoch", 1.0}, {"train_loss", 2.5}, {"val_loss", 2.6}}});
  const train::RunMetrics large = run_of("h32", "lm", "val_loss",
                                         {{{"step", 10}, {"epoch", 0.5}, {"train_loss", 2.8}, {"val_loss", 2.7}},
                                          {{"step", 20}, {"epoch", 1.0}, {"train_loss", 2.2}},  // no validation
                                          {{"step", 30}, {"epoch", 1.5}, {"train_loss", 2.0}, {"val_loss", 2.1}},
                                          {{"step", 40}, {"epoch", 2.0}, {"train_loss", 1.9}, {"val_loss", 2.0}}});
  std::string svg = train::compare_runs({small, large}, {}).to_svg();
  Parsed p = parse_xml(svg);
  ASSERT_TRUE(p.ok) << p.error;
  for (const char* text : {"val_loss by step", "val_loss", "step", "h16", "h32"})
    EXPECT_TRUE(contains(p.texts, text)) << text;
  // h32's missing validation breaks its line into a dot and a run.
  EXPECT_EQ(count_of(p.elements, "path"), 2u);
  EXPECT_EQ(count_of(p.elements, "circle"), 1u);
  EXPECT_THAT(svg, Not(HasSubstr("stroke-dasharray")));

  svg = train::compare_runs({small, large}, {.metric = "val_loss", .x = "epoch", .log_y = true, .train_loss = true})
            .to_svg();
  p = parse_xml(svg);
  ASSERT_TRUE(p.ok) << p.error;
  for (const char* text : {"val_loss by epoch", "h16 train_loss", "h32 train_loss"})
    EXPECT_TRUE(contains(p.texts, text)) << text;
  EXPECT_EQ(count_of(p.elements, "path"), 4u);
  EXPECT_EQ(occurrences(svg, "stroke-dasharray"), 4u);  // two dashed lines, two legend markers
  EXPECT_TRUE(contains(p.texts, "5"));                  // log ticks 1, 2, 5
}

TEST(CompareRuns, Errors) {
  const train::RunMetrics lm = run_of("lm", "lm", "val_loss", {{{"step", 10}, {"val_loss", 2.0}, {"lr", 0.002}}});
  const train::RunMetrics classifier =
      run_of("cls", "classify", "val_macro_f1", {{{"step", 10}, {"val_loss", 0.5}, {"val_macro_f1", 0.7}}});
  const train::RunMetrics tagger = run_of("tag", "", "val_accuracy", {{{"step", 10}, {"val_accuracy", 0.9}}});
  expect_error([&] { train::compare_runs({lm, classifier}, {}); },
               {"runs/lm is a run of --task lm and runs/cls of --task classify"});
  expect_error([&] { train::compare_runs({lm, classifier}, {.metric = "val_loss"}); }, {"--task lm", "--task classify"});
  expect_error([&] { train::compare_runs({lm, tagger}, {}); },
               {"runs/lm picks its best model by val_loss and runs/tag by val_accuracy", "--metric"});
  expect_error([&] { train::compare_runs({lm}, {.metric = "val_bpc"}); },
               {"the run runs/lm has no val_bpc", "it has lr, step, val_loss"});
  train::ComparisonOptions by_seconds, with_train_loss;
  by_seconds.x = "seconds", with_train_loss.train_loss = true;
  expect_error([&] { train::compare_runs({lm}, by_seconds); }, {"runs/lm has no seconds"});
  expect_error([&] { train::compare_runs({lm}, with_train_loss); }, {"runs/lm has no train_loss"});
  expect_error([&] { train::compare_runs({}, {}); }, {"no runs"});
}

TEST(CompareRuns, ReadsARunDirectory) {
  TempDir dir("read-run");
  expect_error([&] { train::read_run((dir.path / "empty").string()); }, {"empty has no metrics.jsonl"});
  write_text(dir.path / "run" / "metrics.jsonl", "{\"step\":5,\"val_loss\":1.5}\n");
  train::RunMetrics run = train::read_run((dir.path / "run").string());
  EXPECT_EQ(run.name, "run");
  EXPECT_EQ(run.task, "");  // no last.safetensors
  EXPECT_EQ(run.metric, "val_loss");
  ASSERT_EQ(run.records.size(), 1u);
  // With a checkpoint: its task and metric.
  io::save_safetensors((dir.path / "run" / "last.safetensors").string(), {},
                       {{"recur.config", R"({"task":"classify"})"},
                        {"recur.progress", R"({"step":5,"val_macro_f1":0.5,"best_val_macro_f1":0.5})"}});
  run = train::read_run((dir.path / "run").string());
  EXPECT_EQ(run.task, "classify");
  EXPECT_EQ(run.metric, "val_macro_f1");
}

// ---------------------------------------------------------------- check_finite, Stopwatch

TEST(CheckFinite, NamesTheValueAndTheStep) {
  train::check_finite(0.25, 1);
  train::check_finite(-1e300, 2);
  expect_error([] { train::check_finite(kNaN, 123); }, {"loss is nan at step 123"});
  expect_error([] { train::check_finite(kInf, 7); }, {"loss is inf at step 7"});
  expect_error([] { train::check_finite(-kInf, 8, "gradient norm"); }, {"gradient norm is -inf at step 8"});
}

TEST(Stopwatch, MeasuresElapsedTime) {
  train::Stopwatch watch;
  double first = watch.seconds();
  volatile double sink = 0;
  for (int i = 0; i < 1000000; ++i) sink = sink + i;
  double second = watch.seconds();
  EXPECT_GE(first, 0);
  EXPECT_GT(second, first);
  EXPECT_NEAR(watch.milliseconds(), watch.seconds() * 1000, 50);
  watch.reset();
  EXPECT_LT(watch.seconds(), second + 1);
}

}  // namespace
}  // namespace recur
