// Data-parallel training (include/recur/dist.hpp) under `mpirun --oversubscribe -np 2`: two
// processes train as one (the same losses at every step, the same weights), a run resumes
// with another number of processes, and an error or a killed process ends the whole run.
// Skipped, with the reason, in a build without MPI or where mpirun is not installed.
#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <functional>
#include <cmath>
#include <nlohmann/json.hpp>
#include <thread>

#include "cli_helpers.hpp"
#include "recur/recur.hpp"

namespace recur {
namespace {

using json = nlohmann::json;

const fs::path kMpirun = "/usr/bin/mpirun";
// Open MPI refuses to run as root (CI containers) without these; the vader setting avoids
// its cross-memory-attach copies, which containers without ptrace rights forbid.
const Args kMpiEnv = {"OMPI_ALLOW_RUN_AS_ROOT=1", "OMPI_ALLOW_RUN_AS_ROOT_CONFIRM=1",
                      "OMPI_MCA_btl_vader_single_copy_mechanism=none"};

Args mpirun(int processes) { return {kMpirun.string(), "--oversubscribe", "-np", std::to_string(processes)}; }

// A small char model, one thread a process, an evaluation every step (so metrics.jsonl
// holds every step's training loss). 7 streams: 3 and 4 for two processes, unequal shares.
Args tiny_run(const fs::path& text, int steps) {
  return {"train", text.string(), "--hidden", "24", "--embed", "8", "--batch-size", "7",
          "--seq-length", "12", "--max-steps", std::to_string(steps), "--eval-every", "1", "--sample-length", "0",
          "--threads", "1"};
}

// Waits for `pid` at most `seconds`; kills it (and fails) if it has not ended by then, so
// that a hang fails the test instead of holding the suite.
Result collect_within(pid_t pid, const fs::path& capture, int seconds) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(seconds);
  int status = 0;
  while (waitpid(pid, &status, WNOHANG) == 0) {
    if (std::chrono::steady_clock::now() > deadline) {
      kill(pid, SIGKILL);
      waitpid(pid, &status, 0);
      ADD_FAILURE() << "still running after " << seconds << " s: killed";
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  Result r;
  r.status = status;
  r.out = read_bytes(capture.string() + ".out");
  r.err = read_bytes(capture.string() + ".err");
  return r;
}

// metrics.jsonl's training losses, and every validation figure (loss, accuracy, F1...) in
// the order of the records.
struct Losses {
  std::vector<double> train, validation;
};

Losses read_losses(const fs::path& metrics) {
  Losses l;
  std::ifstream in(metrics);
  for (std::string line; std::getline(in, line);) {
    const json j = json::parse(line);
    l.train.push_back(j.at("train_loss").get<double>());
    for (const auto& [key, value] : j.items())
      if (key.starts_with("val_")) l.validation.push_back(value.get<double>());
  }
  return l;
}

void expect_close(const std::vector<double>& got, const std::vector<double>& want, const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (std::size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], 1e-5 * std::fabs(want[i])) << what << " at step " << i + 1;
}

// Every tensor of the two checkpoints (model, optimizer state, carried state) within 1e-5
// of the larger magnitude in it.
void expect_same_weights(const fs::path& a, const fs::path& b) {
  const TensorMap ta = io::load_safetensors(a.string()).tensors, tb = io::load_safetensors(b.string()).tensors;
  ASSERT_EQ(ta.size(), tb.size());
  for (const auto& [name, tensor] : ta) {
    ASSERT_TRUE(tb.count(name)) << b << " lacks " << name;
    if (tensor.dtype() != DType::Float32) continue;
    const std::vector<float> x = tensor.to_vector<float>(), y = tb.at(name).to_vector<float>();
    ASSERT_EQ(x.size(), y.size()) << name;
    double scale = 0, worst = 0;
    for (std::size_t i = 0; i < x.size(); ++i)
      scale = std::max(scale, double(std::fabs(x[i]))), worst = std::max(worst, double(std::fabs(x[i] - y[i])));
    EXPECT_LE(worst, 1e-5 * std::max(scale, 1e-3)) << name;
  }
}

class Dist : public testing::Test {
 protected:
  void SetUp() override {
    if (!dist::built_with_mpi()) GTEST_SKIP() << "this build has no MPI (RECUR_MPI off): data-parallel runs not tested";
    if (!fs::exists(kMpirun)) GTEST_SKIP() << kMpirun << " is not installed (openmpi-bin): data-parallel runs not tested";
    dir_ = fs::temp_directory_path() / ("recur_dist_" + std::to_string(getpid()) + "_" +
                                        testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    text_ = dir_ / "text.txt";
    write_bytes(text_, read_bytes(RECUR_TINYSHAKESPEARE).substr(0, 8000));
  }
  void TearDown() override {
    std::error_code ignored;
    if (!dir_.empty()) fs::remove_all(dir_, ignored);
  }

  // `args` as one process (processes 0) or under mpirun.
  Result run(const Args& args, int processes, int seconds = 120, const Args& env = {}) {
    const fs::path capture = dir_ / ("run" + std::to_string(++runs_));
    return collect_within(spawn_recur(args, capture, "/dev/null", processes ? mpirun(processes) : Args{},
                                      mpi_env(processes) + env),
                          capture, seconds);
  }

  // Under the sanitizers (scripts/test --sanitize), mpirun's processes run without the leak
  // check: Open MPI keeps memory until exit in plugins it unloads then, whose allocations
  // cannot be told from recur's. Every other sanitizer check stays on.
  static Args mpi_env(int processes) {
    Args env = kMpiEnv;
    if (const char* asan = std::getenv("ASAN_OPTIONS"); asan != nullptr && processes > 0)
      env.push_back(std::string("ASAN_OPTIONS=") + asan + ":detect_leaks=0");
    return env;
  }

  // Runs `args` (a training of `steps` steps, an evaluation each) as one process and as two,
  // into `name`_one and `name`_two: the same losses at every step, the same final weights.
  // Returns the two processes' run.
  Result expect_two_processes_train_as_one(const Args& args, const std::string& name, std::size_t steps) {
    const fs::path one = dir_ / (name + "_one"), two = dir_ / (name + "_two");
    const Result a = run(args + Args{"--out", one.string()}, 0);
    const Result b = run(args + Args{"--out", two.string()}, 2);
    EXPECT_TRUE(a.ok()) << a;
    EXPECT_TRUE(b.ok()) << b;
    if (!a.ok() || !b.ok()) return b;
    const Losses la = read_losses(one / "metrics.jsonl"), lb = read_losses(two / "metrics.jsonl");
    EXPECT_EQ(la.train.size(), steps);
    expect_close(lb.train, la.train, "training loss");
    expect_close(lb.validation, la.validation, "validation figures");
    expect_same_weights(two / "last.safetensors", one / "last.safetensors");
    return b;
  }

  fs::path dir_, text_;
  int runs_ = 0;
};

// One process, so without MPI too: DataParallel's buckets (a parameter each here, in
// reverse order) start inside backward once their gradients are complete and every bucket
// before them has started; finish_gradients gives weight * gradient (the sum over one
// process), zeros for a parameter the pass did not reach.
struct TwoLayers {
  nn::Linear first{4, 8}, second{8, 3}, unused{2, 2};
  Tensor input = uniform({5, 4}, -1, 1);
  Tensor loss() { return sum(second.forward(tanh(first.forward(input)))); }
};

std::vector<std::vector<float>> gradients(const std::vector<Tensor>& parameters) {
  std::vector<std::vector<float>> values;
  for (const Tensor& p : parameters) values.push_back(p.grad().defined() ? p.grad().to_vector<float>() : std::vector<float>{});
  return values;
}

TEST(DataParallel, BucketsStartWhileBackwardRuns) {
  manual_seed(3);
  TwoLayers net;
  net.loss().backward();
  const std::vector<Tensor> parameters = {net.first.weight, net.first.bias, net.second.weight, net.second.bias};
  std::vector<std::vector<float>> want = gradients(parameters);
  for (const Tensor& p : parameters) {
    p.zero_grad();
    for (float& g : want[&p - parameters.data()]) g *= 0.5f;
  }
  dist::DataParallel* parallel = nullptr;
  std::size_t started_when_first_layer_done = 0;
  add_post_accumulate_grad_hook(net.first.weight, [&](const Tensor&) {
    started_when_first_layer_done = parallel->buckets_started();
  });
  dist::DataParallel data_parallel(parameters, /*bucket_bytes=*/1);
  parallel = &data_parallel;
  data_parallel.prepare_for_backward(0.5);
  net.loss().backward();
  // The second layer's two buckets at least, not the first layer's weight's.
  EXPECT_GE(started_when_first_layer_done, 2u);
  EXPECT_LT(started_when_first_layer_done, 4u);
  data_parallel.finish_gradients();
  EXPECT_EQ(data_parallel.buckets_started(), 4u);
  EXPECT_EQ(gradients(parameters), want);
}

TEST(DataParallel, ABucketWithAnUnreachedParameterHoldsBackTheOnesAfterIt) {
  manual_seed(3);
  TwoLayers net;
  // Last in the list, so first of the buckets: the pass never completes it.
  const std::vector<Tensor> parameters = {net.first.weight, net.second.weight, net.unused.weight};
  dist::DataParallel data_parallel(parameters, /*bucket_bytes=*/1);
  std::size_t started_during_backward = 99;
  add_post_accumulate_grad_hook(net.first.weight,
                                [&](const Tensor&) { started_during_backward = data_parallel.buckets_started(); });
  data_parallel.prepare_for_backward(1.0);
  net.loss().backward();
  EXPECT_EQ(started_during_backward, 0u);
  data_parallel.finish_gradients();
  EXPECT_EQ(data_parallel.buckets_started(), 3u);
  EXPECT_EQ(net.unused.weight.grad().to_vector<float>(), std::vector<float>(4, 0.0f));
  EXPECT_THROW(data_parallel.finish_gradients(), Error);
}

TEST_F(Dist, TwoProcessesTrainAsOne) {
  const Result two = expect_two_processes_train_as_one(tiny_run(text_, 8) + Args{"--json"}, "lm", 8);
  // Rank 0 alone prints: one summary line.
  EXPECT_EQ(count_lines(two.out), 1u) << two.out;
}

// A checkpoint holds every stream's state, so a run continues with any number of processes.
TEST_F(Dist, ResumesWithAnotherNumberOfProcesses) {
  ASSERT_TRUE(run(tiny_run(text_, 10) + Args{"--out", (dir_ / "whole").string()}, 0).ok());
  ASSERT_TRUE(run(tiny_run(text_, 5) + Args{"--out", (dir_ / "split").string()}, 2).ok());
  const Result resumed = run(tiny_run(text_, 10) + Args{"--out", (dir_ / "split").string(), "--resume"}, 0);
  ASSERT_TRUE(resumed.ok()) << resumed;
  ASSERT_TRUE(run(tiny_run(text_, 5) + Args{"--out", (dir_ / "back").string()}, 0).ok());
  const Result resumed_two = run(tiny_run(text_, 10) + Args{"--out", (dir_ / "back").string(), "--resume"}, 2);
  ASSERT_TRUE(resumed_two.ok()) << resumed_two;
  const Losses whole = read_losses(dir_ / "whole" / "metrics.jsonl");
  for (const char* name : {"split", "back"}) {
    SCOPED_TRACE(name);
    expect_close(read_losses(dir_ / name / "metrics.jsonl").train, whole.train, "training loss");
    expect_same_weights(dir_ / name / "last.safetensors", dir_ / "whole" / "last.safetensors");
  }
}

// A time budget ends the run at one step for every process (rank 0's clock decides), so no
// process waits at a step the others never take; the run then ends with one evaluation.
TEST_F(Dist, ATimeBudgetStopsEveryProcessAtTheSameStep) {
  const fs::path out = dir_ / "timed";
  const Result r = run(tiny_run(text_, 0) + Args{"--out", out.string(), "--max-time", "1.5s", "--eval-every", "25"}, 2);
  ASSERT_TRUE(r.ok()) << r;
  const Losses l = read_losses(out / "metrics.jsonl");
  EXPECT_GE(l.train.size(), 2u);
}

// Rank 0 alone writes: a write that fails there must end the other process too, which
// would otherwise wait for it at the next step.
TEST_F(Dist, AnErrorOnOneProcessEndsTheRun) {
  const Result r = run(tiny_run(text_, 8) + Args{"--out", (dir_ / "fail").string()}, 2, 60, {"RECUR_TEST_FAIL_WRITE=metrics"});
  EXPECT_FALSE(r.ok()) << r;
  EXPECT_NE(r.err.find("recur: error (process 0 of 2)"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("metrics.jsonl"), std::string::npos) << r.err;
}

// `count` lines of generated data from a fixed linear congruential stream: `line(next)`
// makes one from a source of numbers.
std::string generated_lines(int count, std::uint32_t seed, const std::function<std::string(std::function<std::uint32_t(std::uint32_t)>)>& line) {
  std::uint32_t state = seed;
  auto next = [&](std::uint32_t n) {
    state = state * 1664525u + 1013904223u;
    return (state >> 8) % n;
  };
  std::string out;
  for (int i = 0; i < count; ++i) out += line(next) + "\n";
  return out;
}

// Texts of 1 to 12 words, labelled by whether "good" outnumbers "bad": unequal classes.
std::string classification_lines(int count, std::uint32_t seed) {
  const char* words[] = {"good", "bad", "the", "a", "film", "plot", "was", "very"};
  return generated_lines(count, seed, [&](auto next) {
    std::string text;
    int score = 0;
    for (std::uint32_t i = 0, n = 1 + next(12); i < n; ++i) {
      const std::string w = words[next(8)];
      score += w == "good" ? 1 : w == "bad" ? -1 : 0;
      text += (i ? " " : "") + w;
    }
    return std::string(score > 0 ? "pos" : "neg") + "\t" + text;
  });
}

// Spellings of 2 to 6 letters a-f and their upper-case letters reversed ("abc\tC B A").
std::string spelling_lines(int count, std::uint32_t seed) {
  return generated_lines(count, seed, [&](auto next) {
    std::string source, target;
    for (std::uint32_t i = 0, n = 2 + next(5); i < n; ++i) {
      const char c = static_cast<char>('a' + next(6));
      source += c;
      target = static_cast<char>(c - 'a' + 'A') + std::string(target.empty() ? "" : " ") + target;
    }
    return source + "\t" + target;
  });
}

// The classifier (a mean over texts weighted by balanced class weights) and the
// encoder-decoder (a mean over target tokens, examples of different lengths) split the
// examples of a batch and weigh each part by its share of the loss's denominator.
TEST_F(Dist, ExampleTasksTrainAsOne) {
  write_bytes(dir_ / "texts.tsv", classification_lines(120, 1));
  write_bytes(dir_ / "texts_val.tsv", classification_lines(30, 2));
  write_bytes(dir_ / "pairs.tsv", spelling_lines(120, 3));
  write_bytes(dir_ / "pairs_val.tsv", spelling_lines(30, 4));
  const Args common = {"--batch-size", "7", "--dropout", "0", "--max-steps", "6", "--eval-every", "1",
                       "--sample-length", "0", "--threads", "1", "--hidden", "12", "--embed", "8"};
  const std::vector<std::pair<std::string, Args>> tasks = {
      {"classify", {"train", "--task", "classify", (dir_ / "texts.tsv").string(), "--val",
                    (dir_ / "texts_val.tsv").string(), "--min-count", "1", "--class-weights", "balanced"}},
      {"seq2seq", {"train", "--task", "seq2seq", (dir_ / "pairs.tsv").string(), "--val",
                   (dir_ / "pairs_val.tsv").string(), "--tgt-tokens", "word", "--enc-layers", "1", "--dec-layers",
                   "1"}}};
  for (const auto& [name, args] : tasks) {
    SCOPED_TRACE(name);
    expect_two_processes_train_as_one(args + common, name, 6);
  }
}

// Sentences of 1 to 10 words tagged by a rule (after "the" a NOUN, else by the word), many
// words seen once: the tagger replaces those by <unk> at random, drawn over the whole batch.
std::string tagged_lines(int count, std::uint32_t seed) {
  const char* words[] = {"the", "cat", "runs", "fast", "dog", "sees", "a", "bird"};
  return generated_lines(count, seed, [&](auto next) {
    std::string sentence;
    std::string previous;
    for (std::uint32_t i = 0, n = 1 + next(10); i < n; ++i) {
      std::string w = words[next(8)];
      if (next(4) == 0) w += std::to_string(next(100000));  // mostly a word of its own
      const char* tag = previous == "the" ? "NOUN" : w.starts_with("the") || w.starts_with("a") ? "DET" : "X";
      sentence += w + " " + tag + "\n";
      previous = w;
    }
    return sentence;
  });
}

// The tagger splits a batch's sentences (a mean over tokens) after drawing the <unk>
// replacements over the whole batch.
TEST_F(Dist, TaggerTrainsAsOne) {
  write_bytes(dir_ / "train.conll", tagged_lines(120, 5));
  write_bytes(dir_ / "valid.conll", tagged_lines(30, 6));
  const Args args = {"train", "--task", "tag", (dir_ / "train.conll").string(), "--val", (dir_ / "valid.conll").string(),
                     "--batch-size", "7", "--dropout", "0", "--max-steps", "6", "--eval-every", "1",
                     "--sample-length", "0", "--threads", "1", "--hidden", "12", "--embed", "8", "--min-count", "1"};
  expect_two_processes_train_as_one(args, "tag", 6);
}

// A process killed mid-run ends the run; the last checkpoint is intact and the run resumes
// from it to the same result as a run never interrupted.
TEST_F(Dist, KilledProcessEndsTheRunAndItResumes) {
  const fs::path out = dir_ / "killed";
  Args args = tiny_run(text_, 400) + Args{"--out", out.string()};
  args.insert(args.end(), {"--eval-every", "0", "--checkpoint-every", "2"});
  const fs::path capture = dir_ / "killed-run";
  const pid_t launcher = spawn_recur(args, capture, "/dev/null", mpirun(2), mpi_env(2));
  // Once a checkpoint exists, kill one of mpirun's recur processes.
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (!fs::exists(out / "last.safetensors") && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_TRUE(fs::exists(out / "last.safetensors")) << read_bytes(capture.string() + ".err");
  pid_t victim = -1;
  for (const fs::directory_entry& e : fs::directory_iterator("/proc")) {
    const std::string pid = e.path().filename().string();
    if (pid.find_first_not_of("0123456789") != std::string::npos) continue;
    const std::string stat = read_bytes(e.path() / "stat");
    const std::size_t close = stat.rfind(')');
    if (close == std::string::npos || stat.find("(recur") == std::string::npos) continue;
    int ppid = 0;
    char state = 0;
    if (std::sscanf(stat.c_str() + close + 1, " %c %d", &state, &ppid) == 2 && ppid == launcher)
      victim = std::stoi(pid);
  }
  ASSERT_GT(victim, 0) << "no recur process under mpirun " << launcher;
  kill(victim, SIGKILL);
  const Result killed = collect_within(launcher, capture, 60);
  EXPECT_FALSE(killed.ok()) << killed;
  // The checkpoint loads, and the run continues from it, a few steps past where it stopped.
  const auto meta = io::read_safetensors_metadata((out / "last.safetensors").string());
  ASSERT_TRUE(meta.count("recur.progress"));
  const int steps = json::parse(meta.at("recur.progress")).at("step").get<int>() + 6;
  Args resume = tiny_run(text_, steps) + Args{"--out", out.string()};
  resume.insert(resume.end(), {"--eval-every", "0", "--checkpoint-every", "2", "--resume"});
  const Result resumed = run(resume, 2);
  ASSERT_TRUE(resumed.ok()) << resumed;
  Args straight = tiny_run(text_, steps) + Args{"--out", (dir_ / "straight").string()};
  straight.insert(straight.end(), {"--eval-every", "0", "--checkpoint-every", "2"});
  ASSERT_TRUE(run(straight, 0).ok());
  expect_same_weights(out / "last.safetensors", dir_ / "straight" / "last.safetensors");
}

}  // namespace
}  // namespace recur
