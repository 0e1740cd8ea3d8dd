// The process's thread policy (include/recur/core/threading.hpp), the CPU backend's: OpenMP
// and OpenBLAS share one thread count.
#include "recur/core/threading.hpp"

#include <omp.h>

#include <cstdlib>
#include <string>

#include "recur/core/error.hpp"

extern "C" void openblas_set_num_threads(int num_threads);

namespace recur {
namespace {

int& thread_count() {
  static int count = [] {
    int n = omp_get_num_procs();
    if (const char* env = std::getenv("RECUR_NUM_THREADS")) {
      char* end = nullptr;
      long v = std::strtol(env, &end, 10);
      RECUR_CHECK(end != env && *end == '\0' && v >= 1 && v <= 4096,
                  "RECUR_NUM_THREADS=" << env << ": expected a positive integer");
      n = static_cast<int>(v);
    }
    omp_set_num_threads(n);
    openblas_set_num_threads(n);
    return n;
  }();
  return count;
}

}  // namespace

int get_num_threads() { return thread_count(); }

void set_num_threads(int n) {
  RECUR_CHECK(n >= 1, "set_num_threads: expected at least 1 thread, got " << n);
  thread_count() = n;
  omp_set_num_threads(n);
  openblas_set_num_threads(n);
}

}  // namespace recur
