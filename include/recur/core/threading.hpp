// One threading policy for the whole process. recur's kernels and OpenBLAS share the same
// OpenMP runtime and the same thread count, so they never run on the cores at once.
#pragma once

namespace recur {

// Threads used by kernels and BLAS. Starts at $RECUR_NUM_THREADS if set, else the
// number of cores. Requires n >= 1.
int get_num_threads();
void set_num_threads(int n);

// Elementwise work below this many elements runs on one thread: forking costs more.
constexpr long kParallelGrain = 32768;

}  // namespace recur
