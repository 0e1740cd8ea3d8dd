#include "recur/data/loader.hpp"

#include <algorithm>
#include <array>
#include <utility>

#include "recur/autograd.hpp"
#include "recur/core/random.hpp"
#include "recur/ops.hpp"

namespace recur::data {

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

Tensor DataLoader::epoch_order(std::int64_t epoch) const {
  RECUR_CHECK(epoch >= 0, "DataLoader::epoch_order: epoch must be non-negative, got " << epoch);
  Tensor order = arange(num_samples_);
  if (!options_.shuffle) return order;
  std::int64_t* o = order.data<std::int64_t>();
  std::uint64_t counter = static_cast<std::uint64_t>(epoch) << 32;
  std::array<std::uint32_t, 4> words{};
  for (std::int64_t i = num_samples_ - 1, draw = 0; i >= 1; --i, ++draw) {
    if (draw % 2 == 0) words = philox4x32(options_.seed, counter++);
    std::uint64_t u = static_cast<std::uint64_t>(words[2 * (draw % 2)]) << 32 | words[2 * (draw % 2) + 1];
    // floor(u / 2^64 * (i + 1)), exactly, in 128-bit arithmetic (bias below N / 2^64).
    auto j = static_cast<std::int64_t>((static_cast<unsigned __int128>(u) * static_cast<std::uint64_t>(i + 1)) >> 64);
    std::swap(o[i], o[j]);
  }
  return order;
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
  Tensor index = narrow(order_, 0, start, length);
  NoGradGuard no_grad;  // batches are data: they carry no history back to the data set
  batch.inputs = index_select(inputs_, 0, index);
  batch.targets = index_select(targets_, 0, index);
  ++batch_index_;
  return true;
}

}  // namespace recur::data
