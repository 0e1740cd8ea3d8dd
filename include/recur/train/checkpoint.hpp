// Checkpoints: the whole state of a training run in one safetensors file, written
// atomically, so that a run stopped at any moment (even by kill -9) resumes from its last
// checkpoint and continues bit-identically.
//
// Layout of the file (tensor names):
//   <model state_dict names>      the model's parameters and buffers, as nn::Module names
//                                 them ("0.weight", "rnn.weight_ih_l0"): the file doubles
//                                 as a model file that PyTorch's load_file + load_state_dict read
//   optimizer/<key>               Optimizer::state_dict()
//   scheduler/<key>               LRScheduler::state_dict()
//   train/step                    int64 [], the caller's step counter
//   train/generator               int64 [2], the generator's seed and offset (as bits)
//   train/loader                  int64 [2], the DataLoader's (or another batching's) epoch and step
//   train/carried/<name>          tensors the loop carries from step to step (the hidden
//                                 state of truncated BPTT)
// Module names never contain '/', so the parts cannot clash. "__metadata__" holds the
// caller's strings (configuration, vocabulary, ...).
#pragma once

#include <cstdint>
#include <map>
#include <string>

#include "recur/core/random.hpp"
#include "recur/data/loader.hpp"
#include "recur/data/text.hpp"
#include "recur/nn/module.hpp"
#include "recur/optim/lr_scheduler.hpp"
#include "recur/optim/optimizer.hpp"

namespace recur::train {

// A batching's place in its data (epoch and step within it), for batchings other than
// DataLoader: a task's own (char-rnn streams). Saved as train/loader, as a DataLoader's is.
class DataPosition {
 public:
  virtual ~DataPosition() = default;
  virtual std::int64_t epoch() const = 0;
  virtual std::int64_t step() const = 0;
  // A position the batching cannot take is an Error.
  virtual void set_position(std::int64_t epoch, std::int64_t step) = 0;
};

// The DataPosition of a batching with epoch(), step() and set_position(epoch, step)
// (data::CharBatches, data::LengthBatches): what a task hands the checkpoint.
template <typename Batches>
class PositionOf final : public DataPosition {
 public:
  explicit PositionOf(Batches& batches) : batches_(batches) {}
  std::int64_t epoch() const override { return batches_.epoch(); }
  std::int64_t step() const override { return batches_.step(); }
  void set_position(std::int64_t epoch, std::int64_t step) override { batches_.set_position(epoch, step); }

 private:
  Batches& batches_;
};

// The live objects a checkpoint saves from and restores into. Only `model` is required;
// a null part is neither saved nor restored.
struct TrainingState {
  nn::Module* model = nullptr;
  optim::Optimizer* optimizer = nullptr;
  optim::LRScheduler* scheduler = nullptr;
  data::DataLoader* loader = nullptr;
  DataPosition* position = nullptr;  // any other batching: its position, like loader's
  TensorMap* carried = nullptr;    // saved as train/carried/<name>; load replaces the map's contents
  Generator* generator = nullptr;  // e.g. &default_generator(): dropout masks, sampling
  std::int64_t step = 0;           // saved; set by load_checkpoint
};

// Writes every part of `state` and `metadata` to `path` atomically: the previous file at
// `path` stays intact until the new one is complete.
void save_checkpoint(const std::string& path, const TrainingState& state,
                     const std::map<std::string, std::string>& metadata = {});

// Restores every non-null part of `state` from `path` (the model strictly) and sets
// state.step; returns the file's metadata. A part the file lacks, or one that does not fit
// (wrong names, shapes, optimizer kind), is an Error naming the file and the part. The
// file is read and its step, generator and loader entries checked before anything is
// restored, but a part that fails its own check may leave earlier parts restored: after
// an error, rebuild the objects rather than train on.
std::map<std::string, std::string> load_checkpoint(const std::string& path, TrainingState& state);

}  // namespace recur::train
