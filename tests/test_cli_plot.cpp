// `recur plot RUN_DIR...` on two tiny language-model runs: one SVG with a line per run named
// by its directory; bad input (no metrics.jsonl, a metric a run lacks, runs of different
// tasks, a metrics.jsonl line that is not JSON, a directory given twice) is one error line,
// a non-zero exit and no chart written.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "cli_helpers.hpp"
#include "recur/recur.hpp"

namespace recur {
namespace {

const Args kTiny = {"--embed", "8", "--batch-size", "4", "--seq-length", "8", "--threads", "1",
                    "--max-steps", "20", "--eval-every", "10", "--sample-length", "0"};

class CliPlot : public testing::Test {
 protected:
  // Two runs of 20 steps, evaluated at 10 and 20, that differ in --hidden.
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("recur_cli_plot_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_ / "runs");
    write_bytes(root_ / "text.txt", read_bytes(RECUR_TINYSHAKESPEARE).substr(0, 6000));
    for (const char* hidden : {"16", "24"}) {
      const fs::path out = root_ / "runs" / (std::string("h") + hidden);
      Result r = recur_in(root_ / (std::string("train-h") + hidden),
                          Args{"train", (root_ / "text.txt").string(), "--out", out.string(), "--hidden", hidden} + kTiny);
      ASSERT_TRUE(r.ok()) << r;
    }
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  void SetUp() override {
    dir_ = root_ / testing::UnitTest::GetInstance()->current_test_info()->name();
    fs::create_directories(dir_);
  }

  static Result recur_in(const fs::path& capture, const Args& args, const Args& launcher = {}) {
    return collect(spawn_recur(args, capture, "/dev/null", launcher), capture);
  }
  Result recur(const Args& args, const Args& launcher = {}) {
    return recur_in(dir_ / ("run" + std::to_string(++runs_)), args, launcher);
  }
  static std::string run(const char* name) { return (root_ / "runs" / name).string(); }
  // `recur plot` with `args` fails with one line naming every fragment, and writes no chart.
  void expect_plot_error(const Args& args, const std::vector<std::string>& fragments) {
    SCOPED_TRACE(testing::PrintToString(args));
    const fs::path out = dir_ / "error.svg";
    expect_error_line(recur(Args{"plot", "--out", out.string()} + args), fragments);
    EXPECT_FALSE(fs::exists(out));
  }

  static fs::path root_;
  fs::path dir_;
  int runs_ = 0;
};

fs::path CliPlot::root_;

std::size_t occurrences(const std::string& haystack, const std::string& needle) {
  std::size_t n = 0;
  for (std::size_t at = haystack.find(needle); at != std::string::npos; at = haystack.find(needle, at + 1)) ++n;
  return n;
}

TEST_F(CliPlot, TwoRunsOnOneChart) {
  const fs::path out = dir_ / "compare.svg";
  Result r = recur({"plot", run("h16"), run("h24"), "--out", out.string()});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(r.out, "");
  const std::string svg = read_bytes(out);
  ASSERT_EQ(svg.rfind("<?xml", 0), 0u);
  EXPECT_EQ(svg.substr(svg.size() - 7), "</svg>\n");
  // The runs by their shortest distinguishing names, their validation loss (the metric that
  // picked their best models) against the step: one line each, solid.
  for (const char* text : {">h16</text>", ">h24</text>", ">val_loss by step</text>", ">step</text>"})
    EXPECT_NE(svg.find(text), std::string::npos) << text;
  EXPECT_EQ(occurrences(svg, "<path "), 2u);
  EXPECT_EQ(svg.find("stroke-dasharray"), std::string::npos);
  EXPECT_EQ(svg.find("<script"), std::string::npos);

  // --train adds each run's training loss, dashed; --x, --metric and --log-y change the axes.
  r = recur({"plot", run("h16"), run("h24"), "--out", out.string(), "--train", "--x", "seconds", "--metric",
             "val_bpc", "--log-y"});
  ASSERT_TRUE(r.ok()) << r;
  const std::string more = read_bytes(out);
  for (const char* text : {">h16 train_loss</text>", ">h24 train_loss</text>", ">val_bpc by seconds</text>"})
    EXPECT_NE(more.find(text), std::string::npos) << text;
  EXPECT_EQ(occurrences(more, "<path "), 4u);

  // Without --out: plot.svg in the current directory.
  r = recur({"plot", run("h16"), run("h24")}, {"/usr/bin/env", "-C", dir_.string()});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(read_bytes(dir_ / "plot.svg"), svg);
}

TEST_F(CliPlot, Errors) {
  // A directory that is not a run.
  fs::create_directories(dir_ / "empty");
  expect_plot_error({run("h16"), (dir_ / "empty").string()}, {"empty has no metrics.jsonl"});
  // A metric a run lacks: the run and the keys it has.
  expect_plot_error({run("h16"), "--metric", "val_accuracy"},
                    {"h16 has no val_accuracy", "it has chars_per_sec, epoch, grad_norm, lr, seconds, step"});
  // A line of metrics.jsonl that is not JSON: the file and the line.
  fs::copy(run("h24"), dir_ / "broken", fs::copy_options::recursive);
  io::append_file((dir_ / "broken" / "metrics.jsonl").string(), "{\"step\": 30, \"val_loss\n");
  expect_plot_error({run("h16"), (dir_ / "broken").string()}, {"broken/metrics.jsonl line 3 is not JSON"});
  // Runs of different tasks (a classifier's checkpoint, as far as plot reads it).
  fs::create_directories(dir_ / "classifier");
  write_bytes(dir_ / "classifier" / "metrics.jsonl", "{\"step\":10,\"val_loss\":0.6,\"val_macro_f1\":0.7}\n");
  io::save_safetensors((dir_ / "classifier" / "last.safetensors").string(), {},
                       {{"recur.config", R"({"task":"classify"})"},
                        {"recur.progress", R"({"step":10,"val_macro_f1":0.7,"best_val_macro_f1":0.7})"}});
  expect_plot_error({run("h16"), (dir_ / "classifier").string(), "--metric", "val_loss"},
                    {"h16 is a run of --task lm", "classifier of --task classify", "one task"});
  // A directory twice; an --x that is not offered; no directory at all.
  expect_plot_error({run("h16"), run("h16") + "/"}, {"h16 is given twice"});
  expect_plot_error({run("h16"), "--x", "time"}, {"--x", "time"});
  expect_plot_error({}, {"RUN_DIR"});
}

}  // namespace
}  // namespace recur
