// A mini-batch loader over in-memory (inputs, targets) tensors, shuffling with a seed.
//
//   data::DataLoader loader(train.images, train.labels, {.batch_size = 64, .seed = 1});
//   for (int epoch = 0; epoch < epochs; ++epoch) {
//     data::Batch batch;
//     while (loader.next(batch)) { ... batch.inputs, batch.targets ... }
//   }
//
// The order of an epoch is a pure function of (seed, epoch), so the loader's whole state
// is its position (epoch, batch_index): save those two integers with a checkpoint and
// set_position() them on resume, and the resumed run sees exactly the same batches.
#pragma once

#include <cstdint>
#include <vector>

#include "recur/core/tensor.hpp"

namespace recur::data {

struct Batch {
  Tensor inputs;   // inputs' rows for this batch, contiguous: [batch, ...inputs' other dims]
  Tensor targets;  // targets' rows for the same samples, contiguous
};

struct LoaderOptions {
  std::int64_t batch_size = 64;  // >= 1
  bool shuffle = true;           // false: samples in order 0, 1, ..., N-1 every epoch
  std::uint64_t seed = 0;        // the shuffle's seed
  bool drop_last = false;        // skip a last batch smaller than batch_size
};

// 0..n-1 in a random order that is a pure function of (seed, first_counter): a
// Fisher–Yates shuffle whose i-th swap (i = n-1 down to 1) takes j = floor(u * (i + 1)) for
// a 64-bit Philox4x32-10 draw u / 2^64 with key `seed`, counters from first_counter up, two
// draws per counter (words 0,1 then 2,3), so it uses ceil((n-1) / 2) counters.
std::vector<std::int64_t> shuffled_order(std::int64_t n, std::uint64_t seed, std::uint64_t first_counter);

class DataLoader {
 public:
  // inputs and targets are CPU tensors of any dtype with the same first extent N (the
  // sample count). Contiguous ones are referenced, not copied (others are copied once);
  // batches never require grad. Throws recur::Error otherwise, or when batch_size < 1.
  DataLoader(Tensor inputs, Tensor targets, LoaderOptions options = {});

  std::int64_t num_samples() const { return num_samples_; }
  // ceil(N / batch_size), or floor with drop_last.
  std::int64_t batches_per_epoch() const;
  const LoaderOptions& options() const { return options_; }

  // Copies the next batch of the current epoch into `batch` (fresh tensors each call, so
  // earlier batches stay valid) and returns true. At the end of the epoch returns false,
  // leaves `batch` alone, and moves to the start of the next epoch.
  bool next(Batch& batch);

  // The position: the current epoch, and how many of its batches next() has handed out.
  std::int64_t epoch() const { return epoch_; }
  std::int64_t batch_index() const { return batch_index_; }
  // Requires epoch >= 0 and 0 <= batch_index <= batches_per_epoch().
  void set_position(std::int64_t epoch, std::int64_t batch_index);

  // The sample indices of `epoch` in the order it visits them: int64 [N]. Without shuffle,
  // 0..N-1; with shuffle, shuffled_order(N, seed, epoch * 2^32).
  Tensor epoch_order(std::int64_t epoch) const;

 private:
  Tensor inputs_, targets_;
  LoaderOptions options_;
  std::int64_t num_samples_ = 0;
  std::int64_t epoch_ = 0, batch_index_ = 0;
  Tensor order_;                   // epoch_order(order_epoch_)
  std::int64_t order_epoch_ = -1;  // which epoch order_ belongs to; -1: none yet
};

}  // namespace recur::data
