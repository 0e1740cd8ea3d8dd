#include "backend/cpu/thread_pool.hpp"

#include <algorithm>
#include <chrono>

#include <sys/resource.h>

#include "recur/core/threading.hpp"

namespace recur::backend::cpu {
namespace {

// Set on the workers and, during a job, on its caller: run() from inside a part is serial.
thread_local bool t_in_job = false;

void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#endif
}

// How long an idle worker, or a caller waiting for the parts that workers hold, spins
// before it sleeps. The jobs of a recurrent step loop follow each other within tens of
// microseconds, so spinning that long keeps an idle machine's workers hot; spinning longer
// would only take the core from other processes.
constexpr auto kSpin = std::chrono::microseconds(100);

// A caller that waited longer than this, beyond the time it spent on parts itself, for a
// worker's part saw the worker descheduled (a worker woken late from sleep starts within
// about a hundred microseconds; parts of one job are about as long as each other, so a
// worker that ran all along ends within about a part's length of the caller).
constexpr auto kStraggler = std::chrono::microseconds(500);
// Preemptions are counted over a window of jobs (a count costs a system call, long next to
// a recurrent step's job), or over a single job as long as this (a bidirectional layer's
// directions side by side).
constexpr int kWindowJobs = 64;
constexpr auto kLongJob = std::chrono::milliseconds(1);

// Involuntary context switches of the calling thread so far: the OS took its core to run
// another process's thread.
long preemptions_of_this_thread() {
  rusage usage{};
  getrusage(RUSAGE_THREAD, &usage);
  return usage.ru_nivcsw;
}

// Spins until done() or kSpin has passed; returns done()'s last value.
template <class Done>
bool spin_until(Done done) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (unsigned i = 1;; ++i) {
    if (done()) return true;
    cpu_relax();
    if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) return done();
  }
}

// Blocks until done(value), announcing itself in `sleepers` so that the writer knows to
// notify (the writer changes `value`, then reads `sleepers`; both sequentially consistent,
// so either the writer sees the sleeper or the sleeper sees the new value).
template <class T, class Done>
void sleep_until(std::atomic<T>& value, Done done, std::atomic<int>& sleepers) {
  sleepers.fetch_add(1);
  for (T seen = value.load(); !done(seen); seen = value.load()) value.wait(seen);
  sleepers.fetch_sub(1);
}

constexpr std::uint64_t kPartBits = 0xffff;

}  // namespace

ThreadPool::ThreadPool(int threads) {
  for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { worker_loop(); });
}

ThreadPool::~ThreadPool() {
  stopping_ = true;  // published by the generation change below
  generation_.fetch_add(1);
  generation_.notify_all();
  for (std::thread& worker : workers_) worker.join();
}

void ThreadPool::worker_loop() {
  t_in_job = true;
  std::uint32_t seen = 0;
  for (;;) {
    if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; }))
      sleep_until(generation_, [&](std::uint32_t generation) { return generation != seen; }, sleeping_workers_);
    seen = generation_.load(std::memory_order_acquire);
    if (stopping_) return;
    work_on(job_.load(std::memory_order_acquire));
  }
}

void ThreadPool::work_on(std::uint64_t word) {
  const std::uint64_t generation = word >> 32;
  for (;;) {
    const std::uint32_t parts = (word >> 16) & kPartBits, next = word & kPartBits;
    if (word >> 32 != generation || next >= parts) return;
    // Acquire: call_ and fn_ were written before the job was published.
    if (!job_.compare_exchange_weak(word, word + 1, std::memory_order_acquire)) continue;
    call_(fn_, static_cast<int>(next));
    if (done_.fetch_add(1) + 1 == parts && caller_sleeping_.load() > 0) done_.notify_one();
    word = job_.load(std::memory_order_acquire);
  }
}

void ThreadPool::run_job(int parts, Call call, const void* fn) {
  if (parts <= 0) return;
  const auto run_here = [&] {
    for (int part = 0; part < parts; ++part) call(fn, part);
  };
  if (parts == 1 || workers_.empty() || t_in_job || busy_.exchange(true, std::memory_order_acquire)) return run_here();
  t_in_job = true;
  if (Clock::now() < alone_until_) {
    run_here();
  } else {
    call_ = call, fn_ = fn;
    done_.store(0, std::memory_order_relaxed);
    if (window_jobs_ == 0) window_preemptions_ = preemptions_of_this_thread();
    const std::uint32_t generation = generation_.load(std::memory_order_relaxed) + 1;
    const std::uint64_t word = std::uint64_t{generation} << 32 | static_cast<std::uint64_t>(parts) << 16;
    job_.store(word, std::memory_order_release);
    generation_.store(generation);
    if (sleeping_workers_.load() > 0) generation_.notify_all();

    const auto working_since = Clock::now();
    work_on(word);  // the caller claims parts like any worker

    // Only parts that a running worker has claimed are left: wait for them.
    const auto waiting_since = Clock::now();
    const auto all_done = [&] { return done_.load(std::memory_order_acquire) == static_cast<std::uint32_t>(parts); };
    if (!spin_until(all_done)) {
      sleep_until(done_, [&](std::uint32_t done) { return done == static_cast<std::uint32_t>(parts); }, caller_sleeping_);
    }
    note_wait(working_since, waiting_since);
  }
  t_in_job = false;
  busy_.store(false, std::memory_order_release);
}

// When other processes share the cores, two threads of recur do worse than one: a worker
// that the OS descheduled while it held a part keeps the caller waiting until it runs
// again, and a worker spinning for the next job takes CPU time from its own caller where
// the kernel shares a core between processes (or sessions, or cgroups) rather than threads.
// So when the caller itself was preempted during a window of jobs or a long job, or waited
// for a worker's part much longer than its own parts took, it works alone for a while
// (workers then sleep): from 1 ms, twice as long each time it happens again (up to
// kMaxAlone: a second, since each return to two threads under load risks a stalled window),
// half as long after each clean window.
void ThreadPool::note_wait(Clock::time_point working_since, Clock::time_point waiting_since) {
  const Clock::time_point now = Clock::now();
  const Clock::duration worked = waiting_since - working_since;
  const bool straggler = now - waiting_since > kStraggler + worked;
  if (!straggler && worked < kLongJob && ++window_jobs_ < kWindowJobs) return;
  if (straggler || preemptions_of_this_thread() != window_preemptions_) {
    alone_until_ = now + alone_for_;
    alone_for_ = std::min<Clock::duration>(2 * alone_for_, kMaxAlone);
  } else {
    alone_for_ = std::max<Clock::duration>(alone_for_ / 2, kFirstAlone);
  }
  window_jobs_ = 0;
}

namespace {

// Never destroyed: the workers end with the process (a forked child, which has none of
// them, still runs every part, on its calling thread).
ThreadPool*& pool_slot() {
  static ThreadPool* pool = new ThreadPool(get_num_threads());
  return pool;
}

}  // namespace

ThreadPool& thread_pool() { return *pool_slot(); }

void resize_thread_pool(int threads) {
  ThreadPool*& pool = pool_slot();
  if (pool->size() == threads) return;
  delete pool;
  pool = new ThreadPool(threads);
}

}  // namespace recur::backend::cpu
