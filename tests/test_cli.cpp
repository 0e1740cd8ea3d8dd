// The `recur` command-line tool (apps/recur), run as a subprocess on tiny models and texts.
// Bad input of every kind ends with one line on stderr ("recur: error: ..." naming the file,
// byte offset, character or flag), a non-zero exit, nothing on stdout and nothing
// overwritten; a run killed with SIGKILL and resumed gives exactly the uninterrupted run; a
// diverging run stops and leaves its last good checkpoint; train, sample, eval and info do
// what the README says.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_helpers.hpp"
#include "recur/recur.hpp"
#include "test_helpers.hpp"

namespace recur {
namespace {

using nlohmann::json;

// A model small enough that a run of a few hundred steps takes well under a second.
const Args kTiny = {"--hidden", "16", "--embed", "8", "--batch-size", "4", "--seq-length", "8", "--threads", "1"};

// The step recorded in a checkpoint's "recur.progress" metadata; -1 when the file is absent
// or unreadable.
std::int64_t checkpoint_step(const fs::path& path) {
  if (!fs::exists(path)) return -1;
  try {
    io::SafetensorsFile file = io::load_safetensors(path.string());
    return json::parse(file.metadata.at("recur.progress")).at("step").get<std::int64_t>();
  } catch (const std::exception&) {
    return -1;
  }
}

// metrics.jsonl as (step, train_loss, val_loss) rows, the numbers exactly as written.
std::vector<std::vector<double>> read_metrics(const fs::path& path) {
  std::vector<std::vector<double>> rows;
  std::ifstream in(path);
  std::string line;
  while (std::getline(in, line)) {
    json j = json::parse(line);
    rows.push_back({j.at("step").get<double>(), j.at("train_loss").get<double>(), j.at("val_loss").get<double>()});
  }
  return rows;
}

// Every tensor of the two files equal bit for bit (the metadata, which holds timings, aside).
void expect_same_tensors(const fs::path& a, const fs::path& b, bool model_only = false) {
  const TensorMap ta = io::load_safetensors(a.string()).tensors, tb = io::load_safetensors(b.string()).tensors;
  std::size_t compared = 0;
  for (const auto& [name, tensor] : ta) {
    if (model_only && name.find('/') != std::string::npos) continue;
    SCOPED_TRACE(name);
    ASSERT_TRUE(tb.count(name)) << b << " lacks it";
    const Tensor& other = tb.at(name);
    ASSERT_EQ(tensor.dtype(), other.dtype());
    ASSERT_EQ(tensor.shape(), other.shape());
    EXPECT_EQ(std::memcmp(tensor.raw_data(), other.raw_data(), tensor.numel() * dtype_size(tensor.dtype())), 0);
    ++compared;
  }
  if (!model_only) {
    EXPECT_EQ(ta.size(), tb.size());
  }
  EXPECT_GT(compared, 5u);
}

// A deterministic text of `count` CJK characters in lines of seven with punctuation, as a
// poem is written (55 characters of Tang poems, drawn by a linear congruential generator).
std::string cjk_text(int count) {
  const std::u32string alphabet =
      U"春眠不觉晓处闻啼鸟夜来风雨声花落知多少床前明月光疑是地上霜举头望低思故乡白日依山尽黄河入海流欲穷千里目更一层楼";
  std::u32string text;
  std::uint32_t state = 12345;
  for (int i = 0; i < count; ++i) {
    state = state * 1103515245u + 12345u;
    text += alphabet[(state >> 16) % alphabet.size()];
    if (i % 7 == 6) text += (i % 14 == 13) ? U"。\n" : U"，";
  }
  return data::encode_utf8(text);
}

// ------------------------------------------------------------------ the fixture

class Cli : public testing::Test {
 protected:
  // One small training run that the tests read from or copy: base/ holds init, best, last,
  // the checkpoints of steps 20 and 40, metrics.jsonl and loss.svg.
  static void SetUpTestSuite() {
    root_ = fs::temp_directory_path() / ("recur_cli_" + std::to_string(getpid()));
    fs::remove_all(root_);
    fs::create_directories(root_);
    // The first 6000 bytes of tinyshakespeare: 55 distinct characters, no '§', no CJK.
    std::string text = read_bytes(RECUR_TINYSHAKESPEARE).substr(0, 6000);
    write_bytes(text_path(), text);
    Result r = recur_in(root_ / "base-run", Args{"train", text_path().string(), "--out", base().string(), "--max-steps",
                                             "40", "--eval-every", "20"} + kTiny);
    ASSERT_TRUE(r.ok()) << r;
  }
  static void TearDownTestSuite() { fs::remove_all(root_); }

  void SetUp() override {
    const std::string name = testing::UnitTest::GetInstance()->current_test_info()->name();
    dir_ = root_ / name;
    captures_ = root_ / (name + "-output");  // apart, so that snapshots of dir_ leave it out
    fs::create_directories(dir_);
    fs::create_directories(captures_);
  }
  void TearDown() override {
    if (HasFailure()) return;  // kept for a look
    fs::remove_all(dir_);
    fs::remove_all(captures_);
  }

  static Result recur_in(const fs::path& capture, const Args& args) {
    return collect(spawn_recur(args, capture), capture);
  }
  // Runs recur with its output captured in this test's directory.
  Result recur(const Args& args) { return recur_in(capture(), args); }
  fs::path capture() { return captures_ / ("run" + std::to_string(++runs_)); }

  static fs::path text_path() { return root_ / "text.txt"; }
  static fs::path base() { return root_ / "base"; }
  static std::string model() { return (base() / "best.safetensors").string(); }

  // A copy of base/ in this test's directory: a previous run that a failing command must
  // leave as it was.
  fs::path previous_run() {
    const fs::path copy = dir_ / "previous";
    fs::copy(base(), copy, fs::copy_options::recursive);
    return copy;
  }

  // Runs `args`, expects a one-line error naming every fragment (expect_error_line), and
  // expects every file under `dir` unchanged.
  void expect_error_leaving(const fs::path& dir, const Args& args, const std::vector<std::string>& fragments) {
    expect_error_leaving_files(dir, [&] { return recur(args); }, args, fragments);
  }

  // `recur train` into `out` with the tiny model.
  Args train(const fs::path& text, const fs::path& out, const Args& more = {}) {
    return Args{"train", text.string(), "--out", out.string()} + kTiny + more;
  }

