#include "recur/data/loader.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include "recur/core/random.hpp"
#include "recur/ops.hpp"

namespace recur::data {
namespace {

// The rows index[0..count) of a contiguous tensor, one memcpy each. A batch is a few
// hundred KB: one thread copies it faster than a team of threads can be woken, and
// stays fast when the training loop's other threads are busy.
Tensor gather_rows(const Tensor& source, const std::int64_t* index, std::int64_t count) {
  Shape shape = source.shape();
  shape[0] = count;
  Tensor rows = empty(shape, source.dtype());
  std::size_t row_bytes = static_cast<std::size_t>(source.numel() / source.size(0)) * dtype_size(source.dtype());
  const char* from = static_cast<const char*>(source.raw_data());
  char* to = static_cast<char*>(rows.raw_data());
  for (std::int64_t i = 0; i < count; ++i) std::memcpy(to + i * row_bytes, from + index[i] * row_bytes, row_bytes);
  return rows;
}

}  // namespace

DataLoader::DataLoader(Tensor inputs, Tensor targets, LoaderOptions options)
    : inputs_(std::move(inputs)), targets_(std::move(targets)), options_(options) {
  RECUR_CHECK(inputs_.defined() && targets_.defined(), "DataLoader: inputs and targets must be defined tensors");
  RECUR_CHECK(inputs_.dim() >= 1 && targets_.dim() >= 1,
              "DataLoader: inputs " << inputs_.shape() << " and targets " << targets_.shape()
                                    << " need a first dimension indexing the samples");
  RECUR_CHECK(inputs_.size(0) == targets_.size(0), "DataLoader: inputs " << inputs_.shape() << " hold "
                                                                         << inputs_.size(0) << " samples but targets "
                                                                         << targets_.shape() << " hold "
                                                                         << targets_.size(0));
  RECUR_CHECK(inputs_.device().is_cpu() && targets_.device().is_cpu(), "DataLoader: inputs and targets must be CPU tensors");
  RECUR_CHECK(options_.batch_size >= 1, "DataLoader: batch_size must be at least 1, got " << options_.batch_size);
  num_samples_ = inputs_.size(0);
  // Batches are gathered row by row from dense tensors.
  inputs_ = contiguous(inputs_.detach());
  targets_ = contiguous(targets_.detach());
}

std::int64_t DataLoader::batches_per_epoch() const {
  std::int64_t b = options_.batch_size;
  return options_.drop_last ? num_samples_ / b : (num_samples_ + b - 1) / b;
}

void DataLoader::set_position(std::int64_t epoch, std::int64_t batch_index) {
  RECUR_CHECK(epoch >= 0 && batch_index >= 0 && batch_index <= batches_per_epoch(),
              "DataLoader::set_position: position (epoch " << epoch << ", batch " << batch_index
                                                           << ") is outside an epoch of " << batches_per_epoch()
                                                           << " batches");
  epoch_ = epoch;
  batch_index_ = batch_index;
}

std::vector<std::int64_t> shuffled_order(std::int64_t n, std::uint64_t seed, std::uint64_t first_counter) {
  std::vector<std::int64_t> order(static_cast<std::size_t>(std::max<std::int64_t>(n, 0)));
  for (std::int64_t i = 0; i < n; ++i) order[i] = i;
  std::uint64_t counter = first_counter;
  std::array<std::uint32_t, 4> words{};
  for (std::int64_t i = n - 1, draw = 0; i >= 1; --i, ++draw) {
    if (draw % 2 == 0) words = philox4x32(seed, counter++);
    std::uint64_t u = static_cast<std::uint64_t>(words[2 * (draw % 2)]) << 32 | words[2 * (draw % 2) + 1];
    // floor(u / 2^64 * (i + 1)), exactly, in 128-bit arithmetic (bias below N / 2^64).
    auto j = static_cast<std::int64_t>((static_cast<unsigned __int128>(u) * static_cast<std::uint64_t>(i + 1)) >> 64);
    std::swap(order[i], order[j]);
  }
  return order;
}

Tensor DataLoader::epoch_order(std::int64_t epoch) const {
  RECUR_CHECK(epoch >= 0, "DataLoader::epoch_order: epoch must be non-negative, got " << epoch);
  if (!options_.shuffle) return arange(num_samples_);
  return from_vector(shuffled_order(num_samples_, options_.seed, static_cast<std::uint64_t>(epoch) << 32));
}

bool DataLoader::next(Batch& batch) {
  if (batch_index_ >= batches_per_epoch()) {
    ++epoch_;
    batch_index_ = 0;
    return false;
  }
  if (order_epoch_ != epoch_) {
    order_ = epoch_order(epoch_);
    order_epoch_ = epoch_;
  }
  std::int64_t start = batch_index_ * options_.batch_size;
  std::int64_t length = std::min(options_.batch_size, num_samples_ - start);
  const std::int64_t* index = order_.data<std::int64_t>() + start;
  batch.inputs = gather_rows(inputs_, index, length);
  batch.targets = gather_rows(targets_, index, length);
  ++batch_index_;
  return true;
}

}  // namespace recur::data
