// The CPU backend's thread pool (src/backend/cpu/thread_pool.hpp): every part runs exactly
// once and before run() returns, whatever the part count, however long the parts take,
// from nested jobs and from several calling threads at once.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "backend/cpu/loops.hpp"
#include "backend/cpu/thread_pool.hpp"

using recur::backend::cpu::ThreadPool;

namespace {

// Runs `jobs` jobs of `parts` parts; each part counts its calls. Returns the parts that did
// not run exactly once in the job that owned them.
int miscounted_parts(ThreadPool& pool, int jobs, int parts) {
  std::vector<std::atomic<int>> calls(static_cast<std::size_t>(parts));
  int wrong = 0;
  for (int job = 0; job < jobs; ++job) {
    for (std::atomic<int>& c : calls) c.store(0);
    pool.run(parts, [&](int part) { calls[static_cast<std::size_t>(part)].fetch_add(1); });
    for (const std::atomic<int>& c : calls) wrong += c.load() != 1;
  }
  return wrong;
}

}  // namespace

TEST(ThreadPool, EveryPartRunsExactlyOnceBeforeRunReturns) {
  for (int threads : {1, 2, 3, 8}) {
    ThreadPool pool(threads);
    EXPECT_EQ(pool.size(), threads);
    for (int parts : {0, 1, 2, 3, 7, 64, 300}) EXPECT_EQ(miscounted_parts(pool, 200, parts), 0) << threads << " threads, " << parts << " parts";
  }
}

TEST(ThreadPool, ManyShortJobsInARow) {
  // The step loop's pattern: thousands of tiny jobs back to back, workers racing the caller
  // for parts and arriving after the job has ended.
  ThreadPool pool(4);
  EXPECT_EQ(miscounted_parts(pool, 20000, 4), 0);
}

TEST(ThreadPool, WaitsForPartsThatOutlastTheSpin) {
  // Parts longer than the spin period: the caller and the workers go to sleep and are woken.
  ThreadPool pool(3);
  std::atomic<int> finished{0};
  for (int job = 0; job < 5; ++job) {
    finished.store(0);
    pool.run(3, [&](int) {
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
      finished.fetch_add(1);
    });
    EXPECT_EQ(finished.load(), 3);
    std::this_thread::sleep_for(std::chrono::milliseconds(2));  // idle workers fall asleep
  }
}

TEST(ThreadPool, PartsWriteResultsTheCallerReads) {
  // The caller must see every part's writes once run() returns (plain, non-atomic stores).
  ThreadPool pool(2);
  std::vector<long> out(1 << 16);
  for (int job = 1; job <= 100; ++job) {
    const int parts = 2 + job % 5;
    pool.run(parts, [&](int part) {
      const std::size_t n = out.size();
      for (std::size_t i = n * part / parts; i < n * (part + 1) / parts; ++i) out[i] = job * long(i);
    });
    long wrong = 0;
    for (std::size_t i = 0; i < out.size(); ++i) wrong += out[i] != job * long(i);
    ASSERT_EQ(wrong, 0) << "job " << job;
  }
}

TEST(ThreadPool, NestedJobsRunOnTheCallingThread) {
  ThreadPool pool(3);
  std::atomic<int> inner{0};
  std::atomic<bool> inner_left_its_thread{false};
  pool.run(3, [&](int) {
    const std::thread::id outer = std::this_thread::get_id();
    pool.run(4, [&](int) {
      inner.fetch_add(1);
      if (std::this_thread::get_id() != outer) inner_left_its_thread = true;
    });
  });
  EXPECT_EQ(inner.load(), 12);
  EXPECT_FALSE(inner_left_its_thread.load());
}

TEST(ThreadPool, SeveralCallingThreadsAtOnce) {
  // One caller at a time gets the workers; the others run their parts themselves.
  ThreadPool pool(2);
  std::atomic<int> wrong{0};
  std::vector<std::thread> callers;
  for (int c = 0; c < 3; ++c)
    callers.emplace_back([&] { wrong.fetch_add(miscounted_parts(pool, 2000, 5)); });
  for (std::thread& t : callers) t.join();
  EXPECT_EQ(wrong.load(), 0);
}

TEST(ThreadPool, ParallelPartsSplitsTheSameWayWhoeverRunsThem) {
  // The backend's loops hand out fixed ranges: the same n and thread count give the same
  // ranges, which together cover [0, n) once.
  const std::int64_t n = 1 << 20;
  std::vector<std::pair<std::int64_t, std::int64_t>> first(recur::backend::cpu::kMaxParts), second(first.size());
  const int parts = recur::backend::cpu::parallel_parts(n, 1, [&](int part, std::int64_t b, std::int64_t e) { first[part] = {b, e}; });
  const int again = recur::backend::cpu::parallel_parts(n, 1, [&](int part, std::int64_t b, std::int64_t e) { second[part] = {b, e}; });
  ASSERT_EQ(parts, again);
  ASSERT_GE(parts, 1);
  std::int64_t covered = 0;
  for (int p = 0; p < parts; ++p) {
    EXPECT_EQ(first[p], second[p]) << "part " << p;
    EXPECT_EQ(first[p].first, covered) << "part " << p;
    covered = first[p].second;
  }
  EXPECT_EQ(covered, n);
}