  static fs::path root_;
  fs::path dir_, captures_;
  int runs_ = 0;
};

fs::path Cli::root_;

// ------------------------------------------------------------------ bad input

TEST_F(Cli, EmptyTextIsAnError) {
  const fs::path out = previous_run();
  write_bytes(dir_ / "empty.txt", "");
  expect_error_leaving(out, train(dir_ / "empty.txt", out), {"empty.txt", "is empty"});
}

TEST_F(Cli, TextShorterThanOneBatchIsAnError) {
  const fs::path out = previous_run();
  // B*T = 32 characters all in the training split: one short of a batch and its targets.
  write_bytes(dir_ / "short.txt", std::string(read_bytes(text_path()), 0, 32));
  expect_error_leaving(out, train(dir_ / "short.txt", out, {"--val-fraction", "0", "--test-fraction", "0"}),
                       {"short.txt", "too short", "--batch-size 4", "--seq-length 8", "needs 33"});
  // With B*T+1 characters it trains.
  write_bytes(dir_ / "enough.txt", std::string(read_bytes(text_path()), 0, 33));
  Result r = recur(train(dir_ / "enough.txt", dir_ / "enough",
                         {"--val-fraction", "0", "--test-fraction", "0", "--max-steps", "2"}));
  EXPECT_TRUE(r.ok()) << r;
}

TEST_F(Cli, InvalidUtf8NamesTheByteOffset) {
  const fs::path out = previous_run();
  write_bytes(dir_ / "bad.txt", "First Citizen:\nBefore \xC3\x28 we proceed any further, hear me speak.\n");
  expect_error_leaving(out, train(dir_ / "bad.txt", out), {"bad.txt", "invalid UTF-8", "byte offset 22"});
  expect_error_leaving(out, {"eval", (out / "best.safetensors").string(), (dir_ / "bad.txt").string()},
                       {"bad.txt", "byte offset 22"});
  expect_error_leaving(out, {"sample", (out / "best.safetensors").string(), "--prime", "ab\xFF"},
                       {"--prime", "byte offset 2"});
}

TEST_F(Cli, OutputPathThatIsAFileIsAnError) {
  write_bytes(dir_ / "afile", "precious");
  expect_error_leaving(dir_, train(text_path(), dir_ / "afile"), {"afile", "not a directory"});
  expect_error_leaving(dir_, train(text_path(), dir_ / "afile" / "run"), {"afile/run", "cannot create"});
}

TEST_F(Cli, UnwritableOutputDirectoryIsAnError) {
  // A directory where recur train's write probe goes makes the probe's file unwritable,
  // for root too (root writes into a directory of mode 0500 anyway).
  const fs::path out = previous_run();
  fs::create_directory(out / ".recur-write-test");
  expect_error_leaving(out, train(text_path(), out), {out.string(), "not writable"});
}

TEST_F(Cli, MissingModelFileIsAnError) {
  const std::string missing = (dir_ / "missing.safetensors").string();
  const fs::path out = previous_run();
  for (const Args& args : {Args{"sample", missing}, Args{"eval", missing, text_path().string()}, Args{"info", missing}})
    expect_error_leaving(out, args, {"missing.safetensors", "cannot read"});
  expect_error_leaving(out, train(text_path(), out, {"--init-from", missing}), {"missing.safetensors"});
  // --resume needs last.safetensors in --out.
  fs::create_directories(dir_ / "fresh");
  write_bytes(dir_ / "fresh" / "notes", "x");
  expect_error_leaving(dir_ / "fresh", {"train", "--resume", "--out", (dir_ / "fresh").string()},
                       {"--resume", "last.safetensors"});
}

// Each corrupt model file makes sample, eval and info fail naming it.
class CliCorruptModel : public Cli {
 protected:
  void expect_refused(const fs::path& file, const std::vector<std::string>& fragments) {
    SCOPED_TRACE(file.filename().string());
    std::vector<std::string> all = fragments;
    all.push_back(file.filename().string());
    for (const Args& args : {Args{"sample", file.string(), "--seed", "1"},
                             Args{"eval", file.string(), text_path().string()}, Args{"info", file.string()}})
      expect_error_leaving(file.parent_path(), args, all);
    // --init-from fails before training starts.
    expect_error_line(recur(train(text_path(), dir_ / "from-corrupt", {"--init-from", file.string()})), all);
    EXPECT_FALSE(fs::exists(dir_ / "from-corrupt" / "last.safetensors"));
  }
  // The header (JSON) and the data of a model file.
  static std::pair<json, std::string> split(const std::string& bytes) {
    std::uint64_t n = 0;
    std::memcpy(&n, bytes.data(), 8);
    return {json::parse(bytes.substr(8, n)), bytes.substr(8 + n)};
  }
  static std::string join(const json& header, const std::string& data) {
    std::string text = header.dump();
    text.resize((text.size() + 7) / 8 * 8, ' ');
    std::uint64_t n = text.size();
    return std::string(reinterpret_cast<const char*>(&n), 8) + text + data;
  }
};

TEST_F(CliCorruptModel, TruncatedFiles) {
  const std::string bytes = read_bytes(model());
  const auto [header, data] = split(bytes);
  write_bytes(dir_ / "cut4.safetensors", bytes.substr(0, 4));  // shorter than the length field
  expect_refused(dir_ / "cut4.safetensors", {});
  write_bytes(dir_ / "cut-header.safetensors", bytes.substr(0, 100));
  expect_refused(dir_ / "cut-header.safetensors", {"header"});
  write_bytes(dir_ / "cut-data.safetensors", bytes.substr(0, bytes.size() - 100));
  expect_refused(dir_ / "cut-data.safetensors", {"past the end"});
  write_bytes(dir_ / "empty.safetensors", "");
  expect_refused(dir_ / "empty.safetensors", {});
}

TEST_F(CliCorruptModel, OffsetsPastTheEnd) {
  auto [header, data] = split(read_bytes(model()));
  json& entry = header.at("head.bias");
  entry["data_offsets"][1] = entry["data_offsets"][1].get<std::int64_t>() + 1'000'000;
  write_bytes(dir_ / "offsets.safetensors", join(header, data));
  expect_refused(dir_ / "offsets.safetensors", {"head.bias", "data_offsets", "past the end"});
}

TEST_F(CliCorruptModel, NotACharacterModel) {
  // A valid safetensors file without recur.config.
  io::SafetensorsFile file = io::load_safetensors(model());
  file.metadata.erase("recur.config");
  io::save_safetensors((dir_ / "noconfig.safetensors").string(), file.tensors, file.metadata);
  expect_refused(dir_ / "noconfig.safetensors", {"recur.config"});
  // A vocabulary that does not match the tensors.
  file = io::load_safetensors(model());
  file.metadata["recur.vocab"] = R"(["a","b"])";
  io::save_safetensors((dir_ / "vocab.safetensors").string(), file.tensors, file.metadata);
  expect_refused(dir_ / "vocab.safetensors", {"vocab"});
  write_bytes(dir_ / "text.safetensors", "To be, or not to be: that is the question.\n");
  expect_refused(dir_ / "text.safetensors", {});
}

// Hostile files (issue 16): sizes far beyond the tensors present made info, eval and sample
// hang allocating layer after layer; a vocabulary nested 100,000 arrays deep crashed them
// all with a stack overflow.
TEST_F(CliCorruptModel, SizesBeyondTheTensorsAndDeepNesting) {
  const auto [header, data] = split(read_bytes(model()));
  const json config = json::parse(header["__metadata__"]["recur.config"].get<std::string>());
  const std::vector<std::pair<std::string, std::int64_t>> sizes{
      {"layers", std::int64_t{1} << 31}, {"layers", INT64_MAX}, {"hidden", std::int64_t{1} << 40},
      {"embed", std::int64_t{1} << 40}};
  for (const auto& [field, value] : sizes) {
    json hostile = header, hostile_config = config;
    hostile_config[field] = value;
    hostile["__metadata__"]["recur.config"] = hostile_config.dump();
    const fs::path file = dir_ / (field + std::to_string(value) + ".safetensors");
    write_bytes(file, join(hostile, data));
    expect_refused(file, {"recur.config"});
  }
  json deep = header;
  deep["__metadata__"]["recur.vocab"] = std::string(100'000, '[') + std::string(100'000, ']');
  write_bytes(dir_ / "deep.safetensors", join(deep, data));
  expect_refused(dir_ / "deep.safetensors", {"recur.vocab", "nesting at most 64 levels"});
}

TEST_F(Cli, PrimeOutsideTheVocabularyNamesTheCharacterAndPosition) {
  const fs::path out = previous_run();
  expect_error_leaving(out, {"sample", (out / "best.safetensors").string(), "--prime", "The 猫 sat", "--seed", "1"},
                       {"--prime", "'猫' (U+732B)", "position 4", "not in the vocabulary"});
}

TEST_F(Cli, EvalTextOutsideTheVocabularyNamesTheCharacterAndPosition) {
  const fs::path out = previous_run();
  const std::string model_file = (out / "best.safetensors").string();
  write_bytes(dir_ / "eval.txt", "First Citizen:\nWe are § accounted poor citizens.\n");
  expect_error_leaving(out, {"eval", model_file, (dir_ / "eval.txt").string()},
                       {"eval.txt", "'§' (U+00A7)", "position 22", "--skip-unknown"});
  Result r = recur({"eval", model_file, (dir_ / "eval.txt").string(), "--skip-unknown", "--json", "--threads", "1"});
  ASSERT_TRUE(r.ok()) << r;
  json j = json::parse(r.out);
  EXPECT_EQ(j.at("chars"), 48);  // 49 characters, one left out
  EXPECT_EQ(j.at("predicted"), 47);
  EXPECT_NE(r.err.find("left out 1"), std::string::npos) << r.err;
}

TEST_F(Cli, BadFlagValuesAreOneLineErrors) {
  const fs::path out = previous_run();
  const std::vector<std::pair<Args, std::vector<std::string>>> train_cases = {
      {{"--hidden", "0"}, {"--hidden", "0"}},
      {{"--hidden", "many"}, {"--hidden", "many"}},
      {{"--layers", "-1"}, {"--layers", "-1"}},
      {{"--batch-size", "0"}, {"--batch-size", "0"}},
      {{"--seq-length", "0"}, {"--seq-length", "0"}},
      {{"--embed", "-3"}, {"--embed", "-3"}},
      {{"--cell", "foo"}, {"--cell", "foo"}},
      {{"--optimizer", "lbfgs"}, {"--optimizer", "lbfgs"}},
      {{"--lr", "0"}, {"--lr", "0"}},
      {{"--dropout", "1.5"}, {"--dropout", "1.5"}},
      {{"--dropout", "1"}, {"--dropout", "[0, 1)"}},
      {{"--max-vocab", "1"}, {"--max-vocab", "got 1"}},
      {{"--val-fraction", "0.6", "--test-fraction", "0.6"}, {"--val-fraction 0.6", "leave no text"}},
      {{"--max-time", "5x"}, {"--max-time", "5x"}},
      {{"--max-time", "-2s"}, {"--max-time", "-2s"}},
      {{"--lr-schedule", "cosine"}, {"--lr-schedule", "--max-steps"}},
      {{"--bogus"}, {"--bogus"}},
  };
  for (const auto& [flags, fragments] : train_cases)
    expect_error_leaving(out, train(text_path(), out, flags), fragments);
  const std::string model_file = (out / "best.safetensors").string();
  const std::vector<std::pair<Args, std::vector<std::string>>> other_cases = {
      {{"sample", model_file, "--temperature", "0"}, {"--temperature", "0"}},
      {{"sample", model_file, "--temperature", "-1"}, {"--temperature", "-1"}},
      {{"sample", model_file, "--num-samples", "0"}, {"--num-samples", "0"}},
      {{"sample", model_file, "--length", "-5"}, {"--length", "-5"}},
      {{"sample", model_file, "--top-k", "-1"}, {"--top-k", "-1"}},
      {{"sample", model_file, "--stream", "--num-samples", "2"}, {"--stream", "--num-samples"}},
      {{"sample"}, {"MODEL"}},
      {{"sample", model_file, "--bogus"}, {"--bogus"}},
      {{"eval", model_file}, {"TEXT"}},
      {{"eval", model_file, text_path().string(), "--threads", "0"}, {"--threads", "0"}},
      {{"info", model_file, "extra"}, {"extra"}},
      {{"frobnicate"}, {"unknown command 'frobnicate'", "train, sample, eval, score, predict, info"}},
      {{}, {"give a command"}},
  };
  for (const auto& [args, fragments] : other_cases) expect_error_leaving(out, args, fragments);
}

TEST_F(Cli, ResumeRefusesOptionsThatWouldChangeTheRun) {
  // A flag whose value differs from the run's is refused, naming the flag and both values.
  const fs::path out = previous_run();
  const std::vector<std::pair<Args, std::vector<std::string>>> cases = {
      {{"--lr", "0.1"}, {"--lr 0.1", "the run has --lr 0.002"}},
      {{"--hidden", "32"}, {"--hidden 32", "the run has --hidden 16"}},
      {{"--seed", "5"}, {"--seed 5", "the run has --seed 1"}},
      {{"--peephole"}, {"--peephole true", "the run has --peephole false"}},
  };
  for (const auto& [flags, fragments] : cases) {
    std::vector<std::string> expected = fragments;
    expected.insert(expected.end(), {"--resume", "cannot be given"});
    expect_error_leaving(out, Args{"train", "--resume", "--out", out.string()} + flags, expected);
  }
  write_bytes(dir_ / "other.txt", read_bytes(text_path()));
  expect_error_leaving(out, {"train", (dir_ / "other.txt").string(), "--resume", "--out", out.string()},
                       {"TEXT", (dir_ / "other.txt").string(), "the run has TEXT " + text_path().string()});
}

TEST_F(Cli, ResumeAcceptsTheOriginalCommandAgain) {
  // The command that made the run, with --resume added and a larger budget: every flag
  // repeats the run's value, and the budget may change.
  const fs::path out = previous_run();
  Result r = recur(train(text_path(), out, {"--eval-every", "20", "--max-steps", "60", "--resume"}));
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_NE(r.err.find("resuming at step 40"), std::string::npos) << r.err;
  EXPECT_EQ(checkpoint_step(out / "last.safetensors"), 60);
}

TEST_F(Cli, TrainHelpListsEveryRegisteredOptionInItsGroup) {
  Result r = recur({"train", "--help"});
  ASSERT_TRUE(r.ok()) << r;
  train::LanguageModelTask task;
  for (const train::OptionSpec& spec : train::run_options(task)) {
    const std::string flag = train::flag_name(spec);
    EXPECT_EQ(r.out.find(flag) != std::string::npos, spec.command_line) << flag << " in:\n" << r.out;
  }
  for (const char* group : {"Data:", "Model:", "Optimizer:", "Budget:", "Reporting:"})
    EXPECT_NE(r.out.find(group), std::string::npos) << group << " missing in:\n" << r.out;
}

TEST_F(Cli, VersionNamesTheBuildsBackends) {
  Result r = recur({"--version"});
  ASSERT_TRUE(r.ok()) << r;
  for (const char* fragment : {"recur 0.", "BLAS", "OpenBLAS", "threads", "CUDA"})
    EXPECT_NE(r.out.find(fragment), std::string::npos) << fragment << " missing in:\n" << r.out;
}

// ------------------------------------------------------------------ kill -9, resume, nan

class CliResume : public Cli {
 protected:
  static constexpr std::int64_t kSteps = 300, kEvalEvery = 50;
  Args run_flags(const Args& more = {}) const {
    return kTiny + Args{"--max-steps", std::to_string(kSteps), "--eval-every", std::to_string(kEvalEvery),
                        "--checkpoint-every", "5"} + more;
  }
  // The run without interruption.
  fs::path whole_run(const Args& more = {}) {
    const fs::path out = dir_ / "whole";
    Result r = recur(Args{"train", text_path().string(), "--out", out.string()} + run_flags(more));
    EXPECT_TRUE(r.ok()) << r;
    return out;
  }
  // metrics.jsonl and the final training state (weights, optimizer, data position,
  // generator) of `resumed` are those of `whole`.
  void expect_same_run(const fs::path& whole, const fs::path& resumed) {
    const auto expected = read_metrics(whole / "metrics.jsonl"), got = read_metrics(resumed / "metrics.jsonl");
    ASSERT_EQ(expected.size(), static_cast<std::size_t>(kSteps / kEvalEvery));
    EXPECT_EQ(got, expected);
    EXPECT_NE(expected.front()[1], expected.back()[1]);  // the losses moved
    EXPECT_EQ(read_bytes(resumed / "samples.jsonl"), read_bytes(whole / "samples.jsonl"));
    expect_same_tensors(whole / "last.safetensors", resumed / "last.safetensors");
    EXPECT_EQ(checkpoint_step(resumed / "last.safetensors"), kSteps);
  }
};

TEST_F(CliResume, KilledRunResumesWithExactlyTheUninterruptedLosses) {
  const fs::path whole = whole_run();
  const fs::path killed = dir_ / "killed";
  // SIGKILL once last.safetensors holds a step between evaluations (the run takes under a
  // second, and a checkpoint comes every 5 steps); retried if the run ends first.
  std::int64_t killed_after = -1;
  for (int attempt = 0; attempt < 5 && killed_after < 0; ++attempt) {
    fs::remove_all(killed);
    const pid_t pid =
        spawn_recur(Args{"train", text_path().string(), "--out", killed.string()} + run_flags(), capture());
    int status = 0;
    while (waitpid(pid, &status, WNOHANG) == 0) {
      const std::int64_t step = checkpoint_step(killed / "last.safetensors");
      if (step > kEvalEvery && step % kEvalEvery != 0 && step < kSteps - kEvalEvery) {
        kill(pid, SIGKILL);
        waitpid(pid, &status, 0);
        EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << status;
        killed_after = step;
        break;
      }
      std::this_thread::sleep_for(std::chrono::microseconds(300));
    }
  }
  ASSERT_GT(killed_after, 0) << "the run always ended before it could be killed";
  const std::int64_t resume_step = checkpoint_step(killed / "last.safetensors");
  ASSERT_GE(resume_step, killed_after);
  ASSERT_LT(resume_step, kSteps);
  Result r = recur({"train", "--resume", "--out", killed.string(), "--threads", "1"});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_NE(r.err.find("resuming at step " + std::to_string(resume_step)), std::string::npos) << r.err;
  expect_same_run(whole, killed);
}

TEST_F(CliResume, ResumingFromAnEvaluationWithALargerBudgetGivesTheLongerRun) {
  // The run stops at its first evaluation whose checkpoint is the one resumed from.
  const fs::path whole = whole_run();
  const fs::path split = dir_ / "split";
  Result r = recur(Args{"train", text_path().string(), "--out", split.string()} + run_flags() +
                   Args{"--max-steps", std::to_string(2 * kEvalEvery)});
  ASSERT_TRUE(r.ok()) << r;
  r = recur({"train", "--resume", "--out", split.string(), "--threads", "1", "--max-steps", std::to_string(kSteps)});
  ASSERT_TRUE(r.ok()) << r;
  expect_same_run(whole, split);
}

// --lr-decay-stalled: the learning rate is multiplied by --lr-decay after that many
// evaluations in a row without a better validation loss, and a run resumed at any
// evaluation carries the count and the factor on. A rate too small to move any weight makes
// every evaluation equal the first, so the rate halves after the third and the fifth.
TEST_F(CliResume, StalledEvaluationsDecayTheLearningRateAcrossResumes) {
  const Args decay = {"--lr", "1e-30", "--lr-decay", "0.5", "--lr-decay-stalled", "2"};
  // Each record's "lr" (the one its steps used) and "val_loss".
  auto read_column = [](const fs::path& run, const char* key) {
    std::vector<double> values;
    std::ifstream in(run / "metrics.jsonl");
    for (std::string line; std::getline(in, line);) values.push_back(json::parse(line).at(key).get<double>());
    return values;
  };
  const fs::path whole = whole_run(decay);
  const std::vector<double> val_loss = read_column(whole, "val_loss");
  ASSERT_EQ(val_loss, std::vector<double>(6, val_loss.front()));
  const double r = 1e-30;
  const std::vector<double> rates = read_column(whole, "lr");
  EXPECT_EQ(rates, (std::vector<double>{r, r, r, r * 0.5, r * 0.5, r * 0.25}));
  for (std::int64_t at = kEvalEvery; at < kSteps; at += kEvalEvery) {
    const fs::path split = dir_ / ("split" + std::to_string(at));
    Result run = recur(Args{"train", text_path().string(), "--out", split.string()} + run_flags(decay) +
                       Args{"--max-steps", std::to_string(at)});
    ASSERT_TRUE(run.ok()) << run;
    run = recur({"train", "--resume", "--out", split.string(), "--threads", "1", "--max-steps", std::to_string(kSteps)});
    ASSERT_TRUE(run.ok()) << run;
    EXPECT_EQ(read_column(split, "lr"), rates) << "resumed at step " << at;
    expect_same_run(whole, split);
  }
}

TEST_F(Cli, NonFiniteLossStopsTrainingAndKeepsTheLastGoodCheckpoint) {
  // Adam moves every weight by about lr a step: with lr 5e35 and no clipping the logits pass
  // float32's largest value, and the validation loss becomes inf, at step 4, after the
  // evaluation of step 2 (3e35 stays finite for 100 steps, 8e35 fails at step 2). Overflow
  // of the logits themselves, unlike an inf - inf inside the products, does not depend on
  // which kernel sums them (BLAS's, of any CPU, or recur's packed one).
  const fs::path out = dir_ / "nan";
  const fs::path capture = this->capture();
  const Args flags = {"--lr", "5e35", "--clip", "0", "--eval-every", "2", "--max-steps", "100"};
  Result r = collect(spawn_recur(train(text_path(), out, flags), capture), capture);
  EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0) << r;
  EXPECT_EQ(r.out, "");
  // One error line, the last, naming the step and the checkpoint left.
  const std::string last_line = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
  EXPECT_EQ(r.err.find("recur: error:"), r.err.size() - last_line.size()) << r.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(last_line, m,
                                std::regex("recur: error: the (training|validation) loss became (nan|inf|-inf) at step "
                                           "([0-9]+); training stopped, and the last good checkpoint (.*) \\(step "
                                           "([0-9]+)\\) is intact")))
      << last_line;
  const std::int64_t failed = std::stoll(m[3]), kept = std::stoll(m[5]);
  EXPECT_EQ(m[4], (out / "last.safetensors").string());
  EXPECT_GE(kept, 2);
  EXPECT_EQ(kept % 2, 0);
  EXPECT_GT(failed, kept);
  // last.safetensors is that evaluation's model, finite, and loads; metrics end there.
  char name[64];
  std::snprintf(name, sizeof name, "step%06lld_val", static_cast<long long>(kept));
  fs::path evaluation;
  for (const fs::directory_entry& e : fs::directory_iterator(out))
    if (e.path().filename().string().rfind(name, 0) == 0) evaluation = e.path();
  ASSERT_FALSE(evaluation.empty()) << "no checkpoint of step " << kept;
  EXPECT_EQ(checkpoint_step(out / "last.safetensors"), kept);
  expect_same_tensors(evaluation, out / "last.safetensors", /*model_only=*/true);
  train::LoadedLanguageModel loaded = train::load_language_model((out / "last.safetensors").string());
  for (const Tensor& p : loaded.model->parameters())
    for (float v : p.to_vector<float>()) ASSERT_TRUE(std::isfinite(v));
  const auto metrics = read_metrics(out / "metrics.jsonl");
  ASSERT_FALSE(metrics.empty());
  EXPECT_EQ(metrics.back()[0], static_cast<double>(kept));
  for (const auto& row : metrics) EXPECT_TRUE(std::isfinite(row[2]));
  EXPECT_TRUE(recur({"info", (out / "last.safetensors").string()}).ok());
}

// ------------------------------------------------------------------ writes that fail

// A full disk or a file-size limit in the middle of any file that training writes stops the
// run with one error line naming the file and leaves that file as it was; the files the same
// evaluation wrote before it are complete, and --resume continues from the last good
// checkpoint to the end an uninterrupted run reaches (issue 16).
class CliFailedWrites : public Cli {
 protected:
  // Resumes a copy of base/ (40 steps, an evaluation every 20) towards step 60 in `out`,
  // launched by `launcher` with `extra_env`, expecting writing `file` to fail for `reason`;
  // of the files base/ has, only those in `written_before` may change.
  void expect_failed_resume(const fs::path& out, const std::string& file, const std::string& reason,
                            const Args& launcher, const Args& extra_env, const std::set<std::string>& written_before) {
    fs::copy(base(), out, fs::copy_options::recursive);
    const auto before = snapshot(out);
    const Args resume{"train", "--resume", "--out", out.string(), "--max-steps", "60"};
    const fs::path captured = capture();
    const Result r = collect(spawn_recur(resume, captured, "/dev/null", launcher, extra_env), captured);
    // Progress lines may come first; the error is the last line.
    EXPECT_TRUE(WIFEXITED(r.status) && WEXITSTATUS(r.status) != 0) << r;
    const std::string last_line = r.err.substr(r.err.rfind('\n', r.err.size() - 2) + 1);
    EXPECT_EQ(last_line.rfind("recur: error: ", 0), 0u) << r.err;
    EXPECT_NE(last_line.find((out / file).string()), std::string::npos) << last_line;
    EXPECT_NE(last_line.find(reason), std::string::npos) << last_line;
    const auto after = snapshot(out);
    for (const auto& [name, bytes] : before) {
      ASSERT_TRUE(after.count(name)) << name << " was removed";
      if (!written_before.count(name)) {
        EXPECT_TRUE(after.at(name) == bytes) << name << " changed";
      }
    }
    for (const auto& [name, bytes] : after) {
      EXPECT_EQ(name.find(".tmp-"), std::string::npos) << "a temporary file was left: " << name;
      if (name.ends_with(".safetensors")) {
        EXPECT_TRUE(recur({"info", (out / name).string()}).ok()) << name;
      }
    }
    // The run goes on from step 40 and ends as an uninterrupted one.
    const Result resumed = recur(resume);
    ASSERT_TRUE(resumed.ok()) << resumed;
    EXPECT_EQ(checkpoint_step(out / "last.safetensors"), 60);
    const auto metrics = read_metrics(out / "metrics.jsonl");
    ASSERT_EQ(metrics.size(), 3u);
    for (std::size_t i = 0; i < metrics.size(); ++i) EXPECT_EQ(metrics[i][0], 20.0 * (i + 1));
  }
};

TEST_F(CliFailedWrites, EachFileThatTrainingWrites) {
  // The files of an evaluation in the order they are written. RECUR_TEST_FAIL_WRITE makes
  // writes to files whose name starts so fail with ENOSPC halfway (src/io/file.cpp).
  std::set<std::string> written_before;
  for (const std::string file : {"step000060_val", "best.safetensors", "metrics.jsonl", "samples.jsonl", "loss.svg",
                                 "last.safetensors"}) {
    SCOPED_TRACE(file);
    expect_failed_resume(dir_ / file, file, "No space left on device", {}, {"RECUR_TEST_FAIL_WRITE=" + file},
                         written_before);
    written_before.insert(file);
  }
}

TEST_F(CliFailedWrites, FileSizeLimit) {
  // Under `ulimit -f` the resumed run's first checkpoint passes the limit: recur reports it
  // (EFBIG) instead of dying of SIGXFSZ.
  const std::int64_t limit = static_cast<std::int64_t>(fs::file_size(base() / "best.safetensors")) / 2;
  expect_failed_resume(dir_ / "limited", "step000060_val", "File too large",
                       {"/usr/bin/prlimit", "--fsize=" + std::to_string(limit), "--"}, {}, {});
}

// ------------------------------------------------------------------ what the commands do

TEST_F(Cli, FreshRunIntoAnExistingRunNeedsOverwrite) {
  const fs::path out = previous_run();
  expect_error_leaving(out, train(text_path(), out, {"--max-steps", "5"}), {"already holds a run", "--overwrite"});
  expect_error_leaving(out, train(text_path(), out, {"--overwrite", "--resume"}), {"--overwrite", "--resume"});

  // --overwrite replaces the run: the old evaluations' checkpoints go with it.
  fs::copy_file(out / "best.safetensors", out / "last.safetensors.tmp-1-0");  // as a kill mid-save leaves
  ASSERT_TRUE(fs::exists(out / "samples.jsonl"));
  Result r = recur(train(text_path(), out, {"--overwrite", "--max-steps", "5", "--eval-every", "0", "--sample-length", "0"}));
  ASSERT_TRUE(r.ok()) << r;
  std::vector<std::string> names;
  for (const fs::directory_entry& e : fs::directory_iterator(out)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  // best, init, last, loss.svg, metrics.jsonl and the one evaluation at step 5 (no
  // samples.jsonl: --sample-length 0).
  ASSERT_EQ(names.size(), 6u) << testing::PrintToString(names);
  EXPECT_EQ(names[5].rfind("step000005_val", 0), 0u) << names[5];
  EXPECT_EQ(checkpoint_step(out / "last.safetensors"), 5);
}

TEST_F(Cli, TrainWritesCheckpointsMetricsChartAndAJsonSummary) {
  const fs::path out = dir_ / "run";
  Result r = recur(train(text_path(), out, {"--max-steps", "30", "--eval-every", "10", "--json"}));
  ASSERT_TRUE(r.ok()) << r;
  for (const char* file : {"init.safetensors", "best.safetensors", "last.safetensors", "metrics.jsonl", "loss.svg"})
    EXPECT_TRUE(fs::exists(out / file)) << file;
  int evaluations = 0;
  const std::regex evaluation_name(R"(step0000[123]0_val[0-9]+\.[0-9]{4}\.safetensors)");
  for (const fs::directory_entry& e : fs::directory_iterator(out))
    if (std::regex_match(e.path().filename().string(), evaluation_name)) ++evaluations;
  EXPECT_EQ(evaluations, 3);

  // Exactly one line on stdout: the summary.
  ASSERT_EQ(count_lines(r.out), 1u) << r.out;
  json summary = json::parse(r.out);
  for (const char* key : {"steps", "epochs", "chars_per_sec", "train_loss", "val_loss", "best_checkpoint"})
    EXPECT_TRUE(summary.contains(key)) << key;
  EXPECT_EQ(summary.at("steps"), 30);
  EXPECT_GT(summary.at("chars_per_sec").get<double>(), 0);
  const fs::path best = summary.at("best_checkpoint").get<std::string>();
  ASSERT_TRUE(fs::exists(best)) << best;
  expect_same_tensors(best, out / "best.safetensors", /*model_only=*/true);

  // metrics.jsonl: one object a line, steps 10, 20, 30; the summary's losses are the last.
  const auto metrics = read_metrics(out / "metrics.jsonl");
  ASSERT_EQ(metrics.size(), 3u);
  for (std::size_t i = 0; i < 3; ++i) EXPECT_EQ(metrics[i][0], 10.0 * static_cast<double>(i + 1));
  EXPECT_EQ(metrics.back()[1], summary.at("train_loss").get<double>());
  EXPECT_EQ(metrics.back()[2], summary.at("val_loss").get<double>());
  EXPECT_LT(metrics.back()[2], metrics.front()[2]);  // it learns

  // samples.jsonl: a sample of --sample-length (default 200) characters of the text's
  // vocabulary at each evaluation.
  const std::string text = read_bytes(text_path());
  std::ifstream samples(out / "samples.jsonl");
  std::vector<std::string> texts;
  for (std::string line; std::getline(samples, line);) {
    json sample = json::parse(line);
    EXPECT_EQ(sample.at("step"), 10 * static_cast<int>(texts.size() + 1));
    texts.push_back(sample.at("text"));
    const std::u32string chars = data::decode_utf8(texts.back(), "samples.jsonl");
    EXPECT_EQ(chars.size(), 200u);
    for (char32_t c : chars)
      EXPECT_NE(text.find(data::encode_utf8(std::u32string(1, c))), std::string::npos) << "U+" << std::hex << static_cast<std::uint32_t>(c);
  }
  ASSERT_EQ(texts.size(), 3u);
  EXPECT_NE(texts[0], texts[2]);

  // loss.svg: the losses above; the learning rate and the gradient norm below. A language
  // model has no figure for a right axis on the upper panel.
  const std::string svg = read_bytes(out / "loss.svg");
  EXPECT_NE(svg.find("<svg"), std::string::npos);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  for (const char* text : {">train</text>", ">validation</text>", ">learning rate</text>", ">lr</text>",
                           ">gradient norm (before clipping)</text>", ">grad_norm</text>", ">step</text>"})
    EXPECT_NE(svg.find(text), std::string::npos) << text;
  EXPECT_EQ(svg.find("fraction"), std::string::npos);
}

TEST_F(Cli, ChartOfMetricsWrittenBeforeGradNorm) {
  // A metrics.jsonl from before grad_norm was recorded (one record without it, one null): the
  // resumed run's loss.svg skips those and draws the gradient norm it records, a lone dot.
  const fs::path out = previous_run();
  std::string old_records;
  std::ifstream in(out / "metrics.jsonl");
  for (std::string line; std::getline(in, line);) {
    json j = json::parse(line);
    if (old_records.empty()) j.erase("grad_norm");
    else j["grad_norm"] = nullptr;
    old_records += j.dump() + "\n";
  }
  in.close();
  write_bytes(out / "metrics.jsonl", old_records);
  Result r = recur(train(text_path(), out, {"--eval-every", "20", "--max-steps", "60", "--resume"}));
  ASSERT_TRUE(r.ok()) << r;
  const std::string svg = read_bytes(out / "loss.svg");
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
  EXPECT_NE(svg.find(">grad_norm</text>"), std::string::npos);
  // grad_norm is the fourth colour (after train, validation and lr): one point, drawn as a dot.
  EXPECT_NE(svg.find("<g fill=\"#d62728\">\n<circle"), std::string::npos) << svg;
}

TEST_F(Cli, SamplePrintsThePrimeAndExactlyLengthCharacters) {
  const Args base_args = {"sample", model(), "--prime", "First ", "--length", "60", "--threads", "1"};
  Result a = recur(base_args + Args{"--seed", "7"});
  ASSERT_TRUE(a.ok()) << a;
  EXPECT_EQ(a.out.rfind("First ", 0), 0u) << a.out;
  EXPECT_EQ(data::decode_utf8(a.out).size(), 66u) << a.out;
  EXPECT_EQ(a.err, "");  // a given seed is not echoed
  EXPECT_EQ(recur(base_args + Args{"--seed", "7"}).out, a.out);
  EXPECT_NE(recur(base_args + Args{"--seed", "8"}).out, a.out);
  // Without --seed the seed is printed on stderr, never on stdout.
  Result unseeded = recur(base_args);
  ASSERT_TRUE(unseeded.ok()) << unseeded;
  EXPECT_EQ(data::decode_utf8(unseeded.out).size(), 66u);
  EXPECT_NE(unseeded.err.find("seed"), std::string::npos);
  // Greedy sampling is deterministic.
  Result greedy = recur(base_args + Args{"--argmax"});
  ASSERT_TRUE(greedy.ok()) << greedy;
  EXPECT_EQ(recur(base_args + Args{"--argmax"}).out, greedy.out);
  EXPECT_EQ(data::decode_utf8(greedy.out).size(), 66u);
  // --stream prints the same text as it goes.
  EXPECT_EQ(recur(base_args + Args{"--seed", "7", "--stream"}).out, a.out);
  // No prime: just the generated characters.
  Result plain = recur({"sample", model(), "--length", "25", "--seed", "3", "--threads", "1"});
  EXPECT_EQ(data::decode_utf8(plain.out).size(), 25u) << plain;
}

TEST_F(Cli, SampleNumSamplesAreSeparatedByBlankLines) {
  Result r = recur({"sample", model(), "--prime", "A", "--length", "30", "--num-samples", "3", "--seed", "2",
                    "--top-k", "5", "--temperature", "0.8", "--threads", "1"});
  ASSERT_TRUE(r.ok()) << r;
  // Each sample is exactly 31 characters (prime + length), so the layout is exact even when
  // a sample holds blank lines itself.
  const std::u32string text = data::decode_utf8(r.out);
  ASSERT_EQ(text.size(), 3u * 31 + 2 * 2) << r.out;
  std::vector<std::u32string> samples;
  for (std::size_t i = 0; i < 3; ++i) {
    samples.push_back(text.substr(i * 33, 31));
    EXPECT_EQ(samples.back()[0], U'A');
    if (i < 2) {
      EXPECT_EQ(text.substr(i * 33 + 31, 2), U"\n\n");
    }
  }
  EXPECT_FALSE(samples[0] == samples[1] && samples[1] == samples[2]) << r.out;
}

TEST_F(Cli, EvalReportsNllBitsPerCharAndPerplexity) {
  write_bytes(dir_ / "excerpt.txt", std::string(read_bytes(text_path()), 3000, 1000));
  Result r = recur({"eval", model(), (dir_ / "excerpt.txt").string(), "--json", "--threads", "1"});
  ASSERT_TRUE(r.ok()) << r;
  ASSERT_EQ(count_lines(r.out), 1u) << r.out;
  const nlohmann::ordered_json j = nlohmann::ordered_json::parse(r.out);
  std::vector<std::string> keys;
  for (const auto& item : j.items()) keys.push_back(item.key());
  EXPECT_EQ(keys, (std::vector<std::string>{"chars", "predicted", "nll_nats", "nats_per_char", "bpc", "perplexity"}));
  EXPECT_EQ(j.at("chars"), 1000);
  EXPECT_EQ(j.at("predicted"), 999);
  const double mean = j.at("nats_per_char");
  EXPECT_NEAR(j.at("nll_nats").get<double>() / 999, mean, 1e-12 * mean);
  EXPECT_NEAR(j.at("bpc").get<double>(), mean / std::log(2.0), 1e-12);
  EXPECT_NEAR(j.at("perplexity").get<double>(), std::exp(mean), 1e-9 * std::exp(mean));
  EXPECT_GT(mean, 1.0);
  const double vocab_size = static_cast<double>(train::load_language_model(model()).vocab.size());
  EXPECT_LT(mean, std::log(vocab_size));  // better than uniform over the vocabulary
  // The plain report holds the same numbers.
  Result plain = recur({"eval", model(), (dir_ / "excerpt.txt").string(), "--threads", "1"});
  ASSERT_TRUE(plain.ok()) << plain;
  char expected[64];
  std::snprintf(expected, sizeof expected, "%.4f nats/char", mean);
  EXPECT_NE(plain.out.find(expected), std::string::npos) << plain.out;
}

TEST_F(Cli, InfoPrintsTheConfigurationAndTrainingState) {
  Result r = recur({"info", (base() / "last.safetensors").string()});
  ASSERT_TRUE(r.ok()) << r;
  const std::int64_t vocab_size = train::load_language_model(model()).vocab.size();
  const std::string vocabulary = "vocabulary  " + std::to_string(vocab_size) + " tokens";
  for (const std::string& fragment : {std::string("lstm, 2 layers of 16"), std::string("embedding 8"),
                                      std::string("parameters"), vocabulary, std::string("step 40"),
                                      std::string("validation loss"),
                                      // the run's options, by group, as flags (the option registry)
                                      std::string("options     data: --task lm " + text_path().string()),
                                      std::string("model: --cell lstm --layers 2 --hidden 16 --embed 8"),
                                      std::string("budget: --max-epochs 0 --max-steps 40")})
    EXPECT_NE(r.out.find(fragment), std::string::npos) << fragment << " missing in:\n" << r.out;
  // A model file that did not come from recur train has no training state.
  io::SafetensorsFile file = io::load_safetensors(model());
  file.metadata = {{"recur.config", file.metadata.at("recur.config")},
                   {"recur.vocab", file.metadata.at("recur.vocab")}};
  io::save_safetensors((dir_ / "plain.safetensors").string(), file.tensors, file.metadata);
  r = recur({"info", (dir_ / "plain.safetensors").string()});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_NE(r.out.find("no training state"), std::string::npos) << r.out;
}

TEST_F(Cli, ChineseTextTrainsAndSamplesValidUtf8) {
  write_bytes(dir_ / "poems.txt", cjk_text(1200));
  const fs::path out = dir_ / "poems";
  Result r = recur(train(dir_ / "poems.txt", out, {"--max-steps", "30", "--eval-every", "0"}));
  ASSERT_TRUE(r.ok()) << r;
  train::LoadedLanguageModel loaded = train::load_language_model((out / "best.safetensors").string());
  const std::string text = read_bytes(dir_ / "poems.txt");
  EXPECT_EQ(loaded.vocab.tokens(), data::Vocab::build(data::decode_utf8(text)).tokens());
  EXPECT_TRUE(loaded.vocab.contains(U'春'));
  r = recur({"sample", (out / "best.safetensors").string(), "--prime", "春眠", "--length", "40", "--seed", "1",
             "--threads", "1"});
  ASSERT_TRUE(r.ok()) << r;
  std::u32string sample;
  ASSERT_NO_THROW(sample = data::decode_utf8(r.out)) << r.out;
  EXPECT_EQ(sample.size(), 42u);
  EXPECT_EQ(sample.substr(0, 2), U"春眠");
  for (char32_t c : sample.substr(2)) EXPECT_TRUE(loaded.vocab.contains(c)) << data::describe_char(c);
}

TEST_F(Cli, MaxVocabKeepsTheMostFrequentAndAddsUnknownLast) {
  write_bytes(dir_ / "poems.txt", cjk_text(1200));
  const fs::path out = dir_ / "poems";
  Result r = recur(train(dir_ / "poems.txt", out, {"--max-steps", "5", "--max-vocab", "10"}));
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_NE(r.err.find("vocabulary 10"), std::string::npos) << r.err;
  train::LoadedLanguageModel loaded = train::load_language_model((out / "best.safetensors").string());
  ASSERT_EQ(loaded.vocab.size(), 10);
  EXPECT_EQ(loaded.vocab.token(9), "<unk>");
  EXPECT_EQ(loaded.vocab.unknown_index(), 9);
  EXPECT_EQ(loaded.model->config.vocab_size, 10);
  r = recur({"info", (out / "best.safetensors").string()});
  EXPECT_NE(r.out.find("10 tokens"), std::string::npos) << r.out;
  // Every character has a token now, so eval accepts any text.
  write_bytes(dir_ / "other.txt", "Hello, world! 你好，世界。\n");
  r = recur({"eval", (out / "best.safetensors").string(), (dir_ / "other.txt").string(), "--json", "--threads", "1"});
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_EQ(json::parse(r.out).at("chars"), 21);
}

TEST_F(Cli, MaxTimeStopsTrainingInAboutThatTime) {
  const auto start = std::chrono::steady_clock::now();
  Result r = recur(train(text_path(), dir_ / "timed", {"--max-time", "1s", "--eval-every", "0", "--json"}));
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r.ok()) << r;
  EXPECT_GE(seconds, 1.0);
  EXPECT_LT(seconds, 5.0);
  const json summary = json::parse(r.out);
  EXPECT_GT(summary.at("steps").get<std::int64_t>(), 10);
  EXPECT_GE(summary.at("seconds").get<double>(), 1.0);
}

TEST_F(Cli, InitFromStartsFromTheModelsWeights) {
  // One step from scratch and one step from base's best (40 steps of training): the latter's
  // validation loss is base's, far below a fresh model's.
  const Args one_step = {"--max-steps", "1", "--eval-every", "1", "--json"};
  Result fresh = recur(train(text_path(), dir_ / "fresh", one_step));
  Result tuned = recur(train(text_path(), dir_ / "tuned", one_step + Args{"--init-from", model()}));
  ASSERT_TRUE(fresh.ok()) << fresh;
  ASSERT_TRUE(tuned.ok()) << tuned;
  const double fresh_val = json::parse(fresh.out).at("val_loss"), tuned_val = json::parse(tuned.out).at("val_loss");
  const double base_val = read_metrics(base() / "metrics.jsonl").back()[2];
  EXPECT_LT(tuned_val, fresh_val - 0.2) << "fresh " << fresh_val << ", from base " << tuned_val;
  EXPECT_NEAR(tuned_val, base_val, 0.1);
  // The architecture comes from the model, not from the flags.
  train::LoadedLanguageModel loaded = train::load_language_model((dir_ / "tuned" / "last.safetensors").string());
  EXPECT_EQ(loaded.model->config.hidden, 16);
  EXPECT_EQ(loaded.vocab.tokens(), train::load_language_model(model()).vocab.tokens());
}

}  // namespace
}  // namespace recur
