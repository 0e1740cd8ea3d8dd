// Data-parallel training across processes: the processes of one run, started by MPI's
// `mpirun -np N` (Open MPI from Debian, or whatever the cluster's scheduler launches), each
// train a replica of the model on their part of every batch, and average the gradients with
// MPI all-reduce before each optimizer step, as PyTorch's DistributedDataParallel does.
//
// Without MPI - a build without RECUR_MPI, or a process that mpirun did not start - there is
// one process, rank 0 of 1, and every collective below returns at once: code written for N
// processes runs unchanged as one.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "recur/core/tensor.hpp"

namespace recur::dist {

// Joins the run's processes when mpirun started this one (and the build has MPI); MPI is
// finalised at exit. Call once, first thing in main. Throws when MPI fails to start.
void init(int& argc, char**& argv);

// Built with MPI (RECUR_MPI).
bool built_with_mpi();
// This process's number, 0 to size() - 1, and the number of processes.
int rank();
int size();
// Processes of the run on this machine (to divide its cores between them); 1 without MPI.
int local_size();
// Rank 0: the process that writes files and prints progress.
inline bool is_main() { return rank() == 0; }

// Ends every process of the run with `code` (MPI_Abort), so that an error on one process does
// not leave the others waiting in a collective; without MPI, std::exit(code).
[[noreturn]] void abort_all(int code);

// In place, on every process: the element-wise sum over all processes. Requires: every
// process calls it with a contiguous CPU tensor of the same shape and dtype (float32/64).
void all_reduce_sum_(Tensor& t);
// Returns when every process has called it.
void barrier();
// The sum of `value` over all processes, on every process.
double sum_over_processes(double value);
// In place: every process gets `root`'s values. Same requirements.
void broadcast_(Tensor& t, int root = 0);
// Concatenates every process's `part` along dim `dim`, in rank order, on every process.
// Requires: the parts agree in dtype, rank and every other dim's extent.
Tensor all_gather(const Tensor& part, int dim);

// [begin, end) of `count` items that process `part` of `parts` takes: contiguous, in order,
// sizes differing by at most one.
struct Range {
  std::int64_t begin = 0, end = 0;
};
Range share(std::int64_t count, int part, int parts);

// Evaluation shared out: process `part` of `parts` computes `values(begin, end)` for its share
// of `items`, and every process returns all the shares' values, concatenated in order
// (values(0, items) with one part). Every process calls it with the same items and parts.
std::vector<double> gather_shares(std::int64_t items, int part, int parts,
                                  const std::function<std::vector<double>(std::int64_t, std::int64_t)>& values);

// Keeps the replicas of a model in step: the same starting weights, and after each backward
// pass the same gradients, sum_p w_p grad_p over the processes p, where w_p is p's share of
// the batch (so that the result is the gradient of the whole batch's mean loss, whatever the
// number of processes). Gradients travel in buckets of about `bucket_bytes`, flattened into
// one buffer each.
class DataParallel {
 public:
  explicit DataParallel(std::vector<Tensor> parameters, std::int64_t bucket_bytes = std::int64_t{4} << 20);
  // Every process gets rank 0's parameter values.
  void broadcast_parameters();
  // grad = sum over processes of weight * grad, for every parameter (an undefined gradient
  // counts as zeros and is defined afterwards). Every process calls it with its own weight.
  void reduce_gradients(double weight);

 private:
  std::vector<Tensor> parameters_;
  std::vector<std::vector<std::size_t>> buckets_;  // parameter indices, in order
  std::vector<Tensor> flat_;                       // one buffer per bucket
};

}  // namespace recur::dist
