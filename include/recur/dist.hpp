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
#include <memory>
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
// one buffer each, and a bucket's sum starts (MPI_Iallreduce) as soon as the backward pass
// has produced all of its gradients, so that it travels while the pass goes on: buckets
// hold the parameters in reverse order, the order in which backward finishes them. With
// more than one process a thread advances the sums in flight (MPI moves them on only
// inside MPI calls).
//
// A step: prepare_for_backward(w); loss.backward(); finish_gradients(); optimizer step.
class DataParallel {
 public:
  explicit DataParallel(std::vector<Tensor> parameters, std::int64_t bucket_bytes = std::int64_t{4} << 20);
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  // Every process gets rank 0's parameter values.
  void broadcast_parameters();
  // Arms the next backward pass with this process's weight w_p. Buckets start in one order
  // on every process (MPI needs that): a bucket whose gradients are ready waits for the
  // buckets before it.
  void prepare_for_backward(double weight);
  // After that pass: starts the buckets still waiting (a parameter the pass did not reach
  // counts as zeros, and its gradient is defined afterwards), waits for every sum and
  // writes it to the gradients. Requires: prepare_for_backward was called for this pass.
  void finish_gradients();
  // Buckets whose sum has started since prepare_for_backward (to test the overlap).
  std::size_t buckets_started() const { return next_bucket_; }

 private:
  struct Slot {  // where a parameter's gradient sits in the buffers
    std::size_t bucket = 0;
    std::int64_t offset = 0;
  };
  void gradient_ready(std::size_t parameter);
  void start_ready_buckets();

  std::vector<Tensor> parameters_;
  std::vector<Slot> slots_;                 // per parameter
  std::vector<std::uint64_t> hook_keys_;    // per parameter
  std::vector<bool> copied_;                // per parameter: its gradient is in its bucket
  std::vector<Tensor> flat_;                // per bucket
  std::vector<std::size_t> missing_;        // per bucket: gradients not yet copied in
  std::size_t next_bucket_ = 0;             // the first bucket not started
  bool armed_ = false;
  double weight_ = 1;
  struct Requests;                          // the started sums, the thread advancing them
  std::unique_ptr<Requests> requests_;
};

}  // namespace recur::dist
