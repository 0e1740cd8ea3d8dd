// Running the `recur` executable (RECUR_CLI_PATH, defined by tests/CMakeLists.txt) as a
// subprocess from a test, and the checks every bad-input test makes: one line on stderr
// naming what is wrong, a non-zero exit, nothing on stdout, nothing overwritten.
#pragma once
#include <gtest/gtest.h>
#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <string>
#include <vector>

extern char** environ;

namespace recur {

namespace fs = std::filesystem;
using Args = std::vector<std::string>;

inline Args operator+(Args a, const Args& b) {
  a.insert(a.end(), b.begin(), b.end());
  return a;
}

inline std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

inline void write_bytes(const fs::path& path, const std::string& bytes) {
  std::ofstream(path, std::ios::binary) << bytes;
}

struct Result {
  int status = -1;  // as waitpid reports it
  std::string out, err;
  bool ok() const { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }
};

inline std::ostream& operator<<(std::ostream& os, const Result& r) {
  return os << "status " << r.status << "\n--- stdout:\n" << r.out << "\n--- stderr:\n" << r.err;
}

// Starts `recur args...` with stdout and stderr going to the files `capture`.out and .err,
// and stdin read from `input`; with `launcher` (e.g. {"/usr/bin/prlimit", "--fsize=1000"})
// it starts `launcher... recur args...`, and `extra_env` ("NAME=value") joins the environment.
inline pid_t spawn_recur(const Args& args, const fs::path& capture, const fs::path& input = "/dev/null",
                         const Args& launcher = {}, const Args& extra_env = {}) {
  Args all = launcher + Args{RECUR_CLI_PATH} + args;
  Args env_strings = extra_env;
  for (char** e = environ; *e; ++e) env_strings.emplace_back(*e);
  std::vector<char*> env;
  for (std::string& e : env_strings) env.push_back(e.data());
  env.push_back(nullptr);
  std::vector<char*> argv;
  for (std::string& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string out = capture.string() + ".out", err = capture.string() + ".err";
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, 0, input.c_str(), O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, 2, err.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  pid_t pid = -1;
  const int spawned = posix_spawn(&pid, argv[0], &actions, nullptr, argv.data(), env.data());
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(spawned, 0) << "cannot start " << argv[0];
  return pid;
}

inline Result collect(pid_t pid, const fs::path& capture) {
  Result r;
  waitpid(pid, &r.status, 0);
  r.out = read_bytes(capture.string() + ".out");
  r.err = read_bytes(capture.string() + ".err");
  return r;
}

// The number of newlines in `text`.
inline std::size_t count_lines(const std::string& text) { return std::count(text.begin(), text.end(), '\n'); }

// The lines of `text`, each ended by '\n' (an unended tail is not a line).
inline std::vector<std::string> lines_of_output(const std::string& text) {
  std::vector<std::string> lines;
  std::size_t start = 0;
  for (std::size_t end; (end = text.find('\n', start)) != std::string::npos; start = end + 1)
    lines.push_back(text.substr(start, end - start));
  return lines;
}

// Every file under `dir` (relative path -> contents).
inline std::map<std::string, std::string> snapshot(const fs::path& dir) {
  std::map<std::string, std::string> files;
  for (const fs::directory_entry& entry : fs::recursive_directory_iterator(dir))
    if (entry.is_regular_file()) files[fs::relative(entry.path(), dir).string()] = read_bytes(entry.path());
  return files;
}

// A one-line error naming every fragment, a non-zero exit, an empty stdout.
inline void expect_error_line(const Result& r, const std::vector<std::string>& fragments) {
  EXPECT_FALSE(r.ok()) << r;
  EXPECT_TRUE(WIFEXITED(r.status)) << r;
  EXPECT_EQ(r.out, "");
  EXPECT_EQ(count_lines(r.err), 1u) << r.err;
  EXPECT_EQ(r.err.rfind("recur: error: ", 0), 0u) << r.err;
  for (const std::string& fragment : fragments)
    EXPECT_NE(r.err.find(fragment), std::string::npos) << "missing '" << fragment << "' in: " << r.err;
}

// Runs `run` (a recur command, `args`, for the trace), expects the error above, and expects
// every file under `dir` unchanged.
inline void expect_error_leaving_files(const fs::path& dir, const std::function<Result()>& run, const Args& args,
                                       const std::vector<std::string>& fragments) {
  SCOPED_TRACE(testing::PrintToString(args));
  const auto before = snapshot(dir);
  ASSERT_FALSE(before.empty());
  expect_error_line(run(), fragments);
  const auto after = snapshot(dir);
  EXPECT_EQ(after.size(), before.size());
  for (const auto& [name, bytes] : before) {
    ASSERT_TRUE(after.count(name)) << name << " was removed";
    EXPECT_TRUE(after.at(name) == bytes) << name << " changed";
  }
}

}  // namespace recur
