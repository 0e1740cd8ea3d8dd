// One threading policy for the whole process. recur's CPU kernels, its matrix products
// included, split their work over one pool of threads (OpenBLAS runs single-threaded inside
// each part), built to keep going at one thread's speed when other processes hold the cores.
// Every thread that runs a matrix product gets OpenMP's thread count set to 1 (OpenBLAS's
// OpenMP build would otherwise start its own team inside the pool's parts): a program with
// OpenMP loops of its own gives them a num_threads clause.
#pragma once

namespace recur {

// Threads used by the kernels. Starts at $RECUR_NUM_THREADS if set, else the number of
// cores this process may run on. Requires n >= 1; set_num_threads must not be called while
// another thread runs kernels.
int get_num_threads();
void set_num_threads(int n);

// Elementwise work below this many elements runs on one thread: forking costs more.
constexpr long kParallelGrain = 32768;

}  // namespace recur
