// The CPU backend's worker threads, built for machines that are not idle.
//
// OpenMP's static schedule gives each thread its share of a loop and then waits at a
// barrier for every thread: when another process holds a core, the whole team waits for
// the one descheduled thread, spinning, at every parallel region (docs/BENCHMARKS.md: the
// default char model fell to 5% of its idle speed beside one busy process per core). Here
// the parts of a job are claimed one at a time from a shared counter, by the calling
// thread and by whichever workers are awake, so the caller never waits for a part that no
// running thread has started, and while the caller sees other processes taking its core it
// works alone (run_job's note_wait): a busy machine degrades towards the speed of one
// thread, not below it.
//
// Which thread runs a part never changes a result: f(part) must depend on its part only,
// so results are the same as with one thread per part (and run to run).
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

namespace recur::backend::cpu {

class ThreadPool {
 public:
  // `threads` - 1 workers; the calling thread of run() is the other one.
  explicit ThreadPool(int threads);
  ~ThreadPool();
  ThreadPool(const ThreadPool&) = delete;
  ThreadPool& operator=(const ThreadPool&) = delete;

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  // Whether the calling thread has lately seen other processes take the cores (it works
  // alone now, or did within its last windows of jobs): then a job of few long parts is
  // better run as one part, since a descheduled worker would hold its part for long.
  // Call it from the thread that calls run().
  bool contended() const { return Clock::now() < alone_until_ || alone_for_ > kFirstAlone; }

  // Calls f(part) once for each part in [0, parts) and returns when all have returned.
  // Requires: 0 <= parts <= kMaxJobParts; f does not throw. From inside a part, or while
  // another thread's job is running, the parts run one after another on the calling
  // thread (nested parallelism is never worth it on the machines recur runs on).
  static constexpr int kMaxJobParts = 0xffff;
  template <class F>
  void run(int parts, const F& f) {
    run_job(parts, [](const void* fn, int part) { (*static_cast<const F*>(fn))(part); }, &f);
  }

 private:
  using Call = void (*)(const void* fn, int part);
  void run_job(int parts, Call call, const void* fn);
  void worker_loop();
  // Claims and runs parts of the job published in `word`'s generation until none is left.
  void work_on(std::uint64_t word);

  // The job: (generation << 32) | (parts << 16) | next unclaimed part. Claiming a part is
  // one compare-and-swap on this word, which also checks that the job is still the one
  // the claimer saw, so a late worker never runs a part of a finished job.
  std::atomic<std::uint64_t> job_{0};
  Call call_ = nullptr;  // written before job_ is published, stable while a part is unclaimed
  const void* fn_ = nullptr;
  std::atomic<std::uint32_t> done_{0};       // parts of the current job that have returned
  std::atomic<std::uint32_t> generation_{0};  // what sleeping workers wait on
  std::atomic<int> sleeping_workers_{0};
  std::atomic<int> caller_sleeping_{0};
  std::atomic<bool> busy_{false};  // a job is running: another caller runs serially
  // Working alone while other processes share the cores (note_wait); the caller's, under busy_.
  using Clock = std::chrono::steady_clock;
  void note_wait(Clock::time_point working_since, Clock::time_point waiting_since);
  static constexpr std::chrono::microseconds kFirstAlone{1000}, kMaxAlone{1000000};
  Clock::time_point alone_until_{};
  Clock::duration alone_for_ = kFirstAlone;
  int window_jobs_ = 0;
  long window_preemptions_ = 0;  // the caller's involuntary context switches at the window's start
  bool stopping_ = false;  // read by workers after a generation change
  std::vector<std::thread> workers_;
};

// The process's pool, sized by recur::get_num_threads() (set_num_threads rebuilds it).
ThreadPool& thread_pool();
void resize_thread_pool(int threads);

}  // namespace recur::backend::cpu
