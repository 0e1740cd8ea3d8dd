// The process's thread policy (include/recur/core/threading.hpp), the CPU backend's: the
// kernels split their work over backend/cpu/thread_pool.hpp's workers, and OpenBLAS runs
// single-threaded inside each part, so the two never compete for the cores.
#include "recur/core/threading.hpp"

#include <sched.h>

#include <algorithm>
#include <cstdlib>
#include <string>
#include <thread>

#include "backend/cpu/thread_pool.hpp"
#include "recur/core/error.hpp"

namespace recur {
namespace {

// The cores this process may run on (its affinity mask, as taskset and cgroups set it).
int available_cores() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(CPU_COUNT(&set), 1);
  return std::max(static_cast<int>(std::thread::hardware_concurrency()), 1);
}

int& thread_count() {
  static int count = [] {
    int n = available_cores();
    if (const char* env = std::getenv("RECUR_NUM_THREADS")) {
      char* end = nullptr;
      long v = std::strtol(env, &end, 10);
      RECUR_CHECK(end != env && *end == '\0' && v >= 1 && v <= 4096,
                  "RECUR_NUM_THREADS=" << env << ": expected a positive integer");
      n = static_cast<int>(v);
    }
    return n;
  }();
  return count;
}

}  // namespace

int get_num_threads() { return thread_count(); }

void set_num_threads(int n) {
  RECUR_CHECK(n >= 1, "set_num_threads: expected at least 1 thread, got " << n);
  thread_count() = n;
  backend::cpu::resize_thread_pool(n);
}

}  // namespace recur
