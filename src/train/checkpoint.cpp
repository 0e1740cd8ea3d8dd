// save_checkpoint / load_checkpoint: one TensorMap with a prefix per part (see the header).

#include "recur/train/checkpoint.hpp"

#include <cstring>

#include "recur/autograd.hpp"
#include "recur/io/safetensors.hpp"
#include "recur/ops.hpp"

namespace recur::train {
namespace {

constexpr const char* kOptimizer = "optimizer/";
constexpr const char* kScheduler = "scheduler/";
constexpr const char* kStep = "train/step";
constexpr const char* kGenerator = "train/generator";
constexpr const char* kLoader = "train/loader";
constexpr const char* kCarried = "train/carried/";

void put_prefixed(TensorMap& out, const char* prefix, const TensorMap& part) {
  for (const auto& [name, value] : part) out[prefix + name] = value;
}

// The entries of `all` under `prefix`, without it.
TensorMap take_prefixed(const TensorMap& all, const std::string& prefix) {
  TensorMap part;
  for (auto it = all.lower_bound(prefix); it != all.end() && it->first.compare(0, prefix.size(), prefix) == 0; ++it)
    part[it->first.substr(prefix.size())] = it->second;
  return part;
}

// Two uint64 values as the bits of an int64 [2] tensor (safetensors has no U64 we write).
Tensor pair_tensor(std::uint64_t a, std::uint64_t b) {
  std::int64_t bits[2];
  std::memcpy(&bits[0], &a, 8), std::memcpy(&bits[1], &b, 8);
  return from_vector(std::vector<std::int64_t>{bits[0], bits[1]}, {2});
}

const Tensor& require(const TensorMap& all, const char* name, const Shape& shape, const std::string& path) {
  auto it = all.find(name);
  RECUR_CHECK(it != all.end(), path << ": not a training checkpoint: it has no '" << name << "' entry");
  RECUR_CHECK(it->second.dtype() == DType::Int64 && it->second.shape() == shape,
              path << ": checkpoint entry '" << name << "' should be int64 " << shape.str() << ", got "
                   << dtype_name(it->second.dtype()) << " " << it->second.shape().str());
  return it->second;
}

}  // namespace

void save_checkpoint(const std::string& path, const TrainingState& state,
                     const std::map<std::string, std::string>& metadata) {
  RECUR_CHECK(state.model, "save_checkpoint(" << path << "): the training state has no model");
  TensorMap all = state.model->state_dict();
  for (const auto& [name, value] : all)
    RECUR_CHECK(name.find('/') == std::string::npos,
                "save_checkpoint(" << path << "): model entry '" << name << "' contains '/', which checkpoints reserve");
  if (state.optimizer) put_prefixed(all, kOptimizer, state.optimizer->state_dict());
  if (state.scheduler) put_prefixed(all, kScheduler, state.scheduler->state_dict());
  all[kStep] = scalar_tensor(static_cast<double>(state.step), DType::Int64);
  if (state.generator) all[kGenerator] = pair_tensor(state.generator->seed(), state.generator->offset());
  RECUR_CHECK(!state.loader || !state.position,
              "save_checkpoint(" << path << "): a training state has one loader or position, not both");
  if (state.loader)
    all[kLoader] = from_vector(std::vector<std::int64_t>{state.loader->epoch(), state.loader->batch_index()}, {2});
  if (state.position)
    all[kLoader] = from_vector(std::vector<std::int64_t>{state.position->epoch(), state.position->step()}, {2});
  if (state.carried) put_prefixed(all, kCarried, *state.carried);
  io::save_safetensors(path, all, metadata);
}

std::map<std::string, std::string> load_checkpoint(const std::string& path, TrainingState& state) {
  RECUR_CHECK(state.model, "load_checkpoint(" << path << "): the training state has no model");
  io::SafetensorsFile file = io::load_safetensors(path);
  const TensorMap& all = file.tensors;

  // Check every scalar part before changing anything.
  const Tensor& step = require(all, kStep, {}, path);
  std::vector<std::int64_t> generator, loader;
  if (state.generator) generator = require(all, kGenerator, {2}, path).to_vector<std::int64_t>();
  if (state.loader || state.position) loader = require(all, kLoader, {2}, path).to_vector<std::int64_t>();
  TensorMap model;
  for (const auto& [name, value] : all)
    if (name.find('/') == std::string::npos) model[name] = value;
  TensorMap optimizer = take_prefixed(all, kOptimizer), scheduler = take_prefixed(all, kScheduler);
  RECUR_CHECK(!state.optimizer || !optimizer.empty(), path << ": the checkpoint has no optimizer state");
  RECUR_CHECK(!state.scheduler || !scheduler.empty(), path << ": the checkpoint has no learning-rate schedule state");

  // Each load validates its part before changing it; the model goes first, as the largest.
  try {
    state.model->load_state_dict(model);
    if (state.optimizer) state.optimizer->load_state_dict(optimizer);
    if (state.scheduler) state.scheduler->load_state_dict(scheduler);
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << e.what());
  }
  if (state.generator) {
    std::uint64_t seed, offset;
    std::memcpy(&seed, &generator[0], 8), std::memcpy(&offset, &generator[1], 8);
    state.generator->set_state(seed, offset);
  }
  try {
    if (state.loader) state.loader->set_position(loader[0], loader[1]);
    if (state.position) state.position->set_position(loader[0], loader[1]);
  } catch (const Error& e) {
    RECUR_FAIL(path << ": " << e.what());
  }
  if (state.carried) *state.carried = take_prefixed(all, kCarried);
  state.step = static_cast<std::int64_t>(step.item());
  return file.metadata;
}

}  // namespace recur::train
