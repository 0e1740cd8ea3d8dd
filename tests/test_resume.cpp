// A training run killed with SIGKILL and resumed from its last checkpoint produces exactly
// the losses of an uninterrupted run (tests/workers/resume_worker.cpp is the run).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include "recur/recur.hpp"
#include "test_helpers.hpp"

extern char** environ;

namespace {

namespace fs = std::filesystem;

// Runs the worker, its stderr going to `stderr_path` if given; returns its wait status.
int run_worker(const std::vector<std::string>& args, const std::string& stderr_path = "") {
  std::vector<std::string> all = {RECUR_RESUME_WORKER};
  all.insert(all.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  if (!stderr_path.empty())
    posix_spawn_file_actions_addopen(&actions, 2, stderr_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid;
  EXPECT_EQ(posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), environ), 0);
  posix_spawn_file_actions_destroy(&actions);
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

// step -> loss (hex text, exact) from a worker log.
std::map<int, std::string> read_log(const fs::path& path) {
  std::map<int, std::string> losses;
  std::ifstream in(path);
  int step;
  std::string loss;
  while (in >> step >> loss) losses[step] = loss;
  return losses;
}

TEST(Resume, KilledRunResumesWithExactlyTheUninterruptedLosses) {
  const fs::path dir = fs::temp_directory_path() / ("recur_resume_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir / "whole");
  fs::create_directories(dir / "killed");

  int status = run_worker({(dir / "whole").string(), (dir / "whole.log").string(), "40", "10"});
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  // Killed at step 25, after the checkpoint of step 20: steps 21-25 are lost and redone.
  status = run_worker({(dir / "killed").string(), (dir / "killed.log").string(), "40", "10", "--die-at", "25"});
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "status " << status;
  status = run_worker({(dir / "killed").string(), (dir / "resumed.log").string(), "40", "10", "--resume"});
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);

  const std::map<int, std::string> whole = read_log(dir / "whole.log"), killed = read_log(dir / "killed.log"),
                                   resumed = read_log(dir / "resumed.log");
  ASSERT_EQ(whole.size(), 40u);
  ASSERT_EQ(killed.size(), 25u);
  ASSERT_EQ(resumed.size(), 20u);
  EXPECT_EQ(resumed.begin()->first, 21);
  for (const auto& [step, loss] : killed) EXPECT_EQ(loss, whole.at(step)) << "step " << step;
  for (const auto& [step, loss] : resumed) EXPECT_EQ(loss, whole.at(step)) << "step " << step;
  // The loss moved: the comparison is not between constants.
  EXPECT_NE(whole.at(1), whole.at(40));
  fs::remove_all(dir);
}

TEST(Resume, ANanLossStopsTrainingAndLeavesTheLastCheckpointIntact) {
  const fs::path dir = fs::temp_directory_path() / ("recur_nan_" + std::to_string(getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);
  const int status =
      run_worker({dir.string(), (dir / "log").string(), "40", "10", "--nan-at", "25"}, (dir / "stderr").string());
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 1) << "status " << status;
  std::ifstream err(dir / "stderr");
  const std::string message((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
  EXPECT_NE(message.find("loss is nan at step 25"), std::string::npos) << message;
  EXPECT_EQ(read_log(dir / "log").size(), 24u);  // steps 1-24 ran; 25 stopped before updating

  // The checkpoint of step 20 is whole and loads.
  recur::nn::Sequential model(std::make_shared<recur::nn::Linear>(8, 16), std::make_shared<recur::nn::ReLU>(),
                              std::make_shared<recur::nn::Dropout>(0.2), std::make_shared<recur::nn::Linear>(16, 3));
  recur::train::TrainingState state{&model};
  recur::train::load_checkpoint((dir / "checkpoint.safetensors").string(), state);
  EXPECT_EQ(state.step, 20);
  for (const recur::Tensor& p : model.parameters())
    for (float v : p.to_vector<float>()) ASSERT_TRUE(std::isfinite(v));
  fs::remove_all(dir);
}

TEST(Resume, ACheckpointWithoutTrainingStateIsRefused) {
  const fs::path path = fs::temp_directory_path() / ("recur_plain_" + std::to_string(getpid()) + ".safetensors");
  recur::nn::Linear model(2, 2);
  recur::io::save_safetensors(path.string(), model.state_dict());
  recur::train::TrainingState state{&model};
  recur::expect_error([&] { recur::train::load_checkpoint(path.string(), state); },
                      {path.string(), "not a training checkpoint", "train/step"});
  fs::remove(path);
}

}  // namespace
